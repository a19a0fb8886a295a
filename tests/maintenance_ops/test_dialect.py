from __future__ import annotations

import pytest

from maintenance_ops.dialect import Dialect, parse_version
from maintenance_ops.exceptions import PreflightError


@pytest.mark.parametrize(
    ("raw", "comment", "expected"),
    [
        pytest.param(
            "10.11.19-MariaDB-0+deb12u1", "", ("mariadb", 10, 11, 19), id="debian-mariadb"
        ),
        pytest.param("11.4.8-MariaDB-ubu2404-log", "", ("mariadb", 11, 4, 8), id="mariadb-log"),
        pytest.param(
            "5.5.5-10.3.39-MariaDB", "", ("mariadb", 10, 3, 39), id="mariadb-compat-prefix"
        ),
        pytest.param("8.0.36", "MySQL Community Server - GPL", ("mysql", 8, 0, 36), id="mysql-8.0"),
        pytest.param("8.4.2-0ubuntu0.24.04.1", "(Ubuntu)", ("mysql", 8, 4, 2), id="mysql-8.4"),
        pytest.param(
            "10.6.5", "mariadb.org binary distribution", ("mariadb", 10, 6, 5), id="comment"
        ),
    ],
)
def test_parse_version(raw: str, comment: str, expected: tuple[str, int, int, int]) -> None:
    v = parse_version(raw, comment)
    assert (v.flavor, v.major, v.minor, v.patch) == expected


def test_parse_version_rejects_garbage() -> None:
    with pytest.raises(PreflightError, match="cannot read server version 'banana'"):
        parse_version("banana")


MARIADB = Dialect(parse_version("10.11.19-MariaDB"))
MARIADB_OLD = Dialect(parse_version("10.4.30-MariaDB"))
MYSQL8 = Dialect(parse_version("8.0.36"))
MYSQL57 = Dialect(parse_version("5.7.44"))


def test_statement_timeout_units() -> None:
    assert MARIADB.statement_timeout(30) == ("SET SESSION max_statement_time = %s", (30.0,))
    assert MYSQL8.statement_timeout(1.5) == ("SET SESSION max_execution_time = %s", (1500,))


@pytest.mark.parametrize(
    ("dialect", "sql", "lag_column"),
    [
        pytest.param(MARIADB, "SHOW REPLICA STATUS", "Seconds_Behind_Master", id="mariadb-10.11"),
        pytest.param(MARIADB_OLD, "SHOW SLAVE STATUS", "Seconds_Behind_Master", id="mariadb-10.4"),
        pytest.param(MYSQL8, "SHOW REPLICA STATUS", "Seconds_Behind_Source", id="mysql-8.0.36"),
        pytest.param(MYSQL57, "SHOW SLAVE STATUS", "Seconds_Behind_Master", id="mysql-5.7"),
    ],
)
def test_replica_status(dialect: Dialect, sql: str, lag_column: str) -> None:
    assert dialect.replica_status_sql() == sql
    assert dialect.replica_fields().seconds_behind == lag_column


def test_histograms() -> None:
    assert MARIADB.histogram_sql("`d`.`t`", ["`a`", "`b`"]) == (
        "ANALYZE TABLE `d`.`t` PERSISTENT FOR COLUMNS (`a`, `b`) INDEXES ALL"
    )
    assert MYSQL8.histogram_sql("`d`.`t`", ["`a`"]) == (
        "ANALYZE TABLE `d`.`t` UPDATE HISTOGRAM ON `a` WITH 100 BUCKETS"
    )


def test_tools_and_sys_schema() -> None:
    assert (MARIADB.dump_tool, MARIADB.binlog_tool, MARIADB.client_tool) == (
        "mariadb-dump",
        "mariadb-binlog",
        "mariadb",
    )
    assert (MYSQL8.dump_tool, MYSQL8.binlog_tool, MYSQL8.client_tool) == (
        "mysqldump",
        "mysqlbinlog",
        "mysql",
    )
    assert MARIADB.has_sys_schema and not MARIADB_OLD.has_sys_schema and MYSQL57.has_sys_schema


def test_privilege_aliases() -> None:
    assert "BINLOG MONITOR" in MARIADB.privilege_names("REPLICATION CLIENT")
    assert MYSQL8.privilege_names("REPLICATION CLIENT") == frozenset({"REPLICATION CLIENT"})
    assert MARIADB_OLD.privilege_names("REPLICATION CLIENT") == frozenset({"REPLICATION CLIENT"})


@pytest.mark.parametrize(
    ("dialect", "on", "expected"),
    [
        pytest.param(MARIADB, True, [("SET GLOBAL read_only = %s", (1,))], id="mariadb-on"),
        pytest.param(MARIADB, False, [("SET GLOBAL read_only = %s", (0,))], id="mariadb-off"),
        pytest.param(
            MYSQL8,
            True,
            [("SET GLOBAL read_only = %s", (1,)), ("SET GLOBAL super_read_only = %s", (1,))],
            id="mysql-8-on",
        ),
        pytest.param(
            MYSQL8,
            False,
            [("SET GLOBAL super_read_only = %s", (0,)), ("SET GLOBAL read_only = %s", (0,))],
            id="mysql-8-off",
        ),
        pytest.param(
            Dialect(parse_version("5.7.5")),
            True,
            [("SET GLOBAL read_only = %s", (1,))],
            id="mysql-5.7.5-no-super-read-only",
        ),
    ],
)
def test_set_read_only(dialect: Dialect, on: bool, expected: list[tuple[str, tuple[int]]]) -> None:
    assert dialect.set_read_only_sql(on) == expected
    assert set(dialect.read_only_variables()) == {sql.split()[2] for sql, _ in expected}

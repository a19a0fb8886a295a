from __future__ import annotations

import pytest

from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.exceptions import PreflightError


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


MYSQL_UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
MYSQL_UUID2 = "a9c2f5d0-1b2c-11ef-8f00-0242ac120002"


@pytest.mark.parametrize(
    ("dialect", "stop", "start", "reset"),
    [
        pytest.param(MARIADB, "STOP REPLICA", "START REPLICA", "RESET REPLICA ALL", id="mariadb"),
        pytest.param(
            MARIADB_OLD, "STOP SLAVE", "START SLAVE", "RESET SLAVE ALL", id="mariadb-10.4"
        ),
        pytest.param(MYSQL8, "STOP REPLICA", "START REPLICA", "RESET REPLICA ALL", id="mysql-8"),
        pytest.param(
            Dialect(parse_version("8.0.21")),
            "STOP SLAVE",
            "START SLAVE",
            "RESET SLAVE ALL",
            id="mysql-8.0.21",
        ),
    ],
)
def test_replica_control(dialect: Dialect, stop: str, start: str, reset: str) -> None:
    assert (dialect.stop_replica_sql(), dialect.start_replica_sql()) == (stop, start)
    assert dialect.reset_replica_all_sql() == reset


def test_gtid_statements() -> None:
    assert MARIADB.gtid_position_sql("primary") == "SELECT @@GLOBAL.gtid_binlog_pos"
    assert MARIADB.gtid_position_sql("replica") == "SELECT @@GLOBAL.gtid_slave_pos"
    assert MYSQL8.gtid_position_sql("primary") == "SELECT @@GLOBAL.gtid_executed"
    assert MYSQL8.gtid_position_sql("replica") == "SELECT @@GLOBAL.gtid_executed"
    assert MARIADB.gtid_wait_sql("0-1-5", 2) == ("SELECT MASTER_GTID_WAIT(%s, %s)", ("0-1-5", 2.0))
    assert MYSQL8.gtid_wait_sql(f"{MYSQL_UUID}:1-5", 1.5) == (
        "SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, %s)",
        (f"{MYSQL_UUID}:1-5", 1.5),
    )


@pytest.mark.parametrize(
    ("result", "reached"),
    [
        pytest.param(0, True, id="reached"),
        pytest.param(-1, False, id="mariadb-timeout"),
        pytest.param(1, False, id="mysql-timeout"),
        pytest.param(None, False, id="null-not-a-replica"),
    ],
)
def test_gtid_wait_reached(result: object, reached: bool) -> None:
    assert Dialect.gtid_wait_reached(result) is reached


@pytest.mark.parametrize(
    ("dialect", "source", "replica", "missing"),
    [
        pytest.param(MARIADB, "0-1-10", "0-1-10", 0, id="mariadb-equal"),
        pytest.param(MARIADB, "0-1-10", "0-1-7", 3, id="mariadb-behind"),
        pytest.param(MARIADB, "0-1-10,1-3-5", "0-1-10", 5, id="mariadb-domain-missing"),
        pytest.param(MARIADB, "0-2-10", "0-1-12", 0, id="mariadb-ahead-other-server"),
        pytest.param(MARIADB, "", "0-1-3", 0, id="mariadb-empty-source"),
        pytest.param(MYSQL8, f"{MYSQL_UUID}:1-10", f"{MYSQL_UUID}:1-10", 0, id="mysql-equal"),
        pytest.param(MYSQL8, f"{MYSQL_UUID}:1-10", f"{MYSQL_UUID}:1-7", 3, id="mysql-behind"),
        pytest.param(MYSQL8, f"{MYSQL_UUID}:1-10", f"{MYSQL_UUID}:1-3:5-10", 1, id="mysql-hole"),
        pytest.param(
            MYSQL8,
            f"{MYSQL_UUID}:1-10,\n{MYSQL_UUID2}:1-4:6",
            f"{MYSQL_UUID.upper()}:1-10",
            5,
            id="mysql-second-server-and-newline",
        ),
        pytest.param(
            MYSQL8,
            f"{MYSQL_UUID}:1-5:etl:1-2",
            f"{MYSQL_UUID}:1-5",
            2,
            id="mysql-8.3-tagged",
        ),
        pytest.param(MYSQL8, "", "", 0, id="mysql-gtid-off"),
    ],
)
def test_gtid_missing(dialect: Dialect, source: str, replica: str, missing: int) -> None:
    assert dialect.gtid_missing(source, replica) == missing


def test_gtid_missing_rejects_garbage() -> None:
    with pytest.raises(PreflightError, match="cannot read MariaDB GTID 'banana'"):
        MARIADB.gtid_missing("banana", "0-1-1")


def test_replica_log_position_fields() -> None:
    mysql = MYSQL8.replica_fields()
    assert (mysql.source_port, mysql.read_file, mysql.read_pos) == (
        "Source_Port",
        "Source_Log_File",
        "Read_Source_Log_Pos",
    )
    assert (mysql.exec_file, mysql.exec_pos) == ("Relay_Source_Log_File", "Exec_Source_Log_Pos")
    mariadb = MARIADB.replica_fields()
    assert (mariadb.source_port, mariadb.exec_file, mariadb.exec_pos) == (
        "Master_Port",
        "Relay_Master_Log_File",
        "Exec_Master_Log_Pos",
    )


MYSQL84 = Dialect(parse_version("8.4.3", "MySQL Community Server - GPL"))
MYSQL8023 = Dialect(parse_version("8.0.23-0ubuntu0.20.04.1", "(Ubuntu)"))


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        pytest.param(
            MARIADB,
            [
                "SET SESSION lock_wait_timeout = %s, innodb_lock_wait_timeout = %s",
                "SET SESSION max_statement_time = %s",
            ],
            id="mariadb-10.11",
        ),
        pytest.param(
            MYSQL8,
            [
                "SET SESSION lock_wait_timeout = %s, innodb_lock_wait_timeout = %s",
                "SET SESSION information_schema_stats_expiry = 0",
                "SET SESSION max_execution_time = %s",
            ],
            id="mysql-8.0.36-live-catalog-figures",
        ),
        pytest.param(
            MYSQL57,
            [
                "SET SESSION lock_wait_timeout = %s, innodb_lock_wait_timeout = %s",
                "SET SESSION max_execution_time = %s",
            ],
            id="mysql-5.7-no-stats-cache",
        ),
    ],
)
def test_session_setup(dialect: Dialect, expected: list[str]) -> None:
    assert [sql for sql, _ in dialect.session_setup_sql(5, 3, 60)] == expected


@pytest.mark.parametrize(
    ("sql", "mysql_covers"),
    [
        pytest.param("-- a comment\nSELECT 1", True, id="select-after-comment"),
        pytest.param("WITH x AS (SELECT 1) SELECT * FROM x", True, id="cte"),
        pytest.param("SHOW GLOBAL STATUS", True, id="show-needs-no-limit"),
        pytest.param("ALTER TABLE `d`.`t` FORCE, ALGORITHM=INPLACE, LOCK=NONE", False, id="ddl"),
        pytest.param("ANALYZE TABLE `d`.`t`", False, id="analyze"),
        pytest.param("/* x */ CHECK TABLE `d`.`t`", False, id="check"),
        pytest.param("DELETE FROM `d`.`t` WHERE id < %s LIMIT 1000", False, id="cleanup-chunk"),
        pytest.param("INSERT INTO `d`.`a` SELECT * FROM `d`.`t`", False, id="archive-copy"),
    ],
)
def test_statement_limit_covers(sql: str, mysql_covers: bool) -> None:
    assert MYSQL8.statement_limit_covers(sql) is mysql_covers
    assert MARIADB.statement_limit_covers(sql) is True  # max_statement_time bounds them all


@pytest.mark.parametrize(
    ("dialect", "tablespaces", "tablestats", "foreign"),
    [
        pytest.param(
            MARIADB, "INNODB_SYS_TABLESPACES", "INNODB_SYS_TABLESTATS", "INNODB_SYS_FOREIGN",
            id="mariadb",
        ),
        pytest.param(
            MYSQL57, "INNODB_SYS_TABLESPACES", "INNODB_SYS_TABLESTATS", "INNODB_SYS_FOREIGN",
            id="mysql-5.7",
        ),
        pytest.param(MYSQL8, "INNODB_TABLESPACES", "INNODB_TABLESTATS", "INNODB_FOREIGN", id="8.0"),
        pytest.param(MYSQL84, "INNODB_TABLESPACES", "INNODB_TABLESTATS", "INNODB_FOREIGN", id="8.4"),
    ],
)  # fmt: skip
def test_renamed_innodb_tables(
    dialect: Dialect, tablespaces: str, tablestats: str, foreign: str
) -> None:
    assert dialect.catalog_names == {
        "innodb_tablespaces": tablespaces,
        "innodb_tablestats": tablestats,
    }
    assert dialect.innodb_foreign_keys_table() == foreign


@pytest.mark.parametrize(
    ("dialect", "statement"),
    [
        pytest.param(MARIADB, "SHOW BINLOG STATUS", id="mariadb-10.11"),
        pytest.param(Dialect(parse_version("10.5.1-MariaDB")), "SHOW MASTER STATUS", id="10.5.1"),
        pytest.param(MYSQL8, "SHOW MASTER STATUS", id="mysql-8.0"),
        pytest.param(Dialect(parse_version("8.2.0")), "SHOW BINARY LOG STATUS", id="mysql-8.2"),
        pytest.param(MYSQL84, "SHOW BINARY LOG STATUS", id="mysql-8.4"),
    ],
)
def test_binlog_status_statement(dialect: Dialect, statement: str) -> None:
    assert dialect.binlog_status_sql() == statement


def test_deadlocks_come_from_innodb_metrics_on_mysql() -> None:
    assert "INNODB_METRICS" in MYSQL84.deadlocks_sql()
    assert "'lock_deadlocks'" in MYSQL84.deadlocks_sql()
    assert "'INNODB_DEADLOCKS'" in MARIADB.deadlocks_sql()


def test_security_audit_rules() -> None:
    assert MARIADB.security_accounts_sql == "health_security_accounts"
    assert MYSQL8.security_accounts_sql == "health_security_accounts_mysql"
    assert "caching_sha2_password" in MYSQL8.empty_password_plugins
    assert "caching_sha2_password" not in MARIADB.empty_password_plugins


def test_roles_are_read_on_mysql_8_0_19_and_later() -> None:
    assert MARIADB.enabled_roles_sql() is None
    assert Dialect(parse_version("8.0.18")).enabled_roles_sql() is None
    assert "information_schema.ENABLED_ROLES" in str(MYSQL8.enabled_roles_sql())
    assert Dialect.grants_using_sql([("r1", "%"), ("r2", "h")]) == (
        "SHOW GRANTS FOR CURRENT_USER() USING %s@%s, %s@%s",
        ("r1", "%", "r2", "h"),
    )


@pytest.mark.parametrize(
    ("dialect", "waits"),
    [
        pytest.param(Dialect(parse_version("8.0.23")), True, id="mysql-8.0.23"),
        pytest.param(MYSQL8023, True, id="mysql-8.0.23-ubuntu"),
        pytest.param(Dialect(parse_version("8.0.24")), False, id="mysql-8.0.24-fixed"),
        pytest.param(MYSQL84, False, id="mysql-8.4"),
        pytest.param(MARIADB, False, id="mariadb"),
    ],
)
def test_analyze_guard_versions(dialect: Dialect, waits: bool) -> None:
    assert dialect.analyze_waits_for_long_transactions() is waits


def test_histogram_count_per_flavor() -> None:
    """(Which statements a full refresh runs: test_histograms.test_statements_for.)"""
    assert "COLUMN_STATISTICS" in MYSQL8.histogram_count_sql()
    assert "mysql.column_stats" in MARIADB.histogram_count_sql()

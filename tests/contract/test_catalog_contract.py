"""The catalog contract: every statement the package sends exists on every supported server.

No MySQL server runs here, so MySQL 8.0/8.4 (and MariaDB 10.6/11.x) are checked against the
tables, columns, variables and statement forms their reference manuals list
(:mod:`tests.contract.catalog`). Each SQL file and each statement the dialect builds is rendered
for the server's version, parsed with sqlglot's MySQL dialect and resolved (aliases included);
a table, column, variable or statement form the server lacks fails the test, naming it.
"""

from __future__ import annotations

import pytest

from maintenance_ops.core.dialect import Dialect, parse_version
from tests.contract.catalog import CATALOGS, VERSIONS
from tests.contract.checker import check, statement_form
from tests.contract.statements import all_statements

CASES = [
    pytest.param(CATALOGS[name], raw, id=raw)
    for name, versions in VERSIONS.items()
    for raw in versions
]


@pytest.mark.parametrize(("catalog", "raw"), CASES)
def test_every_statement_exists_on_the_server(catalog: object, raw: str) -> None:
    dialect = Dialect(parse_version(raw))
    problems = [
        f"{origin}: {problem}"
        for origin, sql in all_statements(dialect)
        for problem in check(sql, catalog)  # type: ignore[arg-type]
    ]
    assert problems == []


def test_every_sql_file_is_checked_for_some_server() -> None:
    """A file no version sends would escape the contract: each one is sent somewhere."""
    from maintenance_ops.core.sqlfiles import sql_dir
    from tests.contract.statements import ADMIN_FILES, flavor_files

    sent = set().union(
        *(flavor_files(Dialect(parse_version(raw))) for vs in VERSIONS.values() for raw in vs)
    )
    assert {p.stem for p in sql_dir().glob("*.sql")} - ADMIN_FILES - sent == set()


# The statements that failed on MySQL 8 before issue 13 (copied from include/sql at 782992c..
# c4ebf7c): the checker must name each problem, and pass them on MariaDB where they ran.
OLD_HEALTH_STATUS = """
SELECT VARIABLE_NAME AS name, VARIABLE_VALUE AS value
  FROM information_schema.GLOBAL_STATUS
 WHERE VARIABLE_NAME IN ('THREADS_CONNECTED', 'INNODB_DEADLOCKS')
UNION ALL
SELECT VARIABLE_NAME, VARIABLE_VALUE
  FROM information_schema.GLOBAL_VARIABLES
 WHERE VARIABLE_NAME IN ('MAX_CONNECTIONS')
"""
OLD_TABLE_SIZE = """
SELECT FILE_SIZE AS file_size, ALLOCATED_SIZE AS allocated_size
  FROM information_schema.INNODB_SYS_TABLESPACES
 WHERE NAME = %s
"""
OLD_FRAGMENTATION = """
SELECT t.TABLE_NAME, ts.FILE_SIZE AS file_size
  FROM information_schema.TABLES AS t
  LEFT JOIN information_schema.INNODB_SYS_TABLESPACES AS ts
         ON ts.NAME = CONCAT(t.TABLE_SCHEMA, '/', t.TABLE_NAME)
 WHERE t.TABLE_SCHEMA = %(schema)s
"""
OLD_COUNTERS = """
SELECT NAME AS name, MODIFIED_COUNTER AS modified_counter
  FROM information_schema.INNODB_SYS_TABLESTATS WHERE NAME LIKE %s
"""


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param(
            OLD_HEALTH_STATUS,
            [
                "table information_schema.GLOBAL_STATUS does not exist on mysql-8.0 (removed in "
                "MySQL 8.0: performance_schema.global_status)",
                "table information_schema.GLOBAL_VARIABLES does not exist on mysql-8.0 (removed "
                "in MySQL 8.0: performance_schema.global_variables)",
            ],
            id="health-status-1109",
        ),
        pytest.param(
            OLD_TABLE_SIZE,
            [
                "table information_schema.INNODB_SYS_TABLESPACES does not exist on mysql-8.0 "
                "(renamed INNODB_TABLESPACES in MySQL 8.0)"
            ],
            id="rebuild-table-size",
        ),
        pytest.param(
            OLD_FRAGMENTATION,
            [
                "table information_schema.INNODB_SYS_TABLESPACES does not exist on mysql-8.0 "
                "(renamed INNODB_TABLESPACES in MySQL 8.0)"
            ],
            id="fragmentation",
        ),
        pytest.param(
            OLD_COUNTERS,
            [
                "table information_schema.INNODB_SYS_TABLESTATS does not exist on mysql-8.0 "
                "(renamed INNODB_TABLESTATS in MySQL 8.0)"
            ],
            id="modified-counters",
        ),
        pytest.param(
            "SHOW MASTER STATUS",
            [],
            id="show-master-status-on-8.0",
        ),
    ],
)
def test_old_statements_fail_on_mysql_and_run_on_mariadb(sql: str, expected: list[str]) -> None:
    assert check(sql, CATALOGS["mysql-8.0"]) == expected
    assert check(sql, CATALOGS["mariadb-10.11"]) == []


@pytest.mark.parametrize(
    ("sql", "catalog", "expected"),
    [
        pytest.param(
            "SHOW MASTER STATUS",
            "mysql-8.4",
            ["statement 'SHOW MASTER STATUS' does not exist on mysql-8.4"],
            id="show-master-status-removed-in-8.4",
        ),
        pytest.param(
            "SHOW SLAVE STATUS",
            "mysql-8.4",
            ["statement 'SHOW SLAVE STATUS' does not exist on mysql-8.4"],
            id="show-slave-status-removed-in-8.4",
        ),
        pytest.param(
            "SHOW BINARY LOG STATUS",
            "mariadb-11.x",
            ["statement 'SHOW BINARY LOG STATUS' does not exist on mariadb-11.x"],
            id="mysql-statement-on-mariadb",
        ),
        pytest.param(
            "SET SESSION max_execution_time = %s",
            "mariadb-10.6",
            ["variable max_execution_time does not exist on mariadb-10.6"],
            id="mysql-variable-on-mariadb",
        ),
        pytest.param(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_running', 'Innodb_deadlocks')",
            "mysql-8.0",
            ["status variable Innodb_deadlocks does not exist on mysql-8.0"],
            id="innodb-deadlocks-is-mariadb-only",
        ),
        pytest.param(
            "SELECT u.User, u.account_locked FROM mysql.user AS u "
            "WHERE EXISTS (SELECT 1 FROM mysql.role_edges r WHERE r.FROM_USER = u.User)",
            "mariadb-10.11",
            [
                "table mysql.role_edges does not exist on mariadb-10.11 (MySQL only: "
                "mysql.roles_mapping)",
                "column account_locked is not in mysql.user on mariadb-10.11",
            ],
            id="mysql-roles-on-mariadb-alias-and-correlation",
        ),
        pytest.param(
            "SELECT ml.THREAD_ID FROM information_schema.METADATA_LOCK_INFO AS ml",
            "mysql-8.0",
            ["table information_schema.METADATA_LOCK_INFO does not exist on mysql-8.0"],
            id="mariadb-plugin-table-on-mysql",
        ),
        pytest.param(
            "SELECT x.NOPE FROM (SELECT NAME FROM information_schema.INNODB_METRICS) AS m "
            "JOIN information_schema.PROCESSLIST AS x ON x.ID = 1",
            "mysql-8.4",
            ["column NOPE is not in information_schema.PROCESSLIST on mysql-8.4"],
            id="unknown-column-through-alias",
        ),
    ],
)
def test_checker_names_what_a_server_lacks(sql: str, catalog: str, expected: list[str]) -> None:
    assert check(sql, CATALOGS[catalog]) == expected


def test_statement_form_skips_comments() -> None:
    assert statement_form("-- a\n/* b */ show  binary log status") == "SHOW BINARY LOG STATUS"
    assert statement_form("CHECK TABLE `a`.`b`") == "CHECK TABLE"

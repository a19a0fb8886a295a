"""Rebuilds never queue the application behind a metadata lock (issue 16).

Pure: the DDL each flavor gets (MariaDB's NOWAIT; MySQL's 1 s wait), the lock catalogs per
version, which metadata-lock holders defer a rebuild, the retry back-off. Real server (the
grants.sql account runs the code): a transaction holding the table's lock before the rebuild, and
one arriving mid-rebuild, make the ALTER give up at once while application reads on the table go
on, and the run's retry rebuilds the table once the blocker is gone. A private server with the
metadata_lock_info plugin and performance_schema's metadata-lock instrument shows the guard
naming the holder (the MySQL path's holders statement runs there against the same
performance_schema tables).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from maintenance_ops.core.audit import AuditLog
from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.dialect import (
    METADATA_LOCK_INFO,
    PERFORMANCE_SCHEMA_METADATA_LOCKS,
    Dialect,
    parse_version,
)
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.core.sqlfiles import load_sql
from maintenance_ops.upkeep.rebuild import (
    LockHolder,
    RetryPolicy,
    blocking_holders,
    lock_catalog,
    mdl_guard,
    rebuild_sql,
    rebuild_table,
)
from tests.support.accounts import Account, create_account

MARIADB = "10.11.19-MariaDB-0+deb12u1"
MYSQL = "8.0.40"

# --------------------------------------------------------------------------------------------
# The statements each flavor gets (pure)
# --------------------------------------------------------------------------------------------


ONLINE = "FORCE, ALGORITHM=INPLACE, LOCK=NONE"


@pytest.mark.parametrize(
    ("raw", "nowait", "waiting", "session_wait"),
    [
        pytest.param(
            MARIADB,
            f"ALTER TABLE `s`.`t` NOWAIT {ONLINE}",
            f"ALTER TABLE `s`.`t` WAIT 1 {ONLINE}",
            None,
            id="mariadb-10.11",
        ),
        pytest.param(
            "11.4.8-MariaDB-ubu2404-log",
            f"ALTER TABLE `s`.`t` NOWAIT {ONLINE}",
            f"ALTER TABLE `s`.`t` WAIT 1 {ONLINE}",
            None,
            id="mariadb-11.4",
        ),
        pytest.param(
            "10.2.44-MariaDB",
            f"ALTER TABLE `s`.`t` {ONLINE}",
            f"ALTER TABLE `s`.`t` {ONLINE}",
            1,
            id="mariadb-10.2-before-nowait",
        ),
        pytest.param(
            MYSQL,
            f"ALTER TABLE `s`.`t` {ONLINE}",
            f"ALTER TABLE `s`.`t` {ONLINE}",
            1,
            id="mysql-8.0",
        ),
        pytest.param(
            "8.4.3",
            f"ALTER TABLE `s`.`t` {ONLINE}",
            f"ALTER TABLE `s`.`t` {ONLINE}",
            1,
            id="mysql-8.4",
        ),
    ],
)
def test_rebuild_ddl_per_flavor(
    raw: str, nowait: str, waiting: str, session_wait: int | None
) -> None:
    """The statement and the session's lock_wait_timeout, with NOWAIT asked for and not."""
    dialect = Dialect(parse_version(raw))
    for asked, sql in ((True, nowait), (False, waiting)):
        clause, wait_s = dialect.ddl_lock_wait(1, nowait=asked)
        assert rebuild_sql("s", "t", online=True, wait=clause) == sql
        assert wait_s == session_wait


def test_lock_wait_is_at_least_mysqls_minimum() -> None:
    mysql, mariadb = Dialect(parse_version(MYSQL)), Dialect(parse_version(MARIADB))
    assert [mysql.ddl_lock_wait(s, nowait=True) for s in (0, 1, 3)] == [("", 1), ("", 1), ("", 3)]
    assert mariadb.ddl_lock_wait(0, nowait=False) == ("WAIT 1", None)
    assert rebuild_sql("s", "t", online=False, wait="NOWAIT") == (
        "ALTER TABLE `s`.`t` NOWAIT FORCE, ALGORITHM=COPY, LOCK=SHARED"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(MYSQL, [PERFORMANCE_SCHEMA_METADATA_LOCKS], id="mysql-8.0"),
        pytest.param("8.4.3", [PERFORMANCE_SCHEMA_METADATA_LOCKS], id="mysql-8.4"),
        pytest.param(
            MARIADB, [METADATA_LOCK_INFO, PERFORMANCE_SCHEMA_METADATA_LOCKS], id="mariadb-10.11"
        ),
        pytest.param("10.4.34-MariaDB", [METADATA_LOCK_INFO], id="mariadb-10.4-no-ps-locks"),
    ],
)
def test_lock_catalogs_per_version(raw: str, expected: list[Any]) -> None:
    assert list(Dialect(parse_version(raw)).metadata_lock_catalogs()) == expected


def test_mysql_holders_statements() -> None:
    """The MySQL path: the availability check and the holders of one table, exactly."""
    (catalog,) = Dialect(parse_version(MYSQL)).metadata_lock_catalogs()
    assert catalog.available_sql == (
        "SELECT COUNT(*) AS available FROM performance_schema.setup_instruments "
        "WHERE NAME = 'wait/lock/metadata/sql/mdl' AND ENABLED = 'YES'"
    )
    sql = " ".join(line for line in load_sql(catalog.holders_file).split() if line)
    assert "FROM performance_schema.metadata_locks AS ml" in sql
    assert "JOIN performance_schema.threads AS th ON th.THREAD_ID = ml.OWNER_THREAD_ID" in sql
    assert (
        "WHERE ml.OBJECT_TYPE = 'TABLE' AND ml.OBJECT_SCHEMA = %s AND ml.OBJECT_NAME = %s "
        "AND th.PROCESSLIST_ID <> CONNECTION_ID()"
    ) in sql
    assert "PROCESSLIST_INFO" not in sql.upper()  # never the holder's statement


def _row(thread: int, command: str, age: int, status: str = "GRANTED") -> dict[str, Any]:
    return {
        "thread_id": thread,
        "user_name": "app",
        "command": command,
        "age_s": age,
        "lock_status": status,
    }


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([_row(7, "Query", 0)], [], id="ordinary-traffic-does-not-block"),
        pytest.param([_row(7, "Sleep", 0)], [7], id="idle-in-transaction-blocks-at-any-age"),
        pytest.param([_row(7, "Query", 2)], [7], id="long-statement-blocks"),
        pytest.param([_row(7, "Query", 0, "PENDING")], [7], id="a-waiter-blocks"),
        pytest.param(
            [_row(7, "Query", 0), _row(7, "Query", 5), _row(9, "Sleep", 1)],
            [7, 9],
            id="one-per-session-oldest-first",
        ),
    ],
)
def test_blocking_holders(rows: list[dict[str, Any]], expected: list[int]) -> None:
    assert [h.thread_id for h in blocking_holders(rows, max_age_s=2)] == expected


def test_holder_is_named_without_its_statement() -> None:
    assert LockHolder(17, "app", "Sleep", 4).describe() == (
        "connection 17 (user app, idle in a transaction for 4s)"
    )
    assert LockHolder(18, "etl", "Query", 9, waiting=True).describe() == (
        "connection 18 (user etl, query for 9s, waiting for the lock)"
    )


def test_retry_waits_back_off_up_to_a_cap() -> None:
    policy = RetryPolicy(wait_s=10, backoff=2, max_wait_s=60)
    assert [policy.wait_before(n) for n in range(1, 6)] == [10, 20, 40, 60, 60]
    assert RetryPolicy(wait_s=1, backoff=1).wait_before(4) == 1


# --------------------------------------------------------------------------------------------
# A private server that can name the holders
# --------------------------------------------------------------------------------------------

LOCKS_USER = "mmc_locks"


@pytest.fixture(scope="module")
def locks_server() -> Iterator[MySQLInstance]:
    spec = InstanceSpec(
        extra_args=(
            "--performance-schema=ON",
            "--performance-schema-instrument=wait/lock/metadata/sql/mdl=ON",
            "--plugin-load-add=metadata_lock_info",
        )
    )
    inst = MySQLInstance(spec).start()
    try:
        inst.execute("CREATE DATABASE app")
        inst.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(40))")
        inst.execute("INSERT INTO app.t SELECT seq, 'x' FROM app.seq_1_to_100")
        create_account(inst.execute, ["app"], "mmc_hist", port=inst.port, user=LOCKS_USER)
        yield inst
    finally:
        inst.stop()


@pytest.fixture
def locks_session(
    locks_server: MySQLInstance, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MaintenanceSession]:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MMC_LOCKS", Account(LOCKS_USER, port=locks_server.port).conn_json()
    )
    with MaintenanceSession("mmc_locks", MaintenanceSettings(), database_name="app") as s:
        yield s


@pytest.fixture
def app_transaction(locks_server: MySQLInstance) -> Iterator[int]:
    """A transaction that read app.t with a literal in its statement, held open: its id."""
    conn = locks_server.connect("app")
    cur = conn.cursor()
    cur.execute("SELECT CONNECTION_ID()")
    (conn_id,) = cur.fetchone()
    cur.execute("BEGIN")
    cur.execute("SELECT v FROM t WHERE v = 'secret-literal'")
    cur.fetchall()
    yield int(conn_id)
    conn.rollback()
    conn.close()


def test_guard_names_the_holder_from_metadata_lock_info(
    locks_session: MaintenanceSession, app_transaction: int
) -> None:
    assert lock_catalog(locks_session) == METADATA_LOCK_INFO
    reason = mdl_guard(locks_session, "app", "t", max_trx_age_s=60)  # young, but idle
    assert f"connection {app_transaction} (user root, idle in a transaction for" in reason
    assert "information_schema.METADATA_LOCK_INFO" in reason
    assert "secret-literal" not in reason
    assert mdl_guard(locks_session, "app", "other", max_trx_age_s=60) == ""


def test_performance_schema_holders_name_the_same_session(
    locks_session: MaintenanceSession, app_transaction: int
) -> None:
    """The MySQL path's statement, on MariaDB's copy of the same performance_schema tables."""
    available = locks_session.query_one(PERFORMANCE_SCHEMA_METADATA_LOCKS.available_sql)
    assert int(available["available"]) == 1
    rows = locks_session.query(
        load_sql(PERFORMANCE_SCHEMA_METADATA_LOCKS.holders_file), ("app", "t")
    )
    (holder,) = blocking_holders(rows, max_age_s=60)
    assert (holder.thread_id, holder.user, holder.idle) == (app_transaction, "root", True)
    assert not blocking_holders(
        locks_session.query(
            load_sql(PERFORMANCE_SCHEMA_METADATA_LOCKS.holders_file), ("app", "other")
        ),
        max_age_s=60,
    )


def test_holder_defers_the_rebuild_before_any_ddl(
    locks_session: MaintenanceSession, app_transaction: int
) -> None:
    audit = AuditLog("mmc_locks", "mmc_hist")
    try:
        result = rebuild_table(
            locks_session,
            "app",
            "t",
            audit=audit,
            database_name="app",
            max_trx_age_s=60,
            disk_free_bytes=1 << 40,
        )
        assert result.status == "retry_later" and f"connection {app_transaction}" in result.reason
        assert audit.read("app") == []  # the DDL was never sent
    finally:
        audit.close()

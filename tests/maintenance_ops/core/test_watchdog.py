"""The session's own statement time limit (MySQL: max_execution_time bounds only SELECTs).

No MySQL server runs here; the mechanism (a second connection of the same account sending
``KILL QUERY`` for our connection id) is the same on MariaDB, so the session is given MySQL's
rules (its dialect says the server does not bound writes, and the server's own limit is off)
and a write blocked on a row lock must end within the limit with the retry-later error.
"""

from __future__ import annotations

import time

import MySQLdb
import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.identifiers import qualified
from maintenance_ops.core.session import MaintenanceSession
from tests.conftest import Target, mysql_connect


def _as_mysql(session: MaintenanceSession, budget_s: float) -> None:
    """Give an open MariaDB session MySQL's statement-limit rules (see the module doc)."""
    session.execute("SET SESSION max_statement_time = 0")
    session.dialect = Dialect(parse_version("8.0.36", "MySQL Community Server - GPL"))
    session.watchdog = session._watchdog(budget_s)


def test_a_blocked_write_is_killed_within_the_limit(target: Target) -> None:
    target.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    target.sql("INSERT INTO t VALUES (1, 0)")
    holder = mysql_connect(target.schema)
    holder.autocommit(False)
    holder.cursor().execute("SELECT * FROM t WHERE id = 1 FOR UPDATE")
    settings = MaintenanceSettings(statement_timeout_s=1, innodb_lock_wait_timeout_s=30)
    try:
        with MaintenanceSession(target.conn_id, settings) as session:
            _as_mysql(session, 1)
            table = qualified(target.schema, "t")
            started = time.monotonic()
            with pytest.raises(MySQLdb.OperationalError) as info:
                session.execute(f"DELETE FROM {table} WHERE id = 1")  # noqa: S608 - a cleanup chunk
            assert time.monotonic() - started < 6
            assert info.value.args[0] == 3024
            assert "KILL QUERY" in info.value.args[1] and "1s" in info.value.args[1]
            assert session.watchdog is not None and session.watchdog.kills == 1
            # The connection is still good, and a SELECT is left to the server's own limit.
            assert session.query_one("SELECT COUNT(*) AS n FROM " + table)["n"] == 1
    finally:
        holder.rollback()
        holder.close()
    assert target.sql("SELECT v FROM t") == [(0,)]


def test_a_statement_that_ends_in_time_is_never_killed(target: Target) -> None:
    target.sql("CREATE TABLE t (id INT PRIMARY KEY)")
    with MaintenanceSession(target.conn_id, MaintenanceSettings(statement_timeout_s=1)) as session:
        _as_mysql(session, 1)
        table = qualified(target.schema, "t")
        for i in range(3):
            session.execute(f"INSERT INTO {table} VALUES (%s)", (i,))  # noqa: S608
        time.sleep(1.5)  # past the budget of every statement: their timers were cancelled
        assert session.watchdog is not None and session.watchdog.kills == 0
        assert session.query_one(f"SELECT COUNT(*) AS n FROM {table}")["n"] == 3  # noqa: S608


def test_mariadb_needs_no_watchdog(target: Target) -> None:
    with MaintenanceSession(target.conn_id, MaintenanceSettings(statement_timeout_s=5)) as session:
        assert session.watchdog is None  # max_statement_time bounds every statement

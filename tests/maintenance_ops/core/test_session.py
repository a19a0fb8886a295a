"""The maintenance session against the real server: guards, flavor, clear connect errors."""

from __future__ import annotations

import socket
import time

import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.exceptions import ConfigError, ConnectionFailed
from maintenance_ops.core.session import MaintenanceSession
from tests.conftest import Target


def test_guards_and_flavor(target: Target) -> None:
    settings = MaintenanceSettings(
        lock_wait_timeout_s=7, innodb_lock_wait_timeout_s=3, statement_timeout_s=42
    )
    with MaintenanceSession(target.conn_id, settings, database_name="primary") as session:
        assert session.dialect is not None
        assert session.dialect.version.flavor == "mariadb"
        assert session.variable("lock_wait_timeout") == "7"
        assert session.variable("innodb_lock_wait_timeout") == "3"
        assert float(session.variable("max_statement_time")) == 42.0
        assert session.query("SELECT %s AS v", ("x'; DROP TABLE t; --",)) == [
            {"v": "x'; DROP TABLE t; --"}
        ]


def test_statement_time_limit_is_enforced(target: Target) -> None:
    settings = MaintenanceSettings(statement_timeout_s=1)
    with MaintenanceSession(target.conn_id, settings) as session:
        started = time.monotonic()
        with pytest.raises(Exception, match="max_statement_time"):
            session.query("SELECT SLEEP(5) FROM (SELECT 1 UNION SELECT 2) t")
        assert time.monotonic() - started < 4


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_unreachable_server_names_database_connection_and_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _refused_port()
    monkeypatch.setenv("AIRFLOW_CONN_MMC_DOWN", f"mysql://root@127.0.0.1:{port}")
    session = MaintenanceSession(
        "mmc_down", MaintenanceSettings(connect_timeout_s=2), database_name="orders"
    )
    with pytest.raises(ConnectionFailed) as info:
        session.open()
    message = str(info.value)
    assert "database 'orders'" in message
    assert f"connection 'mmc_down', 127.0.0.1:{port}" in message
    assert "check that the server is running" in message


def test_wrong_password_says_so(mysql_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MMC_BADPW", "mysql://no_such_user:secret@127.0.0.1:3306")
    with pytest.raises(ConnectionFailed, match="check the user and password") as info:
        MaintenanceSession("mmc_badpw", MaintenanceSettings()).open()
    assert "secret" not in str(info.value)


def test_undefined_connection_says_how_to_add_it() -> None:
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_MMC_NOWHERE"):
        MaintenanceSession("mmc_nowhere", MaintenanceSettings()).open()

"""Which failures a retry can fix: classified once, on real server errors where we can."""

from __future__ import annotations

import json
import socket
import uuid

import MySQLdb
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.exceptions import (
    ConfigError,
    ConnectionFailed,
    MaintenanceError,
    PreflightError,
    final_reason,
)
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.operators.base import fail_fast
from tests.conftest import Target
from tests.support.accounts import PASSWORD, Account


def _wrapped(driver_error: Exception) -> MaintenanceError:
    """A package error raised while handling ``driver_error``, hidden as our wrappers hide it."""
    try:
        try:
            raise driver_error
        except MySQLdb.Error:
            raise ConnectionFailed("db (connection 'x', 127.0.0.1:3306): cannot connect") from None
    except ConnectionFailed as exc:
        return exc


# Final: the account, the configuration or the data must change. Not final: a retry may pass.
@pytest.mark.parametrize(
    ("exc", "final"),
    [
        pytest.param(MySQLdb.OperationalError(1045, "Access denied"), True, id="1045-login"),
        pytest.param(
            MySQLdb.OperationalError(1044, "Access denied to db"), True, id="1044-database"
        ),
        pytest.param(
            MySQLdb.OperationalError(1049, "Unknown database 'x'"), True, id="1049-unknown"
        ),
        pytest.param(MySQLdb.OperationalError(1227, "need SUPER"), True, id="1227-privilege"),
        pytest.param(MySQLdb.ProgrammingError(1142, "SELECT denied"), True, id="1142-table"),
        pytest.param(MySQLdb.OperationalError(1143, "column denied"), True, id="1143-column"),
        pytest.param(_wrapped(MySQLdb.OperationalError(1045, "denied")), True, id="wrapped-1045"),
        pytest.param(ConfigError("bad rule"), True, id="config"),
        pytest.param(PreflightError("lacks PROCESS"), True, id="preflight"),
        pytest.param(MySQLdb.OperationalError(2013, "Lost connection"), False, id="2013-lost"),
        pytest.param(MySQLdb.OperationalError(2006, "gone away"), False, id="2006-gone"),
        pytest.param(
            MySQLdb.OperationalError(1205, "Lock wait timeout"), False, id="1205-lock-wait"
        ),
        pytest.param(MySQLdb.OperationalError(1213, "Deadlock"), False, id="1213-deadlock"),
        pytest.param(_wrapped(MySQLdb.OperationalError(2003, "refused")), False, id="wrapped-2003"),
        pytest.param(
            ConnectionFailed("no driver error behind it"), False, id="bare-connection-failed"
        ),
        pytest.param(RuntimeError("anything else"), False, id="runtime"),
    ],
)
def test_classification(exc: Exception, final: bool) -> None:
    assert (final_reason(exc) is not None) is final
    if not final:
        fail_fast("orders", exc)  # returns: the caller re-raises, Airflow retries


def test_airflow_outcomes_pass_unchanged() -> None:
    skip = AirflowSkipException("outside the window")
    skip.__cause__ = ConfigError("would be final")
    fail_fast("orders", skip)  # not turned into a failure


def _open(monkeypatch: pytest.MonkeyPatch, conn_json: str) -> ConnectionFailed:
    conn_id = f"mmc_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json)
    with pytest.raises(ConnectionFailed) as info:
        MaintenanceSession(conn_id, MaintenanceSettings(connect_timeout_s=2)).open()
    return info.value


def test_wrong_password_fails_at_once_naming_the_fix(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert target.account is not None
    wrong = Account(target.account.user, password=PASSWORD + "x").conn_json()
    exc = _open(monkeypatch, wrong)
    with pytest.raises(AirflowFailException) as info:
        fail_fast("orders", exc)
    message = str(info.value)
    assert message.startswith("orders: ")
    assert "[1045]" in message
    assert "Not retried: the server refused the login: fix the connection's user and password" in (
        message
    )
    assert PASSWORD not in message and PASSWORD + "x" not in message


@pytest.mark.parametrize(
    ("granted", "expected"),
    [
        pytest.param(True, "[1049] Unknown database", id="1049-granted-but-missing"),
        pytest.param(False, "[1044] Access denied", id="1044-not-granted"),
    ],
)
def test_unknown_or_forbidden_database_is_final(
    target: Target, monkeypatch: pytest.MonkeyPatch, granted: bool, expected: str
) -> None:
    assert target.account is not None
    missing = f"{target.schema}_missing"
    if granted:  # a grant on a schema nobody created yet: the server then says 1049
        target.sql(f"GRANT SELECT ON `{missing}`.* TO '{target.account.user}'@'%'")
    conn = json.loads(Account(target.account.user).conn_json())
    exc = _open(monkeypatch, json.dumps({**conn, "schema": missing}))
    with pytest.raises(AirflowFailException) as info:
        fail_fast("orders", exc)
    assert expected in str(info.value) and "Not retried: " in str(info.value)


def test_refused_port_still_retries(mysql_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert final_reason(_open(monkeypatch, Account("maintenance", port=port).conn_json())) is None


def test_missing_table_privilege_is_final(target: Target) -> None:
    with (
        MaintenanceSession(target.conn_id, MaintenanceSettings()) as session,
        pytest.raises(MySQLdb.Error) as info,
    ):
        session.query("SELECT COUNT(*) AS n FROM mysql.db")  # grants.sql grants no such read
    with pytest.raises(AirflowFailException, match=r"^orders: \[1142\] SELECT command denied"):
        fail_fast("orders", info.value)

"""The one execution layer: values bound, names with `%` kept, every wait bounded."""

from __future__ import annotations

import re

import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.exceptions import ConnectionFailed
from maintenance_ops.core.identifiers import qualified, quote_identifier
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.core.sqlexec import connect, protect_identifiers, rows

HOSTILE = ["a%b", "%s", "a%%b", "100%", "%(x)s", "x`%`y", "ünï%cødé"]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param("SELECT `a%b`", "SELECT `a%%b`", id="name"),
        pytest.param("SELECT `a``%`", "SELECT `a``%%`", id="doubled-backtick"),
        pytest.param("SELECT 'x%%' , `%s`", "SELECT 'x%%' , `%%s`", id="string-left-alone"),
        pytest.param("SELECT '`%%`'", "SELECT '`%%`'", id="backtick-inside-string"),
        pytest.param("SELECT 'it''s `%%`', `%`", "SELECT 'it''s `%%`', `%%`", id="quote-doubling"),
        pytest.param("SELECT 'a\\'`%%`', `%`", "SELECT 'a\\'`%%`', `%%`", id="backslash"),
        pytest.param("-- `%%`\nSELECT `%`", "-- `%%`\nSELECT `%%`", id="comment"),
        pytest.param("SELECT %s, %(a)s", "SELECT %s, %(a)s", id="placeholders"),
    ],
)
def test_protect_identifiers(sql: str, expected: str) -> None:
    assert protect_identifiers(sql) == expected


def test_hostile_names_round_trip_through_the_session(target) -> None:
    """Each name is created as root, then read and written through the session as itself."""
    for name in HOSTILE:
        target.sql(f"CREATE TABLE `{target.schema}`.{quote_identifier(name)} (id INT PRIMARY KEY)")
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        for name in HOSTILE:
            table = qualified(target.schema, name)
            session.execute(f"INSERT INTO {table} (id) VALUES (%s)", (7,))
            assert session.query(f"SELECT id FROM {table} WHERE id = %s", (7,)) == [{"id": 7}]
            assert session.query(f"SELECT COUNT(*) AS n FROM {table}") == [{"n": 1}]
            session.execute(f"ANALYZE TABLE {table}")
    for name in HOSTILE:  # nothing went to a differently named table
        assert target.sql(f"SELECT COUNT(*) FROM {qualified(target.schema, name)}") == [(1,)]
    tables = {
        r[0]
        for r in target.sql(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
            (target.schema,),
        )
    }
    assert tables == set(HOSTILE)


def test_connect_prefers_the_socket_and_sets_charset_and_autocommit(target) -> None:
    from tests.conftest import run_sql

    account = target.account
    socket = str(run_sql("SELECT @@socket")[0][0])
    # 192.0.2.1 (TEST-NET) answers nothing: only the socket can make this login work.
    conn = connect(
        user=account.user, password=account.password, socket=socket, host="192.0.2.1",
        connect_timeout=2,
    )  # fmt: skip
    try:
        assert rows(conn, "SELECT @@autocommit, @@character_set_client, CURRENT_USER()") == [
            (1, "utf8mb4", f"{account.user}@%")
        ]
    finally:
        conn.close()


def test_connect_refused_login_names_the_fix_never_the_password(target) -> None:
    account = target.account
    with pytest.raises(ConnectionFailed) as info:
        connect(user=account.user, password="wrong-" + account.password, port=account.port)
    message = str(info.value)
    assert f"127.0.0.1:{account.port}: cannot connect: [1045]" in message
    assert "check the user and password" in message
    assert account.password not in message and info.value.__cause__ is None


def test_connect_unreachable_server_names_the_label_and_the_fix() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ConnectionFailed, match="check that the server is running") as info:
        connect(user="u", password="s3cret", port=port, connect_timeout=2, label="replica r1")
    assert re.match(r"replica r1: cannot connect: \[200[23]\]", str(info.value))
    assert "s3cret" not in str(info.value)

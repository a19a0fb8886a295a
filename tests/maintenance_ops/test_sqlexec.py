"""The one execution layer: values bound, names with `%` kept, every wait bounded."""

from __future__ import annotations

import pytest

from maintenance_ops.config import MaintenanceSettings
from maintenance_ops.identifiers import qualified, quote_identifier
from maintenance_ops.session import MaintenanceSession
from maintenance_ops.sqlexec import protect_identifiers

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
    tables = {r[0] for r in target.sql(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
        (target.schema,),
    )}
    assert tables == set(HOSTILE)

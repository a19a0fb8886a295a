from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from maintenance_ops.cadences import BY_KEY
from maintenance_ops.config import Window
from maintenance_ops.dialect import Dialect, parse_version
from maintenance_ops.preflight import missing_privileges, window_is_open

MARIADB = Dialect(parse_version("10.11.19-MariaDB"))
MYSQL = Dialect(parse_version("8.0.36"))
HISTORY = [("_maintenance", p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE")]


def test_all_privileges_globally_is_enough() -> None:
    assert missing_privileges([("*", "ALL PRIVILEGES")], ["PROCESS"], ["shop"], MARIADB, "_m") == []


def test_schema_grants_and_global_only_privileges() -> None:
    granted = [("shop", "SELECT"), ("shop", "INSERT"), *HISTORY]
    missing = missing_privileges(
        granted, BY_KEY["health_check"].privileges, ["shop", "crm"], MARIADB, "_maintenance"
    )
    assert missing == [
        "PROCESS ON *.*",
        "REPLICATION CLIENT ON *.*",
        "SELECT ON `crm`.*",
    ]


def test_mariadb_lists_replication_client_as_binlog_monitor() -> None:
    granted = [("*", "SELECT"), ("*", "PROCESS"), ("*", "BINLOG MONITOR"), *HISTORY]
    required = BY_KEY["health_check"].privileges
    assert missing_privileges(granted, required, ["shop"], MARIADB, "_maintenance") == []
    assert missing_privileges(granted, required, ["shop"], MYSQL, "_maintenance") == [
        "REPLICATION CLIENT ON *.*"
    ]


def test_history_schema_privileges_are_required() -> None:
    missing = missing_privileges([("*", "SELECT")], ["SELECT"], ["shop"], MYSQL, "_maintenance")
    assert "CREATE ON `_maintenance`.*" in missing
    assert "INSERT ON `_maintenance`.*" in missing


NIGHT = Window(start=time(1), end=time(5), timezone="UTC")
OVER_MIDNIGHT = Window(start=time(22), end=time(4), timezone="Europe/Berlin")


@pytest.mark.parametrize(
    ("window", "now", "expected"),
    [
        pytest.param(None, datetime(2026, 1, 1, 12, tzinfo=UTC), True, id="no-window"),
        pytest.param(NIGHT, datetime(2026, 1, 1, 1, tzinfo=UTC), True, id="at-start"),
        pytest.param(NIGHT, datetime(2026, 1, 1, 5, tzinfo=UTC), False, id="at-end"),
        pytest.param(NIGHT, datetime(2026, 1, 1, 12, tzinfo=UTC), False, id="midday"),
        pytest.param(OVER_MIDNIGHT, datetime(2026, 1, 1, 22, 30, tzinfo=UTC), True, id="span-late"),
        pytest.param(OVER_MIDNIGHT, datetime(2026, 1, 1, 2, 30, tzinfo=UTC), True, id="span-early"),
        pytest.param(OVER_MIDNIGHT, datetime(2026, 1, 1, 3, 30, tzinfo=UTC), False, id="span-tz"),
        pytest.param(OVER_MIDNIGHT, datetime(2026, 7, 1, 2, 30, tzinfo=UTC), False, id="span-dst"),
    ],
)
def test_window(window: Window | None, now: datetime, expected: bool) -> None:
    assert window_is_open(now, window) is expected

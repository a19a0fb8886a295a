from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from maintenance_ops.core.config import Window
from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.preflight import missing_privileges, window_is_open

MARIADB = Dialect(parse_version("10.11.19-MariaDB"))
MARIADB_10_4 = Dialect(parse_version("10.4.30-MariaDB"))
MYSQL = Dialect(parse_version("8.0.36"))
HISTORY = [("_maintenance.*", p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE")]


def _missing(granted, cadence, dialect=MARIADB, schemas=("shop",), **features) -> list[str]:
    found = missing_privileges(granted, cadence, list(schemas), dialect, "_maintenance", **features)
    return [str(r) for r in found]


def test_all_privileges_globally_is_enough() -> None:
    assert _missing([("*.*", "ALL PRIVILEGES")], "daily_maintenance", backups=True) == []


def test_schema_grants_and_global_only_privileges() -> None:
    granted = [("shop.*", "SELECT"), ("shop.*", "INSERT"), *HISTORY]
    assert _missing(granted, "health_check", schemas=("shop", "crm")) == [
        "PROCESS ON *.*",
        "REPLICATION CLIENT ON *.*",
        "SELECT ON `crm`.*",
        "SELECT ON `mysql`.`user`",
        "SELECT ON `performance_schema`.*",
    ]


def test_table_grants_and_schema_grants_both_count() -> None:
    granted = [("*.*", "SELECT"), ("*.*", "PROCESS"), ("*.*", "BINLOG MONITOR"), *HISTORY]
    assert _missing(granted, "health_check") == []
    table_only = [("shop.*", "SELECT"), ("*.*", "PROCESS"), ("*.*", "BINLOG MONITOR"), *HISTORY]
    table_only += [("mysql.user", "SELECT"), ("performance_schema.*", "SELECT")]
    assert _missing(table_only, "health_check") == []


def test_mariadb_lists_replication_client_as_binlog_monitor() -> None:
    granted = [("*.*", "SELECT"), ("*.*", "PROCESS"), ("*.*", "BINLOG MONITOR"), *HISTORY]
    assert _missing(granted, "health_check") == []
    assert _missing(granted, "health_check", MYSQL) == ["REPLICATION CLIENT ON *.*"]


def test_replicas_need_slave_monitor_on_mariadb_10_5_9_and_not_binlog_monitor() -> None:
    granted = [("*.*", "SELECT"), ("*.*", "PROCESS"), ("*.*", "BINLOG MONITOR"), *HISTORY]
    assert _missing(granted, "health_check", replicas=True) == ["SLAVE MONITOR ON *.*"]
    older = [("*.*", "SELECT"), ("*.*", "PROCESS"), ("*.*", "REPLICATION CLIENT"), *HISTORY]
    assert _missing(older, "health_check", MARIADB_10_4, replicas=True) == []


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        pytest.param(MARIADB, "SELECT ON `mysql`.`proc`", id="mariadb-mysql-proc"),
        pytest.param(MYSQL, "SHOW_ROUTINE ON *.*", id="mysql-8-show-routine"),
    ],
)
def test_backups_need_to_see_every_routine(dialect: Dialect, expected: str) -> None:
    granted = [("shop.*", "SELECT")]
    assert expected in _missing(granted, "backup_testing", dialect, backups=True)
    assert expected not in _missing(granted, "backup_testing", dialect, backups=False)


def test_monthly_needs_the_histogram_catalog_on_mariadb_only() -> None:
    assert "SELECT ON `mysql`.`column_stats`" in _missing([], "monthly_deep_maintenance")
    assert "SELECT ON `mysql`.`column_stats`" not in _missing([], "monthly_deep_maintenance", MYSQL)


def test_history_schema_privileges_are_required() -> None:
    missing = _missing([("*.*", "SELECT")], "health_check", MYSQL)
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


def test_history_on_a_central_server_is_not_required_here() -> None:
    found = missing_privileges([("*.*", "SELECT")], "health_check", ["shop"], MYSQL, None)
    assert not [r for r in found if "_maintenance" in str(r) or str(r).startswith("CREATE")]
    assert "PROCESS ON *.*" in [str(r) for r in found]


def test_a_step_without_its_cadences_grants_needs_only_its_features_and_alls() -> None:
    """The replica checks of the drill need grants.sql's replicas lines, not the drill's own."""
    granted = [("shop.*", "SELECT"), *HISTORY]
    drill = set(_missing(granted, "disaster_recovery_test", replicas=True))
    replicas_only = set(
        _missing(granted, "disaster_recovery_test", replicas=True, cadence_grants=False)
    )
    assert replicas_only and replicas_only < drill
    assert replicas_only <= set(_missing(granted, "health_check", replicas=True))
    assert "REPLICATION SLAVE ON *.*" in drill - replicas_only  # the drill reads binlogs

"""Statistics refresh: the pure selection, then ANALYZE TABLE on the real server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from maintenance_ops.core.audit import AuditLog
from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.upkeep.statistics import (
    StaleTable,
    TableStatsState,
    _like_prefix,
    is_persistent,
    needs_refresh,
    read_states,
    refresh_statistics,
    select_stale,
)
from tests.conftest import Target

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def state(
    rows: int, stats_rows: int | None, modified: int | None = 0, **kw: object
) -> TableStatsState:
    return TableStatsState(
        "s", "t", kw.pop("engine", "InnoDB"), rows, stats_rows, None, modified, **kw
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "stale", "reason"),
    [
        pytest.param(state(100, None), True, "never analysed", id="never-analysed"),
        pytest.param(state(0, None), True, "never analysed", id="never-analysed-empty"),
        pytest.param(state(1000, 1000, 0), False, None, id="unchanged"),
        pytest.param(state(1050, 1000, 50), False, None, id="below-ratio"),
        pytest.param(state(1100, 1000, 100), True, "100 rows changed", id="at-ratio"),
        pytest.param(state(700, 1000, None), True, "300 rows changed", id="deletes-by-drift"),
        pytest.param(state(1000, 1000, 400), True, "400 rows changed", id="updates-by-counter"),
        pytest.param(state(5, 0, 5), True, "5 rows changed", id="filled-after-empty-stats"),
        pytest.param(state(0, 0, 0), False, None, id="empty-and-unchanged"),
        pytest.param(
            state(1000, None, 300, persistent=False), True, "300 rows", id="transient-stats"
        ),
        pytest.param(state(1000, None, 0, persistent=False), False, None, id="transient-fresh"),
        pytest.param(state(1000, None, None, engine="Aria"), False, None, id="other-engine"),
    ],
)
def test_needs_refresh(table: TableStatsState, stale: bool, reason: str | None) -> None:
    selected = needs_refresh(table, ratio=0.1)
    assert (selected is not None) == stale
    if selected is not None:
        assert reason is not None and reason in selected.reason


def test_select_stale_orders_never_analysed_then_most_changed() -> None:
    states = [
        TableStatsState("s", "a", "InnoDB", 1200, 1000, modified=200),
        TableStatsState("s", "b", "InnoDB", 5000, 1000, modified=4000),
        TableStatsState("s", "c", "InnoDB", 10, None),
        TableStatsState("s", "d", "InnoDB", 1000, 1000, modified=0),
    ]
    assert [s.table for s in select_stale(states, 0.1)] == ["c", "b", "a"]
    assert [s.table for s in select_stale(states, 0.5)] == ["c", "b"]


@pytest.mark.parametrize(
    ("options", "default", "expected"),
    [
        pytest.param("", True, True, id="global-on"),
        pytest.param(None, False, False, id="global-off"),
        pytest.param("stats_persistent=0", True, False, id="table-off"),
        pytest.param("stats_auto_recalc=0 stats_persistent=1", False, True, id="table-on"),
    ],
)
def test_is_persistent(options: str | None, default: bool, expected: bool) -> None:
    assert is_persistent(options, default) is expected


def test_like_prefix_escapes_wildcards_and_encodes() -> None:
    assert _like_prefix("my_app") == "my\\_app/%"
    assert _like_prefix("a$b") == "a@0024b/%"


# --------------------------------------------------------------------------------------------
# Real server
# --------------------------------------------------------------------------------------------

# STATS_AUTO_RECALC=0: the shared server recalculates at 10 % changes in the background, which
# would refresh a table behind the test's back.
SETUP = [
    "CREATE TABLE fresh (id INT PRIMARY KEY, v INT, KEY k_v (v)) STATS_AUTO_RECALC=0",
    "CREATE TABLE grown (id INT PRIMARY KEY, v INT, KEY k_v (v)) STATS_AUTO_RECALC=0",
    "CREATE TABLE `update` (id INT PRIMARY KEY, v INT, KEY k_v (v)) STATS_AUTO_RECALC=0",
    "CREATE TABLE other (id INT PRIMARY KEY) ENGINE=Aria",
    "INSERT INTO fresh SELECT seq, seq FROM seq_1_to_1000",
    "INSERT INTO grown SELECT seq, seq FROM seq_1_to_1000",
    "INSERT INTO `update` SELECT seq, seq FROM seq_1_to_1000",
    "ANALYZE TABLE fresh, grown, `update`",
    "INSERT INTO grown SELECT seq, seq FROM seq_1001_to_1500",
    "UPDATE `update` SET v = v + 1 WHERE id <= 300",
    "INSERT INTO fresh SELECT seq, seq FROM seq_1001_to_1010",
]


@pytest.fixture
def stale_schema(target: Target) -> Target:
    for statement in SETUP:
        target.sql(statement)
    return target


def _session(target: Target) -> MaintenanceSession:
    return MaintenanceSession(target.conn_id, MaintenanceSettings(), database_name="primary")


def _refresh(target: Target, **kw: object) -> tuple[dict[str, object], list[dict[str, object]]]:
    audit = AuditLog(target.conn_id, target.history_schema)
    with _session(target) as session:
        result = refresh_statistics(
            session,
            [target.schema],
            audit,
            "primary",
            now=NOW,
            **kw,  # type: ignore[arg-type]
        )
    rows = audit.read("primary")
    audit.close()
    return result.to_dict(), rows


def test_reads_the_catalog_state(stale_schema: Target) -> None:
    with _session(stale_schema) as session:
        notes: list[str] = []
        states = {s.table: s for s in read_states(session, [stale_schema.schema], notes)}
    assert notes == []
    assert (states["grown"].table_rows, states["grown"].stats_rows) == (1500, 1000)
    assert states["update"].modified == 300 and states["update"].table_rows == 1000
    assert states["fresh"].modified == 10 and states["other"].engine == "Aria"


def test_dry_run_lists_and_changes_nothing(stale_schema: Target) -> None:
    before = stale_schema.sql(
        "SELECT table_name, last_update, n_rows FROM mysql.innodb_table_stats "
        "WHERE database_name = DATABASE() ORDER BY table_name"
    )
    result, audit_rows = _refresh(stale_schema, dry_run=True, time_budget_s=None)
    assert [s["table"] for s in result["selected"]] == ["grown", "update"]
    assert result["analysed"] == [] and result["left"] == []
    assert result["examined"] == 4
    assert "1 Aria table(s) not examined: no change counters" in result["notes"]
    assert [(r["object_name"], r["outcome"]) for r in audit_rows] == [
        (f"{stale_schema.schema}.grown", "dry_run"),
        (f"{stale_schema.schema}.update", "dry_run"),
    ]
    assert audit_rows[1]["command"] == f"ANALYZE TABLE `{stale_schema.schema}`.`update`"
    after = stale_schema.sql(
        "SELECT table_name, last_update, n_rows FROM mysql.innodb_table_stats "
        "WHERE database_name = DATABASE() ORDER BY table_name"
    )
    assert after == before


def test_analyses_only_stale_tables_then_nothing(stale_schema: Target) -> None:
    result, audit_rows = _refresh(stale_schema, dry_run=False, time_budget_s=60)
    schema = stale_schema.schema
    assert result["analysed"] == [f"{schema}.grown", f"{schema}.update"]
    assert result["failed"] == [] and result["skipped"] == [] and not result["budget_exhausted"]
    assert [r["outcome"] for r in audit_rows] == ["ok", "ok"]
    assert '"reason": "500 rows changed' in audit_rows[0]["details"]
    n_rows = dict(
        stale_schema.sql(
            "SELECT table_name, n_rows FROM mysql.innodb_table_stats WHERE database_name = DATABASE()"
        )
    )
    assert n_rows["grown"] == 1500
    again, _ = _refresh(stale_schema, dry_run=False, time_budget_s=60)
    assert again["selected"] == [] and again["analysed"] == []


def test_time_budget_zero_analyses_nothing_and_says_so(stale_schema: Target) -> None:
    result, audit_rows = _refresh(stale_schema, dry_run=False, time_budget_s=0)
    schema = stale_schema.schema
    assert result["analysed"] == [] and audit_rows == []
    assert result["left"] == [f"{schema}.grown", f"{schema}.update"]
    assert result["budget_exhausted"] is True
    assert "time budget of 0s used up: 2 table(s) left for the next run" in result["notes"]


def test_stale_table_to_dict() -> None:
    table = StaleTable("s", "t", "never analysed", 10)
    assert table.name == "s.t" and table.to_dict()["reason"] == "never analysed"

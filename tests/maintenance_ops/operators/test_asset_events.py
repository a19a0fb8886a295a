"""Which tables a cleanup or a rebuild reports as changed assets, and what the events say."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import AssetAlias

from maintenance_ops.asset_refresh import CLEANUP_ALIAS, REBUILD_ALIAS
from maintenance_ops.operators.daily import (
    MySqlCleanupOperator,
    MySqlStatisticsOperator,
    cleanup_events,
)
from maintenance_ops.operators.deep import MySqlOptimizeTablesOperator, rebuild_event_extra


def _run(rule: str, deleted: int = 0, archived: int = 0, parts: list[str] | None = None) -> Any:
    return {
        "rule": rule,
        "mode": "archive" if archived else "delete",
        "status": "ok",
        "cutoff": "2026-05-16 02:00:00",
        "rows_deleted": deleted,
        "rows_archived": archived,
        "partitions_dropped": parts or [],
        "warnings": [],
    }


def test_one_event_per_cleaned_table_none_for_untouched_ones() -> None:
    events = cleanup_events(
        "shop",
        [
            ("app", "sessions", _run("old_sessions", deleted=7)),
            ("app", "tokens", _run("tokens")),
            ("app", "sessions", _run("guest_sessions", deleted=3)),
            ("app", "audit", _run("audit", archived=5, deleted=5)),
            ("app", "events", _run("events", parts=["p2025_01"])),
        ],
    )
    assert [uri for uri, _ in events] == [
        "mysql-maintenance://shop/app/sessions",
        "mysql-maintenance://shop/app/audit",
        "mysql-maintenance://shop/app/events",
    ]
    sessions = events[0][1]
    assert (sessions["rows_deleted"], sessions["rows_archived"]) == (10, 0)
    assert [r["rule"] for r in sessions["rules"]] == ["old_sessions", "guest_sessions"]
    assert events[1][1]["rules"][0]["mode"] == "archive"
    assert events[2][1]["rules"][0]["partitions_dropped"] == ["p2025_01"]


def test_nothing_removed_means_no_event() -> None:
    assert cleanup_events("shop", [("app", "tokens", _run("tokens"))]) == []


def test_rebuild_event_extra() -> None:
    rebuild = {
        "schema": "app",
        "table": "we`ird",
        "status": "rebuilt",
        "reason": "",
        "before_bytes": 100,
        "after_bytes": 40,
        "reclaimed_bytes": 60,
        "duration_s": 1.5,
        "algorithm": "INPLACE",
        "attempts": 1,
        "wait_next": False,
    }
    assert rebuild_event_extra("shop", rebuild) == {
        "database": "shop",
        "step": "optimize",
        "schema": "app",
        "table": "we`ird",
        "status": "rebuilt",
        "algorithm": "INPLACE",
        "before_bytes": 100,
        "after_bytes": 40,
        "reclaimed_bytes": 60,
        "duration_s": 1.5,
    }


@pytest.mark.parametrize(
    ("operator", "alias"),
    [
        pytest.param(MySqlCleanupOperator, CLEANUP_ALIAS, id="cleanup"),
        pytest.param(MySqlOptimizeTablesOperator, REBUILD_ALIAS, id="optimize"),
    ],
)
def test_the_steps_declare_their_alias_as_outlet(operator: Any, alias: str) -> None:
    task = operator(task_id="t", database="shop")
    assert AssetAlias(alias) in task.outlets


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"tables": "app.orders"}, TypeError, id="a-string"),
        pytest.param({"tables": ["orders"]}, Exception, id="no-schema"),
        pytest.param({"tables": ["app.orders"], "histograms": True}, ValueError, id="histograms"),
    ],
)
def test_statistics_tables_are_checked_at_construction(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error, match="tables=|schema.table"):
        MySqlStatisticsOperator(task_id="t", database="shop", **kwargs)

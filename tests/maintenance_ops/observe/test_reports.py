"""Run reports: a Markdown file with the charts beside it, and who gets a Slack summary."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from maintenance_ops.core.config import parse_config
from maintenance_ops.observe.reports import render_markdown, wants_summary, write_report


def test_report_file_and_chart(tmp_path: Path) -> None:
    config = parse_config(f"notifications: {{report_dir: '{tmp_path}'}}")
    results = [
        {"database": "db/1", "capacity": {"svg": "<svg xmlns='http://www.w3.org/2000/svg'/>"}},
        {"database": "b"},
    ]
    path = write_report(
        config,
        "mysql_monthly_deep_maintenance",
        "manual__2026-11-01T00:00:00+00:00",
        "all good",
        results,
    )
    assert (
        path == tmp_path / "mysql_monthly_deep_maintenance" / "manual__2026-11-01T00_00_00_00_00.md"
    )
    text = path.read_text()
    assert (
        "all good" in text
        and "![db/1](manual__2026-11-01T00_00_00_00_00.db_1.capacity.svg)" in text
    )
    assert (
        (path.parent / "manual__2026-11-01T00_00_00_00_00.db_1.capacity.svg")
        .read_text()
        .startswith("<svg")
    )


def test_render_markdown_without_charts() -> None:
    assert render_markdown("d", "r", "x", {}) == "# d\n\nRun `r`\n\n```\nx\n```\n"


def test_who_gets_a_slack_summary() -> None:
    on = parse_config("notifications: {slack_conn_id: s, send_weekly_reports: false}")
    off = parse_config("notifications: {slack_conn_id: null}")
    assert wants_summary(on, "mysql_daily_maintenance")
    assert not wants_summary(on, "mysql_weekly_optimization")
    assert not wants_summary(on, "mysql_health_check")  # hourly: no summary storm
    assert not wants_summary(off, "mysql_daily_maintenance")
    # Nothing changed in a dry run; each date of a backfill would be a message of its own.
    assert not wants_summary(on, "mysql_daily_maintenance", {"params": {"dry_run": True}})
    backfilled = SimpleNamespace(run_type=SimpleNamespace(value="backfill"))
    assert not wants_summary(on, "mysql_daily_maintenance", {"dag_run": backfilled})
    scheduled = SimpleNamespace(run_type=SimpleNamespace(value="scheduled"))
    assert wants_summary(on, "mysql_daily_maintenance", {"dag_run": scheduled, "params": {}})

"""Run reports: a Markdown file with the charts beside it, and who gets a Slack summary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from maintenance_ops.core.config import parse_config
from maintenance_ops.observe.report_markdown import RunSummary
from maintenance_ops.observe.reports import (
    report_stem,
    run_moment_line,
    wants_summary,
    write_report,
)


@pytest.mark.parametrize(
    ("run_id", "stem"),
    [
        pytest.param(
            "scheduled__2026-11-01T02:00:00+00:00",
            "scheduled__2026-11-01T02_00_00_00_00",
            id="scheduled",
        ),
        pytest.param(
            "backfill__2026-11-01T02:00:00+00:00",
            "backfill__2026-11-01T02_00_00_00_00",
            id="backfill",
        ),
        pytest.param(
            "manual__2026-12-03T18:12:26.123456+00:00",
            "manual__2026-12-03T18_12_26.123456_00_00",
            id="manual-with-microseconds",
        ),
        pytest.param("../../etc/passwd", ".._.._etc_passwd", id="a-hand-made-id-with-slashes"),
        pytest.param("nightly run #1 é", "nightly_run__1__", id="spaces-hash-unicode"),
    ],
)
def test_the_report_file_name_is_the_run_id_made_safe(run_id: str, stem: str) -> None:
    assert report_stem(run_id) == stem


def test_report_file_and_chart(tmp_path: Path) -> None:
    config = parse_config(f"notifications: {{report_dir: '{tmp_path}'}}")
    results = [
        {"database": "db/1", "capacity": {"svg": "<svg xmlns='http://www.w3.org/2000/svg'/>"}},
        {"database": "b"},
    ]
    run_id = "manual__2026-11-01T00:00:00+00:00"
    summary = RunSummary("mysql_monthly_deep_maintenance", run_id, ["db/1", "b"], results)
    path = write_report(config, summary)
    # README: <report_dir>/<dag_id>/<run_id>.md, the run id made safe (report_stem).
    assert path == tmp_path / "mysql_monthly_deep_maintenance" / f"{report_stem(run_id)}.md"
    assert path.name == "manual__2026-11-01T00_00_00_00_00.md"
    text = path.read_text()
    assert f"| Run | `{run_id}` |" in text  # the exact run id heads the file
    assert "![db/1](manual__2026-11-01T00_00_00_00_00.db_1.capacity.svg)" in text
    assert (
        (path.parent / "manual__2026-11-01T00_00_00_00_00.db_1.capacity.svg")
        .read_text()
        .startswith("<svg")
    )


def test_the_header_says_when_the_run_is_about() -> None:
    logical = datetime(2026, 11, 1, 2, tzinfo=UTC)
    scheduled = SimpleNamespace(logical_date=logical, run_after=logical)
    assert run_moment_line({"dag_run": scheduled, "logical_date": logical}) == (
        "Logical date",
        "2026-11-01 02:00:00+00:00",
    )
    manual = SimpleNamespace(logical_date=None, run_after=datetime(2026, 12, 3, 18, tzinfo=UTC))
    assert run_moment_line({"dag_run": manual}) == (
        "Run after (no logical date)",
        "2026-12-03 18:00:00+00:00",
    )
    assert run_moment_line({}) is None


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

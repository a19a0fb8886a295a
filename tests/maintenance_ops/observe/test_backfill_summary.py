"""The backfill's one summary: what it says, and when one is sent at all (pure parts)."""

from __future__ import annotations

from maintenance_ops.core.config import Config
from maintenance_ops.observe.backfill_summary import (
    MOST_RUNS,
    RunOutcome,
    render_summary,
    wants_backfill_summary,
)

DAILY = "mysql_daily_maintenance"


def _config(**notifications: object) -> Config:
    return Config.model_validate(
        {
            "databases": [{"name": "shop", "conn_id": "mysql_shop"}],
            "notifications": {"slack_conn_id": "slack_alerts", **notifications},
        }
    )


def test_a_clean_backfill_is_one_info_message_naming_each_date_and_report() -> None:
    runs = [
        RunOutcome("2026-03-02 02:00", "backfill__2026-03-02", "success", report_file="/r/2.md"),
        RunOutcome("2026-03-01 02:00", "backfill__2026-03-01", "success", report_file="/r/1.md"),
    ]
    alert = render_summary(DAILY, "2026-03-01", "2026-03-03", runs)
    assert alert.severity == "info"
    assert alert.title == f"{DAILY} backfill 2026-03-01 to 2026-03-03: 2 runs, all succeeded"
    assert alert.error == (
        "2026-03-01 02:00: success (report /r/1.md)\n2026-03-02 02:00: success (report /r/2.md)"
    )


def test_failed_dates_make_it_critical_with_each_database_step_and_reason() -> None:
    runs = [
        RunOutcome("2026-03-01 02:00", "a", "success"),
        RunOutcome(
            "2026-03-02 02:00",
            "b",
            "failed",
            failed={"crm": "cleanup: Lock wait timeout exceeded", "shop": "backup: disk full"},
        ),
    ]
    alert = render_summary(DAILY, "2026-03-01", "2026-03-03", runs)
    assert alert.severity == "critical"
    assert alert.title.endswith("2 runs, 1 run failed")
    assert alert.error.splitlines()[1] == (
        "2026-03-02 02:00: failed (crm: cleanup: Lock wait timeout exceeded; shop: backup: disk full)"
    )


def test_a_long_backfill_lists_a_month_of_dates_and_counts_the_rest() -> None:
    runs = [RunOutcome(f"2026-01-01 {i:05d}", str(i), "success") for i in range(MOST_RUNS + 9)]
    lines = render_summary(DAILY, "2026-01-01", "2026-02-10", runs).error.splitlines()
    assert len(lines) == MOST_RUNS + 1
    assert lines[-1] == "... and 9 more run(s) (see the DAG's grid)"


def test_sent_as_the_dags_reports_are_and_never_for_a_dry_run() -> None:
    assert wants_backfill_summary(_config(), DAILY, dry_run=False)
    assert not wants_backfill_summary(_config(), DAILY, dry_run=True)
    assert not wants_backfill_summary(_config(), "mysql_health_check", dry_run=False)
    assert not wants_backfill_summary(_config(send_reports=False), DAILY, dry_run=False)
    weekly = "mysql_weekly_optimization"
    assert not wants_backfill_summary(_config(send_weekly_reports=False), weekly, dry_run=False)
    assert not wants_backfill_summary(_config(slack_conn_id=None), DAILY, dry_run=False)

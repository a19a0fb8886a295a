"""What an alert says about the run it comes from."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from maintenance_ops.alerts import alert_from_context

RUN_AFTER = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)


def _context(logical_date: datetime | None) -> dict:
    ti = SimpleNamespace(dag_id="mysql_daily_maintenance", task_id="maintain", log_url="http://x")
    dag_run = SimpleNamespace(run_id="manual__1", logical_date=logical_date, run_after=RUN_AFTER)
    return {"ti": ti, "dag_run": dag_run, "exception": RuntimeError("boom")}


def test_a_run_without_logical_date_names_when_it_was_asked_to_run() -> None:
    text = alert_from_context(_context(None)).text()
    assert "Run after (no logical date): 2026-06-15T02:00:00+00:00" in text
    assert "Logical date" not in text.replace("(no logical date)", "")


def test_a_scheduled_run_names_its_logical_date_only() -> None:
    text = alert_from_context(_context(RUN_AFTER)).text()
    assert "Logical date: 2026-06-15T02:00:00+00:00" in text
    assert "Run after" not in text

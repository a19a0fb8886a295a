"""What an alert says about the run it comes from."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from maintenance_ops.observe.alerts import alert_from_context
from tests.support.receivers import SlackReceiver

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


def test_the_deadline_alert_names_the_databases_and_links_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from maintenance_ops.observe.alerts import deadline_missed

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com")
    run = {"dag_run_id": "manual__2026-06-15T02:00", "conf": {"databases": ["shop", "orders"]}}
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        outcome = asyncio.run(
            deadline_missed(
                {"dag_run": run},
                dag_id="mysql_daily_maintenance",
                interval_minutes=1,
                notifications={"slack_conn_id": "slack_alerts"},
            )
        )
    assert outcome == "slack: sent"
    (text,) = slack.texts()
    assert "Database: shop, orders" in text
    assert "still running 1 minute after it was queued" in text
    assert (
        "Log: https://airflow.example.com/dags/mysql_daily_maintenance/runs/"
        "manual__2026-06-15T02%3A00" in text
    )

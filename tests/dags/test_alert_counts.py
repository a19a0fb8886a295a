"""One alert per problem: a failed database alerts once, the run once, and nothing twice."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Target, target_database
from tests.dags.conftest import run_dag, task_states
from tests.support.accounts import Account
from tests.support.receivers import SlackReceiver


def _down(name: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A configured database whose connection points at a closed port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(f"AIRFLOW_CONN_MMC_{name.upper()}", Account("m", port=port).conn_json())
    return {"name": name, "conn_id": f"mmc_{name}"}


def test_two_failed_databases_two_alerts_and_one_run_summary(
    target: Target, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        write_config(
            {
                "databases": [
                    target_database(target, "healthy"),
                    _down("orders", monkeypatch),
                    _down("billing", monkeypatch),
                ],
                "maintenance": {"retries": 0},
                "notifications": {"slack_conn_id": "slack_alerts"},
                # The test server's own warnings (its accounts) are another problem.
                "health": {"warnings_to_slack": False},
            }
        )
        dag_run = run_dag("mysql_health_check")
    assert str(dag_run.state) == "failed", task_states(dag_run)
    texts = slack.texts()
    task_alerts = [t for t in texts if "maintain.health_check failed" in t]
    named = sorted(m for t in task_alerts for m in re.findall(r"Database: (\S+)", t))
    assert named == ["billing", "orders"], task_alerts
    (summary,) = [t for t in texts if "mysql_health_check run failed on 2 databases" in t]
    assert "orders: health_check: " in summary and "billing: health_check: " in summary
    assert "healthy" not in summary
    assert len(texts) == 3, texts  # nothing else: no "report failed", no second run alert
    # The failed run keeps its report where `trigger --wait` and the UI read it.
    report = _report(dag_run)
    assert "orders: FAILED at health_check: ConnectionFailed" in report["text"]
    assert "billing: FAILED at health_check: ConnectionFailed" in report["text"]
    assert report["report_file"].endswith(".md") and Path(report["report_file"]).is_file()


def _report(dag_run: Any) -> dict[str, Any]:
    """The report task's XCom return_value."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(run_id=dag_run.run_id, task_id="report", key="return_value")
            .one()
        )
        return dict(row.value)


def test_a_run_failing_before_any_database_alerts_once(
    target: Target, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every database disabled: select_databases fails before the mapping; its own alert says
    # why, and neither the report nor the run repeats it.
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        write_config(
            {
                "databases": [target_database(target, "off") | {"enabled": False}],
                "maintenance": {"retries": 0},
                "notifications": {"slack_conn_id": "slack_alerts"},
            }
        )
        dag_run = run_dag("mysql_health_check")
    assert str(dag_run.state) == "failed", task_states(dag_run)
    texts = slack.texts()
    assert len(texts) == 1, texts
    assert "select_databases failed" in texts[0] and "no databases to run on" in texts[0]


def test_a_dry_run_posts_no_summary(
    target: Target, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daily summary goes to Slack for real runs only: a dry run changes nothing to report.
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        write_config(
            {
                "databases": [target_database(target, "shop")],
                "notifications": {"slack_conn_id": "slack_alerts", "send_reports": True},
            }
        )
        dag_run = run_dag("mysql_daily_maintenance", {"dry_run": True})
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert slack.texts() == []

"""DAG runs in-process (``dag.test()``) against the real server, with real alert receivers."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from maintenance_ops.core.audit import AuditLog
from maintenance_ops.core.labels import database_of
from tests.conftest import Target, run_sql, target_database
from tests.dags.conftest import run_dag, task_states
from tests.support.accounts import Account
from tests.support.receivers import SlackReceiver, SmtpSink


def test_preflight_writes_one_audit_row_per_database_per_run(
    target: Target, write_config: Callable[..., Path]
) -> None:
    # Two configured databases on the same server, sharing one history schema.
    write_config(
        {
            "databases": [
                target_database(target, "primary"),
                target_database(target, "secondary"),
            ]
        }
    )
    dag_run = run_dag("mysql_health_check")
    assert str(dag_run.state) == "success", task_states(dag_run)
    mapped = sorted(
        database_of(ti.rendered_map_index)
        for ti in dag_run.get_task_instances()
        if ti.task_id == "maintain.health_check"
    )
    assert mapped == ["primary", "secondary"]

    rows = AuditLog(target.conn_id, target.history_schema).read(run_id=dag_run.run_id)
    rows = [r for r in rows if r["command"].startswith("preflight")]
    assert sorted((r["database_name"], r["command"], r["outcome"]) for r in rows) == [
        ("primary", "preflight mysql_health_check", "ok"),
        ("secondary", "preflight mysql_health_check", "ok"),
    ]
    assert {r["dag_id"] for r in rows} == {"mysql_health_check"}
    assert {r["task_id"] for r in rows} == {"maintain.health_check"}

    # A second run with params selecting one database and dry_run: one row per step.
    second = run_dag("mysql_daily_maintenance", {"databases": ["secondary"], "dry_run": True})
    assert str(second.state) == "success", task_states(second)
    rows = AuditLog(target.conn_id, target.history_schema).read(run_id=second.run_id)
    preflights = [r for r in rows if r["command"].startswith("preflight")]
    assert [(r["database_name"], r["outcome"]) for r in preflights] == [
        ("secondary", "dry_run")
    ] * 4
    assert [r["task_id"] for r in preflights] == [
        "maintain.index_analysis",
        "maintain.statistics",
        "maintain.cleanup",
        "maintain.backup",
    ]
    # Everything that run recorded was a dry run on the selected database only.
    assert {(r["database_name"], r["outcome"]) for r in rows} == {("secondary", "dry_run")}


def _unreachable(port: int) -> str:
    """A maintenance-account connection to ``port``, where no MySQL server answers."""
    return Account("maintenance", port=port).conn_json()


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_failing_task_alerts_slack_and_email(
    target: Target, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    with SlackReceiver() as slack, SmtpSink() as smtp:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_SINK", smtp.conn_uri)
        monkeypatch.setenv("AIRFLOW_CONN_MMC_DOWN", _unreachable(_refused_port()))
        write_config(
            {
                "databases": [
                    target_database(target, "healthy"),
                    {"name": "orders_down", "conn_id": "mmc_down"},
                ],
                "maintenance": {"connect_timeout_s": 2},
                "notifications": {
                    "slack_conn_id": "slack_alerts",
                    "smtp_conn_id": "smtp_sink",
                    "emails": ["dba@example.com"],
                    "from_email": "airflow@example.com",
                },
            }
        )
        dag_run = run_dag("mysql_daily_maintenance")

    states = task_states(dag_run)
    assert str(dag_run.state) == "failed"
    by_index = {
        database_of(ti.rendered_map_index): str(ti.state)
        for ti in dag_run.get_task_instances()
        if ti.task_id == "maintain.index_analysis"
    }
    assert by_index == {"healthy": "success", "orders_down": "failed"}, states
    # The first step failed: the steps after it on that database never started.
    assert states[("maintain.backup", 0)] == "success"
    assert states[("maintain.backup", 1)] == "upstream_failed"

    task_alerts = [t for t in slack.texts() if "mysql_daily_maintenance.maintain" in t]
    assert len(task_alerts) == 1, slack.texts()
    text = task_alerts[0]
    for expected in (
        "DAG: mysql_daily_maintenance",
        "Task: maintain.index_analysis",
        "Database: orders_down",
        "Logical date:",
        "cannot connect",
        "connection 'mmc_down'",
    ):
        assert expected in text, text
    assert slack.paths[0] == "/T0/B0/X"

    mails = [m for m in smtp.messages if "mysql_daily_maintenance.maintain" in m["Subject"]]
    assert len(mails) == 1, [m["Subject"] for m in smtp.messages]
    assert mails[0]["To"] == "dba@example.com"
    assert "[orders_down]" in mails[0]["Subject"]
    body = smtp.bodies()[smtp.messages.index(mails[0])]
    assert "mysql_daily_maintenance" in body and "orders_down" in body and "maintain" in body

    # One run-level summary, from the report: the failed database, its step and why. No
    # "report failed" alert and no second run-level alert from the DAG's callback: one
    # message for the failed step, one for the run.
    run_alerts = [t for t in slack.texts() if "mysql_daily_maintenance run failed" in t]
    assert len(run_alerts) == 1, slack.texts()
    assert "run failed on 1 database" in run_alerts[0]
    assert "orders_down: index_analysis: " in run_alerts[0], run_alerts[0]
    assert "cannot connect" in run_alerts[0]
    assert f"Run: {dag_run.run_id}" in run_alerts[0]
    assert len(slack.texts()) == 2, slack.texts()


def test_a_broken_channel_never_masks_the_outcome(
    target: Target, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slack points at a closed port: the alert fails, the task still fails for its own reason
    # (the database is down), and the other database still succeeds.
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_DEAD",
        json.dumps(
            {
                "conn_type": "slackwebhook",
                "host": f"http://127.0.0.1:{_refused_port()}",
                "password": "x",
            }
        ),
    )
    monkeypatch.setenv("AIRFLOW_CONN_MMC_DOWN", _unreachable(_refused_port()))
    write_config(
        {
            "databases": [target_database(target), {"name": "down", "conn_id": "mmc_down"}],
            "maintenance": {"connect_timeout_s": 2},
            "notifications": {"slack_conn_id": "slack_dead"},
        }
    )
    dag_run = run_dag("mysql_health_check")
    by_index = {
        database_of(ti.rendered_map_index): str(ti.state)
        for ti in dag_run.get_task_instances()
        if ti.task_id == "maintain.health_check"
    }
    assert by_index == {"primary": "success", "down": "failed"}
    assert str(dag_run.state) == "failed"


def test_unknown_database_is_rejected_at_trigger(
    target: Target, write_config: Callable[..., Path]
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    write_config({"databases": [target_database(target)]})
    with pytest.raises(ParamValidationError, match="'nope' is not one of \\['primary'\\]"):
        run_dag("mysql_weekly_optimization", {"databases": ["nope"]})
    # Nothing ran, so nothing was written: not even the history schema.
    assert run_sql(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
        (target.history_schema,),
    ) == [(0,)]


def test_health_check_of_an_unreachable_database_fails_fast_and_alone(
    target: Target, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A port that accepts TCP but never speaks MySQL: the client waits for the handshake,
    # so only connect_timeout_s ends the attempt.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        monkeypatch.setenv("AIRFLOW_CONN_MMC_SILENT", _unreachable(silent.getsockname()[1]))
        write_config(
            {
                "databases": [target_database(target), {"name": "silent", "conn_id": "mmc_silent"}],
                "maintenance": {"connect_timeout_s": 2},
                "notifications": {"slack_conn_id": "slack_alerts"},
            }
        )
        dag_run = run_dag("mysql_health_check")
    silent.close()
    tis = {
        database_of(ti.rendered_map_index): ti
        for ti in dag_run.get_task_instances()
        if ti.task_id == "maintain.health_check"
    }
    assert str(tis["primary"].state) == "success"
    assert str(tis["silent"].state) == "failed"
    assert tis["silent"].duration < 15  # bounded by the 2 s connect timeout, not a hang
    (alert,) = [t for t in slack.texts() if "maintain.health_check failed" in t]
    assert "Database: silent" in alert
    assert "cannot connect" in alert and "connection 'mmc_silent'" in alert

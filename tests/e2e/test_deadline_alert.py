"""A deadline alert fires for real: a run of the real DAG overruns a short deadline.

Deadlines never fire under ``dag.test()``: the scheduler detects the miss and the triggerer runs
the callback, so this test starts the real components (api-server, scheduler, dag-processor,
triggerer) and a local Slack receiver, and asserts on what the receiver got.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, TARGET_CONN_ID, Target, target_database
from tests.support.airflow_stack import AirflowStack
from tests.support.receivers import SlackReceiver, wait_until

DAG_ID = "mysql_health_check"


def _status_json(stack: AirflowStack, config: Path, conn: str) -> dict:
    env = {
        **os.environ,
        "AIRFLOW_API_URL": stack.api_url,
        "AIRFLOW_API_TOKEN": stack.token(),
        "MAINTENANCE_CONFIG": str(config),
        f"AIRFLOW_CONN_{TARGET_CONN_ID.upper()}": conn,
    }
    result = subprocess.run(
        [sys.executable, "-m", "maintenance_ops", "status", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.e2e
def test_overrunning_run_sends_the_deadline_alert(target: Target, tmp_path: Path) -> None:
    assert target.account is not None
    conn = target.account.conn_json()  # the grants.sql account, for the stack and for `status`
    config = tmp_path / "maintenance.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "databases": [target_database(target)],
                # 3 seconds: a run of three tasks under a real scheduler always takes longer.
                "schedules": {"health_check": {"deadline_minutes": 0.05}},
                "maintenance": {"retries": 0},
                "notifications": {"slack_conn_id": "slack_alerts", "enable_deadlines": True},
            }
        )
    )
    with SlackReceiver() as slack:
        stack = AirflowStack(
            dags_folder=str(REPO / "dags"),
            plugins_folder=str(REPO / "plugins"),
            work_dir=str(tmp_path / "airflow"),
            extra_env={
                "MAINTENANCE_CONFIG": str(config),
                f"AIRFLOW_CONN_{TARGET_CONN_ID.upper()}": conn,
                "AIRFLOW_CONN_SLACK_ALERTS": slack.conn_uri,
            },
        )
        with stack:
            stack.cli(["pools", "set", "mysql_maintenance", "2", "MySQL maintenance"])
            stack.wait_for_dag(DAG_ID)
            stack.unpause(DAG_ID)
            run_id = stack.trigger(DAG_ID, conf={"databases": ["primary"]})
            run = stack.wait_for_run(DAG_ID, run_id, timeout=240)
            assert run["state"] == "success", stack.task_instances(DAG_ID, run_id)
            status = _status_json(stack, config, conn)
            # Unpausing also starts the latest scheduled run, which overruns too: keep ours.
            texts = wait_until(
                lambda: [t for t in slack.texts() if "deadline" in t and run_id in t],
                timeout=60,
            )

    assert len(texts) == 1, texts  # one alert per missed deadline, no repeats
    # The run itself completed: a deadline alerts, it does not stop the run.
    # `status` read the same run through the real api-server, and the sample from history.
    health = {d["dag_id"]: d for d in status["airflow"]["dags"]}[DAG_ID]
    assert health["paused"] is False and health["last_run"]["state"] == "success"
    assert status["databases"][0]["score"] <= 100
    text = texts[0]
    assert f"{DAG_ID} run overran its 0.05 min deadline" in text
    assert f"Run: {run_id}" in text
    assert f"DAG: {DAG_ID}" in text
    assert "Database: primary" in text  # the run's databases param
    assert "still running 0.05 minutes after it was queued" in text

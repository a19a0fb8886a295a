"""``python -m maintenance_ops status`` against a real history store (and an absent API)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.observe.health import Breach, HealthSample, score
from maintenance_ops.observe.health_history import HealthHistory
from tests.conftest import Target, target_database


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIRFLOW_API_URL": f"http://127.0.0.1:{_closed_port()}"}
    return subprocess.run(
        [sys.executable, "-m", "maintenance_ops", "status", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_status_reads_the_latest_sample_and_reports_an_unreachable_api(
    target: Target, write_config: Callable[..., Path]
) -> None:
    write_config({"databases": [target_database(target, "main"), target_database(target, "fresh")]})
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        history = HealthHistory(session, target.history_schema)
        old = HealthSample("main", metrics={"connections_pct": 10})
        history.store(old, score([], old), [], datetime(2026, 11, 1), "r1")
        new = HealthSample("main", metrics={"connections_pct": 96})
        breach = Breach("main", "connections_pct", 96, 95, "critical")
        history.store(new, score([breach], new), [breach], datetime(2026, 11, 2), "r2")

    result = _status("--format", "json", "--schedules")
    assert result.returncode == 3, result.stderr  # a source (the API) could not be read
    report = json.loads(result.stdout)
    main, fresh = report["databases"]
    assert (main["score"], main["status"]) == (70, "critical")
    assert main["breaches"] == ["connections_pct=96 >= critical threshold 95"]
    assert main["sampled_at"] == "2026-11-02T00:00:00+00:00"  # UTC, said so
    assert fresh["error"] == "no health samples yet: the health check has not run"
    assert report["airflow"]["error"].startswith("Airflow API unreachable at http://127.0.0.1:")
    assert report["schedules"]["health_check"]["cron"] == "0 * * * *"

    text = _status()
    assert "main: 70/100 critical" in text.stdout
    assert "connections_pct=96 >= critical threshold 95" in text.stdout


def test_status_with_a_bad_config_says_so(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    write_config("databases: [{name: 'a b', conn_id: c}]")
    result = _status()
    assert result.returncode == 2
    assert "databases[0].name" in result.stdout

"""The health check's report gives a trend's slope and forecast only from enough history."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.observe.health_history import HealthHistory
from tests.conftest import Target, target_database
from tests.dags.conftest import run_dag, task_states


def _report(write_config: Callable[..., Path], target: Target, folder: Path) -> str:
    write_config(
        {
            "databases": [target_database(target)],
            "notifications": {"report_dir": str(folder)},
        }
    )
    dag_run = run_dag("mysql_health_check")
    assert str(dag_run.state) == "success", task_states(dag_run)
    (path,) = (folder / "mysql_health_check").glob("*.md")
    text = path.read_text()
    path.unlink()
    return text


def test_trends_wait_for_a_day_of_samples_then_show_their_span(
    target: Target, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    first = _report(write_config, target, tmp_path)
    line = next(x for x in first.splitlines() if "trend connections_pct:" in x)
    assert line.endswith(
        "; not enough history (1 sample over 0 min; needs 12 samples over at least 24 h)"
    ), line
    assert "/day" not in line

    # A day and a half of hourly samples before this run: now the slope has a number.
    now = datetime.now(UTC).replace(tzinfo=None)
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        HealthHistory(session, target.history_schema)  # the table exists after the first run
    for hour in range(36, 0, -1):
        target.sql(
            f"INSERT INTO `{target.history_schema}`.health_samples (database_name, sampled_at, "
            "score, status, metrics, breaches) VALUES ('primary', %s, 100, 'healthy', %s, '[]')",
            (now - timedelta(hours=hour), json.dumps({"connections_pct": 1.0})),
        )
    second = _report(write_config, target, tmp_path)
    line = next(x for x in second.splitlines() if "trend connections_pct:" in x)
    assert "not enough history" not in line
    # 36 planted + 2 runs' samples, from 36 h ago to now.
    assert re.search(r"[+-][0-9.e+-]+/day, .*\(from 38 samples over 36 h\)$", line), line

"""Health metrics reach a StatsD listener through Airflow's own metrics pipeline, tagged."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

from tests.conftest import REPO, Target, target_database

RUN_DAG = textwrap.dedent(
    f"""
    import sys
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder={str(REPO / "dags")!r})
    run = bag.dags[sys.argv[1]].test()
    print("STATE", run.state)
    """
)


def _run_with_statsd(dag_id: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run a DAG in a process of its own with StatsD pointed at a local listener."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.5)
    received: list[str] = []
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                data, _ = udp.recvfrom(65535)
            except TimeoutError:
                continue
            received.extend(data.decode().splitlines())

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    env = {
        **os.environ,
        # The metrics pipeline is set up once per process: run the DAG in a process of its own.
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(udp.getsockname()[1]),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
    }
    try:
        result = subprocess.run(
            [sys.executable, "-c", RUN_DAG, dag_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        stop.set()
        thread.join(timeout=2)
        udp.close()
    return result, received


def test_statsd_listener_receives_health_metrics_with_the_database_tag(
    target: Target, write_config: Callable[..., Path]
) -> None:
    write_config({"databases": [target_database(target, "orders")]})
    result, received = _run_with_statsd("mysql_health_check")
    assert "STATE success" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    ours = [line for line in received if "mysql_maintenance.health." in line]
    names = {line.split(",")[0] for line in ours}
    assert "airflow.mysql_maintenance.health.score" in names, received[:20]
    assert "airflow.mysql_maintenance.health.connections_pct" in names
    score_line = next(
        line for line in ours if line.startswith("airflow.mysql_maintenance.health.score,")
    )
    assert "database=orders" in score_line and score_line.endswith("|g")


def test_a_failing_drill_still_reports_its_score_and_the_last_successful_drill(
    target: Target, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """Monitoring alerts on the timestamp: it must keep coming even when drills fail."""
    from datetime import datetime

    from maintenance_ops.core.config import MaintenanceSettings
    from maintenance_ops.core.session import MaintenanceSession
    from maintenance_ops.recovery.history import DR_DRILL, RecoveryHistory

    last_good = datetime(2026, 10, 1, 6, 0, 0)
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        RecoveryHistory(session, target.history_schema).record(
            "orders", DR_DRILL, last_good, ok=True, rto_s=30.0, rpo_s=3600.0
        )
    # The shared server has no binary log and there is no backup: the drill fails.
    write_config(
        {
            "databases": [
                target_database(target, "orders", backup={"location": (tmp_path / "b").as_uri()})
            ],
            "notifications": {"report_dir": str(tmp_path / "reports")},
        }
    )
    result, received = _run_with_statsd("mysql_disaster_recovery_test")
    assert "STATE failed" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    ours = {line.split(",")[0]: line for line in received if ".dr." in line}
    score = ours["airflow.mysql_maintenance.dr.readiness_score"]
    assert "database=orders" in score and score.endswith("|g")
    stamp = ours["airflow.mysql_maintenance.dr.last_successful_drill_timestamp"]
    value = float(stamp.split(":")[1].split("|")[0])
    assert value == last_good.replace(tzinfo=UTC).timestamp()

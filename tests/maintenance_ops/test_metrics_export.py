"""Health metrics reach a StatsD listener through Airflow's own metrics pipeline, tagged."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO, Target, target_database

RUN_DAG = textwrap.dedent(
    f"""
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder={str(REPO / "dags")!r})
    run = bag.dags["mysql_health_check"].test()
    print("STATE", run.state)
    """
)


def test_statsd_listener_receives_health_metrics_with_the_database_tag(
    target: Target, write_config: Callable[..., Path]
) -> None:
    write_config({"databases": [target_database(target, "orders")]})
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
            [sys.executable, "-c", RUN_DAG],
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
    assert "STATE success" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    ours = [line for line in received if "mysql_maintenance.health." in line]
    names = {line.split(",")[0] for line in ours}
    assert "airflow.mysql_maintenance.health.score" in names, received[:20]
    assert "airflow.mysql_maintenance.health.connections_pct" in names
    score_line = next(
        line for line in ours if line.startswith("airflow.mysql_maintenance.health.score,")
    )
    assert "database=orders" in score_line and score_line.endswith("|g")

"""A frozen server (SIGSTOP) ends a task within its timeouts; the run's other databases finish.

A task blocked in the driver's read cannot be interrupted by Airflow's timeout signal, so the
bound comes from the connection's read timeout (at most the task's execution timeout).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.exceptions import MaintenanceError
from maintenance_ops.core.instance import MySQLInstance
from maintenance_ops.core.session import MaintenanceSession
from tests.conftest import target_database
from tests.dags.conftest import run_dag, task_states
from tests.support.accounts import create_account

READ_TIMEOUT_S = 4


@pytest.fixture
def frozen_capable(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MySQLInstance, str]]:
    """A private server with the maintenance account, reachable as ``mmc_frozen``."""
    with MySQLInstance() as server:
        server.execute("CREATE DATABASE app")
        server.execute("CREATE TABLE app.t (id INT PRIMARY KEY)")
        account = create_account(server.execute, ["app"], "_maintenance", port=server.port)
        monkeypatch.setenv("AIRFLOW_CONN_MMC_FROZEN", account.conn_json())
        try:
            yield server, "mmc_frozen"
        finally:
            if server.pid:
                os.kill(server.pid, signal.SIGCONT)


def freeze(pid: int, within_s: float = 10.0) -> None:
    """SIGSTOP ``pid`` and wait until every one of its threads is stopped.

    The signal is asynchronous: a server thread already running (a loaded machine) can still
    answer a query before it stops, and the test would then see no frozen server at all.
    """
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + within_s
    tasks = Path(f"/proc/{pid}/task")
    while time.monotonic() < deadline:
        states = []
        for stat in tasks.glob("*/stat"):
            with contextlib.suppress(OSError):  # a thread that just ended
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"server {pid} not stopped {within_s:g}s after SIGSTOP")


@pytest.mark.timeout(90)  # without read timeouts the query would never return
def test_a_query_on_a_frozen_server_fails_within_the_read_timeout(frozen_capable) -> None:
    server, conn_id = frozen_capable
    settings = MaintenanceSettings(read_timeout_s=READ_TIMEOUT_S, statement_timeout_s=2)
    with MaintenanceSession(conn_id, settings) as session:
        assert server.pid
        freeze(server.pid)
        started = time.monotonic()
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the driver's OperationalError
            session.query("SELECT 1 AS one")
        waited = time.monotonic() - started
    os.kill(server.pid, signal.SIGCONT)
    assert not isinstance(caught.value, MaintenanceError) or "2013" in str(caught.value)
    assert "2013" in str(caught.value) or "Lost connection" in str(caught.value)
    # The client library may retry a read once or twice; every wait is still bounded.
    assert waited < 4 * READ_TIMEOUT_S, waited


def _freeze_once_connected(server: MySQLInstance, user: str, stop: threading.Event) -> None:
    """SIGSTOP the server as soon as the maintenance account is connected (mid-run)."""
    while not stop.is_set():
        rows = server.execute(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (user,)
        )
        if rows[0][0]:
            assert server.pid
            freeze(server.pid)
            return
        time.sleep(0.02)


@pytest.mark.timeout(180)
def test_a_frozen_database_fails_its_task_in_bounded_time_and_the_others_finish(
    frozen_capable, target, write_config
) -> None:
    server, conn_id = frozen_capable
    target.sql(f"CREATE TABLE `{target.schema}`.t (id INT PRIMARY KEY)")
    write_config(
        {
            "databases": [
                target_database(target, "healthy"),
                {"name": "frozen", "conn_id": conn_id, "schemas": ["app"]},
            ],
            "maintenance": {
                "read_timeout_s": READ_TIMEOUT_S,
                "statement_timeout_s": 2,
                "connect_timeout_s": 3,
            },
        }
    )
    user = os.environ["AIRFLOW_CONN_MMC_FROZEN"].split('"login": "')[1].split('"')[0]
    stop = threading.Event()
    freezer = threading.Thread(target=_freeze_once_connected, args=(server, user, stop))
    freezer.start()
    started = time.monotonic()
    try:
        dag_run = run_dag("mysql_health_check")
    finally:
        stop.set()
        freezer.join()
    elapsed = time.monotonic() - started
    states = {k: v for k, v in task_states(dag_run).items() if k[0] == "maintain.health_check"}
    assert sorted(states.values()) == ["failed", "success"], states
    # dag.test() itself costs ~15 s; the frozen server adds a few read timeouts, not minutes.
    assert elapsed < 120, elapsed

"""Self-test of the AirflowStack harness: one real DAG run through all components."""

from __future__ import annotations

import textwrap
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest

from .airflow_stack import AirflowStack

DAG_ID = "stack_selftest"

DAG_SOURCE = textwrap.dedent(
    f'''
    """Tiny DAG used to prove the e2e harness can parse, schedule and run a task."""
    from __future__ import annotations

    from airflow.sdk import dag, task


    @dag(dag_id="{DAG_ID}", schedule=None, catchup=False)
    def stack_selftest():
        @task
        def answer() -> int:
            return 42

        answer()


    stack_selftest()
    '''
)


def _alive(pids: dict[int, float]) -> list[int]:
    """Return the pids that still belong to the same (non-zombie) process."""
    alive = []
    for pid, created in pids.items():
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


@pytest.mark.e2e
def test_stack_runs_a_dag_end_to_end(tmp_path: Path) -> None:
    """Parse, trigger and run a one-task DAG, read its XCom, and leave no process behind."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "stack_selftest.py").write_text(DAG_SOURCE)

    stack = AirflowStack(dags_folder=str(dags), plugins_folder=None, work_dir=str(tmp_path / "af"))
    with stack:
        components = stack.api("GET", "/api/v2/monitor/health")
        assert components["scheduler"]["status"] == "healthy"

        stack.wait_for_dag(DAG_ID)
        stack.unpause(DAG_ID)
        run_id = stack.trigger(DAG_ID, conf={"note": "selftest"})
        run = stack.wait_for_run(DAG_ID, run_id)
        assert run["state"] == "success", stack.task_instances(DAG_ID, run_id)

        xcom = stack.api(
            "GET",
            f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"
            "/taskInstances/answer/xcomEntries/return_value",
        )
        assert xcom["value"] == 42

        # Snapshot every pid (incl. the task runner's, if still around) before stopping.
        pids = stack.pids()
        assert len(pids) >= len(stack.components)

    assert _alive(pids) == []
    assert stack.alive_pids() == []
    stack.stop()  # idempotent

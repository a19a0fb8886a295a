"""Load the DAG folder once per configuration, and run DAGs in-process with ``dag.test()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import REPO

DAGS = REPO / "dags"


def load_dagbag(folder: Path = DAGS) -> Any:
    """Parse the DAG folder with the configuration currently in ``MAINTENANCE_CONFIG``."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder), safe_mode=True)


def run_dag(dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    """Run one DAG in-process against the real server; return the finished DagRun."""
    bag = load_dagbag()
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[dag_id]
    return dag.test(run_conf=conf or {})


def task_states(dag_run: Any) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}

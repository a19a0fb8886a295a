"""The grid tells the truth: a degraded score or a skipped step shows in the task's label.

A DAG of the real step operators mapped over two databases, with the steps' template
(``labels.MAP_INDEX_TEMPLATE``), run by ``dag.test()`` through Airflow's own task runner: the
label is the task instance's rendered map index in the metadata database (what the grid and
the task list show), and the task itself stays successful.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.labels import database_of
from tests.conftest import Target, target_database
from tests.dags.conftest import task_states

DAG_FILE = """
from datetime import datetime

from airflow.sdk import dag

from maintenance_ops.core.labels import MAP_INDEX_TEMPLATE
from maintenance_ops.operators import operator

DATABASES = ["primary", "worried"]


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def grid_labels():
    for step, name in (("health_check", "MySqlHealthCheckOperator"), ("cleanup", "MySqlCleanupOperator")):
        operator(name).partial(
            task_id=step, map_index_template=MAP_INDEX_TEMPLATE
        ).expand(database=DATABASES)


grid_labels()
"""


def _run(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    (folder / "grid_labels.py").write_text(DAG_FILE)
    from airflow import settings

    # dag.test() stores the DAG as part of the DAG folder's bundle (read when Airflow loaded).
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(folder))
    bag = DagBag(dag_folder=str(folder), safe_mode=False)
    assert not bag.import_errors, bag.import_errors
    return bag.dags["grid_labels"].test()


def _result(dag_run: Any, task_id: str, map_index: int) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(
                run_id=dag_run.run_id, task_id=task_id, map_index=map_index, key="return_value"
            )
            .one()
        )
        return dict(row.value)


def test_a_degraded_score_and_a_skipped_step_are_in_the_grid_and_the_tasks_succeed(
    target: Target,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC)
    start, end = now + timedelta(hours=2), now + timedelta(hours=3)
    write_config(
        {
            "databases": [
                target_database(target, "primary"),
                # Any open connection breaches a 0.01 % warning level: degraded, not critical.
                target_database(target, "worried", thresholds={"connection_warning_pct": 0.01}),
            ],
            # The window is closed (and enforced): the cleanup, which writes, waits for it.
            "maintenance": {
                "window": {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")},
                "enforce_window": True,
            },
        }
    )
    (tmp_path / "dags").mkdir()
    dag_run = _run(tmp_path / "dags", monkeypatch)
    assert str(dag_run.state) == "success", task_states(dag_run)
    tis = {(ti.task_id, ti.map_index): ti for ti in dag_run.get_task_instances()}
    assert {str(ti.state) for ti in tis.values()} == {"success"}, task_states(dag_run)

    worried = _result(dag_run, "health_check", 1)["score"]
    assert worried["status"] == "degraded", worried
    assert tis["health_check", 1].rendered_map_index == f"worried · {worried['score']} degraded"
    primary = _result(dag_run, "health_check", 0)["score"]
    if primary["status"] == "healthy":  # the server's own state decides; it is usually healthy
        assert tis["health_check", 0].rendered_map_index == "primary"
    else:
        assert tis["health_check", 0].rendered_map_index == (
            f"primary · {primary['score']} {primary['status']}"
        )
    for index, name in enumerate(["primary", "worried"]):
        label = tis["cleanup", index].rendered_map_index
        assert label == f"{name} · cleanup skipped", label
        assert database_of(label) == name
        assert _result(dag_run, "cleanup", index)["skipped"].startswith("outside the maint")

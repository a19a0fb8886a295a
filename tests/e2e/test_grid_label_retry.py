"""A mapped step's grid label through a retry, under a real scheduler (issue 18's "map index 1").

Airflow's task runner renders ``map_index_template`` at the start of every try (after the
templated fields, before ``execute``) and again after it; the steps' template
(``labels.MAP_INDEX_TEMPLATE``) shows the database at the start and the step's label after. This
watches the task instances of a DAG whose mapped task fails its first try and succeeds on the
retry, and records every label the REST API (the grid's source) showed in each state. Before
a try's start a task instance can only show its index number: nothing has rendered it yet;
and in Airflow 3.3.2 the failed try's label is dropped while the task waits for its retry.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.airflow_stack import AirflowStack

pytestmark = pytest.mark.e2e

DAG_ID = "mmc_label_retry"
DAG_FILE = f'''
import time
from datetime import datetime, timedelta

from airflow.sdk import BaseOperator, dag

from maintenance_ops.core.labels import CONTEXT_KEY, MAP_INDEX_TEMPLATE


class Step(BaseOperator):
    template_fields = ("database",)

    def __init__(self, *, database, **kwargs):
        super().__init__(**kwargs)
        self.database = database

    def execute(self, context):
        time.sleep(3)  # long enough for the watcher to see the try running
        if context["ti"].try_number == 1:
            raise RuntimeError("the first try fails")
        context[CONTEXT_KEY] = f"{{self.database}} · step done"


@dag(dag_id="{DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def label_retry():
    Step.partial(
        task_id="step",
        retries=1,
        retry_delay=timedelta(seconds=6),
        map_index_template=MAP_INDEX_TEMPLATE,
    ).expand(database=["shop", "orders"])


label_retry()
'''


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    work = tmp_path_factory.mktemp("label-retry")
    dags = work / "dags"
    dags.mkdir()
    (dags / "label_retry.py").write_text(DAG_FILE)
    with AirflowStack(
        dags_folder=str(dags),
        plugins_folder=str(REPO / "plugins"),
        work_dir=str(Path(work) / "airflow"),
        components=("api-server", "scheduler", "dag-processor"),
    ) as running:
        yield running


def test_the_label_through_a_failed_try_and_its_retry(stack: AirflowStack) -> None:
    stack.wait_for_dag(DAG_ID)
    stack.unpause(DAG_ID)
    run_id = stack.trigger(DAG_ID)
    seen: dict[tuple[int, str], set[str]] = {}  # (map index, state) -> labels shown
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        tis = [t for t in stack.task_instances(DAG_ID, run_id) if t["task_id"] == "step"]
        for t in tis:
            seen.setdefault((t["map_index"], str(t["state"])), set()).add(t["rendered_map_index"])
        if len(tis) == 2 and all(t["state"] == "success" for t in tis):
            break
        time.sleep(0.3)
    else:
        pytest.fail(f"the run did not finish: {seen}")
    print(f"labels seen: {seen}")
    for index, name in enumerate(["shop", "orders"]):
        done = f"{name} · step done"
        states = {state for i, state in seen if i == index}
        assert {"running", "up_for_retry", "success"} <= states, seen
        # Never anything but the index (not rendered yet), the database, or the step's label.
        assert set().union(*(seen[index, s] for s in states)) <= {str(index), name, done}, seen
        # Each try renders the database as it starts; the label after a successful one.
        assert name in seen[index, "running"], seen
        assert seen[index, "success"] == {done}, seen
        # Airflow 3.3.2 drops the label when a try fails into up_for_retry (the row's
        # rendered_map_index is emptied, the UI falls back to the index) until the next try
        # starts; the task has no hook left to send it then. Pinned here so that an Airflow
        # that keeps it shows up: then drop this line and the README's note.
        assert seen[index, "up_for_retry"] == {str(index)}, seen

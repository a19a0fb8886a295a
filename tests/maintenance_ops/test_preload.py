"""The dag-processor preload (``plugins/maintenance_ops_preload.py``) in a fresh interpreter.

It must leave the manager holding what building and serializing the DAGs needs, so the forked
children do not redo it, and nothing of what the tasks run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, runpy, sys
runpy.run_path(sys.argv[1])
from maintenance_ops.dag_parts import STEP_OPERATORS, _select_databases
from maintenance_ops.operators import operator

classes = [operator(name) for name in STEP_OPERATORS.values()]
classes.append(_select_databases.operator_class)
print(json.dumps({
    "fields_found": {c.__name__: "_BaseOperator__serialized_fields" in vars(c) for c in classes},
    "modules": sorted(sys.modules),
}))
"""


def test_the_preload_does_the_childrens_one_time_work_and_imports_no_task_code(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env["MAINTENANCE_CONFIG"] = str(ROOT / "include" / "maintenance.yaml")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "plugins" / "maintenance_ops_preload.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    # Every step's class (and the @task class of select_databases and report) has its
    # serialized fields: a child's first serialization does not build a throw-away operator.
    assert found["fields_found"] and all(found["fields_found"].values()), found["fields_found"]
    modules = set(found["modules"])
    assert {"airflow.timetables.trigger", "maintenance_ops.dag_parts"} <= modules
    # What the tasks run stays out of the manager (imported inside execute).
    task_code = {
        "MySQLdb",
        "maintenance_ops.core.session",
        "maintenance_ops.upkeep.cleanup",
        "maintenance_ops.recovery.backup",
    }
    assert not task_code & modules

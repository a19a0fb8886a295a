"""docker-compose.yaml defines the whole stack, mounts the package, and shares the test settings."""

from __future__ import annotations

from typing import Any

import yaml

from maintenance_ops.config import MaintenanceSettings
from tests.conftest import REPO
from tests.support.airflow_stack import TEST_OVERRIDES, AirflowStack, shared_airflow_settings

COMPOSE = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}


def _service(name: str) -> dict[str, Any]:
    return COMPOSE["services"][name]


def test_every_component_is_defined() -> None:
    services = set(COMPOSE["services"])
    assert {
        *AIRFLOW_SERVICES,
        "postgres",
        "redis",
        "airflow-init",
        "mysql-target",
        "mysql-replica",
    } <= services
    for name, command in AIRFLOW_SERVICES.items():
        assert str(_service(name)["command"]).startswith(command), name
    assert shared_airflow_settings()["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # The worker serves the queue every maintenance task is routed to by default.
    queues = _service("airflow-worker")["command"].split("--queues")[1].split()[0].split(",")
    assert MaintenanceSettings().queue in queues
    assert "pools set mysql_maintenance" in "".join(_service("airflow-init")["command"])


def test_the_three_folders_are_mounted_into_every_airflow_component() -> None:
    for name in AIRFLOW_SERVICES:
        mounts = {v.split(":")[0]: v.split(":")[1] for v in _service(name)["volumes"]}
        assert mounts == {
            "./dags": "/opt/airflow/dags",
            "./plugins": "/opt/airflow/plugins",
            "./include": "/opt/airflow/include",
        }
        assert (
            _service(name)["environment"]["MAINTENANCE_CONFIG"]
            == "/opt/airflow/include/maintenance.yaml"
        )


def test_compose_and_the_native_stack_share_one_settings_file(tmp_path: Any) -> None:
    for name in AIRFLOW_SERVICES:
        assert _service(name)["env_file"] == ["include/airflow.env"]
    shared = shared_airflow_settings()
    assert shared, "include/airflow.env is empty"
    # The Celery stack of the end-to-end test (tests/e2e/conftest.py), built the same way.
    stack = AirflowStack(
        dags_folder=str(REPO / "dags"),
        plugins_folder=None,
        work_dir=str(tmp_path),
        executor="CeleryExecutor",
        worker_queues=(MaintenanceSettings().queue or "",),
    )
    differing = {k for k, v in shared.items() if stack.env.get(k) != v}
    assert differing <= TEST_OVERRIDES, differing
    assert stack.components[-1] == "celery-worker"
    # Nothing in compose's own environment contradicts the shared file.
    assert not set(_service("airflow-scheduler")["environment"]) & set(shared)

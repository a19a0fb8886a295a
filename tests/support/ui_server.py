"""A private api-server alone, with the UI plugin: the maintenance pages without any DAG run.

Used by the UI's HTTP tests (``tests/e2e/test_ui_plugin.py``) and ``bench/ui_fleet.py``.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.airflow_stack import AirflowStack

REPO = Path(__file__).resolve().parents[2]


def plugin_api_server(work: Path, config: Path, connections: dict[str, str]) -> AirflowStack:
    """Prepare (not start) an api-server with ``plugins/``, ``config`` and the connections.

    :param connections: connection id -> its ``AIRFLOW_CONN_*`` value (URI or JSON).
    """
    (work / "dags").mkdir(parents=True, exist_ok=True)
    return AirflowStack(
        dags_folder=str(work / "dags"),
        plugins_folder=str(REPO / "plugins"),
        work_dir=str(work / "airflow"),
        components=("api-server",),
        extra_env={
            "MAINTENANCE_CONFIG": str(config),
            **{f"AIRFLOW_CONN_{conn_id.upper()}": value for conn_id, value in connections.items()},
        },
    )

"""Airflow plugin: the MySQL maintenance pages inside the Airflow UI (issue 19).

Registers a FastAPI app on the api-server at ``/mysql-maintenance`` and three external views:
a "MySQL maintenance" entry in the navigation (the fleet page), and a "Maintenance report" tab
on every DAG run and on every task instance (the run's report; on a mapped ``maintain`` task,
only that database). The Airflow UI shows external views in a same-origin frame, so the pages
are authenticated by the UI's own ``_token`` cookie; the JSON endpoints also take the REST
API's ``Authorization: Bearer`` token. See ``maintenance_ops.ui``.

Every Airflow component imports this file when it loads plugins; it imports nothing heavy:
the app is built on its first request, in the api-server only. DAG files never import it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

from maintenance_ops.ui import URL_PREFIX, LazyApp

_ROOT = urlsplit(conf.get("api", "base_url", fallback="") or "/").path.rstrip("/")
_BASE = f"{_ROOT}{URL_PREFIX}"


class MaintenanceUIPlugin(AirflowPlugin):
    """The fleet, database and run report pages of the MySQL maintenance DAGs."""

    name = "mysql_maintenance_ui"
    fastapi_apps = [{"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "MySQL maintenance"}]
    external_views = [
        {
            "name": "MySQL maintenance",
            "href": f"{_BASE}/fleet",
            "destination": "nav",
            "url_route": "mysql-maintenance",
            "nav_top_level": True,
        },
        {
            "name": "Maintenance report",
            "href": f"{_BASE}/runs/{{DAG_ID}}/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "mysql-maintenance-report",
        },
        {
            "name": "Maintenance report",
            "href": f"{_BASE}/runs/{{DAG_ID}}/{{RUN_ID}}?map_index={{MAP_INDEX}}",
            "destination": "task_instance",
            "url_route": "mysql-maintenance-task-report",
        },
    ]

"""The maintenance views inside the Airflow UI (issue 19): fleet, database and run report pages.

``plugins/maintenance_ops_ui.py`` registers them with Airflow (a FastAPI app on the api-server
and external views in the UI's navigation and on each run). The modules split as the rest of
the package does: ``svg`` draws charts and ``pages`` renders HTML (both pure), ``fleet`` builds
the SQL and assembles rows from the history stores, ``runs`` reads Airflow's own records of the
runs, ``app`` holds the routes and their authentication. Nothing here is imported at DAG parse
time: the plugin module builds the app on the first request.
"""

from __future__ import annotations

from typing import Any

URL_PREFIX = "/mysql-maintenance"


class LazyApp:
    """An ASGI app that builds :func:`maintenance_ops.ui.app.create_app` on its first request.

    The plugin module is imported by every Airflow component that loads plugins (scheduler,
    dag-processor, triggerer, workers); only the api-server ever calls this, so FastAPI
    routes, the pages and the database drivers stay out of the others.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "lifespan":  # nothing to start or stop
            return
        if self._app is None:
            from maintenance_ops.ui.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)

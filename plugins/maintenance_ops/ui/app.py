"""The FastAPI app of the maintenance pages, mounted on Airflow's api-server.

Every route depends on Airflow's own authentication: the JWT of the UI's ``_token`` cookie (the
Airflow UI shows these pages in a same-origin frame, so the browser sends it) or an
``Authorization: Bearer`` token from ``POST /auth/token``, checked by
``airflow.api_fastapi.core_api.security.get_user`` exactly as the REST API checks it; then the
auth manager decides: the fleet and database pages need read access to the maintenance DAGs'
runs, a run report to that DAG's runs. No token: 401, a bad one: 403, and no data either way.

Handlers are plain functions (FastAPI runs them in its thread pool): they read the history
stores with blocking MySQL connections and the metadata database through the api-server's
session. This module is imported only by the api-server (``maintenance_ops.ui.LazyApp``), so
it imports Airflow's API modules at the top: FastAPI resolves the dependencies' annotations
from the module's names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from maintenance_ops.core.cadences import BY_KEY, CADENCES
from maintenance_ops.ui import pages

if TYPE_CHECKING:
    from maintenance_ops.core.config import Config, Database
    from maintenance_ops.ui.detail import DatabaseHistory

OUTCOMES = ("ok", "failed", "skipped", "refused", "dry_run", "running")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _ui_root() -> str:
    from airflow.api_fastapi.app import API_ROOT_PATH

    return API_ROOT_PATH or "/"


def _maintenance_dag_ids(config: Config | None = None) -> list[str]:
    ids = [c.dag_id for c in CADENCES]
    if config is not None:
        ids += [f"mysql_custom_{name}" for name in config.custom_schedules]
    return ids


def _can_read_maintenance(user: Any) -> None:
    """Allow only users who may read the runs of every built-in maintenance DAG."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import (
        DagAccessEntity,
        DagDetails,
    )

    requests: list[Any] = [
        {"method": "GET", "access_entity": DagAccessEntity.RUN, "details": DagDetails(id=dag_id)}
        for dag_id in _maintenance_dag_ids()
    ]
    if not get_auth_manager().batch_is_authorized_dag(requests, user=user):
        raise HTTPException(403, "Forbidden: reading the maintenance DAGs' runs is not allowed")


def _config() -> Config:
    from maintenance_ops.core.config import load_config
    from maintenance_ops.core.exceptions import ConfigError

    try:
        return load_config()
    except ConfigError as exc:
        raise HTTPException(503, f"the maintenance configuration cannot be read: {exc}") from None


def _fleet(session: Any) -> dict[str, Any]:
    """Build the fleet page's data: runs from Airflow, history from every store."""
    from maintenance_ops.ui.fleet import assemble, read_stores
    from maintenance_ops.ui.runs import RunsSnapshot, read_runs

    started = time.perf_counter()
    config = _config()
    now = _now()
    try:
        runs = read_runs(session, _maintenance_dag_ids())
    except Exception as exc:  # noqa: BLE001 - the history part is still worth showing
        runs = RunsSnapshot(error=f"{type(exc).__name__}: {exc}")
    stores = read_stores(
        config, latest_runs=runs.latest_refs(), backup_runs=runs.backup_refs(), now=now
    )
    rows = assemble(config, stores, runs, now)
    return {
        "generated_at": now,
        "build_ms": round((time.perf_counter() - started) * 1000, 1),
        "runs_error": runs.error,
        "databases": [row.to_dict() for row in rows],
        "rows": rows,
    }


def _latest_results(session: Any, database: str) -> dict[str, dict[str, Any]]:
    from maintenance_ops.ui.runs import report_value

    results: dict[str, dict[str, Any]] = {}
    for key in ("daily_maintenance", "monthly_deep_maintenance"):
        report = report_value(session, BY_KEY[key].dag_id) or {}
        for result in report.get("databases") or []:
            if isinstance(result, dict) and result.get("database") == database:
                results[key] = result
    return results


@dataclass
class DatabaseQuery:
    """The database page's query: how many days of history, and the audit log's filter."""

    days: Annotated[int, Query(ge=1, le=365)] = 30
    outcome: str | None = None
    dag_id: str | None = None
    q: str | None = None


def _database(name: str, page: DatabaseQuery) -> tuple[Config, Database, DatabaseHistory]:
    from maintenance_ops.core.exceptions import ConfigError
    from maintenance_ops.ui.detail import AuditFilter, read_database

    config = _config()
    try:
        db = config.database(name)
    except ConfigError as exc:
        raise HTTPException(404, str(exc)) from None
    flt = AuditFilter(outcome=page.outcome or None, dag_id=page.dag_id or None, text=page.q or None)
    return config, db, read_database(db, _now(), days=page.days, flt=flt)


def _history_json(history: DatabaseHistory, results: dict[str, Any]) -> dict[str, Any]:
    from maintenance_ops.ui.detail import CHART_METRICS

    metrics = ["score", *(m for _, names, _ in CHART_METRICS for m in names)]
    return {
        "database": history.database,
        "history": history.history,
        "days": history.days,
        "error": history.error,
        "latest": history.latest,
        "series": {m: history.series(m) for m in metrics},
        "audit": history.audit,
        "recovery": history.recovery,
        "findings": {
            "index_analysis": (results.get("daily_maintenance") or {}).get("index_analysis"),
            "capacity": {
                k: v
                for k, v in (
                    (results.get("monthly_deep_maintenance") or {}).get("capacity") or {}
                ).items()
                if k != "svg"
            },
        },
    }


def _map_index(value: str | None) -> int | None:
    """The task instance tab's map index; an unmapped task's tab leaves ``{MAP_INDEX}`` as is."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _run_data(session: Any, dag_id: str, run_id: str, map_index: str | None) -> dict[str, Any]:
    """Gather one run: Airflow's record, its report XCom, and each database's audit rows."""
    from maintenance_ops.observe.reports import detail_lines
    from maintenance_ops.ui.detail import read_run_audit
    from maintenance_ops.ui.runs import read_run, report_value

    run = read_run(session, dag_id, run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id!r} of DAG {dag_id!r}")
    report = report_value(session, dag_id, run_id) or {}
    results = {
        r["database"]: r
        for r in report.get("databases") or []
        if isinstance(r, dict) and r.get("database")
    }
    config = _config()
    names = list(dict.fromkeys([*run.tasks, *results]))
    index = _map_index(map_index)
    if index is not None and index >= 0:
        # The task instance tab: only the database that map index ran on.
        chosen = _name_at(session, dag_id, run_id, index)
        names = [n for n in names if n == chosen] or names
    known = {db.name: db for db in config.databases}
    audit = read_run_audit([known[n] for n in names if n in known], dag_id, run_id)
    databases = []
    for name in names:
        result = results.get(name)
        rows = audit.get(name, "not in the configuration: no history store to read")
        databases.append(
            {
                "database": name,
                "state": run.tasks.get(name),
                "times": run.task_times.get(name),
                "result": result,
                "lines": detail_lines(result) if result else [],
                "audit": rows,
            }
        )
    maintenance = dag_id in _maintenance_dag_ids(config) or bool(report)
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "state": run.state,
        "maintenance_run": maintenance,
        "databases": databases,
        "report_text": report.get("text"),
    }


def _name_at(session: Any, dag_id: str, run_id: str, map_index: int) -> str | None:
    """Return the database ``map_index`` of the run's per-database tasks ran on."""
    from sqlalchemy import select

    from maintenance_ops.core.labels import database_of
    from maintenance_ops.ui.runs import _tables, maintain_tasks

    _, ti, _ = _tables()
    row = session.execute(
        select(ti.rendered_map_index).where(
            ti.dag_id == dag_id,
            ti.run_id == run_id,
            maintain_tasks(ti),
            ti.map_index == map_index,
        )
    ).first()
    return database_of(row[0]) if row and row[0] else None


def _run_json(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    out["databases"] = [
        {
            **{k: v for k, v in d.items() if k not in ("result", "times")},
            "summary": (d["result"] or {}).get("summary"),
            "skipped": (d["result"] or {}).get("skipped"),
            "failures": [
                r
                for r in d["audit"]
                if isinstance(r, dict) and r["outcome"] in ("failed", "refused")
            ]
            if isinstance(d["audit"], list)
            else [],
        }
        for d in data["databases"]
    ]
    return out


def _error(request: Request, exc: HTTPException) -> Response:
    """Answer a refusal as JSON on the data endpoints, as a short page on the pages."""
    if "/api/" in request.url.path:
        return _json({"detail": exc.detail}, exc.status_code)
    title = {401: "Sign in to Airflow", 403: "Not allowed", 404: "Not found"}.get(
        exc.status_code, "MySQL maintenance"
    )
    link = (f"{_ui_root()}auth/login", "Sign in") if exc.status_code == 401 else None
    html = pages.message_page(title, str(exc.detail), link=link, ui_root=_ui_root())
    return HTMLResponse(html, status_code=exc.status_code)


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(data), status_code=status)


def create_app() -> FastAPI:
    """Build the app (called once, on the first request the api-server routes to it)."""
    app = FastAPI(title="MySQL maintenance", docs_url=None, redoc_url=None, openapi_url=None)

    def reader(user: GetUserDep) -> None:
        _can_read_maintenance(user)

    can_read = [Depends(reader)]
    can_read_run = [Depends(requires_access_dag("GET", DagAccessEntity.RUN))]

    app.add_exception_handler(HTTPException, _error)  # type: ignore[arg-type]

    @app.get("/")
    def index() -> RedirectResponse:
        return RedirectResponse(f"{pages.base_of(_ui_root())}fleet")

    @app.get("/api/fleet", dependencies=can_read)
    def fleet_json(session: SessionDep) -> JSONResponse:
        data = _fleet(session)
        data.pop("rows")
        return _json(data)

    @app.get("/fleet", dependencies=can_read, response_class=HTMLResponse)
    def fleet_html(session: SessionDep) -> HTMLResponse:
        data = _fleet(session)
        html = pages.fleet_page(
            data["rows"],
            ui_root=_ui_root(),
            generated_at=data["generated_at"],
            runs_error=data["runs_error"],
            build_ms=data["build_ms"],
        )
        return HTMLResponse(html)

    @app.get("/api/databases/{name}", dependencies=can_read)
    def database_json(
        name: str, session: SessionDep, page: Annotated[DatabaseQuery, Depends()]
    ) -> JSONResponse:
        _, _, history = _database(name, page)
        return _json(_history_json(history, _latest_results(session, name)))

    @app.get("/databases/{name}", dependencies=can_read, response_class=HTMLResponse)
    def database_html(
        name: str, session: SessionDep, page: Annotated[DatabaseQuery, Depends()]
    ) -> HTMLResponse:
        config, db, history = _database(name, page)
        html = pages.database_page(
            history,
            _latest_results(session, name),
            filters={"outcome": page.outcome, "dag_id": page.dag_id, "q": page.q},
            outcomes=OUTCOMES,
            dag_ids=_maintenance_dag_ids(config),
            ui_root=_ui_root(),
            rto_target_s=db.backup.rto_minutes * 60,
        )
        return HTMLResponse(html)

    @app.get("/api/runs/{dag_id}/{run_id:path}", dependencies=can_read_run)
    def run_json(
        dag_id: str, run_id: str, session: SessionDep, map_index: str | None = None
    ) -> JSONResponse:
        return _json(_run_json(_run_data(session, dag_id, run_id, map_index)))

    @app.get("/runs/{dag_id}/{run_id:path}", dependencies=can_read_run)
    def run_html(
        dag_id: str, run_id: str, session: SessionDep, map_index: str | None = None
    ) -> HTMLResponse:
        data = _run_data(session, dag_id, run_id, map_index)
        sections = [
            pages.run_section(
                d["database"], d["state"], d["times"], d["result"], d["audit"], d["lines"]
            )
            for d in data["databases"]
        ]
        note = None
        if not data["maintenance_run"]:
            note = "This run is not a maintenance run: it has no maintenance report."
        elif not sections:
            note = "No database has reported in this run yet."
        html = pages.run_page(
            dag_id,
            run_id,
            state=data["state"],
            sections=sections,
            report_text=data["report_text"],
            ui_root=_ui_root(),
            note=note,
        )
        return HTMLResponse(html)

    return app

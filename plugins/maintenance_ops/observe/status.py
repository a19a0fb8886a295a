"""``python -m maintenance_ops status``: the spec's ``maintenance_status`` command.

Per database: the latest health score and breaches, read from the history store. Per DAG:
whether it is paused, its last run's state and its next run (none while paused), read through
Airflow's REST API with the package's API client: ``AIRFLOW_API_URL``, else Airflow's ``[api]
base_url``, with ``AIRFLOW_API_TOKEN`` or ``AIRFLOW_API_USER``/``AIRFLOW_API_PASSWORD`` (see
core/airflow_api.py). Each source that cannot be reached is reported as such; the rest is still
shown.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from maintenance_ops.core.cadences import CADENCES
from maintenance_ops.core.config import Config, Database
from maintenance_ops.core.exceptions import ConfigError

if TYPE_CHECKING:
    from maintenance_ops.core.airflow_api import AirflowApi


def database_status(config: Config, db: Database) -> dict[str, Any]:
    """Return the latest health sample of one database, or why there is none."""
    from maintenance_ops.core.session import MaintenanceSession
    from maintenance_ops.observe.health_history import HealthHistory

    conn_id = db.history_conn_id or db.conn_id
    out: dict[str, Any] = {"database": db.name, "history": f"{conn_id}:{db.history_schema}"}
    try:
        with MaintenanceSession(conn_id, config.maintenance, database_name=db.name) as session:
            latest = HealthHistory(session, db.history_schema, create=False).latest(db.name)
    except Exception as exc:  # noqa: BLE001 - report it, go on with the other databases
        message = str(exc)
        if "doesn't exist" in message or "Unknown database" in message:
            out["error"] = "no health samples yet: the health check has not run"
        else:
            out["error"] = f"history store unreachable: {message}"
            out["unreachable"] = True
        return out
    if latest is None:
        out["error"] = "no health samples yet: the health check has not run"
        return out
    sampled = latest["sampled_at"]  # stored as naive UTC
    out.update(
        sampled_at=(sampled.replace(tzinfo=UTC) if sampled.tzinfo is None else sampled).isoformat(),
        score=latest["score"],
        status=latest["status"],
        breaches=[_describe(b) for b in latest["breaches"] or []],
    )
    return out


def _describe(breach: dict[str, Any]) -> str:
    return (
        f"{breach['metric']}={breach['value']:g} >= {breach['level']} threshold "
        f"{breach['threshold']:g}"
    )


def dag_status(api: AirflowApi, dag_id: str) -> dict[str, Any]:
    """Return paused, last run state and next run (none while paused) of one DAG."""
    dag = api.call("GET", f"/api/v2/dags/{quote(dag_id, safe='')}")
    runs = api.call(
        "GET",
        f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns",
        params={"order_by": "-run_after", "limit": 1},
    )
    last = (runs.get("dag_runs") or [None])[0]
    paused = dag.get("is_paused")
    return {
        "dag_id": dag_id,
        "paused": paused,
        "last_run": last and {"run_id": last["dag_run_id"], "state": last["state"]},
        "next_run": None if paused else dag.get("next_dagrun_run_after"),
    }


def dags_status(dag_ids: list[str], api: AirflowApi | None = None) -> dict[str, Any]:
    """Return every DAG's status, or why the API could not be read.

    :param api: the client to use; by default one from the environment (see core/airflow_api.py).
    """
    from maintenance_ops.core.airflow_api import AirflowApi, AirflowApiError, ApiSettings

    url = api.url if api is not None else None
    try:
        if api is None:
            settings = ApiSettings.from_environment()
            url = settings.url
            with AirflowApi(settings) as own:
                return {"api": url, "dags": [dag_status(own, d) for d in dag_ids]}
        return {"api": url, "dags": [dag_status(api, d) for d in dag_ids]}
    except (AirflowApiError, ConfigError) as exc:  # report it, the database part still stands
        return {"api": url, "error": str(exc), "dags": []}


def collect_status(
    config: Config, *, schedules: bool, api: AirflowApi | None = None
) -> dict[str, Any]:
    """Gather the whole status report (DAG state through ``api``, else one from the env)."""
    dag_ids = [c.dag_id for c in CADENCES] + [f"mysql_custom_{n}" for n in config.custom_schedules]
    report: dict[str, Any] = {
        "databases": [database_status(config, db) for db in config.databases],
        "airflow": dags_status(dag_ids, api),
    }
    if schedules:
        report["schedules"] = {key: s.model_dump() for key, s in config.schedules.items()} | {
            f"custom:{key}": c.model_dump() for key, c in config.custom_schedules.items()
        }
    return report


def render_text(report: dict[str, Any]) -> str:
    """Render the status report for a terminal."""
    lines = ["Databases:"]
    for db in report["databases"]:
        if "error" in db:
            lines.append(f"  {db['database']}: {db['error']}")
            continue
        lines.append(f"  {db['database']}: {db['score']}/100 {db['status']} at {db['sampled_at']}")
        lines.extend(f"    - {b}" for b in db["breaches"])
    airflow = report["airflow"]
    lines.append(f"DAGs ({airflow['api']}):")
    if "error" in airflow:
        lines.append(f"  {airflow['error']}")
    for dag in airflow["dags"]:
        last = dag["last_run"]
        lines.append(
            f"  {dag['dag_id']}: {'paused' if dag['paused'] else 'active'}, "
            f"last run {last['state'] if last else 'none'}, next {dag['next_run'] or '-'}"
        )
    if "schedules" in report:
        lines.append("Schedules:")
        for key, s in report["schedules"].items():
            lines.append(f"  {key}: {s['cron']} {'enabled' if s['enabled'] else 'disabled'}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``status`` options to its subcommand parser."""
    parser.add_argument("--schedules", action="store_true", help="also list the schedules")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    """Run ``python -m maintenance_ops status`` with parsed arguments; return the exit code."""
    from maintenance_ops.core.config import load_config

    try:
        config = load_config()
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    report = collect_status(config, schedules=args.schedules)
    print(
        json.dumps(report, indent=2, default=str) if args.format == "json" else render_text(report)
    )
    return UNREACHABLE if unreachable(report) else 0


UNREACHABLE = 3  # the exit code when a source could not be read (as the coordinator's API errors)


def unreachable(report: dict[str, Any]) -> list[str]:
    """Name the sources the report could not read: history stores and the Airflow API.

    A database without samples yet is not one of them (the health check has not run).
    """
    names = [f"history of {db['database']}" for db in report["databases"] if db.get("unreachable")]
    if report["airflow"].get("error"):
        names.append("Airflow API")
    return names

"""``python -m maintenance_ops status``: the spec's ``maintenance_status`` command.

Per database: the latest health score and breaches, read from the history store. Per DAG:
whether it is paused, its last run's state and its next run, read through Airflow's REST API
(``AIRFLOW_API_URL``, with ``AIRFLOW_API_TOKEN`` or ``AIRFLOW_API_USER``/``AIRFLOW_API_PASSWORD``).
Each source that cannot be reached is reported as such; the rest is still shown.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from maintenance_ops.cadences import CADENCES
from maintenance_ops.config import Config, Database

API_URL_ENV = "AIRFLOW_API_URL"
DEFAULT_API_URL = "http://localhost:8080"


def database_status(config: Config, db: Database) -> dict[str, Any]:
    """Return the latest health sample of one database, or why there is none."""
    from maintenance_ops.history import HealthHistory
    from maintenance_ops.session import MaintenanceSession

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
        return out
    if latest is None:
        out["error"] = "no health samples yet: the health check has not run"
        return out
    out.update(
        sampled_at=latest["sampled_at"].isoformat(),
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


class ApiClient:
    """A small Airflow REST API client (token or user/password from the environment)."""

    def __init__(self, url: str | None = None) -> None:
        import requests

        self.url = (url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")
        self.http = requests.Session()
        token = os.environ.get("AIRFLOW_API_TOKEN")
        if not token and os.environ.get("AIRFLOW_API_USER"):
            resp = self.http.post(
                f"{self.url}/auth/token",
                json={
                    "username": os.environ["AIRFLOW_API_USER"],
                    "password": os.environ.get("AIRFLOW_API_PASSWORD", ""),
                },
                timeout=10,
            )
            resp.raise_for_status()
            token = resp.json()["access_token"]
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> Any:
        resp = self.http.get(f"{self.url}{path}", params=params, timeout=10)
        resp.raise_for_status()
        return resp.json()


def dag_status(client: ApiClient, dag_id: str) -> dict[str, Any]:
    """Return paused, last run state and next run of one DAG."""
    dag = client.get(f"/api/v2/dags/{quote(dag_id)}")
    runs = client.get(f"/api/v2/dags/{quote(dag_id)}/dagRuns", order_by="-run_after", limit=1)
    last = (runs.get("dag_runs") or [None])[0]
    return {
        "dag_id": dag_id,
        "paused": dag.get("is_paused"),
        "last_run": last and {"run_id": last["dag_run_id"], "state": last["state"]},
        "next_run": dag.get("next_dagrun_run_after") or dag.get("next_dagrun_logical_date"),
    }


def dags_status(dag_ids: list[str]) -> dict[str, Any]:
    """Return every DAG's status, or why the API could not be read."""
    try:
        client = ApiClient()
        return {"api": client.url, "dags": [dag_status(client, d) for d in dag_ids]}
    except Exception as exc:  # noqa: BLE001 - report it, the database part still stands
        url = os.environ.get(API_URL_ENV) or DEFAULT_API_URL
        return {
            "api": url,
            "error": f"Airflow API unreachable at {url}: {exc}; set {API_URL_ENV} and "
            "AIRFLOW_API_TOKEN (or AIRFLOW_API_USER/AIRFLOW_API_PASSWORD)",
            "dags": [],
        }


def collect_status(config: Config, *, schedules: bool) -> dict[str, Any]:
    """Gather the whole status report."""
    dag_ids = [c.dag_id for c in CADENCES] + [f"mysql_custom_{n}" for n in config.custom_schedules]
    report: dict[str, Any] = {
        "databases": [database_status(config, db) for db in config.databases],
        "airflow": dags_status(dag_ids),
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m maintenance_ops status``."""
    import argparse

    from maintenance_ops.config import load_config
    from maintenance_ops.exceptions import ConfigError

    parser = argparse.ArgumentParser(prog="python -m maintenance_ops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="health per database and state per DAG")
    status.add_argument("--schedules", action="store_true", help="also list the schedules")
    status.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    import logging

    # Airflow logs to stdout; keep stdout for the report (JSON must parse).
    logging.getLogger("maintenance_ops").setLevel(logging.WARNING)
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    report = collect_status(config, schedules=args.schedules)
    print(
        json.dumps(report, indent=2, default=str) if args.format == "json" else render_text(report)
    )
    return 0

"""A fleet of databases under the real Celery stack: one run maps over all of them.

Used by ``tests/e2e/test_fleet.py`` (which asserts) and ``bench/fleet.py`` (which also records the
numbers in docs/benchmarks.md). Every database is its own schema on the shared MariaDB and its
own Airflow connection (``AIRFLOW_CONN_*``) as its own grants.sql account (root only builds the
schemas and the accounts); one more database points at a closed port. One run
of ``mysql_health_check`` and one of ``mysql_daily_maintenance`` are triggered together; while
they run, the ``mysql_maintenance`` pool is sampled, and afterwards every task instance's start
and end give the most tasks that ever ran at once.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from maintenance_ops.core.labels import database_of
from tests.support.accounts import Account, create_account, drop_account
from tests.support.airflow_stack import AirflowStack, free_port
from tests.support.receivers import SlackReceiver, wait_until

DAGS = ("mysql_health_check", "mysql_daily_maintenance")
POOL = "mysql_maintenance"
BROKEN = "broken"
SERVER = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": ""}
REPO = Path(__file__).resolve().parents[2]


@dataclass
class FleetResult:
    """What one fleet run did and how long it took."""

    databases: int
    pool_slots: int
    worker_concurrency: int
    wall_s: float  # first trigger to the last run's end
    startup_s: float
    run_s: dict[str, float]  # dag_id -> the run's own duration
    states: dict[str, dict[str, str]]  # dag_id -> "task[database]" -> state
    run_states: dict[str, str]
    max_running_sampled: int  # the pool's running slots, sampled every 0.5 s
    max_running_intervals: int  # most task instances whose start-end overlap
    mapped_task_s: dict[str, float] = field(default_factory=dict)  # dag_id -> median steps
    alerts: list[str] = field(default_factory=list)


def _sql(statements: list[str]) -> None:
    import MySQLdb

    conn = MySQLdb.connect(**SERVER, connect_timeout=5)
    try:
        cur = conn.cursor()
        for statement in statements:
            cur.execute(statement)
        conn.commit()
    finally:
        conn.close()


def _names(count: int) -> list[str]:
    """Return the databases' names: ``count - 1`` healthy ones and the broken one."""
    return [f"fleet_{i:02d}" for i in range(1, count)] + [BROKEN]


def _config(token: str, names: list[str], slots: int, slack: bool) -> dict[str, Any]:
    return {
        "databases": [
            {
                "name": name,
                "conn_id": f"mmc_{name}",
                "schemas": [f"mmc_{token}_{name}"],
                "history_schema": f"mmc_{token}_{name}_hist",
            }
            for name in names
        ],
        # Manual runs only: unpausing must not start scheduled runs over the whole fleet.
        "schedules": {
            "health_check": {"cron": "0 * * * *", "enabled": False, "deadline_minutes": 20},
            "daily_maintenance": {"cron": "0 2 * * *", "enabled": False, "deadline_minutes": 120},
        },
        "maintenance": {"retries": 0, "max_concurrent": slots},
        # Failures only: health warnings (a busy test machine breaches cpu_pct) stay in reports.
        "health": {"warnings_to_slack": False},
        "notifications": {
            "enable_deadlines": False,
            "slack_conn_id": "slack_alerts" if slack else None,
        },
    }


def _max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """Return the most intervals open at one instant (an end before a start at equal times)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def _all_task_instances(stack: AirflowStack, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    from urllib.parse import quote

    base = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=100"
    found: list[dict[str, Any]] = []
    while True:  # one task per step per database: pages of 100
        page = stack.api("GET", f"{base}&offset={len(found)}")
        found += page["task_instances"]
        if not page["task_instances"] or len(found) >= int(page["total_entries"]):
            return found


def _database(ti: dict[str, Any]) -> str:
    """The database a task instance ran on (its label's), or its map index when unlabelled."""
    label = ti.get("rendered_map_index")
    return database_of(label) if label else str(ti["map_index"])


def run_fleet(
    work_dir: Path,
    *,
    databases: int = 50,
    pool_slots: int = 3,
    worker_concurrency: int = 6,
    timeout: float = 900,
) -> FleetResult:
    """Start a Celery stack on ``databases`` databases, run both DAGs once over all of them."""
    token = uuid.uuid4().hex[:8]
    names = _names(databases)
    good = [n for n in names if n != BROKEN]
    schemas = [f"mmc_{token}_{n}" for n in good]
    statements: list[str] = []
    for schema in schemas:
        statements += [
            f"CREATE DATABASE `{schema}`",
            f"CREATE TABLE `{schema}`.items (id INT PRIMARY KEY, name VARCHAR(40), KEY (name))",
            f"INSERT INTO `{schema}`.items VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        ]
    # One account per database, as a fleet's connections would be (collected, run at once).
    accounts = {
        n: create_account(statements.append, [s], f"{s}_hist")
        for n, s in zip(good, schemas, strict=True)
    }
    _sql(statements)
    closed_port = free_port()  # nothing listens there: connecting is refused at once
    config = work_dir / "maintenance.yaml"
    try:
        with SlackReceiver() as slack:
            config.write_text(
                yaml.safe_dump(_config(token, names, pool_slots, slack=True), sort_keys=False)
            )
            env = {f"AIRFLOW_CONN_MMC_{n.upper()}": a.conn_json() for n, a in accounts.items()}
            broken = Account("maintenance", port=closed_port)
            env[f"AIRFLOW_CONN_MMC_{BROKEN.upper()}"] = broken.conn_json()
            env["AIRFLOW_CONN_SLACK_ALERTS"] = slack.conn_uri
            env["MAINTENANCE_CONFIG"] = str(config)
            stack = AirflowStack(
                dags_folder=str(REPO / "dags"),
                plugins_folder=str(REPO / "plugins"),
                work_dir=str(work_dir / "airflow"),
                executor="CeleryExecutor",
                parallelism=worker_concurrency,
                extra_env=env,
            )
            with stack:
                result = _run(stack, names, pool_slots, worker_concurrency, timeout)
                # Task failure alerts are sent by the task runners before the runs end; the
                # DAG-level ones come from the dag-processor just after.
                with contextlib.suppress(TimeoutError):
                    wait_until(lambda: sum(" run failed" in t for t in slack.texts()) >= 2, 30)
                result.alerts = slack.texts()
            return result
    finally:
        drops: list[str] = []
        for account in accounts.values():
            drop_account(drops.append, account)
        _sql(
            drops
            + [f"DROP DATABASE IF EXISTS `{s}`" for s in schemas]
            + [f"DROP DATABASE IF EXISTS `{s}_hist`" for s in schemas]
        )


def _run(
    stack: AirflowStack, names: list[str], slots: int, concurrency: int, timeout: float
) -> FleetResult:
    pools = stack.cli(["pools", "set", POOL, str(slots), "fleet"])
    if pools.returncode != 0:
        raise RuntimeError(f"airflow pools set failed: {pools.stderr[-2000:]}")
    for dag_id in DAGS:
        stack.wait_for_dag(dag_id)
        stack.unpause(dag_id)

    begin = time.monotonic()
    run_ids = {dag_id: stack.trigger(dag_id) for dag_id in DAGS}
    max_sampled = 0
    deadline = begin + timeout
    runs: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        pool = stack.api("GET", f"/api/v2/pools/{POOL}")
        max_sampled = max(max_sampled, int(pool["running_slots"]))
        runs = {d: stack.get_run(d, r) for d, r in run_ids.items()}
        if all(r["state"] in ("success", "failed") for r in runs.values()):
            break
        time.sleep(0.5)
    else:
        raise TimeoutError(f"fleet runs not done after {timeout} s: {runs}")
    wall = time.monotonic() - begin

    states: dict[str, dict[str, str]] = {}
    intervals = []
    mapped: dict[str, float] = {}
    for dag_id, run_id in run_ids.items():
        tis = _all_task_instances(stack, dag_id, run_id)
        states[dag_id] = {f"{t['task_id']}[{_database(t)}]": str(t["state"]) for t in tis}
        intervals += [  # the pool's own tasks: cheap steps run outside it
            (datetime.fromisoformat(t["start_date"]), datetime.fromisoformat(t["end_date"]))
            for t in tis
            if t["start_date"] and t["end_date"] and t["pool"] == POOL
        ]
        per_database: dict[int, float] = {}  # one database's steps, together
        for t in tis:
            if t["task_id"].startswith("maintain.") and t["duration"]:
                index = int(t["map_index"])
                per_database[index] = per_database.get(index, 0.0) + float(t["duration"])
        durations = sorted(per_database.values())
        mapped[dag_id] = durations[len(durations) // 2] if durations else 0.0
    return FleetResult(
        databases=len(names),
        pool_slots=slots,
        worker_concurrency=concurrency,
        wall_s=wall,
        startup_s=stack.startup_seconds or 0.0,
        run_s={d: float(r.get("duration") or 0.0) for d, r in runs.items()},
        states=states,
        run_states={d: str(r["state"]) for d, r in runs.items()},
        max_running_sampled=max_sampled,
        max_running_intervals=_max_overlap(intervals),
        mapped_task_s=mapped,
    )

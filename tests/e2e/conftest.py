"""One real Celery stack (api-server, scheduler, dag-processor, triggerer, Celery worker) per
test process, shared by the Celery and the UI end-to-end tests.

The stack is session-scoped: the tests of both modules that land on one pytest-xdist worker
share one stack, and no test relies on another having run first. The fixture's teardown stops
the stack and fails when any process of it, its metadata database or its broker keys are left
behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
import yaml

from tests.conftest import REPO, run_sql
from tests.support.accounts import create_account, drop_account
from tests.support.airflow_stack import (
    POSTGRES_HOST,
    REDIS_HOST,
    REDIS_PORT,
    STACK_MARKER_VAR,
    AirflowStack,
)
from tests.support.receivers import SlackReceiver

DAG_IDS = (
    "mysql_daily_maintenance",
    "mysql_weekly_optimization",
    "mysql_monthly_deep_maintenance",
    "mysql_backup_testing",
    "mysql_disaster_recovery_test",
    "mysql_health_check",
)
QUEUE = "maintenance"  # the configuration's default maintenance.queue
POOL_SLOTS = 2


@dataclass
class CeleryStack:
    """The running stack and what the tests need to know about its configuration."""

    stack: AirflowStack
    config: Path
    schemas: dict[str, str]  # database name -> its schema on the shared server
    history: dict[str, str]  # database name -> its history schema
    daily_cron: str
    slack: SlackReceiver  # the stack's Slack connection posts here


def _daily_cron(now: datetime) -> str:
    # Half a day away from now: the run that unpausing starts (the latest tick) is ~12 h old and
    # no new tick falls inside the test, whenever it runs.
    at = now + timedelta(hours=12)
    return f"30 {at.hour} * * *"


def _stack_processes(stack_id: str) -> list[int]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(STACK_MARKER_VAR) == stack_id:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def _leftovers(stack: AirflowStack) -> dict[str, object]:
    """Return whatever of the stopped stack still exists (empty when shut down cleanly)."""
    import psycopg2
    import redis

    left: dict[str, object] = {}
    if pids := _stack_processes(stack.stack_id):
        left["processes"] = pids
    with psycopg2.connect(host=POSTGRES_HOST, user="postgres", dbname="postgres") as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (stack.db_name,))
            if cur.fetchone():
                left["metadata database"] = stack.db_name
    conn.close()
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        if keys := list(client.scan_iter(match=f"{stack.redis_prefix}*")):
            left["broker keys"] = keys
    finally:
        client.close()
    return left


@pytest.fixture(scope="session")
def celery_stack(
    mysql_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryStack]:
    """Start the Celery stack on two databases (schemas on the shared MariaDB)."""
    work = tmp_path_factory.mktemp("celery-stack")
    token = uuid.uuid4().hex[:10]
    names = ("primary", "secondary")
    schemas = {name: f"mmc_e2e_{token}_{name[:3]}" for name in names}
    history = {name: f"{schema}_hist" for name, schema in schemas.items()}
    for schema in schemas.values():
        run_sql(f"CREATE DATABASE `{schema}`")
    # The daily run's cleanup rule needs its table from the start (a rule naming a missing
    # table fails the run); the backfill test fills it.
    run_sql(
        f"CREATE TABLE `{schemas['primary']}`.sessions "
        "(id INT PRIMARY KEY, expire_date DATETIME NOT NULL, KEY by_expiry (expire_date))"
    )
    # Each database's connection is the grants.sql account on its own schemas; root built them.
    accounts = {name: create_account(run_sql, [schemas[name]], history[name]) for name in names}
    daily_cron = _daily_cron(datetime.now(UTC))
    slack = SlackReceiver().__enter__()
    config = work / "maintenance.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "databases": [
                    {
                        "name": name,
                        "conn_id": f"mmc_e2e_{name}",
                        "schemas": [schemas[name]],
                        "history_schema": history[name],
                        "cleanup_rules": [
                            {
                                "name": "sessions",
                                "table": "sessions",
                                "date_column": "expire_date",
                                "retention_days": 30,
                                "cleanup_type": "delete",
                            }
                        ]
                        if name == "primary"
                        else [],
                    }
                    for name in names
                ],
                # Every minute: the pause test can see that a paused DAG stops being scheduled.
                "schedules": {
                    "health_check": {"cron": "* * * * *", "deadline_minutes": 20},
                    "daily_maintenance": {"cron": daily_cron, "deadline_minutes": 120},
                },
                "maintenance": {"retries": 0, "max_concurrent": POOL_SLOTS},
                "notifications": {"enable_deadlines": False, "slack_conn_id": "mmc_e2e_slack"},
            },
            sort_keys=False,
        )
    )
    stack = AirflowStack(
        dags_folder=str(REPO / "dags"),
        plugins_folder=str(REPO / "plugins"),
        work_dir=str(work / "airflow"),
        executor="CeleryExecutor",
        worker_queues=(QUEUE,),
        extra_env={
            "MAINTENANCE_CONFIG": str(config),
            "AIRFLOW_CONN_MMC_E2E_SLACK": slack.conn_uri,
            **{f"AIRFLOW_CONN_MMC_E2E_{n.upper()}": a.conn_json() for n, a in accounts.items()},
        },
    )
    try:
        with stack:
            pools = stack.cli(["pools", "set", "mysql_maintenance", str(POOL_SLOTS), "e2e"])
            assert pools.returncode == 0, pools.stderr
            for dag_id in DAG_IDS:
                stack.wait_for_dag(dag_id)
            yield CeleryStack(stack, config, schemas, history, daily_cron, slack)
            stack.pids()  # remember every process seen, task runners included
        # Clean shutdown: every process that ever belonged to the stack is gone (the marker
        # finds task runners that left the components' process groups), and so are its
        # metadata database and broker keys.
        assert stack.alive_pids() == [], "processes of the stack still alive after stop()"
        assert _leftovers(stack) == {}
    finally:
        stack.stop()
        slack.__exit__(None, None, None)
        for account in accounts.values():
            drop_account(run_sql, account)
        for schema in [*schemas.values(), *history.values()]:
            run_sql(f"DROP DATABASE IF EXISTS `{schema}`")

"""``make demo``: run every DAG once against a demo database and print what it found and did.

With no target configured (``MAINTENANCE_DEMO_TARGET`` unset) it starts an embedded private
MariaDB server under ``.demo/``, loads a small shop with real problems (duplicate indexes, a
table without a primary key, expired sessions, old admin log rows, a fragmented table, an
auto-increment near its maximum), writes a demo configuration and runs the six DAGs in-process
with ``dag.test()``. Set ``MAINTENANCE_DEMO_TARGET=mysql://user:pw@host:port`` to use an
existing server instead (the demo only creates and changes the ``demo_shop`` schema there).

The URL's account only builds the demo: the DAGs run as the maintenance account that
``include/sql/grants.sql`` describes (``mmc_demo``, created with a random password on the
demo schema and the history schema), exactly as they would in a deployment.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse

import yaml

from maintenance_ops.core.cadences import CADENCES
from maintenance_ops.core.sqlfiles import split_statements

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = Path(os.environ.get("MAINTENANCE_DEMO_DIR") or REPO / ".demo")
DEMO_CONN_ID = "demo_mysql"
DEMO_REPLICA_CONN_ID = "demo_mysql_replica"
DEMO_SCHEMA = "demo_shop"
DEMO_HISTORY_SCHEMA = "_maintenance"
DEMO_ACCOUNT = "mmc_demo"
TARGET_ENV = "MAINTENANCE_DEMO_TARGET"


def demo_config(*, replica: bool = False) -> dict[str, Any]:
    """Return the demo's configuration: one database (and its replica), the spec's rules."""
    replicas = [{"name": "replica1", "conn_id": DEMO_REPLICA_CONN_ID}] if replica else []
    return {
        "databases": [
            {
                "name": "demo",
                "conn_id": DEMO_CONN_ID,
                "schemas": [DEMO_SCHEMA],
                "replicas": replicas,
                "backup": {"enabled": True, "location": (DEMO_DIR / "backups").as_uri()},
                "cleanup_rules": [
                    {
                        "name": "django_session",
                        "table": "django_session",
                        "date_column": "expire_date",
                        "retention_days": 30,
                        "cleanup_type": "delete",
                    },
                    {
                        "name": "admin_logentry",
                        "table": "django_admin_log",
                        "date_column": "action_time",
                        "retention_days": 90,
                        "cleanup_type": "archive",
                    },
                ],
            }
        ],
        # dag.test() runs tasks in-process: retries would only wait, deadlines never fire.
        "maintenance": {"retries": 0},
        "notifications": {"enable_deadlines": False},
        # A laptop has no Slack or mail server to send the drill's test message to.
        "disaster_recovery": {"notification_test": False},
    }


def load_demo_data(conn: Any, now: datetime, seed: int = 7) -> dict[str, int]:
    """Create ``demo_shop`` afresh and fill it; return row counts per table."""
    from maintenance_ops.core import sqlexec

    rng = random.Random(seed)
    sqlexec.execute(conn, f"DROP DATABASE IF EXISTS `{DEMO_SCHEMA}`")
    for statement in split_statements((REPO / "include/demo/shop_schema.sql").read_text()):
        sqlexec.execute(conn, statement, None)  # a script, sent as written
    day = timedelta(days=1)
    rows = {
        "orders": [
            (
                rng.randint(1, 500),
                rng.choice(["new", "paid", "shipped"]),
                rng.randint(100, 90000),
                now - rng.randint(0, 400) * day,
            )
            for _ in range(5000)
        ],
        "audit_events": [(now - rng.randint(0, 60) * day, "admin", "login") for _ in range(500)],
        "django_session": [
            (f"s{i:039d}", "x" * 80, now + rng.randint(-120, 30) * day) for i in range(4000)
        ],
        "django_admin_log": [
            (now - rng.randint(0, 365) * day, 1, f"object {i}", "changed") for i in range(2000)
        ],
        "page_views": [
            (f"/p/{rng.randint(1, 999)}", "v" * 500, now - rng.randint(0, 30) * day)
            for _ in range(20000)
        ],
    }
    inserts = {
        "orders": "(customer_id, status, total_cents, created_at) VALUES (%s, %s, %s, %s)",
        "audit_events": "(happened_at, actor, action) VALUES (%s, %s, %s)",
        "django_session": "(session_key, session_data, expire_date) VALUES (%s, %s, %s)",
        "django_admin_log": (
            "(action_time, user_id, object_repr, change_message) VALUES (%s, %s, %s, %s)"
        ),
        "page_views": "(url, payload, viewed_at) VALUES (%s, %s, %s)",
    }
    for table, values in rows.items():
        sqlexec.execute_many(
            conn,
            f"INSERT INTO `{DEMO_SCHEMA}`.`{table}` {inserts[table]}",
            values,  # noqa: S608
        )
    sqlexec.execute(conn, f"DELETE FROM `{DEMO_SCHEMA}`.`page_views` WHERE id %% 2 = 0")  # noqa: S608
    counts = {}
    for table in (*rows, "coupon_kinds"):
        count = f"SELECT COUNT(*) FROM `{DEMO_SCHEMA}`.`{table}`"  # noqa: S608 - constants
        counts[table] = int(sqlexec.rows(conn, count)[0][0])
    return counts


@contextlib.contextmanager
def _quiet(log_file: TextIO) -> Iterator[None]:
    """Send everything written to stdout/stderr (Airflow's task logs) to ``log_file``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(log_file.fileno(), 1)
    os.dup2(log_file.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _report_of(dag_run: Any) -> dict[str, Any] | None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(
                dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id="report", key="return_value"
            )
            .first()
        )
        if row is None:
            return None
        value = row.value
        if isinstance(value, str):
            value = json.loads(value)
        return value if isinstance(value, dict) else None


def run_all(out: TextIO, log_path: Path) -> int:
    """Run the six DAGs once each; print a summary per DAG; return the number that failed."""
    from airflow.dag_processing.dagbag import DagBag

    failures = 0
    with log_path.open("a") as log_file:
        with _quiet(log_file):
            bag = DagBag(dag_folder=str(REPO / "dags"))
        if bag.import_errors:
            for path, error in bag.import_errors.items():
                print(f"import error in {path}: {error}", file=out)
            return len(CADENCES)
        for cadence in CADENCES:
            started = time.monotonic()
            with _quiet(log_file):
                dag_run = bag.dags[cadence.dag_id].test()
            state = str(dag_run.state)
            failures += state != "success"
            print(
                f"\n== {cadence.dag_id} ({cadence.summary.lower()}): {state.upper()} "
                f"in {time.monotonic() - started:.1f}s",
                file=out,
            )
            print(_steps_line(dag_run), file=out)
            report = _report_of(dag_run)
            text = report["text"] if report else "(no report: see the log)"
            for line in text.splitlines()[1:]:
                print(line, file=out)
    return failures


def _steps_line(dag_run: Any) -> str:
    """What the grid shows: each step task per database (its map label), state and duration."""
    steps = sorted(
        (ti for ti in dag_run.get_task_instances() if ti.task_id.startswith("maintain.")),
        key=lambda ti: (ti.map_index, ti.start_date or dag_run.start_date),
    )
    shown = [
        f"{ti.task_id.removeprefix('maintain.')} [{ti.rendered_map_index or ti.map_index}] "
        f"{ti.state}" + (f" {ti.duration:.1f}s" if ti.duration is not None else "")
        for ti in steps
    ]
    return "  steps: " + (", ".join(shown) or "none")


def _embedded_target(out: TextIO) -> tuple[str, list[Any]]:
    """Start a private primary (binary log on, for the PITR drill) and a replica of it."""
    from maintenance_ops.core.instance import InstanceSpec, MySQLInstance, cleanup_stale

    DEMO_DIR.mkdir(exist_ok=True)
    cleanup_stale(DEMO_DIR)
    print("No target configured: starting an embedded MariaDB server and a replica ...", file=out)
    primary = MySQLInstance(InstanceSpec(server_id=1, binlog=True), base_dir=DEMO_DIR).start()
    replica = MySQLInstance(
        InstanceSpec(server_id=2, binlog=True, read_only=True), base_dir=DEMO_DIR
    ).start()
    replica.execute(
        "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%s, MASTER_USER='root', "
        "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
        (primary.port, primary.password),
    )
    replica.execute("START SLAVE")
    print(f"  {primary.version} on 127.0.0.1:{primary.port} (data in {primary.dir})", file=out)
    print(f"  replica on 127.0.0.1:{replica.port}, replicating from it", file=out)
    return primary.airflow_conn_uri(), [primary, replica]


def _connect(url: str) -> Any:
    from maintenance_ops.core import sqlexec

    parts = urlparse(url)
    return sqlexec.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
    )


def create_maintenance_account(conn: Any, url: str) -> str:
    """Create the grants.sql account for the demo schemas; return its connection (JSON form)."""
    import secrets

    from maintenance_ops.core import sqlexec
    from maintenance_ops.core.grants import account_statements

    password = secrets.token_urlsafe(18)
    sqlexec.execute(conn, f"DROP USER IF EXISTS '{DEMO_ACCOUNT}'@'%'", None)
    for statement in account_statements(
        DEMO_ACCOUNT, "%", password, [DEMO_SCHEMA], DEMO_HISTORY_SCHEMA
    ):
        sqlexec.execute(conn, statement, None)
    parts = urlparse(url)
    return json.dumps(
        {
            "conn_type": "mysql",
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "login": DEMO_ACCOUNT,
            "password": password,
        }
    )


def main(out: TextIO = sys.stdout) -> int:
    """Run the demo end to end; return the process exit code."""
    DEMO_DIR.mkdir(exist_ok=True)
    log_path = DEMO_DIR / "demo.log"
    log_path.write_text("")
    url = os.environ.get(TARGET_ENV)
    instances: list[Any] = []
    if not url:
        url, instances = _embedded_target(out)
    else:
        print(f"Using the target in {TARGET_ENV} (only schema {DEMO_SCHEMA} is touched)", file=out)
    try:
        conn = _connect(url)
        counts = load_demo_data(conn, datetime.now().replace(microsecond=0))
        maintenance_conn = create_maintenance_account(conn, url)
        conn.close()
        print(
            f"Loaded {DEMO_SCHEMA}: " + ", ".join(f"{t} {n} rows" for t, n in counts.items()),
            file=out,
        )
        config_path = DEMO_DIR / "maintenance.yaml"
        config = demo_config(replica=len(instances) > 1)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        os.environ["MAINTENANCE_CONFIG"] = str(config_path)
        os.environ[f"AIRFLOW_CONN_{DEMO_CONN_ID.upper()}"] = maintenance_conn
        if len(instances) > 1:  # the account reached the replica through replication
            replica = json.loads(maintenance_conn) | {"port": instances[1].port}
            os.environ[f"AIRFLOW_CONN_{DEMO_REPLICA_CONN_ID.upper()}"] = json.dumps(replica)
        print(
            f"Configuration: {config_path}\nMaintenance account: {DEMO_ACCOUNT} "
            "(include/sql/grants.sql)\n"
            f"Running every DAG once (task logs: {log_path})",
            file=out,
        )
        failures = run_all(out, log_path)
    finally:
        for instance in reversed(instances):
            instance.stop()
    verdict = "all DAGs succeeded" if not failures else f"{failures} DAG(s) failed"
    print(f"\nDemo finished: {verdict}.", file=out)
    print(fleet_page_hint(), file=out)
    return 1 if failures else 0


FLEET_PATH = "/mysql-maintenance/fleet"


def fleet_page_hint(timeout_s: float = 2.0) -> str:
    """Say where the fleet page is: its URL when an api-server answers, else how to start one.

    The api-server is found as the other commands find it (``AIRFLOW_API_URL``, else Airflow's
    ``[api] base_url``, else localhost:8080); its health endpoint needs no login.
    """
    import httpx

    from maintenance_ops.core.airflow_api import ApiSettings
    from maintenance_ops.core.exceptions import ConfigError

    try:
        url = ApiSettings.from_environment().url
    except ConfigError as exc:
        return f"Maintenance pages: cannot tell where the api-server is: {exc}"
    try:
        up = httpx.get(f"{url}/api/v2/monitor/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        up = False
    if up:
        return f"Maintenance pages (fleet, databases, run reports): {url}{FLEET_PATH}"
    return (
        f"Maintenance pages: no api-server answers at {url}; start one (`airflow api-server`, "
        f"with this MAINTENANCE_CONFIG) and open {url}{FLEET_PATH}"
    )


if __name__ == "__main__":
    sys.exit(main())

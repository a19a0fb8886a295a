"""docker-compose.yaml defines the whole stack, mounts the package, and shares the test settings."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.instance import MySQLInstance
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


# ------------------------------------------------------------------------------------------
# Secrets, ports and the maintenance account
# ------------------------------------------------------------------------------------------

COMPOSE_TEXT = (REPO / "docker-compose.yaml").read_text()
INIT_SCRIPT = REPO / "include" / "docker" / "maintenance-account.sh"
GRANTS = REPO / "include" / "sql" / "grants.sql"
SECRET_VARIABLES = (
    "FERNET_KEY",
    "JWT_SECRET",
    "MYSQL_ROOT_PASSWORD",
    "MYSQL_REPLICATION_PASSWORD",
    "MAINTENANCE_DB_PASSWORD",
)


def test_secrets_are_required_and_have_no_default() -> None:
    references = re.findall(r"\$\{([A-Z_]+)(:?[-?])?([^}]*)\}", COMPOSE_TEXT)
    for name in SECRET_VARIABLES:
        uses = [(op, text) for n, op, text in references if n == name]
        assert uses, f"{name} is not used"
        assert all(op == ":?" and text.strip() for op, text in uses), (name, uses)
    # No other variable that looks like a secret slips in with a default.
    for name, op, _ in references:
        if re.search(r"KEY|SECRET|PASSWORD|TOKEN", name):
            assert op == ":?", name
    # No literal secret either: the old demo key and root password are gone.
    assert "ZmVybmV0" not in COMPOSE_TEXT and "change-me-in-production" not in COMPOSE_TEXT
    assert "MARIADB_ROOT_PASSWORD: maintenance" not in COMPOSE_TEXT


def test_published_ports_are_on_localhost_only() -> None:
    published = {
        name: service["ports"]
        for name, service in COMPOSE["services"].items()
        if "ports" in service
    }
    assert published == {"airflow-apiserver": ["127.0.0.1:8080:8080"]}


def test_the_dags_connect_as_the_grants_sql_account_not_root() -> None:
    env = _service("airflow-scheduler")["environment"]
    connections = {k: v for k, v in env.items() if k.startswith("AIRFLOW_CONN_")}
    assert set(connections) == {
        "AIRFLOW_CONN_MYSQL_MAINTENANCE_DEFAULT",
        "AIRFLOW_CONN_MYSQL_REPLICA1",
    }
    for value in connections.values():
        conn = json.loads(
            value.replace("${MAINTENANCE_DB_PASSWORD:?set MAINTENANCE_DB_PASSWORD in .env}", "x")
        )
        assert conn["login"] == "maintenance" and conn["password"] == "x"
    for name in ("mysql-target", "mysql-replica"):
        service = _service(name)
        assert service["volumes"] == [
            "./include/sql/grants.sql:/mmc/grants.sql:ro",
            "./include/docker/maintenance-account.sh:/docker-entrypoint-initdb.d/10-maintenance-account.sh:ro",
        ]
        assert service["environment"]["MARIADB_REPLICATION_USER"] != "root"
    assert _service("mysql-replica")["environment"]["MARIADB_MASTER_HOST"] == "mysql-target"


def _init_sql(password: str, schemas: str = "app") -> subprocess.CompletedProcess[str]:
    """Source the init script as the image's entrypoint does, collecting the SQL it sends."""
    return subprocess.run(
        [
            "bash",
            "-c",
            'set -e; docker_process_sql() { cat; echo "-- end of batch"; }; source "$0"',
            str(INIT_SCRIPT),
        ],
        env={
            "PATH": os.environ["PATH"],
            "MAINTENANCE_DB_PASSWORD": password,
            "MAINTENANCE_SCHEMAS": schemas,
            "MAINTENANCE_HISTORY_SCHEMA": "_mmc_hist",
            "MMC_GRANTS_FILE": str(GRANTS),
        },
        capture_output=True,
        text=True,
        check=False,
    )


def test_init_script_runs_grants_sql_per_schema_with_the_password_on_stdin() -> None:
    done = _init_sql("0123456789abcdef", "shop, billing")
    assert done.returncode == 0, done.stderr
    sql = "".join(
        line for line in done.stdout.splitlines(True) if not line.startswith("maintenance-account:")
    )
    grants = GRANTS.read_text()
    for schema in ("shop", "billing"):
        assert f"CREATE DATABASE IF NOT EXISTS `{schema}`;" in sql
        assert f"GRANT SELECT ON `{schema}`.* TO 'maintenance'@'%';" in sql
    assert "`app`" not in sql and "`_maintenance`" not in sql
    assert (
        "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `_mmc_hist`.* TO 'maintenance'@'%';" in sql
    )
    assert sql.count("GRANT ") == 2 * grants.count("GRANT ")
    assert sql.rstrip().endswith(
        "ALTER USER 'maintenance'@'%' IDENTIFIED BY '0123456789abcdef';\n-- end of batch"
    )


@pytest.mark.parametrize(
    ("password", "schemas", "message"),
    [
        pytest.param("", "app", "set MAINTENANCE_DB_PASSWORD", id="missing"),
        pytest.param("short", "app", "shorter than 12", id="short"),
        pytest.param("0123456789ab'; DROP USER x; --", "app", "may not hold quotes", id="quote"),
        pytest.param('0123456789ab"c', "app", "may not hold quotes", id="double-quote"),
        pytest.param("0123456789ab\\c", "app", "backslashes", id="backslash"),
        pytest.param("0123456789ab\nc", "app", "line breaks", id="newline"),
        pytest.param(
            "0123456789abcdef", "app`; DROP DATABASE x; --", "must be 1-64 letters", id="schema"
        ),
    ],
)
def test_init_script_refuses_before_sending_anything(
    password: str, schemas: str, message: str
) -> None:
    done = _init_sql(password, schemas)
    assert done.returncode != 0 and message in done.stderr
    assert done.stdout == ""


def test_init_script_makes_a_working_least_privilege_account(tmp_path: Path) -> None:
    """The SQL the init script sends, run by the real client on a private server: the account
    logs in with its password and holds exactly grants.sql's grants, not root's."""
    import MySQLdb

    password = "mmc-compose-0123456789"
    with MySQLInstance(base_dir=tmp_path / "server") as server:
        done = subprocess.run(
            # The image's docker_process_sql logs in as root; the private server's root has a
            # password, which the client reads from MYSQL_PWD (never the command line).
            [
                "bash",
                "-c",
                'docker_process_sql() { mariadb --socket="$SOCK" -uroot; }; source "$0"',
                str(INIT_SCRIPT),
            ],
            env={
                "PATH": os.environ["PATH"],
                "SOCK": server.socket,
                "MYSQL_PWD": server.password,
                "MAINTENANCE_DB_PASSWORD": password,
                "MAINTENANCE_SCHEMAS": "app",
                "MMC_GRANTS_FILE": str(GRANTS),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        conn = MySQLdb.connect(
            host="127.0.0.1", port=server.port, user="maintenance", passwd=password
        )
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT CURRENT_USER()")
            assert cursor.fetchone() == ("maintenance@%",)
            cursor.execute("SHOW GRANTS")
            shown = " ".join(row[0] for row in cursor.fetchall())
        finally:
            conn.close()
    assert "ON `app`.*" in shown and "ON `_maintenance`.*" in shown
    assert (
        "ALL PRIVILEGES" not in shown and "SUPER" not in shown and "WITH GRANT OPTION" not in shown
    )

"""Shared fixtures: a private Airflow home per test worker, the real MariaDB, configs.

Environment is set before anything imports Airflow (it reads its settings once, on import).
Each xdist worker gets its own copy of the migrated SQLite metadata database, so DAG runs in
parallel workers never share it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.support.accounts import Account, create_account, drop_account

REPO = Path(__file__).resolve().parents[1]
MYSQL_URL = os.environ.get("MAINTENANCE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306")
TARGET_CONN_ID = "mmc_test_target"


def _private_airflow_home() -> Path:
    base_home = Path(os.environ.get("AIRFLOW_HOME") or REPO / ".airflow")
    base_db = base_home / "airflow.db"
    if not base_db.exists():
        raise pytest.UsageError(
            f"{base_db} does not exist: run the tests with `make test` (it migrates Airflow's "
            "metadata database once)"
        )
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    home = Path(tempfile.mkdtemp(prefix=f"mmc-airflow-{worker}-"))
    shutil.copy(base_db, home / "airflow.db")
    return home


def _set_airflow_env() -> None:
    for key in [k for k in os.environ if k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))]:
        del os.environ[key]
    home = _private_airflow_home()
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        }
    )
    os.environ.pop("MAINTENANCE_CONFIG", None)


_set_airflow_env()


def mysql_connect(database: str | None = None, url: str = MYSQL_URL) -> Any:
    """Connect to the test server (autocommit) straight through MySQLdb."""
    import MySQLdb

    parts = urlparse(url)
    conn = MySQLdb.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        passwd=parts.password or "",
        db=database or "",
        connect_timeout=5,
        charset="utf8mb4",
    )
    conn.autocommit(True)
    return conn


def run_sql(sql: str, args: Any = None, database: str | None = None) -> list[tuple[Any, ...]]:
    """Run one statement on the test server and return its rows."""
    conn = mysql_connect(database)
    try:
        cur = conn.cursor()
        cur.execute(sql, args)
        return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


@pytest.fixture(scope="session")
def mysql_server() -> str:
    """The real MariaDB the tests use; unreachable is a failure, never a skip."""
    try:
        mysql_connect().close()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"cannot reach the test MySQL/MariaDB server at {MYSQL_URL}: {exc}; start it "
            "(scripts/services.sh) or set MAINTENANCE_TEST_MYSQL_URL"
        )
    return MYSQL_URL


@dataclass
class Target:
    """A private schema (and history schema) on the test server behind an Airflow connection.

    ``conn_id`` connects as the maintenance account that ``include/sql/grants.sql`` creates
    (granted on these two schemas only); :meth:`sql` runs as root, to build fixtures.
    """

    conn_id: str
    schema: str
    history_schema: str
    account: Account | None = None

    def sql(self, statement: str, args: Any = None) -> list[tuple[Any, ...]]:
        return run_sql(statement, args, self.schema)


@pytest.fixture
def target(mysql_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    """A fresh database on the real server, reachable as Airflow connection ``mmc_test_target``."""
    schema = f"mmc_{uuid.uuid4().hex[:12]}"
    history = f"{schema}_hist"
    run_sql(f"CREATE DATABASE `{schema}`")
    account = create_account(run_sql, [schema], history)
    monkeypatch.setenv(f"AIRFLOW_CONN_{TARGET_CONN_ID.upper()}", account.conn_json())
    try:
        yield Target(TARGET_CONN_ID, schema, history, account)
    finally:
        drop_account(run_sql, account)
        run_sql(f"DROP DATABASE IF EXISTS `{schema}`")
        run_sql(f"DROP DATABASE IF EXISTS `{history}`")


def target_database(target: Target, name: str = "primary", **extra: Any) -> dict[str, Any]:
    """A ``databases:`` entry for the target, limited to its private schemas."""
    return {
        "name": name,
        "conn_id": target.conn_id,
        "schemas": [target.schema],
        "history_schema": target.history_schema,
        **extra,
    }


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write a configuration (dict or YAML text) and point ``MAINTENANCE_CONFIG`` at it.

    Dict configs get test-friendly defaults: no retries (``dag.test()`` would sit out the
    retry delay) and no deadlines (they never fire under ``dag.test()``).
    """

    def write(config: dict[str, Any] | str, name: str = "maintenance.yaml") -> Path:
        path = tmp_path / name
        if isinstance(config, dict):
            config = dict(config)
            maintenance = {"retries": 0, **config.get("maintenance", {})}
            notifications = {"enable_deadlines": False, **config.get("notifications", {})}
            config.update(maintenance=maintenance, notifications=notifications)
            path.write_text(yaml.safe_dump(config, sort_keys=False))
        else:
            path.write_text(config)
        monkeypatch.setenv("MAINTENANCE_CONFIG", str(path))
        return path

    return write

"""Connections found as Airflow finds them outside a task: secrets backend, environment, database.

Each test gets a private Airflow home (a copy of the migrated metadata database) and adds its
connection with ``airflow connections add``, as the README says; the commands under test run
as other processes with that home and no ``AIRFLOW_CONN_*`` variable. Inside a task the SDK's
lookup stays (the DAG tests under ``dag.test()`` use it, e.g. tests/dags/test_daily_dag.py).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.connections import ConnectionNotDefined, get_connection, in_task
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.observe.health import HealthSample, score
from maintenance_ops.observe.health_history import HealthHistory
from tests.conftest import Target, run_sql, target_database
from tests.support.accounts import PASSWORD
from tests.support.metadata_home import MetadataHome, metadata_home

CONN_ID = "mmc_meta"
RUNBOOK = Path(__file__).resolve().parents[3] / "include" / "recovery" / "emergency_maintenance.py"
LOOKUP = """
import sys
from maintenance_ops.core.connections import ConnectionNotDefined, get_connection
try:
    conn = get_connection(sys.argv[1])
except ConnectionNotDefined as exc:
    print(exc)
    sys.exit(2)
print(f"{conn.host}:{conn.port} {conn.login} {conn.password == sys.argv[2]}")
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(home: MetadataHome, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        env=home.env(**env),
        timeout=120,
        check=False,
    )
    assert PASSWORD not in done.stdout + done.stderr
    return done


def _lookup(home: MetadataHome, conn_id: str, **env: str) -> subprocess.CompletedProcess[str]:
    return _run(home, ["-c", LOOKUP, conn_id, PASSWORD], **env)


def _status(home: MetadataHome) -> dict:
    api = f"http://127.0.0.1:{_closed_port()}"
    done = _run(home, ["-m", "maintenance_ops", "status", "--format", "json"], AIRFLOW_API_URL=api)
    assert done.returncode == 3, done.stderr[-2000:]  # the API is closed: a source unreachable
    return json.loads(done.stdout)


def test_status_reads_a_database_whose_connection_was_added_with_the_cli(
    target: Target, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    assert target.account is not None
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        sample = HealthSample("main", metrics={"connections_pct": 12})
        HealthHistory(session, target.history_schema).store(
            sample, score([], sample), [], datetime(2026, 11, 2), "r1"
        )
    write_config({"databases": [target_database(target, "main", conn_id=CONN_ID)]})

    without = metadata_home(tmp_path / "without")
    (missing,) = _status(without)["databases"]
    assert f"Airflow connection {CONN_ID!r} is not defined" in missing["error"]
    assert f"airflow connections add {CONN_ID} --conn-type mysql" in missing["error"]

    home = metadata_home(tmp_path / "with")
    home.add_mysql_connection(
        CONN_ID, port=3306, login=target.account.user, password=target.account.password
    )
    (found,) = _status(home)["databases"]
    assert "error" not in found, found
    assert (found["score"], found["status"]) == (100, "healthy")
    assert found["sampled_at"].startswith("2026-11-02")


def test_the_runbook_connects_through_a_connection_in_the_metadata_database(
    target: Target, tmp_path: Path
) -> None:
    """As grants.sql's maintenance account, which may read a server's status (not a replica)."""
    assert target.account is not None
    home = metadata_home(tmp_path)
    home.add_mysql_connection(
        CONN_ID, port=3306, login=target.account.user, password=target.account.password
    )
    done = _run(home, [str(RUNBOOK), "status", "--server", CONN_ID])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"server:        {CONN_ID} (127.0.0.1:3306)" in done.stdout
    assert f"version:       {run_sql('SELECT VERSION()')[0][0]}" in done.stdout

    undefined = _run(home, [str(RUNBOOK), "status", "--server", "mmc_undefined"])
    assert undefined.returncode == 2
    assert "Airflow connection 'mmc_undefined' is not defined" in undefined.stderr
    assert "airflow connections add mmc_undefined" in undefined.stderr


def test_the_secrets_backend_comes_first_then_the_environment_then_the_database(
    tmp_path: Path,
) -> None:
    home = metadata_home(tmp_path)
    home.add_mysql_connection(CONN_ID, port=3306, login="from_db", password=PASSWORD)
    assert _lookup(home, CONN_ID).stdout.split() == ["127.0.0.1:3306", "from_db", "True"]

    env_conn = json.dumps({"conn_type": "mysql", "host": "127.0.0.2", "port": 3307,
                           "login": "from_env", "password": PASSWORD})  # fmt: skip
    environment = {f"AIRFLOW_CONN_{CONN_ID.upper()}": env_conn}
    assert _lookup(home, CONN_ID, **environment).stdout.split() == [
        "127.0.0.2:3307", "from_env", "True"
    ]  # fmt: skip

    stored = tmp_path / "connections.json"
    stored.write_text(json.dumps({CONN_ID: {"conn_type": "mysql", "host": "127.0.0.3",
                                            "port": 3308, "login": "from_backend"}}))  # fmt: skip
    backend = {
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(stored)}),
    }
    assert _lookup(home, CONN_ID, **environment, **backend).stdout.split() == [
        "127.0.0.3:3308", "from_backend", "False"
    ]  # fmt: skip
    undefined = _lookup(home, "mmc_undefined", **backend)
    assert "the secrets backend airflow.secrets.local_filesystem.LocalFilesystemBackend" in (
        undefined.stdout
    )


@pytest.mark.parametrize(
    ("migrated", "says"),
    [
        pytest.param(True, "is not defined: looked in the environment", id="not-added"),
        pytest.param(False, "no such table: connection: run `airflow db migrate`", id="unmigrated"),
    ],
)
def test_an_unknown_id_names_where_it_looked_and_how_to_add_it(
    tmp_path: Path, migrated: bool, says: str
) -> None:
    home = metadata_home(tmp_path, migrated=migrated)
    done = _lookup(home, "mmc_undefined")
    assert done.returncode == 2
    message = done.stdout
    assert "Airflow connection 'mmc_undefined'" in message and says in message
    assert "(AIRFLOW_CONN_MMC_UNDEFINED)" in message
    assert f"the metadata database (sqlite:///{home.database})" in message
    assert "add it with `airflow connections add mmc_undefined --conn-type mysql" in message


def test_a_malformed_variable_is_named_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not in_task()  # pytest is no task: the lookup below is core's chain
    monkeypatch.setenv("AIRFLOW_CONN_MMC_BAD", "mysql://u:secretpw@h:1/x://y://z")
    with pytest.raises(ConnectionNotDefined) as raised:
        get_connection("mmc_bad")
    message = str(raised.value)
    assert "'mmc_bad' was not found (a source could not be read)" in message
    assert "(AIRFLOW_CONN_MMC_BAD), which could not be read (AirflowException;" in message
    assert "secretpw" not in message

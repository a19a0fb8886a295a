"""A private Airflow home with a real metadata database, for connections added by Airflow's CLI.

The test worker's own home (tests/conftest.py) is used by every test of that worker; these
homes belong to one test: a copy of the worker's migrated SQLite database (``migrated=False``:
an empty file, as an unmigrated deployment has). Processes run with it see no ``AIRFLOW_CONN_*``
variable, so a connection they find came from the metadata database (or a secrets backend).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

AIRFLOW_TIMEOUT_S = 120


@dataclass(frozen=True)
class MetadataHome:
    """An ``AIRFLOW_HOME`` and its SQLite metadata database."""

    path: Path

    @property
    def database(self) -> Path:
        return self.path / "airflow.db"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process using this home: no ``AIRFLOW_CONN_*`` at all."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
        env.update(
            AIRFLOW_HOME=str(self.path),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.database}",
        )
        return {**env, **extra}

    def airflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run Airflow's CLI with this home; fail the test when it fails."""
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=AIRFLOW_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, f"airflow {args[:2]} failed: {done.stderr[-2000:]}"
        return done

    def add_mysql_connection(
        self, conn_id: str, *, port: int, login: str, password: str, host: str = "127.0.0.1"
    ) -> None:
        """``airflow connections add`` as the README says (the password as typed, not encoded)."""
        self.airflow(
            "connections", "add", conn_id, "--conn-type", "mysql", "--conn-host", host,
            "--conn-port", str(port), "--conn-login", login, "--conn-password", password,
        )  # fmt: skip


def metadata_home(directory: Path, *, migrated: bool = True) -> MetadataHome:
    """Create a private home under ``directory`` (a migrated copy, or an empty database file)."""
    home = MetadataHome(directory / "airflow-home")
    home.path.mkdir(parents=True)
    if migrated:
        shutil.copy(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db", home.database)
    else:
        home.database.touch()
    return home

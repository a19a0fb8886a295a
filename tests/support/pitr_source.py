"""A binlog-enabled private source with a backup and two markers around a point in time.

Used by the PITR library tests and the restore runbook tests::

    with marked_source(tmp, conn_id="mmc_x", database_name="primary") as src:
        restore_to_point(src.backup, target=..., binlog_source=src.client, stop_at=src.point)

After the backup the source gets row 3 and marker ``before``; ``point`` follows 1.2 s later;
1.2 s after that row 1 is deleted and marker ``after`` is written. Binlog event times have whole
seconds, so the gaps keep ``before`` < ``point`` < ``after`` at that resolution too.

The backup is taken, and the binary logs are read, as the grants.sql maintenance account (what
the drill uses); ``uri`` is an on-call account for the runbooks (they need more than that).
Root builds the fixture.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.recovery.pitr import write_marker
from maintenance_ops.recovery.restore import ClientEndpoint
from tests.support.accounts import Account, create_account

USER = "pitr"
PASSWORD = "S3cret-pitr-pw"


@dataclass
class MarkedSource:
    """The source, its backup (folder and location), and the markers around ``point``."""

    source: MySQLInstance
    location: str
    backup: Path
    manifest: dict[str, Any]
    before_at: dt.datetime
    point: dt.datetime
    after_at: dt.datetime
    account: Account  # the maintenance account on the source (schema ``app``)

    @property
    def client(self) -> ClientEndpoint:
        """The source as a binlog reader: the maintenance account, as in the drill."""
        account = self.account
        return ClientEndpoint(
            host=account.host, port=account.port, user=account.user, password=account.password
        )

    @property
    def uri(self) -> str:
        """The source as the runbooks' on-call account."""
        return f"mysql://{USER}:{PASSWORD}@127.0.0.1:{self.source.port}"

    @property
    def until(self) -> str:
        """``point`` as a runbook's ``--until`` value (UTC)."""
        return self.point.strftime("%Y-%m-%d %H:%M:%S")


@contextlib.contextmanager
def marked_source(base: Path, *, conn_id: str, database_name: str) -> Iterator[MarkedSource]:
    """Start the source under ``base``, back up schema ``app``, write the markers; stop at exit."""
    with MySQLInstance(InstanceSpec(binlog=True), base_dir=base / "srv") as source:
        for host in ("127.0.0.1", "localhost"):
            source.execute(f"CREATE USER '{USER}'@'{host}' IDENTIFIED BY '{PASSWORD}'")
            source.execute(f"GRANT ALL ON *.* TO '{USER}'@'{host}'")
        source.execute("CREATE DATABASE app")
        source.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB")
        source.execute("INSERT INTO app.t VALUES (1, 'x'), (2, 'y')")
        account, location, result = backed_up(source, base, conn_id, database_name)
        conn = source.connect()
        conn.autocommit(True)
        try:
            source.execute("INSERT INTO app.t VALUES (3, 'z')")
            _, before_at = write_marker(conn, "app", "before")
            time.sleep(1.2)
            point = dt.datetime.now(dt.UTC)
            time.sleep(1.2)
            source.execute("DELETE FROM app.t WHERE id = 1")
            _, after_at = write_marker(conn, "app", "after")
        finally:
            conn.close()
        yield MarkedSource(
            source,
            location,
            Path(result.path.path),
            result.manifest,
            before_at,
            point,
            after_at,
            account,
        )


def backed_up(
    source: MySQLInstance, base: Path, conn_id: str, database_name: str
) -> tuple[Account, str, Any]:
    """Back up schema ``app`` of ``source`` into ``base/backups`` as the maintenance account.

    Return the account (created outside the binary log), the location and the BackupResult.
    """
    from maintenance_ops.core.config import BackupSettings, MaintenanceSettings
    from maintenance_ops.core.session import MaintenanceSession
    from maintenance_ops.recovery.backup import take_backup

    account = _unlogged_account(source)
    location = (base / "backups").as_uri()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", account.conn_json())
        with MaintenanceSession(conn_id, MaintenanceSettings()) as session:
            result = take_backup(
                session,
                conn_id=conn_id,
                database_name=database_name,
                schemas=["app"],
                history_schema="_maintenance",
                settings=BackupSettings(enabled=True, location=location),
            )
    return account, location, result


def _unlogged_account(source: MySQLInstance) -> Account:
    """Create the maintenance account outside the binary log.

    The fixture's binary log then holds only the data (tests count on its GTID sequence: a
    target ahead of it after 20 transactions of its own).
    """
    conn = source.connect()
    try:
        conn.autocommit(True)
        cursor = conn.cursor()
        cursor.execute("SET SESSION sql_log_bin = 0")
        return create_account(cursor.execute, ["app"], "_maintenance", port=source.port)
    finally:
        conn.close()

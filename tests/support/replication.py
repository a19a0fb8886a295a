"""A real primary and replica for tests: two private servers joined by GTID replication.

Usage::

    with replication_pair() as pair:
        pair.primary_sql("CREATE DATABASE d")
        pair.sync()                       # wait until the replica applied it
        pair.replica_sql("SHOW DATABASES")

The primary runs with ``InstanceSpec(server_id=1, binlog=True)`` (binary log in ROW format),
the replica with ``InstanceSpec(server_id=2, binlog=True, read_only=True)``; the replica
replicates from the primary over TCP as ``root`` (no password) with
``MASTER_USE_GTID=slave_pos``. Both servers are stopped and removed on exit. MariaDB only:
the machine's server is MariaDB and the setup statements are MariaDB's. Root builds the
fixtures; the code under test connects as :meth:`ReplicationPair.create_account`'s account.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from tests.support.accounts import Account, create_account

PRIMARY_SPEC = InstanceSpec(server_id=1, binlog=True)
REPLICA_SPEC = InstanceSpec(server_id=2, binlog=True, read_only=True)
# MASTER_CONNECT_RETRY=1: a replica whose primary restarts reconnects within a second.
CHANGE_MASTER_SQL = (
    "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%s, MASTER_USER='root', "
    "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1"
)


@dataclass
class ReplicationPair:
    """A running primary and its replica."""

    primary: MySQLInstance
    replica: MySQLInstance

    def connect_primary(self) -> Any:
        """Return an autocommit MySQLdb connection to the primary."""
        return _autocommit(self.primary.connect())

    def connect_replica(self) -> Any:
        """Return an autocommit MySQLdb connection to the replica."""
        return _autocommit(self.replica.connect())

    def primary_sql(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement on the primary and return its rows."""
        return self.primary.execute(sql, args)

    def replica_sql(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement on the replica and return its rows."""
        return self.replica.execute(sql, args)

    def create_account(
        self, schemas: Sequence[str], history_schema: str
    ) -> tuple[Account, Account]:
        """Create the grants.sql account on the primary and wait until it has replicated.

        Return the account as reached on the primary and on the replica (same user, password
        and grants; the replica got them through replication, as a real one would).
        """
        account = create_account(
            self.primary.execute, schemas, history_schema, port=self.primary.port
        )
        self.sync()
        return account, dataclasses.replace(account, port=self.replica.port)

    def replica_status(self) -> dict[str, Any]:
        """Return the replica's ``SHOW SLAVE STATUS`` row as a dict (empty when none)."""
        conn = self.replica.connect()
        try:
            cur = conn.cursor()
            cur.execute("SHOW SLAVE STATUS")
            row = cur.fetchone()
            names = [d[0] for d in cur.description or ()]
            return dict(zip(names, row, strict=True)) if row else {}
        finally:
            conn.close()

    def wait_running(self, timeout_s: float = 30.0) -> None:
        """Wait until both replication threads run; raise with the status errors if not."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.replica_status()
            if status.get("Slave_IO_Running") == "Yes" and status.get("Slave_SQL_Running") == "Yes":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"replication did not start within {timeout_s}s: "
                    f"IO={status.get('Slave_IO_Running')} ({status.get('Last_IO_Error')}), "
                    f"SQL={status.get('Slave_SQL_Running')} ({status.get('Last_SQL_Error')})"
                )
            time.sleep(0.05)

    def sync(self, timeout_s: float = 30.0) -> None:
        """Wait until the replica has applied everything the primary has written."""
        position = self.primary_sql("SELECT @@GLOBAL.gtid_binlog_pos")[0][0]
        done = self.replica_sql("SELECT MASTER_GTID_WAIT(%s, %s)", (position, timeout_s))[0][0]
        if done != 0:
            raise TimeoutError(f"replica did not reach primary position {position!r}")

    def restore(self) -> None:
        """Put the pair back to healthy: replication running, no delay, replica read-only."""
        self.replica_sql("STOP SLAVE")
        self.replica_sql("CHANGE MASTER TO MASTER_DELAY=0")
        self.replica_sql("SET GLOBAL read_only = ON")
        self.replica_sql("START SLAVE")
        self.wait_running()
        self.sync()


@contextlib.contextmanager
def replication_pair() -> Iterator[ReplicationPair]:
    """Start a primary and a replica replicating from it; stop and remove both on exit."""
    with MySQLInstance(PRIMARY_SPEC) as primary, MySQLInstance(REPLICA_SPEC) as replica:
        if primary.flavor != "mariadb":
            raise RuntimeError(f"replication_pair supports MariaDB only, found {primary.flavor}")
        pair = ReplicationPair(primary, replica)
        # From the primary's current position: its start-up (root's own password) stays its own.
        position = primary.execute("SELECT @@GLOBAL.gtid_binlog_pos")[0][0]
        pair.replica_sql("SET GLOBAL gtid_slave_pos = %s", (position,))
        pair.replica_sql(CHANGE_MASTER_SQL, (primary.port, getattr(primary, "password", "")))
        pair.replica_sql("START SLAVE")
        pair.wait_running()
        yield pair


def _autocommit(conn: Any) -> Any:
    conn.autocommit(True)
    return conn

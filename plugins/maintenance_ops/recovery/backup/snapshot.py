"""Count rows in a consistent snapshot and decide whether the counts are exact.

Row counts are *exact* only when provably equal to the backup's snapshot. The counts are read
in a ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` opened just before the tool starts; they
are marked exact when no write can have committed between that snapshot and the tool's:

* with a binary log on MariaDB, when the counting snapshot's ``Binlog_snapshot_file/position``
  equals the coordinates the tool recorded for its own snapshot;
* otherwise, when InnoDB's ``Trx id counter`` did not move from just before the counting
  snapshot until the tool finished and no other transaction had uncommitted changes when the
  counting snapshot opened (a transaction id is assigned at a transaction's first write).

Either rule also needs every counted table to be InnoDB (other engines ignore snapshots).
A busy server without a binary log therefore gets approximate counts; that is stated in the
manifest (``row_counts_exact``), never guessed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from maintenance_ops.core.sqlfiles import load_sql
from maintenance_ops.recovery.backup.coordinates import BinlogCoordinates

if TYPE_CHECKING:
    from maintenance_ops.core.session import MaintenanceSession

log = logging.getLogger(__name__)


_TRX_COUNTER = re.compile(r"Trx id counter\s+(\d+)")


@dataclass
class SnapshotState:
    """What the counting snapshot saw: its counts and the inputs of the exactness rule."""

    row_counts: dict[str, int] = field(default_factory=dict)
    binlog: BinlogCoordinates = BinlogCoordinates()
    trx_counter_before: int | None = None
    others_writing: bool = False
    all_innodb: bool = True


def count_rows(session: MaintenanceSession, schema: str, table: str) -> int:
    """Return ``COUNT(*)`` of a table (names from the catalog, quoted by the one guard)."""
    # The execution layer keeps a '%' inside the quoted names through the driver's step.
    sql = load_sql("backup_count_rows", schema=schema, table=table)
    return int(session.query_one(sql)["row_count"])


def trx_id_counter(session: MaintenanceSession) -> int | None:
    """Return InnoDB's ``Trx id counter`` (None without PROCESS privilege or InnoDB)."""
    try:
        rows = session.query("SHOW ENGINE INNODB STATUS")
    except Exception as exc:  # noqa: BLE001 - only decides exactness; approximate is safe
        log.info("Cannot read InnoDB status (%s): row counts will be marked approximate", exc)
        return None
    match = _TRX_COUNTER.search(str(rows[0].get("Status", ""))) if rows else None
    return int(match.group(1)) if match else None


def _others_writing(session: MaintenanceSession) -> bool:
    """Return whether another transaction holds uncommitted changes (True when unknown)."""
    try:
        rows = session.query(load_sql("backup_open_writers"))
    except Exception as exc:  # noqa: BLE001 - only decides exactness; approximate is safe
        log.info("Cannot read INNODB_TRX (%s): row counts will be marked approximate", exc)
        return True
    return bool(rows and rows[0]["writers"])


def _snapshot_binlog(session: MaintenanceSession) -> BinlogCoordinates:
    """Return the binlog coordinates of the current consistent snapshot (MariaDB only)."""
    rows = session.query("SHOW STATUS LIKE 'Binlog_snapshot_%%'")
    values = {row["Variable_name"].lower(): row["Value"] for row in rows}
    file = values.get("binlog_snapshot_file") or None
    position = values.get("binlog_snapshot_position")
    return BinlogCoordinates(file, int(position) if file and position else None)


@contextlib.contextmanager
def counting_snapshot(session: MaintenanceSession) -> Iterator[SnapshotState]:
    """Open a consistent snapshot, yield its state; counts are read in it by the caller."""
    snap = SnapshotState(trx_counter_before=trx_id_counter(session))
    session.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    try:
        snap.binlog = _snapshot_binlog(session)
        snap.others_writing = _others_writing(session)
        yield snap
    finally:
        session.execute("COMMIT")


def counts_exact(
    snap: SnapshotState, tool_binlog: BinlogCoordinates, trx_counter_after: int | None
) -> bool:
    """Decide whether the snapshot's counts equal the tool's snapshot (see module docstring)."""
    if not snap.all_innodb:
        return False
    if snap.binlog.file and tool_binlog.file:
        return (snap.binlog.file, snap.binlog.position) == (tool_binlog.file, tool_binlog.position)
    return (
        snap.trx_counter_before is not None
        and trx_counter_after == snap.trx_counter_before
        and not snap.others_writing
    )


def _binlog_enabled(session: MaintenanceSession) -> bool:
    return str(session.query_one("SELECT @@log_bin AS on_")["on_"]) in ("1", "ON")


def _count_tables(
    session: MaintenanceSession, snap: SnapshotState, tables: list[tuple[str, str, str | None]]
) -> None:
    started = time.monotonic()
    for schema, table, engine in tables:
        snap.all_innodb &= (engine or "").lower() == "innodb"
        snap.row_counts[f"{schema}.{table}"] = count_rows(session, schema, table)
    log.info("Counted rows of %s tables in %.1f s", len(tables), time.monotonic() - started)

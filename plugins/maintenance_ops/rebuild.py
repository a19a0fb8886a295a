"""Online table rebuilds that cannot cause a metadata-lock outage, and planning them in time.

An ``ALTER TABLE ... FORCE`` needs an exclusive metadata lock (MDL) briefly at its start and
end. If a long transaction has read the table, the ALTER waits for it, and every application
query on the table queues behind the waiting ALTER: a short ``lock_wait_timeout`` alone still
blocks the application for the whole timeout. So before every DDL a guard checks that no
transaction older than ``max_trx_age_s`` is open and nobody waits for a metadata lock; if the
guard fails, the table is retried later in the run instead of queueing the DDL.

:func:`plan_rebuilds` (pure) orders candidates by reclaimable bytes per predicted minute and
keeps what fits in the remaining time; :func:`rebuild_many` runs the plan with retries.
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from maintenance_ops.identifiers import qualified
from maintenance_ops.sqlfiles import load_sql

log = logging.getLogger(__name__)

Status = Literal["rebuilt", "skipped", "retry_later", "dry_run", "failed", "stopped"]
Algorithm = Literal["INPLACE", "COPY"]

ER_LOCK_WAIT_TIMEOUT = 1205
ER_ALTER_OPERATION_NOT_SUPPORTED = 1845
ER_ALTER_OPERATION_NOT_SUPPORTED_REASON = 1846
# Index types InnoDB cannot rebuild with LOCK=NONE (MariaDB 10.11 and MySQL 8 both refuse:
# "Fulltext index creation requires a lock", "Do not support online operation on table with
# GIS index").
OFFLINE_INDEX_TYPES = frozenset({"FULLTEXT", "SPATIAL"})
# A rebuild writes a full copy of the table before dropping the old one; keep this much on top.
DISK_MARGIN = 1.2
DEFAULT_BYTES_PER_S = 20 * 1024 * 1024


@dataclass(frozen=True)
class RebuildResult:
    """What happened to one table."""

    schema: str
    table: str
    status: Status
    reason: str = ""
    before_bytes: int | None = None
    after_bytes: int | None = None
    reclaimed_bytes: int | None = None
    duration_s: float = 0.0
    algorithm: str | None = None
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable form."""
        return asdict(self)


@dataclass(frozen=True)
class Candidate:
    """A table to rebuild, as planning sees it."""

    schema: str
    table: str
    size_bytes: int
    reclaimable_bytes: int

    @property
    def name(self) -> str:
        """Return ``schema.table``, as the audit log stores it."""
        return f"{self.schema}.{self.table}"


@dataclass(frozen=True)
class PlannedRebuild:
    """A candidate with its predicted duration and why it is (not) in the plan."""

    candidate: Candidate
    predicted_s: float
    basis: str
    bytes_per_minute: float
    fits: bool = True
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable form."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Planning (pure)
# --------------------------------------------------------------------------------------------


def predict_duration(
    candidate: Candidate, past_durations: Sequence[float], bytes_per_s: float
) -> tuple[float, str]:
    """Return a rebuild's predicted seconds and its basis (own history, else size)."""
    if past_durations:
        median = float(statistics.median(past_durations))
        return median, f"median of {len(past_durations)} past rebuilds"
    return candidate.size_bytes / bytes_per_s, f"size at {bytes_per_s / 1024**2:.0f} MiB/s"


def plan_rebuilds(
    candidates: Sequence[Candidate],
    history_durations: Mapping[str, Sequence[float]],
    remaining_s: float | None,
    *,
    bytes_per_s: float = DEFAULT_BYTES_PER_S,
    safety: float = 1.5,
) -> list[PlannedRebuild]:
    """Order candidates by reclaimable bytes per predicted minute; mark what fits in time.

    :param candidates: tables to rebuild.
    :param history_durations: past rebuild durations (s) per ``schema.table``.
    :param remaining_s: seconds left in the window and budget (None: unlimited).
    :param bytes_per_s: rebuild rate assumed for tables with no past rebuild.
    :param safety: a table is started only if ``predicted x safety`` fits in what is left.
    """
    planned = []
    for cand in candidates:
        seconds, basis = predict_duration(cand, history_durations.get(cand.name, ()), bytes_per_s)
        seconds = max(seconds, 0.1)
        planned.append(PlannedRebuild(cand, seconds, basis, cand.reclaimable_bytes / seconds * 60))
    planned.sort(key=lambda p: (-p.bytes_per_minute, p.candidate.name))
    left = remaining_s
    out = []
    for item in planned:
        need = item.predicted_s * safety
        if left is not None and need > left:
            reason = f"needs ~{need:.0f}s ({item.basis}), {max(left, 0):.0f}s left"
            out.append(PlannedRebuild(**{**item.__dict__, "fits": False, "reason": reason}))
            continue
        if left is not None:
            left -= item.predicted_s
        out.append(item)
    return out


def history_durations(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Group ``rebuild_history.sql`` rows into durations per ``schema.table``."""
    out: dict[str, list[float]] = {}
    for row in rows:
        if row.get("duration_s") is not None and row.get("object_name"):
            out.setdefault(row["object_name"], []).append(float(row["duration_s"]))
    return out


def due_by_age(
    tables: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    max_days: float,
    now: datetime,
) -> list[str]:
    """Return the ``schema.table`` names not rebuilt within ``max_days`` before ``now``.

    ``rows`` are ``rebuild_history.sql`` rows; a table never rebuilt is due. ``now`` is the
    run's logical date, never the wall clock, so a re-run decides the same.
    """
    last: dict[str, datetime] = {}
    for row in rows:
        name, ended = row.get("object_name"), row.get("ended_at")
        if name and ended and (name not in last or ended > last[name]):
            last[name] = ended
    cutoff = now - timedelta(days=max_days)
    return [t for t in tables if t not in last or last[t] < cutoff]


def read_history(
    session: Any, history_schema: str, database_name: str, limit: int = 1000
) -> list[dict[str, Any]]:
    """Read past successful rebuilds (newest first) of a database from the audit log."""
    sql = load_sql("rebuild_history", history_schema=history_schema)
    return session.query(sql, (database_name, limit))


# --------------------------------------------------------------------------------------------
# Guards (I/O)
# --------------------------------------------------------------------------------------------


def mdl_guard(session: Any, schema: str, table: str, max_trx_age_s: float) -> str:
    """Return why a DDL must not start now (empty: safe): long transactions, MDL waiters.

    Any old transaction on the server counts (without ``METADATA_LOCK_INFO`` nothing tells
    which tables it has read); waiters count when in the table's schema or naming the table.
    """
    old = session.query(load_sql("rebuild_long_transactions"), (int(max_trx_age_s),))
    if old:
        first = old[0]
        return (
            f"{len(old)} transaction(s) open longer than {max_trx_age_s:g}s (oldest: thread "
            f"{first['thread_id']}, {first['age_s']}s, user {first['user_name']}): "
            "a DDL would queue queries behind it"
        )
    pattern = "%" + table.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    waiters = session.query(load_sql("rebuild_mdl_waiters"), (schema, pattern))
    if waiters:
        return f"{len(waiters)} session(s) waiting for a metadata lock"
    return ""


def table_size(session: Any, schema: str, table: str) -> int | None:
    """Return a file-per-table tablespace's size in bytes (None if not file-per-table)."""
    sql = load_sql("rebuild_table_size", **session.dialect.catalog_names)
    rows = session.query(sql, (f"{schema}/{table}",))
    return int(rows[0]["file_size"]) if rows else None


def local_disk_free(session: Any) -> int | None:
    """Return free bytes of the datadir's filesystem when the server runs on this machine."""
    endpoint = getattr(session, "endpoint", None)
    host = getattr(endpoint, "host", "localhost")
    if host not in ("localhost", "127.0.0.1", "::1") and not getattr(endpoint, "socket", None):
        return None
    datadir = session.query_one("SELECT @@datadir AS datadir")["datadir"]
    if not datadir or not os.path.isdir(datadir):
        return None
    return shutil.disk_usage(datadir).free


def table_traits(session: Any, schema: str, table: str) -> tuple[str | None, set[str]]:
    """Return a table's engine and the index types that rule out an online rebuild."""
    rows = session.query(
        "SELECT t.ENGINE AS engine, s.INDEX_TYPE AS index_type "
        "FROM information_schema.TABLES AS t LEFT JOIN information_schema.STATISTICS AS s "
        "ON s.TABLE_SCHEMA = t.TABLE_SCHEMA AND s.TABLE_NAME = t.TABLE_NAME "
        "WHERE t.TABLE_SCHEMA = %s AND t.TABLE_NAME = %s",
        (schema, table),
    )
    if not rows:
        return None, set()
    kinds = {str(r["index_type"]).upper() for r in rows if r["index_type"]}
    return rows[0]["engine"], kinds & OFFLINE_INDEX_TYPES


def offline_reason(engine: str | None, blocking: set[str]) -> str:
    """Return why a table cannot be rebuilt online (empty: it can)."""
    if engine is None:
        return "table not found"
    if engine.lower() != "innodb":
        return f"engine {engine}: only InnoDB rebuilds online"
    if blocking:
        return f"{'/'.join(sorted(blocking))} index: InnoDB cannot rebuild it with LOCK=NONE"
    return ""


def rebuild_sql(schema: str, table: str, *, online: bool) -> str:
    """Return the rebuild DDL: online (INPLACE, LOCK=NONE) or the locking copy."""
    how = "ALGORITHM=INPLACE, LOCK=NONE" if online else "ALGORITHM=COPY, LOCK=SHARED"
    return f"ALTER TABLE {qualified(schema, table)} FORCE, {how}"


# --------------------------------------------------------------------------------------------
# One table
# --------------------------------------------------------------------------------------------


@dataclass
class RebuildOptions:
    """How :func:`rebuild_table` behaves (see its parameters)."""

    lock_wait_timeout_s: int = 1
    max_trx_age_s: float = 5.0
    dry_run: bool = False
    allow_locking: bool = False
    disk_free_bytes: int | None = None


def rebuild_table(
    session: Any,
    schema: str,
    table: str,
    *,
    audit: Any,
    database_name: str,
    throttle: Any = None,
    lock_wait_timeout_s: int = 1,
    max_trx_age_s: float = 5.0,
    dry_run: bool = False,
    allow_locking: bool = False,
    disk_free_bytes: int | None = None,
) -> RebuildResult:
    """Rebuild one table online after the throttle, offline, disk and metadata-lock checks.

    :param session: the maintenance session on the target.
    :param audit: the :class:`~maintenance_ops.audit.AuditLog`; each DDL is one action.
    :param database_name: the database's name in configuration (audit rows).
    :param throttle: checked before the table; *stop* returns status ``stopped``.
    :param lock_wait_timeout_s: the DDL session's metadata-lock wait (short, whole seconds).
    :param max_trx_age_s: any transaction open longer than this makes the table ``retry_later``.
    :param dry_run: check everything, run nothing.
    :param allow_locking: rebuild tables that cannot go online with a locking copy.
    :param disk_free_bytes: free space for the datadir (None: measured when local).
    """
    opts = RebuildOptions(
        lock_wait_timeout_s, max_trx_age_s, dry_run, allow_locking, disk_free_bytes
    )
    started = time.monotonic()
    result = _rebuild(session, schema, table, audit, database_name, throttle, opts)
    duration = round(time.monotonic() - started, 3)
    result = RebuildResult(**{**asdict(result), "duration_s": duration})
    log.info(
        "rebuild %s.%s: %s %s before=%s after=%s reclaimed=%s %.2fs dry_run=%s",
        schema,
        table,
        result.status,
        result.reason,
        result.before_bytes,
        result.after_bytes,
        result.reclaimed_bytes,
        duration,
        dry_run,
    )
    return result


def _precheck(
    session: Any, schema: str, table: str, throttle: Any, opts: RebuildOptions
) -> tuple[RebuildResult | None, bool, int | None]:
    """Run the checks before the DDL; return (a final result or None, online?, size)."""

    def done(status: Status, reason: str, size: int | None = None) -> RebuildResult:
        return RebuildResult(schema, table, status, reason, before_bytes=size)

    if throttle is not None:
        decision = throttle.checkpoint()
        if decision.action == "stop":
            return done("stopped", f"throttle: {decision.reason}"), True, None
    engine, blocking = table_traits(session, schema, table)
    offline = offline_reason(engine, blocking)
    if offline and (engine is None or not opts.allow_locking):
        return done("skipped", offline), False, None
    size = table_size(session, schema, table)
    free = opts.disk_free_bytes if opts.disk_free_bytes is not None else local_disk_free(session)
    if size is not None and free is not None and free < size * DISK_MARGIN:
        return (
            done("skipped", f"disk: {free:,} B free < {DISK_MARGIN} x {size:,} B", size),
            False,
            size,
        )
    guard = mdl_guard(session, schema, table, opts.max_trx_age_s)
    if guard:
        return done("retry_later", guard, size), not offline, size
    return None, not offline, size


def _rebuild(
    session: Any,
    schema: str,
    table: str,
    audit: Any,
    database_name: str,
    throttle: Any,
    opts: RebuildOptions,
) -> RebuildResult:
    early, online, before = _precheck(session, schema, table, throttle, opts)
    if early is not None:
        return early
    sql = rebuild_sql(schema, table, online=online)
    algorithm = "INPLACE" if online else "COPY"
    with audit.action(database_name, sql, f"{schema}.{table}", dry_run=opts.dry_run) as entry:
        if opts.dry_run:
            entry.details = {"before_bytes": before, "algorithm": algorithm}
            return RebuildResult(
                schema, table, "dry_run", "would run: " + sql, before, algorithm=algorithm
            )
        status, reason = _run_ddl(session, sql, opts.lock_wait_timeout_s)
        after = table_size(session, schema, table) if status == "rebuilt" else None
        reclaimed = before - after if before is not None and after is not None else None
        entry.outcome = "ok" if status == "rebuilt" else status
        entry.details = {
            "before_bytes": before,
            "after_bytes": after,
            "reclaimed_bytes": reclaimed,
            "algorithm": algorithm,
            "reason": reason,
        }
    return RebuildResult(
        schema, table, status, reason, before, after, reclaimed, algorithm=algorithm
    )


def _run_ddl(session: Any, sql: str, lock_wait_timeout_s: int) -> tuple[Status, str]:
    """Run the DDL with a short metadata-lock wait; map lock and online errors to statuses."""
    import MySQLdb

    previous = session.query_one("SELECT @@SESSION.lock_wait_timeout AS v")["v"]
    session.execute("SET SESSION lock_wait_timeout = %s", (int(lock_wait_timeout_s),))
    try:
        session.execute(sql)
        return "rebuilt", ""
    except (MySQLdb.OperationalError, MySQLdb.NotSupportedError) as exc:
        code = exc.args[0] if exc.args else None
        if code == ER_LOCK_WAIT_TIMEOUT:
            return "retry_later", f"metadata lock not granted within {lock_wait_timeout_s}s"
        if code in (ER_ALTER_OPERATION_NOT_SUPPORTED, ER_ALTER_OPERATION_NOT_SUPPORTED_REASON):
            return "skipped", f"server refused the online rebuild: {exc.args[1]}"
        raise
    finally:
        session.execute("SET SESSION lock_wait_timeout = %s", (int(previous),))


# --------------------------------------------------------------------------------------------
# Many tables, with retries
# --------------------------------------------------------------------------------------------


@dataclass
class RetryPolicy:
    """How ``retry_later`` tables are retried within the same run."""

    max_attempts: int = 5
    wait_s: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)


def rebuild_many(
    session: Any,
    plan: Sequence[PlannedRebuild],
    *,
    audit: Any,
    database_name: str,
    throttle: Any = None,
    retry: RetryPolicy | None = None,
    **options: Any,
) -> list[RebuildResult]:
    """Rebuild the planned tables that fit, retrying ``retry_later`` ones after the others.

    Waits between retry rounds are capped by the throttle's remaining budget; a table whose
    predicted duration no longer fits what is left is not started.
    """
    retry = retry or RetryPolicy()
    results: dict[str, RebuildResult] = {
        p.candidate.name: RebuildResult(
            p.candidate.schema, p.candidate.table, "skipped", p.reason, attempts=0
        )
        for p in plan
        if not p.fits
    }
    pending = [p for p in plan if p.fits]
    for attempt in range(1, retry.max_attempts + 1):
        pending = _round(
            session, pending, results, attempt, audit, database_name, throttle, options
        )
        if not pending or _stopped(results):
            break
        if attempt < retry.max_attempts and not _wait_for_retry(retry, throttle, pending):
            break
    return list(results.values())


def _round(
    session: Any,
    pending: list[PlannedRebuild],
    results: dict[str, RebuildResult],
    attempt: int,
    audit: Any,
    database_name: str,
    throttle: Any,
    options: dict[str, Any],
) -> list[PlannedRebuild]:
    """Try each pending table once; return those to retry."""
    again = []
    for item in pending:
        cand = item.candidate
        remaining = throttle.remaining_s() if throttle is not None else None
        if remaining is not None and item.predicted_s > remaining:
            reason = f"needs ~{item.predicted_s:.0f}s, {remaining:.0f}s left"
            results[cand.name] = RebuildResult(
                cand.schema, cand.table, "skipped", reason, attempts=attempt - 1
            )
            continue
        result = rebuild_table(
            session,
            cand.schema,
            cand.table,
            audit=audit,
            database_name=database_name,
            throttle=throttle,
            **options,
        )
        results[cand.name] = RebuildResult(**{**asdict(result), "attempts": attempt})
        if result.status == "stopped":
            break
        if result.status == "retry_later":
            again.append(item)
    return again


def _stopped(results: Mapping[str, RebuildResult]) -> bool:
    return any(r.status == "stopped" for r in results.values())


def _wait_for_retry(retry: RetryPolicy, throttle: Any, pending: Sequence[PlannedRebuild]) -> bool:
    """Sleep before the next retry round; return False when the budget cannot cover it."""
    remaining = throttle.remaining_s() if throttle is not None else None
    shortest = min(p.predicted_s for p in pending)
    if remaining is not None and remaining < retry.wait_s + shortest:
        log.info("rebuild: no time left to retry %s table(s)", len(pending))
        return False
    log.info("rebuild: retrying %s table(s) in %.1fs", len(pending), retry.wait_s)
    retry.sleep(retry.wait_s)
    return True

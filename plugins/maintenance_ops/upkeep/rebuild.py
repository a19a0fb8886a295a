"""Online table rebuilds that cannot cause a metadata-lock outage, and planning them in time.

An ``ALTER TABLE ... FORCE`` needs an exclusive metadata lock (MDL) briefly at its start and
end. If a transaction has read the table, the ALTER waits for it, and every application query
on the table queues behind the waiting ALTER: a short ``lock_wait_timeout`` alone still blocks
the application for the whole timeout. So:

- On MariaDB (10.3+) the DDL runs with ``NOWAIT``: when any session holds the table's MDL at the
  start *or* at the final lock upgrade (a transaction that arrived mid-rebuild), the ALTER
  fails at once with error 1205 and nothing queues behind it. A refusal that cost almost no
  work is tried again after short pauses (InnoDB's own threads hold a table's MDL for
  moments); otherwise the table is ``retry_later``.
- A DDL that may wait (MySQL, which has no NOWAIT for DDL; and on MariaDB the retry of a table
  whose NOWAIT was refused at the final upgrade, ``WAIT n``: on a table with steady writes
  InnoDB's purge holds its MDL for moments so often that NOWAIT is refused every time) is
  stopped by :class:`MetadataLockWaitLimit` (KILL QUERY from a second connection) once it has
  waited ``MDL_WAIT_LIMIT_S`` for a metadata lock; its ``lock_wait_timeout`` (at least 1 s,
  MySQL's minimum) bounds it should the watcher fail. Residual risk: queries on the table queue
  behind such a waiting DDL for about ``MDL_WAIT_LIMIT_S`` plus one poll.
- Before every DDL a guard looks at the sessions holding this table's MDL where the server can
  say (:meth:`~maintenance_ops.core.dialect.Dialect.metadata_lock_catalogs`: MariaDB's
  METADATA_LOCK_INFO plugin, performance_schema.metadata_locks): one idle in a transaction, or
  busy for ``max_trx_age_s`` or more, defers the table. Where no catalog can say, any
  transaction older than ``max_trx_age_s`` on the server does. Sessions waiting for an MDL on
  the table defer it too. A deferred table is retried later in the run, with back-off.

:func:`plan_rebuilds` (pure) orders candidates by reclaimable bytes per predicted minute and
keeps what fits in the remaining time; :func:`rebuild_many` runs the plan with retries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from maintenance_ops.core import sqlexec
from maintenance_ops.core.dialect import LockCatalog
from maintenance_ops.core.identifiers import qualified
from maintenance_ops.core.sqlfiles import load_sql

log = logging.getLogger(__name__)

Status = Literal["rebuilt", "skipped", "retry_later", "dry_run", "failed", "stopped"]
Algorithm = Literal["INPLACE", "COPY"]

ER_LOCK_WAIT_TIMEOUT = 1205
ER_QUERY_INTERRUPTED = 1317
ER_ALTER_OPERATION_NOT_SUPPORTED = 1845
ER_ALTER_OPERATION_NOT_SUPPORTED_REASON = 1846
# Index types InnoDB cannot rebuild with LOCK=NONE (MariaDB 10.11 and MySQL 8 both refuse:
# "Fulltext index creation requires a lock", "Do not support online operation on table with
# GIS index").
OFFLINE_INDEX_TYPES = frozenset({"FULLTEXT", "SPATIAL"})
# A rebuild writes a full copy of the table before dropping the old one; keep this much on top.
DISK_MARGIN = 1.2
DEFAULT_BYTES_PER_S = 20 * 1024 * 1024
# A NOWAIT refusal that came this fast lost no work worth speaking of (the lock was refused at
# the start, or the table is tiny): it is tried again after these pauses, because InnoDB's own
# threads (statistics, purge) hold a table's metadata lock for moments. A slower refusal (the
# final lock upgrade of a real rebuild) goes back to the run's retry rounds.
QUICK_REFUSAL_S = 0.5
QUICK_RETRY_PAUSES_S = (0.2, 0.5, 1.0, 2.0)
# A DDL without NOWAIT is stopped (KILL QUERY from a second connection) once it has waited this
# long for a metadata lock: queries on the table queue behind it for about this long at most.
MDL_WAIT_LIMIT_S = 0.1
MDL_WAIT_POLL_S = 0.02


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
    # The next attempt may wait (briefly, see MDL_WAIT_LIMIT_S): NOWAIT was refused after real
    # work (the final lock upgrade), as InnoDB's purge on a busy table would do every time.
    wait_next: bool = False

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


@dataclass(frozen=True)
class LockHolder:
    """A session holding (or awaiting) a metadata lock on the table, as a guard reason names it."""

    thread_id: int
    user: str
    command: str
    age_s: int
    waiting: bool = False

    @property
    def idle(self) -> bool:
        """An idle session that holds a table's MDL is inside an open transaction."""
        return self.command == "Sleep"

    def blocks(self, max_age_s: float) -> bool:
        """Whether a DDL now would wait for this session (statements of ordinary traffic do not)."""
        return self.waiting or self.idle or self.age_s >= max_age_s

    def describe(self) -> str:
        """Name the session without its statement (which may carry the application's data)."""
        doing = "idle in a transaction" if self.idle else (self.command or "busy").lower()
        state = ", waiting for the lock" if self.waiting else ""
        return f"connection {self.thread_id} (user {self.user}, {doing} for {self.age_s}s{state})"


def blocking_holders(rows: Sequence[Mapping[str, Any]], max_age_s: float) -> list[LockHolder]:
    """Return the holders a DDL would wait for, one per session, oldest first (pure).

    :param rows: rows of a :class:`~maintenance_ops.core.dialect.LockCatalog`'s holders file.
    :param max_age_s: a session running one statement (or transaction) this long counts; an
        idle one holding the lock counts at any age (it is inside an open transaction).
    """
    sessions: dict[int, LockHolder] = {}
    for row in rows:
        holder = LockHolder(
            int(row["thread_id"]),
            str(row.get("user_name") or "?"),
            str(row.get("command") or ""),
            int(row.get("age_s") or 0),
            str(row.get("lock_status") or "GRANTED").upper() == "PENDING",
        )
        seen = sessions.get(holder.thread_id)
        if seen is not None:
            holder = LockHolder(
                holder.thread_id,
                holder.user,
                holder.command,
                max(holder.age_s, seen.age_s),
                holder.waiting or seen.waiting,
            )
        sessions[holder.thread_id] = holder
    found = [h for h in sessions.values() if h.blocks(max_age_s)]
    return sorted(found, key=lambda h: (-h.age_s, h.thread_id))


def lock_catalog(session: Any) -> LockCatalog | None:
    """Return the first catalog that can name the table's metadata-lock holders, or None."""
    import MySQLdb

    for catalog in session.dialect.metadata_lock_catalogs():
        try:
            if int(session.query_one(catalog.available_sql)["available"]):
                return catalog
        except (MySQLdb.OperationalError, MySQLdb.ProgrammingError) as exc:
            log.info("rebuild guard: cannot read %s (%s)", catalog.name, exc.args[-1])
    return None


def mdl_guard(session: Any, schema: str, table: str, max_trx_age_s: float) -> str:
    """Return why a DDL must not start now (empty: safe): the table's MDL holders, MDL waiters.

    Holders of *this* table come from the first available lock catalog; without one, any
    transaction open longer than ``max_trx_age_s`` on the server counts (nothing tells which
    tables it has read). Waiters count when in the table's schema or naming the table.
    """
    catalog = lock_catalog(session)
    if catalog is not None:
        rows = session.query(load_sql(catalog.holders_file), (schema, table))
        holders = blocking_holders(rows, max_trx_age_s)
        if holders:
            named = "; ".join(h.describe() for h in holders[:3])
            return (
                f"{len(holders)} session(s) hold or await a metadata lock on the table "
                f"({catalog.name}): {named}: a DDL would queue queries behind them"
            )
    else:
        old = session.query(load_sql("rebuild_long_transactions"), (int(max_trx_age_s),))
        if old:
            first = old[0]
            return (
                f"{len(old)} transaction(s) open longer than {max_trx_age_s:g}s (oldest: "
                f"connection {first['thread_id']}, {first['age_s']}s, user "
                f"{first['user_name']}): a DDL would queue queries behind it"
            )
    pattern = "%" + "%".join(_like_escape(name) for name in (schema, table)) + "%"
    waiters = session.query(load_sql("rebuild_mdl_waiters"), (schema, pattern))
    if waiters:
        return f"{len(waiters)} session(s) waiting for a metadata lock"
    return ""


def _like_escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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


def rebuild_sql(schema: str, table: str, *, online: bool, wait: str = "") -> str:
    """Return the rebuild DDL: online (INPLACE, LOCK=NONE) or the locking copy.

    :param wait: MariaDB's metadata-lock wait clause (``NOWAIT`` or ``WAIT n``), see
        :meth:`~maintenance_ops.core.dialect.Dialect.ddl_lock_wait`.
    """
    how = "ALGORITHM=INPLACE, LOCK=NONE" if online else "ALGORITHM=COPY, LOCK=SHARED"
    clause = f" {wait}" if wait else ""
    return f"ALTER TABLE {qualified(schema, table)}{clause} FORCE, {how}"


# --------------------------------------------------------------------------------------------
# One table
# --------------------------------------------------------------------------------------------


@dataclass
class RebuildOptions:
    """How :func:`rebuild_table` behaves (see its parameters)."""

    lock_wait_timeout_s: int = 1
    max_trx_age_s: float = 2.0
    dry_run: bool = False
    allow_locking: bool = False
    disk_free_bytes: int | None = None
    nowait: bool = True


def rebuild_table(
    session: Any,
    schema: str,
    table: str,
    *,
    audit: Any,
    database_name: str,
    throttle: Any = None,
    lock_wait_timeout_s: int = 1,
    max_trx_age_s: float = 2.0,
    dry_run: bool = False,
    allow_locking: bool = False,
    disk_free_bytes: int | None = None,
    nowait: bool = True,
) -> RebuildResult:
    """Rebuild one table online after the throttle, offline, disk and metadata-lock checks.

    :param session: the maintenance session on the target.
    :param audit: the :class:`~maintenance_ops.core.audit.AuditLog`; each DDL is one action.
    :param database_name: the database's name in configuration (audit rows).
    :param throttle: checked before the table; *stop* returns status ``stopped``.
    :param lock_wait_timeout_s: the longest metadata-lock wait of a DDL that may wait (whole
        seconds, at least 1); it is stopped after ``MDL_WAIT_LIMIT_S`` of waiting anyway.
    :param max_trx_age_s: a session holding the table's metadata lock in a statement or
        transaction this old (idle in a transaction: any age) makes the table ``retry_later``;
        where no lock catalog can say, any transaction this old on the server does.
    :param dry_run: check everything, run nothing.
    :param allow_locking: rebuild tables that cannot go online with a locking copy.
    :param disk_free_bytes: free space for the datadir (None: measured when local).
    :param nowait: never wait for a metadata lock where the server can say so (MariaDB's
        NOWAIT); else wait at most ``MDL_WAIT_LIMIT_S``.
    """
    opts = RebuildOptions(
        lock_wait_timeout_s, max_trx_age_s, dry_run, allow_locking, disk_free_bytes, nowait
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
    wait = session.dialect.ddl_lock_wait(opts.lock_wait_timeout_s, nowait=opts.nowait)
    sql = rebuild_sql(schema, table, online=online, wait=wait[0])
    algorithm = "INPLACE" if online else "COPY"
    with audit.action(database_name, sql, f"{schema}.{table}", dry_run=opts.dry_run) as entry:
        if opts.dry_run:
            entry.details = {"before_bytes": before, "algorithm": algorithm}
            return RebuildResult(
                schema, table, "dry_run", "would run: " + sql, before, algorithm=algorithm
            )
        status, reason, wait_next = _run_ddl(session, sql, wait)
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
        schema,
        table,
        status,
        reason,
        before,
        after,
        reclaimed,
        algorithm=algorithm,
        wait_next=wait_next,
    )


def _run_ddl(
    session: Any,
    sql: str,
    wait: tuple[str, int | None],
    pauses: Sequence[float] = QUICK_RETRY_PAUSES_S,
) -> tuple[Status, str, bool]:
    """Run the DDL; map lock and online errors to statuses.

    :param wait: ``(clause, session lock_wait_timeout)`` from
        :meth:`~maintenance_ops.core.dialect.Dialect.ddl_lock_wait`.
    :returns: status, reason, and whether the next attempt may wait (NOWAIT was refused after
        real work, or this attempt already waited).
    """
    clause, session_wait_s = wait
    if clause == "NOWAIT":
        return _run_nowait(session, sql, pauses)
    previous = None
    if session_wait_s is not None:
        previous = session.query_one("SELECT @@SESSION.lock_wait_timeout AS v")["v"]
        session.execute("SET SESSION lock_wait_timeout = %s", (int(session_wait_s),))
    try:
        with MetadataLockWaitLimit.for_session(session, MDL_WAIT_LIMIT_S) as limit:
            status, reason = _attempt_ddl(session, sql, stopped=limit.killed)
    finally:
        if previous is not None:
            session.execute("SET SESSION lock_wait_timeout = %s", (int(previous),))
    if status == "retry_later" and limit.killed():
        reason = (
            f"waited {MDL_WAIT_LIMIT_S:g}s for a metadata lock another session holds: the DDL "
            "was stopped"
        )
    elif status == "retry_later":
        reason = f"metadata lock not granted within {session_wait_s or clause}"
    return status, reason, status == "retry_later"


def _run_nowait(session: Any, sql: str, pauses: Sequence[float]) -> tuple[Status, str, bool]:
    """Run a NOWAIT DDL, once more after each pause while it is refused before doing work."""
    for pause in (*pauses, None):
        began = time.monotonic()
        status, reason = _attempt_ddl(session, sql)
        spent = time.monotonic() - began
        if status != "retry_later" or pause is None or spent > QUICK_REFUSAL_S:
            break
        time.sleep(pause)
    if status != "retry_later":
        return status, reason, False
    reason = (
        "another session holds the table's metadata lock: the DDL gave up at once (NOWAIT) "
        f"after {spent:.2f}s"
    )
    return status, reason, spent > QUICK_REFUSAL_S


class MetadataLockWaitLimit:
    """Stop our DDL (KILL QUERY from a second connection) once it waits too long for an MDL.

    A thread polls the DDL connection's state (``rebuild_ddl_state.sql``); when it has shown a
    metadata-lock wait for ``limit_s``, the statement is killed (an account may always kill its
    own statements) and fails with error 1317, which :attr:`killed` explains.

    :param open_connection: opens the second connection (same account).
    :param connection_id: ``CONNECTION_ID()`` of the DDL's connection.
    """

    def __init__(
        self,
        open_connection: Callable[[], Any],
        connection_id: int,
        limit_s: float,
        poll_s: float = MDL_WAIT_POLL_S,
    ) -> None:
        self._open = open_connection
        self.connection_id = int(connection_id)
        self.limit_s, self.poll_s = limit_s, poll_s
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._killed = False
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @classmethod
    def for_session(cls, session: Any, limit_s: float) -> MetadataLockWaitLimit:
        """Watch a :class:`~maintenance_ops.core.session.MaintenanceSession`'s connection."""
        own_id = session.query_one("SELECT CONNECTION_ID() AS id")["id"]
        return cls(session.connect_sibling, own_id, limit_s)

    def killed(self) -> bool:
        """Whether the statement was stopped for waiting too long.

        Takes the watcher's lock: the DDL's error 1317 can arrive while the watcher is still
        inside ``KILL QUERY``, before it has recorded the kill; asking then waits for it.
        """
        with self._lock:
            return self._killed

    def __enter__(self) -> MetadataLockWaitLimit:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:  # no kill once the statement is over
            self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        try:
            conn = self._open()
        except Exception as exc:  # noqa: BLE001 - the DDL's own lock_wait_timeout still bounds it
            log.warning("rebuild: cannot watch the DDL's metadata-lock wait: %s", exc)
            return
        try:
            self._poll(conn)
        except Exception as exc:  # noqa: BLE001 - as above: lock_wait_timeout still bounds it
            log.warning("rebuild: stopped watching the DDL's metadata-lock wait: %s", exc)
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _poll(self, conn: Any) -> None:
        sql = load_sql("rebuild_ddl_state")
        waiting_since: float | None = None
        while not self._done.wait(self.poll_s):
            rows = sqlexec.rows(conn, sql, (self.connection_id,))
            state = str(rows[0][0] or "") if rows else ""
            if "metadata lock" not in state:
                waiting_since = None
                continue
            now = time.monotonic()
            waiting_since = waiting_since or now
            if now - waiting_since >= self.limit_s:
                with self._lock:
                    if not self._done.is_set():
                        log.info("rebuild: KILL QUERY %s (%s)", self.connection_id, state)
                        sqlexec.execute(conn, "KILL QUERY %s", (self.connection_id,))
                        self._killed = True
                return


def _attempt_ddl(
    session: Any, sql: str, stopped: Callable[[], bool] = lambda: False
) -> tuple[Status, str]:
    """Run the DDL once: ``rebuilt``, ``retry_later`` (lock refused) or ``skipped`` (not online).

    :param stopped: says whether an interruption (error 1317) was our metadata-lock limit.
    """
    import MySQLdb

    try:
        session.execute(sql)
        return "rebuilt", ""
    except (MySQLdb.OperationalError, MySQLdb.NotSupportedError) as exc:
        code = exc.args[0] if exc.args else None
        if code == ER_LOCK_WAIT_TIMEOUT or (code == ER_QUERY_INTERRUPTED and stopped()):
            return "retry_later", "metadata lock refused"
        if code in (ER_ALTER_OPERATION_NOT_SUPPORTED, ER_ALTER_OPERATION_NOT_SUPPORTED_REASON):
            return "skipped", f"server refused the online rebuild: {exc.args[1]}"
        raise


# --------------------------------------------------------------------------------------------
# Many tables, with retries
# --------------------------------------------------------------------------------------------


@dataclass
class RetryPolicy:
    """How ``retry_later`` tables are retried within the same run.

    The wait before retry round ``n`` (1 = the first retry) is ``wait_s x backoff**(n - 1)``,
    at most ``max_wait_s``: a blocker that outlasts the first retries is not polled every
    ``wait_s`` for the whole run.
    """

    max_attempts: int = 5
    wait_s: float = 10.0
    backoff: float = 2.0
    max_wait_s: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def wait_before(self, retry_round: int) -> float:
        """Return the seconds to wait before retry round ``retry_round`` (1-based)."""
        return min(self.max_wait_s, self.wait_s * self.backoff ** max(0, retry_round - 1))


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
        wait_s = retry.wait_before(attempt)
        if attempt < retry.max_attempts and not _wait_for_retry(retry, wait_s, throttle, pending):
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
        previous = results.get(cand.name)
        late = previous is not None and previous.wait_next
        result = rebuild_table(
            session,
            cand.schema,
            cand.table,
            audit=audit,
            database_name=database_name,
            throttle=throttle,
            **({**options, "nowait": False} if late else options),
        )
        results[cand.name] = RebuildResult(**{**asdict(result), "attempts": attempt})
        if result.status == "stopped":
            break
        if result.status == "retry_later":
            again.append(item)
    return again


def _stopped(results: Mapping[str, RebuildResult]) -> bool:
    return any(r.status == "stopped" for r in results.values())


def _wait_for_retry(
    retry: RetryPolicy, wait_s: float, throttle: Any, pending: Sequence[PlannedRebuild]
) -> bool:
    """Sleep ``wait_s`` before the next retry round; return False when the budget is short."""
    remaining = throttle.remaining_s() if throttle is not None else None
    shortest = min(p.predicted_s for p in pending)
    if remaining is not None and remaining < wait_s + shortest:
        log.info("rebuild: no time left to retry %s table(s)", len(pending))
        return False
    log.info("rebuild: retrying %s table(s) in %.1fs", len(pending), wait_s)
    retry.sleep(wait_s)
    return True

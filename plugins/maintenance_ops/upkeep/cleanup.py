"""Retention cleanup: delete or archive rows older than a cutoff, chunk by chunk, safely.

How a rule runs (:func:`run_cleanup_rule`):

* the cutoff comes from the caller (``data_interval_end - retention``), never from ``now()``,
  so a backfill does that date's work and a re-run does nothing new;
* rows are walked along a key: with a primary key and an index on the date column,
  ``(date, primary key)`` through that index (InnoDB's secondary indexes end with the primary
  key), so a chunk reads only expired rows, however the keys are spread (random keys too);
  else the primary key (composite keys too), else a unique key over NOT NULL columns (InnoDB's
  own row identity), else, only when the rule sets ``allow_no_primary_key``, the date column
  itself. A plain delete of a mostly expired table walks the primary key instead
  (``PRIMARY_WALK_SHARE``), each chunk in READ COMMITTED where the binary log allows it, so
  the live rows it reads past are never left locked. Each chunk reads its upper key with one
  index range read (``ORDER BY key LIMIT 1 OFFSET n-1``), then deletes the key range
  ``(last, upper]`` with the date predicate and the rule's filter repeated, in its own short
  transaction, without reading the rows first;
* the chunk size adapts to a target time per chunk (``chunk_time_s``, as
  pt-online-schema-change's ``--chunk-time``): the next size is the measured rows/s times the
  target, at most double the last, within ``[MIN_CHUNK, MAX_CHUNK]``; a rule's ``batch_size``
  pins it;
* ``archive`` copies the chunk into the archive table and deletes it in the *same*
  transaction, checking that both touched the same number of rows, so a kill at any instant
  loses and duplicates nothing: the archive has the source's primary key, and a half-done
  transaction rolls back;
* whole RANGE partitions past the cutoff (``RANGE COLUMNS(date)`` or ``RANGE(f(date))`` with
  ``f`` one of TO_DAYS, TO_SECONDS, UNIX_TIMESTAMP, YEAR) are dropped, or in archive mode
  exchanged into a staging table that is drained into the archive chunk by chunk, then dropped;
* the shared :class:`~maintenance_ops.core.throttle.Throttle` is consulted between chunks only;
  its *stop* (time budget, window, cancellation) ends the rule cleanly as ``partial``;
* lock wait timeouts and deadlocks on a chunk are retried with backoff; a table that stays
  locked ends as ``skipped_locked`` with a warning, never an exception.

Builders of chunk SQL are pure functions returning ``(sql, args)``; every identifier goes
through :func:`~maintenance_ops.core.identifiers.quote_identifier`, every value is bound.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from maintenance_ops.core.exceptions import VerificationError
from maintenance_ops.core.identifiers import qualified, quote_identifier
from maintenance_ops.core.row_filter import missing_columns
from maintenance_ops.core.sqlfiles import load_sql
from maintenance_ops.upkeep.cleanup_fk import (
    ChildGroup,
    ForeignKey,
    ForeignKeyPlan,
    Table,
    blocking_constraint,
    build_child_copy,
    build_group_count,
    foreign_keys_from_rows,
    plan_foreign_keys,
    table_name,
)

if TYPE_CHECKING:
    from maintenance_ops.core.audit import AuditEntry, AuditLog
    from maintenance_ops.core.config import CleanupRule
    from maintenance_ops.core.throttle import Throttle

logger = logging.getLogger(__name__)

Status = Literal["ok", "partial", "skipped_locked", "refused", "failed"]
T = TypeVar("T")

# 1205: lock wait timeout (rows, and metadata locks for DDL); 1213: deadlock. Both roll back
# the statement (and, in autocommit, the transaction): safe to retry the chunk.
LOCK_ERRORS = frozenset({1205, 1213})
DUPLICATE_KEY = 1062
# 1451: a RESTRICT / NO ACTION child still references the row (1217: the same, older form).
ROW_IS_REFERENCED = frozenset({1451, 1217})
PARTITION_FUNCTIONS = ("TO_DAYS", "TO_SECONDS", "UNIX_TIMESTAMP", "YEAR")
STAGING_PREFIX = "_mmc_xchg_"
# Adaptive chunk sizes stay within these: a slow chunk never goes below MIN_CHUNK rows (a
# chunk that slow is waiting on locks, which fewer rows barely help), a fast one never above
# MAX_CHUNK (bounds the undo, the locks held and a replica's apply time per transaction).
MIN_CHUNK = 10
MAX_CHUNK = 100_000
DEFAULT_CHUNK_TIME_S = 0.5
# A delete walks the primary key instead of the date index when at least this share of the
# table is expired: reading the live rows in between costs less than deleting in date order,
# which writes to pages all over a random-keyed table (measured on 1 M Django sessions, 60 %
# expired: 66k rows/s along the key, 41k along the date; on 2 M, either walk at full speed
# slowed the application's writes alike, see docs/benchmarks.md).
PRIMARY_WALK_SHARE = 0.4


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class ChildRows:
    """Rows of one child table that the rule's deletes touch through one ON DELETE action."""

    table: str
    action: str
    constraints: list[str]
    handling: str  # archived, deleted, set null, set default, blocks
    rows: int | None = 0  # None: not counted (rows that block a delete, outside a dry run)
    archive_table: str | None = None


@dataclass
class CleanupResult:
    """What one rule run did (or, in a dry run, would do)."""

    rule: str
    table: str
    mode: str
    cutoff: str
    status: Status = "ok"
    rows_deleted: int = 0
    rows_archived: int = 0
    chunks: int = 0
    largest_chunk: int = 0
    duration_s: float = 0.0
    rate: float = 0.0
    dry_run: bool = False
    dry_run_rows: int | None = None
    partitions_dropped: list[str] = field(default_factory=list)
    partitions_planned: list[str] = field(default_factory=list)
    walk_key: list[str] = field(default_factory=list)
    archive_table: str | None = None
    child_rows: list[ChildRows] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable form (for XCom and reports)."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Pure planning: keys, partitions, SQL builders
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalkKey:
    """The key a cleanup walks: its columns, the index to force, and whether it is unique."""

    columns: tuple[str, ...]
    index: str | None
    unique: bool
    kind: Literal["date_primary", "primary", "unique", "date"]


def choose_walk_key(
    index_rows: Sequence[dict[str, Any]],
    date_column: str,
    *,
    allow_no_primary_key: bool,
    date_index: bool = True,
) -> WalkKey | None:
    """Pick the key to walk from ``cleanup_table_indexes`` rows; None means refuse.

    With a primary key: ``(date, primary key)`` through an index on the date column alone (or
    on the date then the primary key's columns), whose entries InnoDB keeps in exactly that
    order, so a chunk reads only rows older than the cutoff; else the primary key. Without
    one: the first unique index whose columns are all NOT NULL and whole (no prefix), which
    InnoDB itself uses as the row identity; else, only if allowed, the date column (through an
    index that starts with it, if any). ``date_index=False`` walks the primary key even when a
    date index could be walked.
    """
    indexes: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(index_rows, key=lambda r: (r["index_name"], r["seq_in_index"])):
        indexes.setdefault(row["index_name"], []).append(row)
    if "PRIMARY" in indexes:
        primary = _columns(indexes["PRIMARY"])
        walk = (date_column, *(c for c in primary if c != date_column))
        for name in sorted(n for n in indexes if n != "PRIMARY" and date_index):
            names = _columns(indexes[name])
            if names[0] == date_column and walk[: len(names)] == names:
                return WalkKey(walk, name, True, "date_primary")
        return WalkKey(primary, "PRIMARY", True, "primary")
    for name in sorted(indexes):
        cols = indexes[name]
        if not int(cols[0]["non_unique"]) and all(
            c["is_nullable"] == "NO" and c["sub_part"] is None for c in cols
        ):
            return WalkKey(_columns(cols), name, True, "unique")
    if not allow_no_primary_key:
        return None
    by_date = sorted(n for n, cols in indexes.items() if cols[0]["column_name"] == date_column)
    return WalkKey((date_column,), by_date[0] if by_date else None, False, "date")


def _columns(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(str(r["column_name"]) for r in rows)


@dataclass(frozen=True)
class Partition:
    """One RANGE partition: rows in it have ``f(date) < bound`` (None bound: MAXVALUE)."""

    name: str
    bound: str | None
    table_rows: int = 0


def partition_function(method: str, expression: str, date_column: str) -> str | None:
    """Return how a table is range-partitioned on ``date_column``, or None if it is not.

    ``"COLUMNS"`` for ``RANGE COLUMNS(date)``, else the function name for ``RANGE(f(date))``
    with a monotonic ``f`` we know; anything else is not used for partition cleanup.
    """
    expr = re.sub(r"[`\s]", "", expression or "").lower()
    column = date_column.lower()
    if method == "RANGE COLUMNS" and expr == column:
        return "COLUMNS"
    if method == "RANGE":
        for func in PARTITION_FUNCTIONS:
            if expr == f"{func.lower()}({column})":
                return func
    return None


def expired_partitions(
    partitions: Sequence[Partition], function: str, cutoff: datetime, cutoff_value: int | None
) -> list[Partition]:
    """Return the leading partitions whose every row is older than the cutoff.

    A partition holds ``f(date) < bound``; with ``f`` monotonic, ``bound <= f(cutoff)`` means
    every row has ``date < cutoff``. The last partition is never returned: a table cannot
    lose all of its partitions (its rows are left to the row walk).
    """
    expired: list[Partition] = []
    for part in partitions[:-1]:
        if part.bound is None or not _bound_at_or_before(
            part.bound, function, cutoff, cutoff_value
        ):
            break
        expired.append(part)
    return expired


def _bound_at_or_before(
    bound: str, function: str, cutoff: datetime, cutoff_value: int | None
) -> bool:
    if function == "COLUMNS":
        text = bound.strip().strip("'")
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return False  # not a date literal: do not guess
        return value <= cutoff
    if cutoff_value is None:
        return False
    try:
        return int(bound) <= cutoff_value
    except ValueError:
        return False


def cutoff_value_sql(function: str) -> str:
    """Return the statement computing ``f(cutoff)`` on the server (its time zone applies)."""
    if function not in PARTITION_FUNCTIONS:
        raise ValueError(f"unknown partition function {function!r}")
    return f"SELECT {function}(%s) AS v"


def _after(columns: Sequence[str], values: Sequence[Any]) -> tuple[str, list[Any]]:
    """Return ``(cols) > (values)`` expanded so the range optimizer uses the key."""
    return _row_compare(columns, values, ">")


def _at_most(columns: Sequence[str], values: Sequence[Any]) -> tuple[str, list[Any]]:
    """Return ``(cols) <= (values)`` expanded so the range optimizer uses the key."""
    return _row_compare(columns, values, "<=")


def _row_compare(columns: Sequence[str], values: Sequence[Any], op: str) -> tuple[str, list[Any]]:
    # Nested form: a > x OR (a = x AND (b > y OR (b = y AND c > z))). MariaDB does not use
    # an index range for the row constructor (a, b) > (x, y); this form it does.
    strict = op.rstrip("=")
    col = quote_identifier(columns[-1])
    sql, args = f"{col} {op} %s", [values[-1]]
    for name, value in zip(reversed(columns[:-1]), reversed(values[:-1]), strict=True):
        col = quote_identifier(name)
        sql = f"({col} {strict} %s OR ({col} = %s AND {sql}))"
        args = [value, value, *args]
    return sql, args


@dataclass(frozen=True)
class ChunkSpec:
    """Everything the chunk builders need about one walk (identifiers unquoted)."""

    schema: str
    table: str
    key: WalkKey
    date_column: str
    where: str | None
    cutoff: datetime | None  # None: no date predicate (draining a staging table)

    @property
    def table_sql(self) -> str:
        return qualified(self.schema, self.table)

    @property
    def from_sql(self) -> str:
        """The table read through the walk's index (``FORCE INDEX``), if it has one."""
        if not self.key.index:
            return self.table_sql
        return f"{self.table_sql} FORCE INDEX ({quote_identifier(self.key.index)})"

    def predicate(self) -> tuple[str, list[Any]]:
        """Return the rows-to-remove condition: date before cutoff and the rule's filter."""
        parts: list[str] = []
        args: list[Any] = []
        if self.cutoff is not None:
            parts.append(f"{quote_identifier(self.date_column)} < %s")
            args.append(self.cutoff)
        if self.where:
            parts.append(f"({filter_sql(self.where)})")
        return (" AND ".join(parts) or "1 = 1"), args


_QUOTED_NAME = re.compile(r"(`(?:[^`]|``)*`)")


def filter_sql(where: str) -> str:
    """Return a rule's filter ready for the execution layer: ``%`` doubled outside names.

    The filter is one condition parsed by config (:mod:`maintenance_ops.core.row_filter`). A ``%``
    in it must survive the driver's parameter step ('tmp%' is not a placeholder), except
    inside a backtick-quoted name, which the execution layer protects itself.
    """
    parts = _QUOTED_NAME.split(where)
    return "".join(p if i % 2 else p.replace("%", "%%") for i, p in enumerate(parts))


def build_count(spec: ChunkSpec) -> tuple[str, list[Any]]:
    """Return the exact count of rows the rule would remove (the dry run's answer)."""
    pred, args = spec.predicate()
    return f"SELECT COUNT(*) AS n FROM {spec.table_sql} WHERE {pred}", args  # noqa: S608


def build_estimate(spec: ChunkSpec) -> tuple[str, list[Any]]:
    """Return an EXPLAIN whose ``rows`` estimates the rows to remove (cheap, for the ETA).

    Read through the walk's index (the date index): left to itself the optimizer may choose
    a full scan for a mostly expired table and estimate every row of it.
    """
    pred, args = spec.predicate()
    return f"EXPLAIN SELECT * FROM {spec.from_sql} WHERE {pred}", args  # noqa: S608


def _walk_read(spec: ChunkSpec, last: Sequence[Any] | None) -> tuple[str, str, list[Any]]:
    """Return ``(key columns, FROM ... WHERE ...)`` of the keys after ``last``, and its args."""
    cols = ", ".join(quote_identifier(c) for c in spec.key.columns)
    pred, args = spec.predicate()
    if last is not None:
        after, after_args = _after(spec.key.columns, last)
        pred, args = f"{pred} AND {after}", args + after_args
    return cols, f"FROM {spec.from_sql} WHERE {pred}", args


def build_boundary_at(
    spec: ChunkSpec, last: Sequence[Any] | None, size: int
) -> tuple[str, list[Any]]:
    """Return the read of the ``size``-th matching key after ``last`` (the chunk's upper key).

    One index range read of ``size`` entries that returns one row; no row when fewer than
    ``size`` are left (then :func:`build_boundary` finds the last chunk's upper key).
    """
    cols, source, args = _walk_read(spec, last)
    sql = f"SELECT {cols} {source} ORDER BY {cols} LIMIT 1 OFFSET %s"  # noqa: S608
    return sql, [*args, max(int(size) - 1, 0)]


def build_boundary(spec: ChunkSpec, last: Sequence[Any] | None, size: int) -> tuple[str, list[Any]]:
    """Return the upper key of the next chunk of at most ``size`` rows after ``last``."""
    cols, source, args = _walk_read(spec, last)
    desc = ", ".join(f"{quote_identifier(c)} DESC" for c in spec.key.columns)
    sql = (
        f"SELECT {cols} FROM (SELECT {cols} {source} ORDER BY {cols} LIMIT %s) AS chunk "  # noqa: S608
        f"ORDER BY {desc} LIMIT 1"
    )
    return sql, [*args, int(size)]


def _range_predicate(
    spec: ChunkSpec, last: Sequence[Any] | None, upper: Sequence[Any]
) -> tuple[str, list[Any]]:
    pred, args = spec.predicate()
    if last is not None:
        after, after_args = _after(spec.key.columns, last)
        pred, args = f"{pred} AND {after}", args + after_args
    most, most_args = _at_most(spec.key.columns, upper)
    return f"{pred} AND {most}", args + most_args


def build_delete(
    spec: ChunkSpec, last: Sequence[Any] | None, upper: Sequence[Any]
) -> tuple[str, list[Any]]:
    """Return the DELETE of one chunk: key range ``(last, upper]`` with the predicate repeated.

    Through the walk's index (the multi-table form, which both servers let name an index):
    left to itself, the optimizer may scan the whole table for a chunk that is a large part of
    it, and a scan locks every row it reads, live ones too.
    """
    pred, args = _range_predicate(spec, last, upper)
    if spec.key.index:
        return f"DELETE {spec.table_sql} FROM {spec.from_sql} WHERE {pred}", args  # noqa: S608
    return f"DELETE FROM {spec.table_sql} WHERE {pred}", args  # noqa: S608


def build_copy(
    spec: ChunkSpec,
    archive_sql: str,
    columns: Sequence[str],
    last: Sequence[Any] | None,
    upper: Sequence[Any],
) -> tuple[str, list[Any]]:
    """Return the INSERT ... SELECT copying one chunk into the (already quoted) archive."""
    cols = ", ".join(quote_identifier(c) for c in columns)
    pred, args = _range_predicate(spec, last, upper)
    sql = f"INSERT INTO {archive_sql} ({cols}) SELECT {cols} FROM {spec.from_sql} WHERE {pred}"  # noqa: S608
    return sql, args


@dataclass
class ChunkSizer:
    """Choose each chunk's size so that a chunk takes about ``target_s`` seconds.

    After each chunk, the next size is its rows/s times ``target_s``, at most double the last
    size (one fast, small chunk says little), within ``[minimum, maximum]``. Without a target
    the size never changes.
    """

    size: int
    target_s: float | None = DEFAULT_CHUNK_TIME_S
    minimum: int = MIN_CHUNK
    maximum: int = MAX_CHUNK

    def __post_init__(self) -> None:
        if self.target_s:
            self.size = min(max(self.size, self.minimum), self.maximum)

    def update(self, rows: int, seconds: float) -> int:
        """Record that a chunk removed ``rows`` in ``seconds``; return the next size."""
        if not self.target_s or rows <= 0:
            return self.size
        wanted = int(rows / max(seconds, 1e-6) * self.target_s)
        self.size = max(self.minimum, min(wanted, 2 * self.size, self.maximum))
        return self.size


def eta_s(done: int, total: int | None, rate: float) -> float | None:
    """Return the seconds left at ``rate`` rows/s, or None when unknown."""
    if not total or rate <= 0 or done >= total:
        return None if not total or rate <= 0 else 0.0
    return (total - done) / rate


def normalize_cutoff(cutoff: datetime | date) -> datetime:
    """Return the cutoff as a naive datetime; an aware one is converted to UTC first."""
    if not isinstance(cutoff, datetime):
        return datetime(cutoff.year, cutoff.month, cutoff.day)
    if cutoff.tzinfo is not None:
        return cutoff.astimezone(UTC).replace(tzinfo=None)
    return cutoff


# --------------------------------------------------------------------------------------------
# Running a rule
# --------------------------------------------------------------------------------------------


class _StillLocked(Exception):
    """A chunk stayed locked through every retry."""


class _Stopped(Exception):
    """The throttle said stop (budget, window, cancellation, abort limit)."""


class _Blocked(Exception):
    """A chunk's delete was refused by a RESTRICT / NO ACTION foreign key (ERROR 1451)."""


@dataclass
class _Children:
    """The foreign keys around a rule's table, and what each chunk does about them."""

    plan: ForeignKeyPlan
    columns: dict[Table, list[str]] = field(default_factory=dict)  # archived child -> columns

    @functools.cached_property
    def groups(self) -> list[ChildGroup]:
        return self.plan.groups()

    @property
    def tracked(self) -> list[ChildGroup]:
        """Groups whose rows a chunk deletes or rewrites: locked and counted per chunk."""
        return [g for g in self.groups if g.tracked]


@dataclass
class _TablePlan:
    columns: list[str]
    nullable: dict[str, bool]
    key: WalkKey | None
    partitions: list[dict[str, Any]]
    refusal: str = ""
    children: _Children | None = None
    primary: WalkKey | None = None  # the primary key walk, when ``key`` is the date index's


class _Run:
    """State of one rule run: the session, counters, retries, progress, throttle."""

    def __init__(
        self,
        session: Any,
        result: CleanupResult,
        *,
        throttle: Throttle | None,
        sizer: ChunkSizer,
        lock_retries: int,
        log: logging.Logger,
        progress_every_s: float,
        retry_sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.result = result
        self.throttle = throttle
        self.sizer = sizer
        self.clock = clock
        self.lock_retries = lock_retries
        self.log = log
        self.progress_every_s = progress_every_s
        self.retry_sleep = retry_sleep
        self.started = clock()
        self.last_progress = self.started
        self.walk_started: float | None = None  # the first chunk's start: the rate's origin
        self.progress_lines = 0
        self.estimate: int | None = None
        self.read_committed = False  # each delete chunk in READ COMMITTED (see _execute)

    def checkpoint(self) -> None:
        """Ask the throttle between chunks; raise :class:`_Stopped` when it says stop."""
        if self.throttle is None:
            return
        decision = self.throttle.checkpoint()
        if decision.action == "stop":
            raise _Stopped(decision.reason)

    def with_lock_retry(self, what: str, action: Callable[[], T]) -> T:
        """Run ``action``, retrying lock wait timeouts and deadlocks with backoff."""
        import MySQLdb

        pause = 0.5
        for attempt in range(self.lock_retries + 1):
            try:
                return action()
            except MySQLdb.MySQLError as exc:
                code = exc.args[0] if exc.args else None
                if code not in LOCK_ERRORS:
                    raise
                if attempt == self.lock_retries:
                    raise _StillLocked(
                        f"{what}: still locked after {attempt + 1} attempts ([{code}] "
                        f"{exc.args[1] if len(exc.args) > 1 else ''})"
                    ) from None
                self.log.warning(
                    "%s: [%s] lock conflict, retry %s/%s in %.1fs",
                    what,
                    code,
                    attempt + 1,
                    self.lock_retries,
                    pause,
                )
                self.retry_sleep(pause)
                pause = min(pause * 2, 8.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def progress(self, *, force: bool = False) -> None:
        """Log rows done, estimated total, rate and ETA: after the first chunk, then at most
        every ``progress_every_s``.

        The rate counts from the first chunk's start, so the planning before it (counting,
        foreign keys, the estimate) does not inflate the ETA.
        """
        now = self.clock()
        first = self.progress_lines == 0 and self.result.chunks == 1
        if not force and not first and now - self.last_progress < self.progress_every_s:
            return
        self.last_progress = now
        self.progress_lines += 1
        done = self.result.rows_deleted
        rate = done / max(now - (self.walk_started or self.started), 1e-9)
        eta = eta_s(done, self.estimate, rate)
        self.log.info(
            "cleanup %s %s: %s rows done of ~%s, %.0f rows/s, ETA %s",
            self.result.rule,
            self.result.table,
            done,
            self.estimate if self.estimate is not None else "?",
            rate,
            f"{eta:.0f}s" if eta is not None else "?",
        )


def run_cleanup_rule(
    session: Any,
    rule: CleanupRule,
    *,
    schema: str,
    cutoff: datetime | date,
    database_name: str,
    audit: AuditLog | None = None,
    throttle: Throttle | None = None,
    chunk_size: int | None = None,
    chunk_time_s: float | None = DEFAULT_CHUNK_TIME_S,
    dry_run: bool = False,
    lock_retries: int = 3,
    log: logging.Logger | None = None,
    progress_every_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> CleanupResult:
    """Delete or archive a rule's rows older than ``cutoff``, chunk by chunk.

    :param session: an open :class:`~maintenance_ops.core.session.MaintenanceSession` (autocommit).
    :param rule: the cleanup rule from configuration.
    :param schema: the schema holding the table when the rule names none.
    :param cutoff: remove rows whose date column is before this (the caller computes
        ``data_interval_end - retention``); an aware datetime is converted to naive UTC.
    :param database_name: the database's name in configuration, for the audit log.
    :param audit: the audit log (one action per rule run, one per partition).
    :param throttle: consulted between chunks; its stop ends the run as ``partial``.
    :param chunk_size: rows of the first chunk (``maintenance.chunk_size``), 1000 if unset;
        later chunks adapt to ``chunk_time_s``. A rule's own ``batch_size`` is used for every
        chunk (no adaptation).
    :param chunk_time_s: target seconds per chunk (``maintenance.cleanup_chunk_time_s``);
        None or 0: every chunk has ``chunk_size`` rows.
    :param dry_run: change nothing; report the exact number of rows it would remove.
    :param lock_retries: retries of a chunk that hits a lock wait timeout or deadlock.
    :param log: logger for progress lines (an operator's ``self.log``).
    :param progress_every_s: seconds between progress lines.
    :param clock: the clock timing chunks (a test's fake clock drives the adaptation).
    """
    log = log or logger
    schema = rule.schema_name or schema
    cut = normalize_cutoff(cutoff)
    result = CleanupResult(
        rule=rule.name,
        table=f"{schema}.{rule.table}",
        mode=rule.cleanup_type,
        cutoff=cut.isoformat(sep=" "),
        dry_run=dry_run,
    )
    started = time.monotonic()
    plan = _inspect(session, rule, schema)
    if plan.key is not None:
        result.walk_key = list(plan.key.columns)
    if plan.children is not None:
        result.warnings += plan.children.plan.warnings
        result.child_rows = [
            _child_rows(g, plan.children.plan, dry_run) for g in plan.children.groups
        ]
    command = f"cleanup {rule.cleanup_type} rule {rule.name} cutoff {result.cutoff}"
    with _audit_action(audit, database_name, command, result.table, dry_run) as entry:
        if plan.refusal:
            result.status = "refused"
            result.warnings.append(plan.refusal)
            log.warning("cleanup %s refused: %s", rule.name, plan.refusal)
            if dry_run:
                _count_refused(session, rule, schema, cut, plan, result)
        else:
            sizer = ChunkSizer(
                rule.batch_size or chunk_size or 1000, None if rule.batch_size else chunk_time_s
            )
            run = _Run(
                session,
                result,
                throttle=throttle,
                sizer=sizer,
                lock_retries=lock_retries,
                log=log,
                progress_every_s=progress_every_s,
                clock=clock,
            )
            _execute(run, rule, schema, cut, plan, audit, database_name, dry_run)
        result.duration_s = round(time.monotonic() - started, 3)
        result.rate = round(result.rows_deleted / result.duration_s, 1) if result.duration_s else 0
        _finish_entry(entry, result)
    log.info(
        "cleanup %s %s (%s): status=%s deleted=%s archived=%s chunks=%s (largest %s rows) "
        "partitions=%s %.2fs %.0f rows/s dry_run=%s%s%s",
        rule.name,
        result.table,
        result.mode,
        result.status,
        result.rows_deleted,
        result.rows_archived,
        result.chunks,
        result.largest_chunk,
        len(result.partitions_dropped),
        result.duration_s,
        result.rate,
        dry_run,
        f" would remove {result.dry_run_rows}" if dry_run else "",
        children_summary(result.child_rows),
    )
    return result


def children_summary(rows: Sequence[ChildRows]) -> str:
    """Return ``; child rows: shop.items CASCADE 120 archived, ...`` for a summary line."""
    counted = [c for c in rows if c.rows is not None]
    if not counted:
        return ""
    return "; child rows: " + ", ".join(
        f"{c.table} {c.action} {c.rows} {c.handling}" for c in counted
    )


def _child_rows(group: ChildGroup, plan: ForeignKeyPlan, dry_run: bool) -> ChildRows:
    archive = plan.archives.get(group.table)
    return ChildRows(
        table_name(group.table),
        group.action,
        group.constraints,
        group.handling,
        rows=0 if dry_run or group.tracked else None,
        archive_table=table_name(archive) if archive else None,
    )


@contextmanager
def _audit_action(
    audit: AuditLog | None, database: str, command: str, table: str, dry_run: bool
) -> Iterator[AuditEntry | None]:
    if audit is None:
        yield None
        return
    with audit.action(database, command, table, dry_run=dry_run) as entry:
        yield entry


def _finish_entry(entry: AuditEntry | None, result: CleanupResult) -> None:
    if entry is None:
        return
    entry.rows = result.dry_run_rows if result.dry_run else result.rows_deleted
    # A dry run's row stays dry_run when it only predicts an outcome (nothing failed); a
    # refusal is the same with or without dry_run. Its status is in the details either way.
    if result.status == "refused" or (result.status != "ok" and not result.dry_run):
        entry.outcome = result.status
    entry.details = result.to_dict()


def _inspect(session: Any, rule: CleanupRule, schema: str) -> _TablePlan:
    """Read the table's columns, keys and partitions; say why to refuse, if so."""
    columns = session.query(load_sql("cleanup_table_columns"), (schema, rule.table))
    names = [str(c["column_name"]) for c in columns]
    nullable = {str(c["column_name"]): c["is_nullable"] == "YES" for c in columns}
    plan = _TablePlan(names, nullable, None, [])
    table = f"{schema}.{rule.table}"
    if not columns:
        plan.refusal = f"table {table} does not exist; fix the rule's table or schema"
        return plan
    if rule.date_column not in nullable:
        plan.refusal = (
            f"table {table} has no column {rule.date_column!r}; fix the rule's date_column"
        )
        return plan
    unknown = missing_columns(rule.where, names) if rule.where else []
    if unknown:
        plan.refusal = (
            f"table {table} has no column {', '.join(map(repr, unknown))} that rule "
            f"{rule.name!r}'s where filter names; fix the filter (columns: {', '.join(names)})"
        )
        return plan
    indexes = session.query(load_sql("cleanup_table_indexes"), (schema, rule.table))
    plan.key = choose_walk_key(
        indexes, rule.date_column, allow_no_primary_key=rule.allow_no_primary_key
    )
    if plan.key is None:
        plan.refusal = (
            f"table {table} has no primary key (nor a unique key over NOT NULL columns), so "
            "its rows cannot be walked in exact chunks; add a primary key, or set "
            f"allow_no_primary_key: true on rule {rule.name!r} for a slower walk along "
            f"{rule.date_column!r}"
        )
        return plan
    plan.partitions = session.query(load_sql("cleanup_table_partitions"), (schema, rule.table))
    plan.columns = copyable_columns(columns)
    fk_plan = plan_foreign_keys(
        rule, (schema, rule.table), read_foreign_keys(session, schema, rule.table)
    )
    plan.refusal = fk_plan.refusal or _hidden_children(session, (schema, rule.table), fk_plan)
    plan.children = _Children(fk_plan)
    if plan.key.kind == "date_primary" and plan.children.tracked:
        # Each chunk locks and counts its parents and children by the chunk's key range
        # (cleanup_fk's statements, which name no index): along the primary key that range
        # is one the optimizer always reads by the key.
        plan.key = choose_walk_key(
            indexes, rule.date_column, allow_no_primary_key=False, date_index=False
        )
    elif plan.key.kind == "date_primary":
        plan.primary = choose_walk_key(
            indexes, rule.date_column, allow_no_primary_key=False, date_index=False
        )
    for child in fk_plan.archives:
        plan.children.columns[child] = copyable_columns(
            session.query(load_sql("cleanup_table_columns"), child)
        )
    return plan


def _hidden_children(session: Any, root: tuple[str, str], fk_plan: Any) -> str:
    """Refuse when InnoDB knows foreign keys on the rule's tables that the account cannot see
    (or when InnoDB's catalog cannot be read, so nobody knows)."""
    from maintenance_ops.upkeep.index_analysis import hidden_foreign_keys

    tables = {root, *(key.child for key in fk_plan.edges if key.on_delete == "CASCADE")}
    unreadable: list[str] = []
    hidden = hidden_foreign_keys(session, tables, list(fk_plan.edges), unreadable)
    if unreadable:
        return f"{root[0]}.{root[1]}: {unreadable[0]}; a delete could reach tables nobody checked"
    if not hidden:
        return ""
    keys = "; ".join(key for found in hidden.values() for key in found)
    return (
        f"{root[0]}.{root[1]} is referenced by foreign keys in tables the maintenance account "
        f"cannot see ({keys}), so what a delete does to them is unknown; grant the "
        "account SELECT on those schemas (include/sql/grants.sql, per maintained schema)"
    )


def copyable_columns(columns: Sequence[dict[str, Any]]) -> list[str]:
    """Return the columns an archive copy inserts: all but generated ones (computed, never set)."""
    return [
        str(c["column_name"])
        for c in columns
        if "GENERATED" not in str(c["extra"] or "").upper()
        or "DEFAULT_GENERATED" in str(c["extra"] or "").upper()
    ]


def read_foreign_keys(session: Any, schema: str, table: str) -> list[ForeignKey]:
    """Read the foreign keys referencing a table and, through CASCADE keys, its descendants.

    One catalog read per table of the cascade chain; a table reached twice is read once.
    """
    edges: list[ForeignKey] = []
    queue: list[Table] = [(schema, table)]
    seen = set(queue)
    while queue:
        found = foreign_keys_from_rows(
            session.query(load_sql("cleanup_foreign_keys"), queue.pop(0))
        )
        edges += found
        for key in found:
            if key.on_delete == "CASCADE" and key.child not in seen:
                seen.add(key.child)
                queue.append(key.child)
    return edges


def _execute(
    run: _Run,
    rule: CleanupRule,
    schema: str,
    cutoff: datetime,
    plan: _TablePlan,
    audit: AuditLog | None,
    database_name: str,
    dry_run: bool,
) -> None:
    assert plan.key is not None
    spec = ChunkSpec(schema, rule.table, plan.key, rule.date_column, rule.where, cutoff)
    parts = _partition_plan(run, rule, spec, plan) if rule.partitions == "auto" else []
    if dry_run:
        run.result.dry_run_rows = _count(run.session, spec)
        run.result.partitions_planned = [p.name for p in parts]
        _count_children(run.session, run.result, spec, plan.children)
        _predict_blocked(run.result)
        return
    archive = _prepare_archive(run, rule, schema, plan) if rule.cleanup_type == "archive" else None
    if plan.children is not None:
        for child, columns in plan.children.columns.items():
            _ensure_archive(run, child, plan.children.plan.archives[child], columns, False)
    try:
        if archive is not None:
            _drain_staging(run, spec, plan, archive)  # a killed run's exchanged rows first
        for part in parts:
            _clean_partition(run, spec, plan, part, archive, audit, database_name)
        left = _estimate(run.session, spec)
        run.estimate = None if left is None else run.result.rows_deleted + left
        if archive is None and not (plan.children and plan.children.tracked):
            spec = _plan_delete(run, spec, plan)
        _walk(run, spec, plan.columns, archive, plan.children)
        if archive is not None:
            _drop_staging(run, spec)
    except _Blocked as blocked:
        # Every later chunk is as likely to be referenced: stop, keep what is done, say why.
        run.result.status = "failed"
        run.result.warnings.append(str(blocked))
        run.log.error("cleanup %s: %s", rule.name, blocked)
    except _Stopped as stop:
        run.result.status = "partial"
        run.result.warnings.append(f"stopped early, the next run continues: {stop}")
    except _StillLocked as locked:
        run.result.status = "skipped_locked"
        run.result.warnings.append(f"{locked}; left for the next run")
        run.log.warning("cleanup %s: %s; left for the next run", rule.name, locked)
    run.progress(force=run.result.chunks > 0)


def _plan_delete(run: _Run, spec: ChunkSpec, plan: _TablePlan) -> ChunkSpec:
    """Choose how a plain delete (one statement per chunk) runs; return the walk to use.

    Each chunk runs in READ COMMITTED where the binary log allows it (off, or not
    STATEMENT): the DELETE then keeps locks only on the rows it deletes, releasing those of
    the live rows it reads past at once, and takes no gap locks, so the application's writes
    to live rows never wait for a chunk to end.
    With that, a mostly expired table is walked along its primary key (PRIMARY_WALK_SHARE).
    """
    binlog = run.session.query_one("SELECT @@log_bin AS log_bin, @@binlog_format AS format")
    run.read_committed = not int(binlog["log_bin"]) or str(binlog["format"]) != "STATEMENT"
    if not run.read_committed or plan.primary is None:
        return spec
    # Rows through the date index's range (the optimizer's estimate of a full scan, which it
    # may prefer for the bare predicate, counts the whole table), against the whole table.
    pred, args = spec.predicate()
    ranged = run.session.query(f"EXPLAIN SELECT 1 FROM {spec.from_sql} WHERE {pred}", args)  # noqa: S608
    whole = run.session.query(f"EXPLAIN SELECT * FROM {spec.table_sql}")  # noqa: S608
    expired = int(ranged[0]["rows"] or 0) if ranged else 0
    total = int(whole[0]["rows"] or 0) if whole else 0
    if expired < PRIMARY_WALK_SHARE * total:
        return spec
    run.result.walk_key = list(plan.primary.columns)
    return replace(spec, key=plan.primary)


def _count(session: Any, spec: ChunkSpec) -> int:
    sql, args = build_count(spec)
    return int(session.query_one(sql, args)["n"])


def _count_children(
    session: Any, result: CleanupResult, spec: ChunkSpec, children: _Children | None
) -> None:
    """Fill the dry run's child rows: what deleting every matching row would touch."""
    if children is None or children.plan.cyclic:
        return
    for group, counted in zip(children.groups, result.child_rows, strict=True):
        sql, args = build_group_count(children.plan, group, spec.predicate())
        counted.rows = int(session.query_one(sql, args)["n"])


def _count_refused(
    session: Any,
    rule: CleanupRule,
    schema: str,
    cutoff: datetime,
    plan: _TablePlan,
    result: CleanupResult,
) -> None:
    """In a dry run, count what a rule refused for its foreign keys would have touched."""
    if plan.key is None or plan.children is None or not plan.children.plan.refusal:
        return
    spec = ChunkSpec(schema, rule.table, plan.key, rule.date_column, rule.where, cutoff)
    result.dry_run_rows = _count(session, spec)
    _count_children(session, result, spec, plan.children)


def _estimate(session: Any, spec: ChunkSpec) -> int | None:
    sql, args = build_estimate(spec)
    rows = session.query(sql, args)
    return int(rows[0]["rows"]) if rows and rows[0].get("rows") is not None else None


# ---- archive table ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Archive:
    schema: str
    table: str

    @property
    def sql(self) -> str:
        return qualified(self.schema, self.table)


def archive_name(rule: CleanupRule, schema: str) -> tuple[str, str]:
    """Return ``(schema, table)`` of a rule's archive: configured, else ``<table>_archive``."""
    table = rule.archive_table or f"{rule.table}_archive"[:64]
    return rule.archive_schema or schema, table


def _prepare_archive(run: _Run, rule: CleanupRule, schema: str, plan: _TablePlan) -> _Archive:
    """Create the rule's archive on first use; check it can take every column."""
    archive = _Archive(*archive_name(rule, schema))
    run.result.archive_table = f"{archive.schema}.{archive.table}"
    source = (schema, rule.table)
    _ensure_archive(
        run, source, (archive.schema, archive.table), plan.columns, bool(plan.partitions)
    )
    return archive


def _ensure_archive(
    run: _Run, source: Table, archive: Table, columns: list[str], partitioned: bool
) -> None:
    """Create an archive ``LIKE`` its source on first use; check it can take every column.

    ``CREATE TABLE ... LIKE`` (never ``CREATE ... SELECT``, which breaks GTID replication)
    keeps the primary key, so a row can never be archived twice, and no foreign keys, so
    archived children never depend on archived parents. Partitioning is removed from a new
    archive: it only grows, and must accept rows whatever partitions the source has later.
    """
    archive_sql = qualified(*archive)
    existing = run.session.query(load_sql("cleanup_table_columns"), archive)
    if not existing:
        run.session.execute(f"CREATE TABLE IF NOT EXISTS {archive_sql} LIKE {qualified(*source)}")
        if partitioned:
            run.session.execute(f"ALTER TABLE {archive_sql} REMOVE PARTITIONING")
        run.log.info("created archive table %s LIKE %s", table_name(archive), table_name(source))
        return
    have = {str(c["column_name"]) for c in existing}
    missing = [c for c in columns if c not in have]
    if missing:
        raise VerificationError(
            f"archive table {table_name(archive)} lacks columns {missing} of "
            f"{table_name(source)}; add them (ALTER TABLE ... ADD COLUMN) or point the rule's "
            "archive_table (archive_children, for a child) at a new table"
        )


# ---- the chunk walk --------------------------------------------------------------------


def _walk(
    run: _Run,
    spec: ChunkSpec,
    columns: list[str],
    archive: _Archive | None,
    children: _Children | None = None,
) -> None:
    """Remove every matching row chunk by chunk along the walk key."""
    import MySQLdb

    last: tuple[Any, ...] | None = None
    run.walk_started = run.walk_started or run.clock()
    while True:
        size = run.sizer.size
        started = run.clock()
        rows = run.session.query(*build_boundary_at(spec, last, size))
        if not rows:  # fewer than ``size`` rows left: the last chunk takes them all
            rows = run.session.query(*build_boundary(spec, last, size))
        if not rows:
            return
        upper = tuple(rows[0][c] for c in spec.key.columns)
        where = f"chunk of {spec.schema}.{spec.table} up to {spec.key.columns}={upper}"
        chunk = functools.partial(_chunk, run, spec, columns, archive, last, upper, children)
        try:
            removed = run.with_lock_retry(where, chunk)
        except MySQLdb.MySQLError as exc:
            if children is None or not exc.args or exc.args[0] not in ROW_IS_REFERENCED:
                raise
            message = str(exc.args[1]) if len(exc.args) > 1 else ""
            raise _Blocked(_blocked_message(run, children.plan, where, message)) from None
        run.result.rows_deleted += removed
        if archive is not None:
            run.result.rows_archived += removed
        run.result.chunks += 1
        run.result.largest_chunk = max(run.result.largest_chunk, removed)
        run.sizer.update(removed, run.clock() - started)
        last = upper
        run.progress()
        run.checkpoint()


def _chunk(
    run: _Run,
    spec: ChunkSpec,
    columns: list[str],
    archive: _Archive | None,
    last: Sequence[Any] | None,
    upper: Sequence[Any],
    children: _Children | None = None,
) -> int:
    """Remove one chunk in one transaction; return the rows removed.

    With children that the delete cascades to or rewrites, the chunk's parents and then those
    children are locked and counted first (parents before children, so no session can add a
    child to a parent being removed), archived children are copied, then the parents, then
    the parents are deleted: the server's cascade removes exactly the copied children.
    """
    delete_sql, delete_args = build_delete(spec, last, upper)
    tracked = children.tracked if children is not None else []
    if archive is None and not tracked:
        if run.read_committed:  # the next transaction only: this chunk's DELETE
            run.session.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return run.session.execute(delete_sql, delete_args)  # autocommit: its own transaction
    session = run.session
    session.execute("START TRANSACTION")
    try:
        counts = (
            _lock_children(session, spec, children, last, upper) if children and tracked else {}
        )
        expected = counts.get(None)
        if archive is not None:
            copy_sql, copy_args = build_copy(spec, archive.sql, columns, last, upper)
            expected = session.execute(copy_sql, copy_args)
        deleted = session.execute(delete_sql, delete_args)
        if expected != deleted:
            # Only possible if rows changed between the two statements: never commit that.
            raise VerificationError(
                f"{spec.schema}.{spec.table}: chunk copied or locked {expected} rows but "
                f"deleted {deleted}; rolled back"
            )
        session.execute("COMMIT")
    except BaseException as exc:
        session.conn.rollback()
        if archive is not None:
            _explain_duplicate(exc, spec, archive)
        raise
    for group, counted in zip(tracked, _tracked_rows(run.result), strict=True):
        counted.rows = (counted.rows or 0) + counts[group]
    return deleted


def _lock_children(
    session: Any,
    spec: ChunkSpec,
    children: _Children,
    last: Sequence[Any] | None,
    upper: Sequence[Any],
) -> dict[ChildGroup | None, int]:
    """Lock and count the chunk's parents (key None) and tracked children; copy archived ones."""
    root = _range_predicate(spec, last, upper)
    counts: dict[ChildGroup | None, int] = {}
    for group in [None, *children.tracked]:
        sql, args = build_group_count(children.plan, group, root, lock=True)
        counts[group] = int(session.query_one(sql, args)["n"])
    for group in children.tracked:
        if group.table not in children.columns:
            continue
        sql, args = build_child_copy(
            children.plan, group.table, children.columns[group.table], root
        )
        copied = session.execute(sql, args)
        if copied != counts[group]:
            raise VerificationError(
                f"{table_name(group.table)}: chunk copied {copied} child rows but locked "
                f"{counts[group]}; rolled back"
            )
    return counts


def _predict_blocked(result: CleanupResult) -> None:
    """In a dry run, say that RESTRICT / NO ACTION children still referencing rows would stop it.

    A real run stops at the first chunk holding a referenced row (ERROR 1451, see
    :func:`_blocked_message`): the dry run reports that outcome (status ``failed``) instead of
    ``ok``, with the child rows counted and the fix.
    """
    blocking = [c for c in result.child_rows if c.handling == "blocks" and c.rows]
    if not blocking:
        return
    named = "; ".join(
        f"{c.rows} row(s) of {c.table} "
        f"({', '.join(map(quote_identifier, c.constraints))}, ON DELETE {c.action})"
        for c in blocking
    )
    result.status = "failed"
    result.warnings.append(
        f"rule {result.rule!r}: a real run would stop at the first chunk holding a referenced "
        f"row: {named} still reference rows it would delete. "
        + _blocked_fix(sorted({c.table for c in blocking}))
    )


def _blocked_fix(children: Sequence[str]) -> str:
    """The fixes for a rule stopped by RESTRICT / NO ACTION children (their table names)."""
    return (
        f"Fix: clean the child table [{', '.join(children)}] first (a rule of its own listed "
        "before this one, if it has a date column), or narrow this rule's where to rows no "
        "child references (over this table's own columns: a where cannot read the child), or "
        "make the constraint ON DELETE CASCADE and list the child in archive_children (an "
        "archive rule) or allow_cascade_delete (a delete rule)"
    )


def _tracked_rows(result: CleanupResult) -> list[ChildRows]:
    return [c for c in result.child_rows if c.handling != "blocks"]


def _blocked_message(run: _Run, plan: ForeignKeyPlan, where: str, error: str) -> str:
    """Name the RESTRICT / NO ACTION keys that refused a chunk, what was done, and the fix."""
    keys = blocking_constraint(error, plan)
    named = "; ".join(f"{table_name(k.child)} ({k.describe()})" for k in keys) or "another table"
    done = run.result
    return (
        f"rule {done.rule!r}: {where}: rows still referenced by {named} ([1451] {error}); "
        f"the chunk was rolled back and the rule stopped after {done.rows_deleted} rows in "
        f"{done.chunks} chunks. " + _blocked_fix(sorted({k.child[1] for k in keys}))
    )


def _explain_duplicate(exc: BaseException, spec: ChunkSpec, archive: _Archive) -> None:
    import MySQLdb

    if isinstance(exc, MySQLdb.MySQLError) and exc.args and exc.args[0] == DUPLICATE_KEY:
        raise VerificationError(
            f"archive {archive.schema}.{archive.table} already holds a row of "
            f"{spec.schema}.{spec.table} with the same key ({exc.args[1]}); the source row was "
            "re-inserted after being archived: compare both rows, remove the stale one, re-run"
        ) from exc


# ---- partitions ------------------------------------------------------------------------


def _partition_plan(
    run: _Run, rule: CleanupRule, spec: ChunkSpec, plan: _TablePlan
) -> list[Partition]:
    """Return the partitions to drop or exchange whole (none if the table does not qualify)."""
    rows = plan.partitions
    if not rows or rows[0]["subpartition_method"] is not None:
        return []
    function = partition_function(rows[0]["method"], rows[0]["expression"], rule.date_column)
    if function is None:
        return []
    if rule.where:
        # A partition holds rows the filter would keep: only the row walk honours it.
        run.result.warnings.append("partitions not dropped: the rule has a where filter")
        return []
    assert spec.cutoff is not None
    value = None
    if function != "COLUMNS":
        value = run.session.query_one(cutoff_value_sql(function), (spec.cutoff,))["v"]
    parts = [
        Partition(str(r["name"]), None if r["description"] == "MAXVALUE" else r["description"])
        for r in rows
    ]
    expired = expired_partitions(parts, function, spec.cutoff, value)
    if expired and plan.nullable.get(rule.date_column) and _has_null_dates(run, spec, expired[0]):
        # NULL dates sort into the first partition; the cutoff never removes them.
        run.result.warnings.append(
            f"partition {expired[0].name} holds NULL {rule.date_column}: cleaned row by row"
        )
        expired = expired[1:]
    return expired


def _has_null_dates(run: _Run, spec: ChunkSpec, part: Partition) -> bool:
    sql = (
        f"SELECT 1 AS x FROM {spec.table_sql} PARTITION ({quote_identifier(part.name)}) "  # noqa: S608
        f"WHERE {quote_identifier(spec.date_column)} IS NULL LIMIT 1"
    )
    return bool(run.session.query(sql))


def _clean_partition(
    run: _Run,
    spec: ChunkSpec,
    plan: _TablePlan,
    part: Partition,
    archive: _Archive | None,
    audit: AuditLog | None,
    database_name: str,
) -> None:
    """Drop one expired partition; in archive mode exchange and drain it first."""
    run.checkpoint()
    part_sql = quote_identifier(part.name)
    drop = f"ALTER TABLE {spec.table_sql} DROP PARTITION {part_sql}"
    count_sql = f"SELECT COUNT(*) AS n FROM {spec.table_sql} PARTITION ({part_sql})"  # noqa: S608
    table = f"{spec.schema}.{spec.table}"
    with _audit_action(audit, database_name, drop, table, False) as entry:
        if archive is not None:
            rows = _exchange_and_drain(run, spec, plan, part, archive)
        else:
            rows = int(run.session.query_one(count_sql)["n"])
            run.result.rows_deleted += rows
        # The partition is empty in archive mode by now; dropping it needs a metadata lock.
        run.with_lock_retry(f"drop partition {part.name}", lambda: run.session.execute(drop))
        run.result.partitions_dropped.append(part.name)
        if entry is not None:
            entry.rows = rows
            entry.details = {"partition": part.name, "bound": part.bound}
    run.log.info("cleanup %s: partition %s dropped (%s rows)", run.result.rule, part.name, rows)


def staging_name(table: str) -> str:
    """Return the staging table a partition is exchanged into (found again after a kill)."""
    return f"{STAGING_PREFIX}{table}"[:64]


def _exchange_and_drain(
    run: _Run, spec: ChunkSpec, plan: _TablePlan, part: Partition, archive: _Archive
) -> int:
    """Swap the partition with an empty staging table, then move its rows to the archive.

    EXCHANGE PARTITION needs a non-partitioned table of identical structure, so the staging
    table is created ``LIKE`` the source without partitioning. The exchange is atomic; the
    drain is the same copy+delete transaction as the row walk, so a kill at any instant
    leaves each row in exactly one place, and the next run drains what is left first.
    """
    staging = qualified(spec.schema, staging_name(spec.table))
    run.session.execute(f"CREATE TABLE IF NOT EXISTS {staging} LIKE {spec.table_sql}")
    partitioned = run.session.query(
        load_sql("cleanup_table_partitions"), (spec.schema, staging_name(spec.table))
    )
    if partitioned:
        run.session.execute(f"ALTER TABLE {staging} REMOVE PARTITIONING")
    exchange = (
        f"ALTER TABLE {spec.table_sql} EXCHANGE PARTITION {quote_identifier(part.name)} "
        f"WITH TABLE {staging}"
    )
    run.with_lock_retry(f"exchange partition {part.name}", lambda: run.session.execute(exchange))
    before = run.result.rows_archived
    _drain_staging(run, spec, plan, archive)
    return run.result.rows_archived - before


def _drain_staging(run: _Run, spec: ChunkSpec, plan: _TablePlan, archive: _Archive) -> None:
    """Move every row of the staging table (if any) into the archive, chunk by chunk."""
    name = staging_name(spec.table)
    if not run.session.query(load_sql("cleanup_table_columns"), (spec.schema, name)):
        return
    assert plan.key is not None
    # Every staged row came from an expired partition: no date predicate, no filter.
    staged = ChunkSpec(spec.schema, name, plan.key, spec.date_column, None, None)
    _walk(run, staged, plan.columns, archive)


def _drop_staging(run: _Run, spec: ChunkSpec) -> None:
    """Drop the (drained, empty) staging table, if a partition exchange created one."""
    name = staging_name(spec.table)
    if run.session.query(load_sql("cleanup_table_columns"), (spec.schema, name)):
        run.session.execute(f"DROP TABLE IF EXISTS {qualified(spec.schema, name)}")

"""Statistics refresh: ``ANALYZE TABLE`` only the tables whose statistics are stale.

What MariaDB 10.11 tells us about staleness, measured on the server (InnoDB):

* ``mysql.innodb_table_stats``: ``n_rows`` and ``last_update`` as of the last refresh
  (``ANALYZE TABLE`` or InnoDB's background auto-recalc); a table with persistent statistics
  gets its row at ``CREATE TABLE``. No row means never analysed.
* ``information_schema.TABLES.TABLE_ROWS``: InnoDB keeps it live in memory, one per inserted or
  deleted row (1,000 inserts then 300 deletes read 700 while ``n_rows`` still said 1,000). The
  drift ``|TABLE_ROWS - n_rows|`` counts net inserts and deletes since the refresh.
* ``information_schema.INNODB_SYS_TABLESTATS.MODIFIED_COUNTER`` (``INNODB_TABLESTATS`` on
  MySQL 8, ``Dialect.innodb_tablestats_table``): rows inserted, deleted or updated in an
  indexed column since InnoDB last computed the statistics; reset by ``ANALYZE TABLE``. It also sees
  updates and insert+delete churn that leaves the row count unchanged, but lives in memory
  only (tables opened since the server started).

So a table needs a refresh when it has no persistent statistics yet, or when
``max(MODIFIED_COUNTER, |TABLE_ROWS - n_rows|) / n_rows`` reaches the configured ratio. Both
signals reset at a server restart (InnoDB reloads ``TABLE_ROWS`` from ``n_rows``), so changes
made before a restart are not seen; InnoDB's own auto-recalc (``innodb_stats_auto_recalc``,
at 10 %) still covers those tables. Tables of other engines have no change counters and are
reported, not analysed.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.dialect import PERFORMANCE_SCHEMA_METADATA_LOCKS
from maintenance_ops.core.exceptions import PreflightError
from maintenance_ops.core.identifiers import qualified, validate_identifier
from maintenance_ops.core.results import BudgetedRun
from maintenance_ops.core.sqlfiles import load_sql
from maintenance_ops.upkeep.index_analysis import decode_table_name, naive_utc

if TYPE_CHECKING:
    from maintenance_ops.core.audit import AuditLog
    from maintenance_ops.core.session import MaintenanceSession

log = logging.getLogger(__name__)

DEFAULT_RATIO = 0.1
# Lock wait timeout, deadlock, statement time limits (MariaDB, MySQL): leave for the next run.
RETRY_LATER_ERRORS = frozenset({1205, 1213, 1969, 3024})
# On MySQL before 8.0.24, a session using a table this long defers its ANALYZE TABLE.
ANALYZE_GUARD_AGE_S = 10.0
# InnoDB's in-memory counters need PROCESS; the query fails cleanly without it.
COUNTERS_MISSING_ERRORS = frozenset({1044, 1109, 1142, 1227})


@dataclass(frozen=True)
class TableStatsState:
    """What the catalog says about one table's statistics."""

    schema: str
    table: str
    engine: str | None
    table_rows: int  # live estimate (InnoDB: follows every insert and delete)
    stats_rows: int | None = None  # n_rows at the last refresh; None: no persistent statistics
    stats_updated: datetime | None = None
    modified: int | None = None  # MODIFIED_COUNTER; None when unknown (table not loaded)
    persistent: bool = True  # STATS_PERSISTENT in effect for the table


@dataclass(frozen=True)
class StaleTable:
    """A table selected for ``ANALYZE TABLE`` and why."""

    schema: str
    table: str
    reason: str
    rows: int
    changed: int | None = None
    change_ratio: float | None = None

    @property
    def name(self) -> str:
        """Return ``schema.table``."""
        return f"{self.schema}.{self.table}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


@dataclass
class StatisticsResult(BudgetedRun):
    """The outcome of one statistics refresh over some schemas of one database."""

    database: str
    schemas: list[str]
    dry_run: bool
    ratio: float
    time_budget_s: float | None
    examined: int = 0
    selected: list[StaleTable] = field(default_factory=list)
    analysed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0


# --------------------------------------------------------------------------------------------
# Pure selection
# --------------------------------------------------------------------------------------------


def needs_refresh(state: TableStatsState, ratio: float = DEFAULT_RATIO) -> StaleTable | None:
    """Return the table with the reason its statistics need a refresh, or None if they do not."""
    if (state.engine or "").lower() != "innodb":
        return None
    if state.persistent and state.stats_rows is None:
        return StaleTable(
            state.schema,
            state.table,
            "never analysed (no persistent statistics in mysql.innodb_table_stats)",
            state.table_rows,
        )
    base = state.stats_rows if state.stats_rows is not None else state.table_rows
    drift = abs(state.table_rows - base) if state.stats_rows is not None else 0
    changed = max(state.modified or 0, drift)
    change_ratio = changed / max(base, 1)
    if changed == 0 or change_ratio < ratio:
        return None
    reason = (
        f"{changed} rows changed since the last refresh"
        + (f" ({state.stats_updated:%Y-%m-%d %H:%M})" if state.stats_updated else "")
        + f": {change_ratio:.0%} of {base} rows >= {ratio:.0%}"
    )
    return StaleTable(state.schema, state.table, reason, state.table_rows, changed, change_ratio)


def select_stale(
    states: Iterable[TableStatsState], ratio: float = DEFAULT_RATIO
) -> list[StaleTable]:
    """Return the tables needing a refresh: never analysed first, then most changed first."""
    stale = [s for s in (needs_refresh(state, ratio) for state in states) if s is not None]
    return sorted(
        stale,
        key=lambda s: (s.change_ratio is not None, -(s.change_ratio or 0.0), s.schema, s.table),
    )


def is_persistent(create_options: str | None, global_default: bool) -> bool:
    """Return whether a table keeps persistent statistics (its STATS_PERSISTENT, else global)."""
    options = (create_options or "").lower().replace(" ", "")
    if "stats_persistent=0" in options:
        return False
    if "stats_persistent=1" in options:
        return True
    return global_default


# --------------------------------------------------------------------------------------------
# Catalog access
# --------------------------------------------------------------------------------------------


def _like_prefix(schema: str) -> str:
    """Return the LIKE pattern matching InnoDB names ``schema/...`` (file-name encoded)."""
    encoded = "".join(c if c.isalnum() or c == "_" else f"@{ord(c):04x}" for c in schema)
    return encoded.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "/%"


def read_counters(
    session: MaintenanceSession, schemas: Sequence[str], notes: list[str]
) -> dict[tuple[str, str], int]:
    """Return InnoDB's modified counters per table (partitions summed), or {} with a note."""
    import MySQLdb

    counters: dict[tuple[str, str], int] = defaultdict(int)
    assert session.dialect is not None
    sql = load_sql("innodb_modified_counters", **session.dialect.catalog_names)
    for schema in schemas:
        try:
            rows = session.query(sql, (_like_prefix(schema),))
        except (MySQLdb.OperationalError, MySQLdb.ProgrammingError) as exc:
            if exc.args[0] not in COUNTERS_MISSING_ERRORS:
                raise
            notes.append(
                f"InnoDB modified counters unavailable ({exc.args[1]}); selecting on row-count "
                "drift only (grant PROCESS to see updates too)"
            )
            return {}
        for row in rows:
            table = decode_table_name(str(row["name"]).split("/", 1)[1])
            counters[(schema, table)] += int(row["modified_counter"] or 0)
    return dict(counters)


def read_persistent_stats(
    session: MaintenanceSession, schemas: Sequence[str]
) -> dict[tuple[str, str], tuple[int, datetime]]:
    """Return ``(n_rows, last_update)`` per table; partitions summed, oldest update kept."""
    import MySQLdb

    stats: dict[tuple[str, str], tuple[int, datetime]] = {}
    try:
        rows = session.query(load_sql("innodb_table_stats"), {"schemas": tuple(schemas)})
    except (MySQLdb.OperationalError, MySQLdb.ProgrammingError) as exc:
        if exc.args[0] not in (1142, 1044):
            raise
        # Without it every table would look never analysed and all would be analysed.
        raise PreflightError(
            f"cannot read mysql.innodb_table_stats ({exc.args[1]}): grant SELECT ON "
            "mysql.innodb_table_stats to the maintenance account"
        ) from None
    for row in rows:
        key = (row["schema_name"], decode_table_name(row["table_name"]))
        n_rows, updated = int(row["n_rows"]), row["last_update"]
        if key in stats:
            n_rows, updated = n_rows + stats[key][0], min(updated, stats[key][1])
        stats[key] = (n_rows, updated)
    return stats


def read_states(
    session: MaintenanceSession, schemas: Sequence[str], notes: list[str]
) -> list[TableStatsState]:
    """Read every base table's statistics state: three catalog queries, none per table."""
    global_persistent = bool(
        int(session.query_one("SELECT @@innodb_stats_persistent AS p")["p"] or 0)
    )
    persistent_stats = read_persistent_stats(session, schemas)
    counters = read_counters(session, schemas, notes)
    states = []
    sql = load_sql("table_stats_state")
    for schema in schemas:
        for row in session.query(sql, (schema,)):
            key = (row["schema_name"], row["table_name"])
            stats = persistent_stats.get(key)
            states.append(
                TableStatsState(
                    schema=key[0],
                    table=key[1],
                    engine=row["engine"],
                    table_rows=int(row["table_rows"] or 0),
                    stats_rows=stats[0] if stats else None,
                    stats_updated=stats[1] if stats else None,
                    modified=counters.get(key),
                    persistent=is_persistent(row["create_options"], global_persistent),
                )
            )
    return states


def analyze_guard(session: MaintenanceSession, schema: str, table: str, max_age_s: float) -> str:
    """Return why ANALYZE TABLE must wait on this server (empty: go ahead).

    Only where ANALYZE TABLE waits for long transactions
    (:meth:`~maintenance_ops.core.dialect.Dialect.analyze_waits_for_long_transactions`): a session
    that has used the table for ``max_age_s`` or more defers it to the next run. When the
    sessions cannot be seen, the table is deferred too, naming the grant.
    """
    import MySQLdb

    assert session.dialect is not None
    if not session.dialect.analyze_waits_for_long_transactions():
        return ""
    try:
        holders = load_sql(PERFORMANCE_SCHEMA_METADATA_LOCKS.holders_file)
        rows = [r for r in session.query(holders, (schema, table)) if r["age_s"] >= max_age_s]
    except (MySQLdb.OperationalError, MySQLdb.ProgrammingError) as exc:
        return (
            f"cannot see which sessions use the table ({exc.args[-1]}); ANALYZE TABLE on "
            f"{session.dialect.version} waits for them: grant SELECT ON performance_schema.*"
        )
    if not rows:
        return ""
    first = rows[0]
    return (
        f"{len(rows)} session(s) using the table for {max_age_s:g}s or more (longest: thread "
        f"{first['thread_id']}, {first['age_s']}s, user {first['user_name']}): ANALYZE TABLE on "
        f"{session.dialect.version} would queue queries behind them (fixed in MySQL 8.0.24)"
    )


def deferred_by_guard(
    session: MaintenanceSession,
    entry: Any,
    skipped: list[dict[str, str]],
    table: tuple[str, str],
    max_age_s: float,
) -> bool:
    """Run :func:`analyze_guard`; when it says wait, mark the audit action and list the table."""
    blocker = analyze_guard(session, *table, max_age_s)
    if blocker:
        entry.outcome = "skipped"
        entry.details["error"] = blocker
        skipped.append({"table": f"{table[0]}.{table[1]}", "reason": blocker})
    return bool(blocker)


def _other_engines(states: Iterable[TableStatsState]) -> Mapping[str, int]:
    engines: dict[str, int] = defaultdict(int)
    for state in states:
        if (state.engine or "").lower() != "innodb":
            engines[state.engine or "unknown"] += 1
    return engines


# --------------------------------------------------------------------------------------------
# Refresh
# --------------------------------------------------------------------------------------------


def refresh_statistics(
    session: MaintenanceSession,
    schemas: Sequence[str],
    audit: AuditLog,
    database_name: str,
    *,
    dry_run: bool,
    time_budget_s: float | None,
    ratio: float = DEFAULT_RATIO,
    now: datetime,
    max_trx_age_s: float = ANALYZE_GUARD_AGE_S,
) -> StatisticsResult:
    """Run ``ANALYZE TABLE`` on the stale tables of ``schemas`` within a time budget.

    :param session: an open maintenance session on the target.
    :param schemas: the schemas to examine (validated identifiers).
    :param audit: the audit log; each table is one action.
    :param database_name: the database's name in configuration (audit rows, messages).
    :param dry_run: list what would be analysed, change nothing.
    :param time_budget_s: seconds for the whole refresh, checked before each table (a running
        ANALYZE is never interrupted); None means no limit. Ignored by a dry run.
    :param ratio: changed rows / rows at the last refresh from which a table is stale.
    :param now: the run's logical time, recorded in each audit action's details.
    :param max_trx_age_s: on MySQL before 8.0.24, a session using a table this long defers its
        ANALYZE (see :func:`analyze_guard`).
    """
    started = time.monotonic()
    names = [validate_identifier(s, "schema") for s in schemas]
    result = StatisticsResult(database_name, names, dry_run, ratio, time_budget_s)
    states = read_states(session, names, result.notes) if names else []
    result.examined = len(states)
    result.selected = select_stale(states, ratio)
    for engine, count in sorted(_other_engines(states).items()):
        result.notes.append(f"{count} {engine} table(s) not examined: no change counters")
    analyze_selected(
        session,
        audit,
        result,
        now=now,
        started=started,
        time_budget_s=time_budget_s,
        max_trx_age_s=max_trx_age_s,
    )
    log.info(
        "statistics of %s: %s tables examined, %s stale, %s analysed, %s left, %s failed, "
        "dry_run=%s in %.2fs",
        database_name,
        result.examined,
        len(result.selected),
        len(result.analysed),
        len(result.left),
        len(result.failed),
        dry_run,
        result.duration_s,
    )
    return result


def analyze_selected(
    session: MaintenanceSession,
    audit: AuditLog,
    result: StatisticsResult,
    *,
    now: datetime,
    started: float,
    time_budget_s: float | None,
    max_trx_age_s: float = ANALYZE_GUARD_AGE_S,
) -> None:
    """``ANALYZE TABLE`` each of ``result.selected`` in order, one audit action each.

    The time budget (counted from ``started``, a ``time.monotonic()`` reading) is checked before
    each table; what it leaves goes to ``result.left``. A dry run only records what it would do.
    Sets ``result.duration_s``.
    """
    stamp = naive_utc(now).isoformat()
    how = (result.dry_run, stamp, max_trx_age_s)
    for position, stale in enumerate(result.selected):
        if not result.dry_run and _out_of_time(started, time_budget_s):
            result.left = [s.name for s in result.selected[position:]]
            result.notes.append(
                f"time budget of {time_budget_s:g}s used up: {len(result.left)} table(s) left "
                "for the next run"
            )
            break
        _analyze_one(session, audit, result.database, stale, result, how)
    result.duration_s = time.monotonic() - started


def _out_of_time(started: float, budget: float | None) -> bool:
    return budget is not None and time.monotonic() - started >= budget


def _analyze_one(
    session: MaintenanceSession,
    audit: AuditLog,
    database_name: str,
    stale: StaleTable,
    result: StatisticsResult,
    how: tuple[bool, str, float],
) -> None:
    """Analyse one table inside its audit action; lock waits and errors are recorded, not raised.

    :param how: ``(dry_run, logical time stamp, guard age)``.
    """
    import MySQLdb

    dry_run, stamp, max_trx_age_s = how
    sql = f"ANALYZE TABLE {qualified(stale.schema, stale.table)}"
    with audit.action(database_name, sql, stale.name, dry_run=dry_run) as entry:
        entry.details = {**stale.to_dict(), "logical_time": stamp}
        if dry_run:
            log.info("dry run: would run %s (%s)", sql, stale.reason)
            return
        if deferred_by_guard(
            session, entry, result.skipped, (stale.schema, stale.table), max_trx_age_s
        ):
            return
        try:
            messages = session.query(sql)
        except MySQLdb.OperationalError as exc:
            if exc.args[0] not in RETRY_LATER_ERRORS:
                raise
            entry.outcome = "skipped"
            entry.details["error"] = str(exc.args[1])
            result.skipped.append({"table": stale.name, "reason": str(exc.args[1])})
            return
        error = _analyze_error(messages)
        if error is None:
            result.analysed.append(stale.name)
            return
        entry.details["error"] = error
        if "lock wait timeout" in error.lower():  # admin statements report it as a row
            entry.outcome = "skipped"
            result.skipped.append({"table": stale.name, "reason": error})
        else:
            entry.outcome = "failed"
            result.failed.append({"table": stale.name, "error": error})


def _analyze_error(messages: Iterable[Mapping[str, Any]]) -> str | None:
    """Return the error ANALYZE TABLE reported in its result rows, if any."""
    errors = [str(m.get("Msg_text")) for m in messages if str(m.get("Msg_type")).lower() == "error"]
    return "; ".join(errors) or None

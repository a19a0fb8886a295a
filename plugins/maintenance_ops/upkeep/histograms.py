"""Deep statistics: a full refresh with histograms on the columns that benefit.

Which columns: those that lead no index, of types a histogram describes well (numbers, dates and
times, ENUM/SET, strings up to 255 characters), in column order, at most
``max_columns_per_table`` per table. Why: the optimizer estimates a condition on a column that
leads an index from the index itself (index dives), so a histogram adds little there; for a
column without one it assumes a fixed selectivity, which is where wrong join orders and full
scans come from. Long strings, BLOB/TEXT, JSON and spatial columns are left out: their
histograms are expensive to build and rarely used. The rule reads only the catalog, so a run
always picks the same columns for the same schema; digests (which columns the workload filters
on) would pick better but change from week to week.

MariaDB builds them with ``ANALYZE TABLE ... PERSISTENT FOR COLUMNS (...) INDEXES ALL`` into
``mysql.column_stats``; the session's ``histogram_size`` (0 = no histogram on some versions) and
``histogram_type`` decide their shape, so they are set for the statement and restored after.
MySQL 8 builds them with ``ANALYZE TABLE ... UPDATE HISTOGRAM``, which leaves the index
statistics alone, so a plain ``ANALYZE TABLE`` runs first there (a *full* refresh). Which
statements run is the dialect's choice (``Dialect.full_statistics_sql``). On MySQL before
8.0.24 the plain ANALYZE is guarded like the daily refresh
(:func:`~maintenance_ops.upkeep.statistics.analyze_guard`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.identifiers import qualified, quote_identifier, validate_identifier
from maintenance_ops.core.results import BudgetedRun
from maintenance_ops.core.sqlfiles import load_sql
from maintenance_ops.upkeep.statistics import ANALYZE_GUARD_AGE_S, deferred_by_guard

if TYPE_CHECKING:
    from maintenance_ops.core.audit import AuditLog
    from maintenance_ops.core.dialect import Dialect
    from maintenance_ops.core.session import MaintenanceSession

log = logging.getLogger(__name__)

DEFAULT_MAX_COLUMNS = 8
HISTOGRAM_BUCKETS = 254  # MariaDB's histogram_size caps at 255
MAX_STRING_LENGTH = 255
HISTOGRAM_TYPES = frozenset(
    {
        "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
        "float", "double", "bit", "date", "datetime", "timestamp", "time", "year", "enum", "set",
    }
)  # fmt: skip
STRING_TYPES = frozenset({"char", "varchar", "binary", "varbinary"})
RETRY_LATER_ERRORS = frozenset({1205, 1213, 1969, 3024})


@dataclass
class TablePlan:
    """The columns of one table that get histograms."""

    schema: str
    table: str
    columns: list[str]

    @property
    def name(self) -> str:
        """Return ``schema.table``."""
        return f"{self.schema}.{self.table}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


@dataclass
class HistogramResult(BudgetedRun):
    """The outcome of one histogram refresh over some schemas of one database."""

    database: str
    schemas: list[str]
    dry_run: bool
    time_budget_s: float | None
    planned: list[TablePlan] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    histograms: dict[str, int] = field(default_factory=dict)  # table -> columns with one
    left: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0


# --------------------------------------------------------------------------------------------
# Pure decisions
# --------------------------------------------------------------------------------------------


def benefits(column: Mapping[str, Any]) -> bool:
    """Return whether a catalog column row is a histogram candidate (see the module doc)."""
    if int(column.get("leads_index") or 0):
        return False
    data_type = str(column.get("data_type") or "").lower()
    if data_type in HISTOGRAM_TYPES:
        return True
    length = column.get("max_length")
    return data_type in STRING_TYPES and length is not None and int(length) <= MAX_STRING_LENGTH


def plan_histograms(
    columns: Iterable[Mapping[str, Any]], max_columns_per_table: int = DEFAULT_MAX_COLUMNS
) -> list[TablePlan]:
    """Group candidate columns by table, in catalog order, capped per table (pure)."""
    plans: dict[tuple[str, str], TablePlan] = {}
    ordered = sorted(columns, key=lambda c: (c["schema_name"], c["table_name"], int(c["position"])))
    for column in ordered:
        if not benefits(column):
            continue
        key = (column["schema_name"], column["table_name"])
        plan = plans.setdefault(key, TablePlan(*key, []))
        if len(plan.columns) < max_columns_per_table:
            plan.columns.append(column["column_name"])
    return list(plans.values())


def statements_for(dialect: Dialect, plan: TablePlan) -> list[str]:
    """Return the full-statistics statements for one table plan (identifiers quoted)."""
    columns = [quote_identifier(c) for c in plan.columns]
    return dialect.full_statistics_sql(qualified(plan.schema, plan.table), columns)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def refresh_histograms(
    session: MaintenanceSession,
    schemas: Sequence[str],
    *,
    audit: AuditLog,
    database_name: str,
    dry_run: bool,
    time_budget_s: float | None,
    max_columns_per_table: int = DEFAULT_MAX_COLUMNS,
    max_trx_age_s: float = ANALYZE_GUARD_AGE_S,
) -> HistogramResult:
    """Refresh statistics with histograms on the columns that benefit, within a time budget.

    :param session: an open maintenance session on the target.
    :param schemas: the schemas to refresh (validated identifiers).
    :param audit: the audit log; each table is one action.
    :param database_name: the database's name in configuration (audit rows, messages).
    :param dry_run: list the statements, change nothing.
    :param time_budget_s: seconds for the run, checked before each table (a running ANALYZE is
        never interrupted); None means no limit. Ignored by a dry run.
    :param max_columns_per_table: most columns per table to build histograms on.
    :param max_trx_age_s: on MySQL before 8.0.24, a transaction open this long on a table
        defers its refresh (see :func:`~maintenance_ops.upkeep.statistics.analyze_guard`).
    """
    started = time.monotonic()
    names = [validate_identifier(s, "schema") for s in schemas]
    result = HistogramResult(database_name, names, dry_run, time_budget_s)
    assert session.dialect is not None, "open the session first"
    dialect = session.dialect
    rows = session.query(load_sql("histogram_columns"), {"schemas": tuple(names)}) if names else []
    result.planned = plan_histograms(rows, max_columns_per_table)
    settings = dialect.histogram_session_settings(HISTOGRAM_BUCKETS)
    saved = _set_session(session, settings) if settings and not dry_run else {}
    try:
        for position, plan in enumerate(result.planned):
            if not dry_run and _out_of_time(started, time_budget_s):
                result.left = [p.name for p in result.planned[position:]]
                result.notes.append(
                    f"time budget of {time_budget_s:g}s used up: {len(result.left)} table(s) "
                    "left for the next run"
                )
                break
            _refresh_one(session, audit, database_name, plan, result, dry_run, max_trx_age_s)
    finally:
        if saved:
            _set_session(session, saved)
    result.duration_s = time.monotonic() - started
    log.info(
        "histograms of %s: %s tables planned, %s refreshed, %s left, %s failed, dry_run=%s "
        "in %.2fs",
        database_name,
        len(result.planned),
        len(result.refreshed),
        len(result.left),
        len(result.failed),
        dry_run,
        result.duration_s,
    )
    return result


def _out_of_time(started: float, budget: float | None) -> bool:
    return budget is not None and time.monotonic() - started >= budget


def _set_session(session: MaintenanceSession, values: Mapping[str, Any]) -> dict[str, Any]:
    """Set session variables (names from our own constants); return their previous values."""
    # SHOW VARIABLES returns text; numeric variables refuse a quoted number when restored.
    previous = {
        name: int(v) if isinstance(v, str) and v.isdigit() else v
        for name, v in ((n, session.variable(n)) for n in values)
    }
    for name, value in values.items():
        session.execute(f"SET SESSION {name} = %s", (value,))
    return previous


def _refresh_one(
    session: MaintenanceSession,
    audit: AuditLog,
    database_name: str,
    plan: TablePlan,
    result: HistogramResult,
    dry_run: bool,
    max_trx_age_s: float,
) -> None:
    """Refresh one table's statistics and histograms inside its audit action; verify them."""
    import MySQLdb

    assert session.dialect is not None
    statements = statements_for(session.dialect, plan)
    sql = "; ".join(statements)
    with audit.action(database_name, sql, plan.name, dry_run=dry_run) as entry:
        entry.details = {"columns": plan.columns}
        if dry_run:
            log.info("dry run: would run %s", sql)
            return
        if deferred_by_guard(
            session, entry, result.skipped, (plan.schema, plan.table), max_trx_age_s
        ):
            return
        try:
            messages = [m for statement in statements for m in session.query(statement)]
        except MySQLdb.OperationalError as exc:
            if exc.args[0] not in RETRY_LATER_ERRORS:
                raise
            entry.outcome = "skipped"
            result.skipped.append({"table": plan.name, "reason": str(exc.args[1])})
            return
        error = _error_in(messages) or _verify(session, plan, result)
        if error:
            entry.outcome = "failed"
            entry.details["error"] = error
            result.failed.append({"table": plan.name, "error": error})
        else:
            result.refreshed.append(plan.name)


def _error_in(messages: Iterable[Mapping[str, Any]]) -> str | None:
    errors = [str(m.get("Msg_text")) for m in messages if str(m.get("Msg_type")).lower() == "error"]
    return "; ".join(errors) or None


def _verify(session: MaintenanceSession, plan: TablePlan, result: HistogramResult) -> str | None:
    """Count the table's columns with a stored histogram; an error text when there are none."""
    assert session.dialect is not None
    sql = session.dialect.histogram_count_sql()
    count = int(session.query_one(sql, (plan.schema, plan.table))["n"])
    result.histograms[plan.name] = count
    if count == 0:
        return f"no histogram stored for {plan.name} after ANALYZE (columns {plan.columns})"
    return None

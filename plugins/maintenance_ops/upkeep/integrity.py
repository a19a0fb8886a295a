"""Integrity: ``CHECK TABLE`` over every table, resumable across runs, corruption reported.

Large databases cannot be checked in one window, so the walk follows a stable order
(schema, table) and a cursor in ``<history_schema>.integrity_progress`` remembers the last table
checked. Each run starts after it and wraps around, so every table is checked once per cycle
and no run checks a table twice. A run always checks at least one table: a table slower than
the whole budget would otherwise stall the cycle forever.

What ``CHECK TABLE`` returns is classified by a pure function: ``error`` rows or a final status
other than ``OK`` mean corruption; "doesn't exist", "is missing" and "Can't find file" mean a
missing table or file; a note that the engine cannot check is not a finding.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.identifiers import qualified, validate_identifier
from maintenance_ops.core.sqlfiles import load_sql, split_statements
from maintenance_ops.upkeep.index_analysis import naive_utc

if TYPE_CHECKING:
    from maintenance_ops.core.audit import AuditLog
    from maintenance_ops.core.session import MaintenanceSession

log = logging.getLogger(__name__)

TableName = tuple[str, str]
# Lock wait timeout, deadlock, statement time limits: not a finding, check in a later run.
RETRY_LATER_ERRORS = frozenset({1205, 1213, 1969, 3024})
# The table vanished between listing and checking (dropped by the application).
DROPPED_ERRORS = frozenset({1146})
_MISSING_MARKERS = ("doesn't exist", "is missing", "can't find file", "cannot find", "no such")


@dataclass(frozen=True)
class CheckOutcome:
    """How one table's ``CHECK TABLE`` went: ``ok``, ``corrupt``, ``missing`` or ``unsupported``."""

    kind: str
    message: str = ""


@dataclass
class IntegrityResult:
    """The outcome of one integrity run over some schemas of one database."""

    database: str
    schemas: list[str]
    dry_run: bool
    time_budget_s: float | None
    planned: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    corrupt: list[dict[str, str]] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    resumed_from: str | None = None
    left: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def budget_exhausted(self) -> bool:
        """Return whether the time budget stopped the run before every table."""
        return bool(self.left)

    @property
    def critical(self) -> bool:
        """Return whether a finding calls for a critical alert (corrupt or missing table)."""
        return bool(self.corrupt or self.missing)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (for XCom and reports)."""
        return {
            "database": self.database,
            "schemas": list(self.schemas),
            "dry_run": self.dry_run,
            "time_budget_s": self.time_budget_s,
            "planned": list(self.planned),
            "checked": list(self.checked),
            "corrupt": list(self.corrupt),
            "missing": list(self.missing),
            "errors": list(self.errors),
            "unsupported": list(self.unsupported),
            "resumed_from": self.resumed_from,
            "left": list(self.left),
            "budget_exhausted": self.budget_exhausted,
            "critical": self.critical,
            "notes": list(self.notes),
            "duration_s": round(self.duration_s, 3),
        }


# --------------------------------------------------------------------------------------------
# Pure decisions
# --------------------------------------------------------------------------------------------


def walk_order(tables: Sequence[TableName], cursor: TableName | None) -> list[TableName]:
    """Return the tables in check order: those after ``cursor`` first, then wrap around.

    ``tables`` need not contain the cursor (it may have been dropped): the walk resumes at the
    first table sorting after it.
    """
    ordered = sorted(tables)
    if cursor is None:
        return ordered
    after = [t for t in ordered if t > cursor]
    return after + [t for t in ordered if t <= cursor]


def classify_check(rows: Iterable[Mapping[str, Any]]) -> CheckOutcome:
    """Classify the result rows of ``CHECK TABLE`` for one table (pure)."""
    errors: list[str] = []
    status = "OK"
    unsupported = False
    for row in rows:
        kind = str(row.get("Msg_type") or "").lower()
        text = str(row.get("Msg_text") or "")
        if kind == "error":
            errors.append(text)
        elif kind == "status":
            status = text
        elif kind == "note" and "doesn't support check" in text.lower():
            unsupported = True
    message = "; ".join(errors + ([] if status.upper() == "OK" else [status]))
    if any(marker in message.lower() for marker in _MISSING_MARKERS):
        return CheckOutcome("missing", message)
    if message and not (unsupported and not errors):
        return CheckOutcome("corrupt", message)
    if unsupported:
        return CheckOutcome("unsupported", status)
    return CheckOutcome("ok")


def _name(table: TableName) -> str:
    return f"{table[0]}.{table[1]}"


# --------------------------------------------------------------------------------------------
# Progress cursor and catalog
# --------------------------------------------------------------------------------------------


class IntegrityProgress:
    """The resume cursor of each database in ``<history_schema>.integrity_progress``."""

    def __init__(self, session: MaintenanceSession, history_schema: str) -> None:
        self.session = session
        for statement in split_statements(
            load_sql("integrity_create_progress", history_schema=history_schema)
        ):
            session.execute(statement)
        self.table = qualified(history_schema, "integrity_progress")

    def read(self, database: str) -> TableName | None:
        """Return the last table checked for ``database``, or None before the first run."""
        rows = self.session.query(
            f"SELECT last_schema, last_table FROM {self.table} WHERE database_name = %s",  # noqa: S608
            (database,),
        )
        return (rows[0]["last_schema"], rows[0]["last_table"]) if rows else None

    def write(self, database: str, table: TableName, when: datetime) -> None:
        """Remember ``table`` as the last one checked."""
        self.session.execute(
            f"INSERT INTO {self.table} (database_name, last_schema, last_table, updated_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE last_schema = VALUES(last_schema), "
            "last_table = VALUES(last_table), updated_at = VALUES(updated_at)",
            (database, table[0], table[1], naive_utc(when)),
        )


def list_tables(session: MaintenanceSession, schemas: Sequence[str]) -> list[TableName]:
    """Return every base table of ``schemas`` (one catalog query)."""
    if not schemas:
        return []
    rows = session.query(load_sql("integrity_tables"), {"schemas": tuple(schemas)})
    return [(r["schema_name"], r["table_name"]) for r in rows]


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def check_tables(
    session: MaintenanceSession,
    schemas: Sequence[str],
    *,
    audit: AuditLog,
    database_name: str,
    history_schema: str,
    time_budget_s: float | None,
    now: datetime,
    dry_run: bool,
) -> IntegrityResult:
    """Run ``CHECK TABLE`` on the tables of ``schemas``, resuming where the last run stopped.

    :param session: an open maintenance session on the target (also holds the cursor table).
    :param schemas: the schemas to check (validated identifiers).
    :param audit: the audit log; each table checked is one action.
    :param database_name: the database's name in configuration (cursor key, audit, messages).
    :param history_schema: the schema holding ``integrity_progress``.
    :param time_budget_s: seconds for the run, checked before each table (a running check is
        never interrupted; at least one table is always checked); None means no limit.
    :param now: the run's logical time, stored with the cursor.
    :param dry_run: list the tables that would be checked; check nothing, move no cursor.
    """
    started = time.monotonic()
    names = [validate_identifier(s, "schema") for s in schemas]
    result = IntegrityResult(database_name, names, dry_run, time_budget_s)
    progress = IntegrityProgress(session, validate_identifier(history_schema, "history schema"))
    cursor = progress.read(database_name)
    result.resumed_from = _name(cursor) if cursor else None
    order = walk_order(list_tables(session, names), cursor)
    for position, table in enumerate(order):
        if dry_run:
            result.planned.append(_name(table))
            continue
        if position > 0 and _out_of_time(started, time_budget_s):
            result.left = [_name(t) for t in order[position:]]
            result.notes.append(
                f"time budget of {time_budget_s:g}s used up: {len(result.left)} table(s) left; "
                f"the next run resumes after {_name(order[position - 1])}"
            )
            break
        _check_one(session, audit, database_name, table, result)
        progress.write(database_name, table, now)
    if dry_run:
        result.notes.append(f"dry run: would check {len(result.planned)} table(s)")
    result.duration_s = time.monotonic() - started
    log.info(
        "integrity of %s: %s checked, %s corrupt, %s missing, %s errors, %s left, dry_run=%s "
        "in %.2fs",
        database_name,
        len(result.checked),
        len(result.corrupt),
        len(result.missing),
        len(result.errors),
        len(result.left),
        dry_run,
        result.duration_s,
    )
    return result


def _out_of_time(started: float, budget: float | None) -> bool:
    return budget is not None and time.monotonic() - started >= budget


def _check_one(
    session: MaintenanceSession,
    audit: AuditLog,
    database_name: str,
    table: TableName,
    result: IntegrityResult,
) -> None:
    """Check one table inside its audit action and file the outcome in ``result``."""
    import MySQLdb

    sql = f"CHECK TABLE {qualified(*table)}"
    name = _name(table)
    with audit.action(database_name, sql, name) as entry:
        try:
            outcome = classify_check(session.query(sql))
        except MySQLdb.OperationalError as exc:
            if exc.args[0] not in RETRY_LATER_ERRORS | DROPPED_ERRORS:
                raise
            entry.outcome = "skipped"
            entry.details = {"error": str(exc.args[1])}
            result.errors.append({"schema": table[0], "table": table[1], "msg": str(exc.args[1])})
            return
        result.checked.append(name)
        entry.details = {"result": outcome.kind, "message": outcome.message}
        finding = {"schema": table[0], "table": table[1], "msg": outcome.message}
        if outcome.kind == "corrupt":
            entry.outcome = "failed"
            result.corrupt.append(finding)
            log.error("CHECK TABLE %s: corrupt: %s", name, outcome.message)
        elif outcome.kind == "missing":
            entry.outcome = "failed"
            result.missing.append(finding)
            log.error("CHECK TABLE %s: missing: %s", name, outcome.message)
        elif outcome.kind == "unsupported":
            result.unsupported.append(name)

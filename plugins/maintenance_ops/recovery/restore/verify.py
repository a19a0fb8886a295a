"""Verify a restored copy against its manifest: objects, definitions, tables, counts, heartbeat."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from maintenance_ops.core import sqlexec
from maintenance_ops.core.checks import Check, Status
from maintenance_ops.core.sqlfiles import load_sql
from maintenance_ops.recovery.definitions import (
    DEFINITIONS_FORMAT,
    definition_problems,
    read_definitions,
)

log = logging.getLogger(__name__)


# Approximate counts (information_schema estimates) drift; 10% catches a lost table's rows.
APPROX_COUNT_TOLERANCE = 0.10
_CHECK_OK = ("OK", "Table is already up to date")


@dataclass
class VerifyReport:
    """The checks run against a restored copy."""

    checks: list[Check] = field(default_factory=list)
    objects: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed(self) -> list[Check]:
        """Return the checks that failed."""
        return [c for c in self.checks if c.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"checks": [c.to_dict() for c in self.checks], "objects": self.objects}


def split_object(name: str) -> tuple[str, str]:
    """Split a manifest name ``schema.name`` or ``schema.name (PROCEDURE)`` into its parts."""
    schema, _, rest = name.partition(".")
    return schema, rest.split(" (", 1)[0]


def missing_objects(expected: dict[str, list[str]], found: dict[str, list[str]]) -> list[str]:
    """Return ``kind name`` for every manifest object absent from the restore."""
    missing: list[str] = []
    for kind, names in sorted(expected.items()):
        present = set(found.get(kind, []))
        missing += [f"{kind[:-1]} {name}" for name in names if name not in present]
    return missing


def count_mismatch(table: str, expected: int, actual: int, exact: bool) -> str | None:
    """Return a problem when ``actual`` differs from ``expected`` beyond the tolerance."""
    if exact:
        return None if actual == expected else f"{table}: {actual} rows, manifest {expected}"
    allowed = max(1, int(expected * APPROX_COUNT_TOLERANCE))
    if abs(actual - expected) <= allowed:
        return None
    return f"{table}: {actual} rows, manifest ~{expected} (tolerance {allowed})"


def check_table_ok(rows: Sequence[Sequence[Any]]) -> bool:
    """Return whether ``CHECK TABLE`` output says the table is sound."""
    statuses = [r for r in rows if str(r[2]).lower() == "status"]
    errors = [r for r in rows if str(r[2]).lower() == "error"]
    return not errors and bool(statuses) and all(str(r[3]) in _CHECK_OK for r in statuses)


def restored_objects(conn: Any, schemas: Sequence[str]) -> dict[str, list[str]]:
    """Return the objects of ``schemas`` on the target, keyed like the manifest's ``objects``."""
    found: dict[str, list[str]] = {
        k: [] for k in ("tables", "views", "routines", "triggers", "events")
    }
    if not schemas:
        return found
    for kind, name in sqlexec.rows(conn, load_sql("restore_objects"), {"schemas": tuple(schemas)}):
        found[str(kind)].append(str(name))
    return {k: sorted(v) for k, v in found.items()}


def _objects_check(conn: Any, manifest: dict[str, Any], report: VerifyReport) -> None:
    report.objects = restored_objects(conn, manifest.get("schemas") or [])
    expected = manifest.get("objects") or {}
    missing = missing_objects(expected, report.objects)
    total = sum(len(v) for v in expected.values())
    if missing:
        report.checks.append(
            Check("objects", "fail", f"missing from the restore: {', '.join(missing)}")
        )
    else:
        report.checks.append(Check("objects", "pass", f"all {total} manifest objects restored"))


def _definitions_check(conn: Any, manifest: dict[str, Any], report: VerifyReport) -> None:
    """Compare each view, routine, trigger and event's definition checksum with the manifest."""
    expected = manifest.get("definitions")
    if expected is None or manifest.get("definitions_format") != DEFINITIONS_FORMAT:
        why = "manifest has no definition checksums (taken before they were recorded)"
        report.checks.append(Check("definitions", "skipped", why))
        return
    found = read_definitions(lambda sql, args: sqlexec.rows(conn, sql, args), manifest["schemas"])
    problems = definition_problems(expected, found)
    total = sum(len(v) for v in expected.values())
    if problems:
        report.checks.append(Check("definitions", "fail", "; ".join(problems)))
    else:
        detail = f"all {total} views, routines, triggers and events match their checksums"
        report.checks.append(Check("definitions", "pass", detail))


# What one statement of a table's check returned: its rows, or why it failed.
_Found = tuple[list[Any], str | None]


@dataclass
class TableResult:
    """``CHECK TABLE`` and the exact row count of one restored table."""

    table: str
    ok: bool
    messages: str = ""
    rows: int | None = None


class TableChecker:
    """Check restored tables on worker threads, each with a connection of its own.

    Tables can be submitted while a restore is still loading others (see :class:`LoadFollower`),
    so checking overlaps the restore instead of following it. A table's exact count runs
    beside its ``CHECK TABLE``, on another connection: the check waits on reading the pages
    (cold after a mariabackup restore) while the count uses the CPU, and the count reads the
    smallest index, whose pages the check brings in too.

    :param connect: returns a new autocommit connection to the target.
    :param workers: tables checked at once (each on two connections when ``apart``).
    :param apart: count beside the check (``2 * workers`` statements at once); False keeps
        to ``workers`` statements at once, and with ``workers=1`` runs them in turn on one
        connection (for a ``connect`` that returns a shared connection).
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        workers: int = 2,
        *,
        close_connections: bool = True,
        apart: bool = True,
    ) -> None:
        self._connect = connect
        self._close_connections = close_connections
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        threads = workers * 2 if apart else workers
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="verify")
        self._futures: dict[str, tuple[Future[_Found], Future[_Found]]] = {}

    def submit(self, table: str) -> None:
        """Queue ``table`` ("schema.name") for checking and counting, once."""
        if table not in self._futures:
            log.info("checking %s", table)
            schema, name = split_object(table)
            check = self._pool.submit(
                self._run, load_sql("restore_check_table", schema=schema, table=name)
            )
            count = self._pool.submit(
                self._run, load_sql("restore_count_rows", schema=schema, table=name)
            )
            self._futures[table] = (check, count)

    def results(self, tables: Sequence[str]) -> dict[str, TableResult]:
        """Check every table not yet submitted and return all results, waiting for them."""
        for table in tables:
            self.submit(table)
        return {table: self._result(table) for table in tables}

    def close(self) -> None:
        """Stop the workers and close the connections they opened."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        for conn in self._opened if self._close_connections else ():
            with contextlib.suppress(Exception):
                conn.close()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._lock:
                self._opened.append(conn)
        return conn

    def _run(self, sql: str) -> _Found:
        try:
            return sqlexec.rows(self._conn(), sql), None
        except Exception as exc:  # noqa: BLE001 - a table that cannot be read is a finding
            return [], f"{type(exc).__name__}: {exc}"

    def _result(self, table: str) -> TableResult:
        (checked, check_error), (counted, count_error) = (f.result() for f in self._futures[table])
        if check_error or count_error:
            return TableResult(table, False, "; ".join(e for e in (check_error, count_error) if e))
        messages = "; ".join(str(r[3]) for r in checked)
        return TableResult(table, check_table_ok(checked), messages, int(counted[0][0]))


_INSERT_TABLE = re.compile(r"^INSERT INTO `((?:[^`]|``)+)`")


def loading_table(db: str | None, head: str | None) -> str | None:
    """Return "schema.table" of an ``INSERT INTO `t` ...`` statement head, or None."""
    found = _INSERT_TABLE.match(head or "")
    if not db or not found:
        return None
    return f"{db}.{found[1].replace('``', '`')}"


class LoadFollower:
    """Submit each table for checking once a single-stream restore has moved past it.

    A dump holds each table's rows in one run of INSERTs, so when the loading connection's
    INSERTs name another table, the previous one is complete. Only for targets where the
    restore is the only writer (an ephemeral server).
    """

    def __init__(self, conn: Any, checker: TableChecker, tables: Sequence[str]) -> None:
        self._conn = conn
        self._checker = checker
        self._tables = set(tables)
        self._current: str | None = None

    def __call__(self) -> None:
        """Look at what is being loaded now and submit the table it left behind."""
        rows = sqlexec.rows(self._conn, load_sql("restore_loader_statement"))
        if len(rows) != 1:
            return  # between statements, or somebody else is writing: do not guess
        table = loading_table(rows[0][0], rows[0][1])
        if table is None or table == self._current:
            return
        if self._current in self._tables:
            self._checker.submit(self._current)
        self._current = table


def _check_tables(present: set[str], results: dict[str, TableResult], report: VerifyReport) -> None:
    bad = [f"{r.table} ({r.messages})" for r in results.values() if not r.ok]
    status: Status = "fail" if bad else "pass"
    detail = f"CHECK TABLE failed: {', '.join(bad)}" if bad else f"{len(present)} tables OK"
    report.checks.append(Check("check_table", status, detail))


def _row_counts(
    manifest: dict[str, Any], results: dict[str, TableResult], report: VerifyReport
) -> None:
    counts: dict[str, int] = manifest.get("row_counts") or {}
    if not counts:
        report.checks.append(Check("row_counts", "skipped", "manifest has no row counts"))
        return
    exact = bool(manifest.get("row_counts_exact", True))
    problems: list[str] = []
    for table, expected in sorted(counts.items()):
        result = results.get(table)
        if result is None:
            continue  # missing: reported by the objects check
        if result.rows is None:
            problems.append(f"{table}: not counted ({result.messages})")
            continue
        problem = count_mismatch(table, int(expected), result.rows, exact)
        if problem:
            problems.append(problem)
    if problems:
        report.checks.append(Check("row_counts", "fail", "count mismatch: " + "; ".join(problems)))
    else:
        how = "exactly" if exact else f"within {APPROX_COUNT_TOLERANCE:.0%}"
        report.checks.append(Check("row_counts", "pass", f"{len(counts)} tables match {how}"))


def _heartbeat(conn: Any, manifest: dict[str, Any], report: VerifyReport) -> None:
    beat = manifest.get("heartbeat")
    if not beat:
        report.checks.append(Check("heartbeat", "skipped", "backup has no heartbeat row"))
        return
    sql = load_sql("restore_heartbeat", schema=beat["schema"], table=beat["table"])
    try:
        found = int(sqlexec.rows(conn, sql, {"id": beat["id"]})[0][0])
    except Exception as exc:  # noqa: BLE001 - a missing table is a finding, not a crash
        found, why = 0, str(exc)
    else:
        why = f"row id={beat['id']} absent"
    if found:
        report.checks.append(Check("heartbeat", "pass", f"data point in time {beat['at']}"))
    else:
        report.checks.append(
            Check("heartbeat", "fail", f"heartbeat {beat['schema']}.{beat['table']}: {why}")
        )


def verify_restore(
    conn: Any, manifest: dict[str, Any] | None, *, checker: TableChecker | None = None
) -> VerifyReport:
    """Check a restored copy against its manifest: objects, definitions, tables, heartbeat.

    Without a manifest every check is reported as skipped (an external backup).

    :param conn: a connection to the restored copy.
    :param manifest: the backup's manifest, or None.
    :param checker: checks tables in parallel (and may hold results from during the restore);
        without one, tables are checked one by one on ``conn``.
    """
    report = VerifyReport()
    if manifest is None:
        for name in ("objects", "definitions", "check_table", "row_counts", "heartbeat"):
            report.checks.append(Check(name, "skipped", "backup has no manifest"))
        return report
    _objects_check(conn, manifest, report)
    _definitions_check(conn, manifest, report)
    present = set(report.objects.get("tables", []))
    tables = [t for t in (manifest.get("objects") or {}).get("tables") or [] if t in present]
    own = checker is None
    checker = checker or TableChecker(lambda: conn, workers=1, close_connections=False, apart=False)
    try:
        results = checker.results(tables)
    finally:
        if own:
            checker.close()
    _check_tables(present, results, report)
    _row_counts(manifest, results, report)
    _heartbeat(conn, manifest, report)
    return report

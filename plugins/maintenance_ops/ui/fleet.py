"""The fleet page's data: one statement per history store, assembled into one row per database.

A history store is a connection and a schema (``history_conn_id`` or the target itself, and
``history_schema``); databases sharing one are read together. :func:`fleet_sql` builds the one
statement (``UNION ALL`` of indexed reads: the newest health sample per database through
``by_database_time``, 6-hour score buckets over 30 days, the audit rows of the latest runs and
the recent daily runs' backups through ``by_run``, the newest restore test and drills through
``by_database_kind_time``); :func:`assemble` (pure) joins it with Airflow's records of the runs
(:mod:`maintenance_ops.ui.runs`) and sorts the fleet worst first.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.cadences import BY_KEY, CADENCES
from maintenance_ops.core.identifiers import qualified

if TYPE_CHECKING:
    from maintenance_ops.core.config import Config, Database
    from maintenance_ops.ui.runs import RunInfo, RunsSnapshot

SAMPLES, LOG, RECOVERY = "health_samples", "maintenance_log", "recovery_tests"
HISTORY_TABLES = (SAMPLES, LOG, RECOVERY)
BUCKET_HOURS = 6
TREND_DAYS = 30
SPARK_7D = 7 * 24 // BUCKET_HOURS
SPARK_30D = TREND_DAYS * 24 // BUCKET_HOURS
# Buckets start at fixed times (every 6 hours from this moment), so a bucket that is complete
# never changes and is not read again (BucketCache).
BUCKET_EPOCH = datetime(2000, 1, 1)
# A full re-read of the 30 days at least this often: samples written late (a backfilled health
# check) land in buckets already read.
BUCKETS_TTL_S = 900.0
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 20
# How long a store's list of existing history tables is trusted (a table appears when its
# first writer runs; none is ever dropped by the package).
TABLES_TTL_S = 300.0
# MySQL errors meaning "no such table/schema": that history is not written yet.
MISSING_TABLE_ERRORS = frozenset({1049, 1146})


@dataclass(frozen=True)
class Store:
    """One history store: the connection it is reached through and its schema."""

    conn_id: str
    schema: str

    def __str__(self) -> str:
        return f"{self.conn_id}:{self.schema}"


def store_of(db: Database) -> Store:
    """Return where a database's history lives."""
    return Store(db.history_conn_id or db.conn_id, db.history_schema)


@dataclass(frozen=True)
class RunRef:
    """One DAG run, as the audit log names it."""

    dag_id: str
    run_id: str


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _runs_clause(runs: Sequence[RunRef]) -> tuple[str, list[Any]]:
    """``(dag_id = %s AND run_id = %s) OR ...``: ranges on the ``by_run`` index."""
    if not runs:
        return "FALSE", []
    clause = " OR ".join(["(l.dag_id = %s AND l.run_id = %s)"] * len(runs))
    return f"({clause})", [v for r in runs for v in (r.dag_id, r.run_id)]


def fleet_sql(
    schema: str,
    tables: frozenset[str],
    names: Sequence[str],
    *,
    latest_runs: Sequence[RunRef],
    backup_runs: Sequence[RunRef],
    since: datetime,
) -> tuple[str, list[Any]]:
    """Return the one statement reading a store's part of the fleet page, and its arguments.

    :param since: the score buckets are read from here (a bucket's start: the window's
        first bucket, or the oldest bucket not yet complete at the last read, see
        :class:`BucketCache`).

    Each row is ``(kind, database_name, at, n1, n2, n3, t1, t2, t3)``; :func:`parse_rows`
    says what each kind carries. Only tables in ``tables`` are read (a store whose restore
    tests never ran has no ``recovery_tests``). Returns ``("", [])`` when there is nothing to
    read.
    """
    names = list(names)
    inn = _placeholders(len(names))
    parts: list[str] = []
    args: list[Any] = []
    if SAMPLES in tables:
        samples = qualified(schema, SAMPLES)
        parts.append(
            "SELECT 'latest', s.database_name, s.sampled_at, s.score, NULL, NULL, s.status, "  # noqa: S608 - quoted identifiers, bound values
            "s.breaches, JSON_EXTRACT(s.details, '$.security') "
            f"FROM {samples} s JOIN (SELECT database_name, MAX(sampled_at) AS at FROM {samples} "
            f"WHERE database_name IN ({inn}) GROUP BY database_name) m "
            "ON s.database_name = m.database_name AND s.sampled_at = m.at"
        )
        args += names
        parts.append(
            "SELECT 'bucket', database_name, MIN(sampled_at), AVG(score), MIN(score), COUNT(*), "  # noqa: S608 - quoted identifiers, bound values
            f"NULL, NULL, NULL FROM {samples} FORCE INDEX (by_database_time) "
            f"WHERE database_name IN ({inn}) AND sampled_at >= %s "
            "GROUP BY database_name, TIMESTAMPDIFF(HOUR, %s, sampled_at) DIV %s"
        )
        args += [*names, since, BUCKET_EPOCH, BUCKET_HOURS]
    if LOG in tables:
        log = qualified(schema, LOG)
        runs_sql, runs_args = _runs_clause(latest_runs)
        parts.append(
            "SELECT 'audit', l.database_name, MAX(COALESCE(l.ended_at, l.started_at)), COUNT(*), "  # noqa: S608 - quoted identifiers, bound values
            f"NULL, NULL, l.dag_id, l.run_id, l.outcome FROM {log} l WHERE {runs_sql} "
            f"AND l.database_name IN ({inn}) GROUP BY l.database_name, l.dag_id, l.run_id, "
            "l.outcome"
        )
        args += [*runs_args, *names]
        backup_sql, backup_args = _runs_clause(backup_runs)
        parts.append(
            "SELECT 'backup', l.database_name, MAX(l.ended_at), NULL, NULL, NULL, NULL, NULL, "  # noqa: S608 - quoted identifiers, bound values
            f"NULL FROM {log} l WHERE {backup_sql} AND l.database_name IN ({inn}) "
            "AND l.command LIKE %s AND l.outcome = 'ok' GROUP BY l.database_name"
        )
        args += [*backup_args, *names, "backup %"]
    if RECOVERY in tables:
        recovery = qualified(schema, RECOVERY)
        for kind, label in (("restore_test", "restore"), ("dr_drill", "drill")):
            parts.append(
                f"SELECT '{label}', r.database_name, r.tested_at, r.rto_s, r.rpo_s, r.ok, r.tool, "  # noqa: S608 - quoted identifiers, bound values
                f"NULL, NULL FROM {recovery} r JOIN (SELECT database_name, MAX(tested_at) AS at "
                f"FROM {recovery} WHERE database_name IN ({inn}) AND kind = %s "
                "GROUP BY database_name) m ON r.database_name = m.database_name "
                "AND r.tested_at = m.at AND r.kind = %s"
            )
            args += [*names, kind, kind]
        parts.append(
            "SELECT 'drill_ok', database_name, MAX(tested_at), NULL, NULL, NULL, NULL, NULL, NULL "  # noqa: S608 - quoted identifiers, bound values
            f"FROM {recovery} WHERE database_name IN ({inn}) AND kind = 'dr_drill' AND ok = 1 "
            "GROUP BY database_name"
        )
        args += names
    return " UNION ALL ".join(parts), args


@dataclass
class StoreData:
    """What one store holds for each of its databases (decoded rows of :func:`fleet_sql`)."""

    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    buckets: dict[str, dict[int, tuple[datetime, float, float, int]]] = field(default_factory=dict)
    """Database -> bucket number (:func:`bucket_of`) -> (first sample, average, worst, count)."""
    audit: dict[str, dict[tuple[str, str], dict[str, int]]] = field(default_factory=dict)
    backup: dict[str, datetime] = field(default_factory=dict)
    restore: dict[str, dict[str, Any]] = field(default_factory=dict)
    drill: dict[str, dict[str, Any]] = field(default_factory=dict)
    drill_ok: dict[str, datetime] = field(default_factory=dict)


def _json(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def parse_rows(rows: Sequence[Sequence[Any]]) -> StoreData:
    """Decode the rows of :func:`fleet_sql` (pure)."""
    data = StoreData()
    for kind, db, at, n1, n2, n3, t1, t2, t3 in rows:
        if kind == "latest":
            data.latest[db] = {
                "sampled_at": at,
                "score": int(n1),
                "status": t1,
                "breaches": _json(t2) or [],
                "security": _json(t3) or [],
            }
        elif kind == "bucket":
            bucket = (at, float(n1), float(n2), int(n3))
            data.buckets.setdefault(db, {})[bucket_of(at)] = bucket
        elif kind == "audit":
            data.audit.setdefault(db, {}).setdefault((t1, t2), {})[t3] = int(n1)
        elif kind == "backup" and at is not None:
            data.backup[db] = at
        elif kind in ("restore", "drill"):
            target = data.restore if kind == "restore" else data.drill
            target[db] = {"at": at, "rto_s": n1, "rpo_s": n2, "ok": bool(n3), "tool": t1}
        elif kind == "drill_ok" and at is not None:
            data.drill_ok[db] = at
    return data


def bucket_of(when: datetime) -> int:
    """Return the number of the 6-hour bucket ``when`` falls in (pure)."""
    return int((when - BUCKET_EPOCH).total_seconds() // (BUCKET_HOURS * 3600))


def bucket_start(number: int) -> datetime:
    return BUCKET_EPOCH + timedelta(hours=number * BUCKET_HOURS)


class BucketCache:
    """Each store's complete score buckets, so a page reads only the buckets still filling.

    The 30 days of buckets are most of the statement's work (every sample of the window is
    read for its score); a bucket whose 6 hours are over does not change, so the next page
    reads from the oldest bucket that was still open, and merges. A full read happens on the
    first page, when the store's databases change, and every :data:`BUCKETS_TTL_S` seconds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[Store, tuple[float, tuple[str, ...], int, dict[str, dict]]] = {}

    def forget(self) -> None:
        """Drop every store's buckets: the next page reads the whole window."""
        with self._lock:
            self._known.clear()

    def read_from(self, store: Store, names: Sequence[str], first: int) -> int:
        """Return the first bucket the statement must read (``first``: the window's)."""
        with self._lock:
            known = self._known.get(store)
        if known is None or known[1] != tuple(sorted(names)):
            return first
        if time.monotonic() - known[0] > BUCKETS_TTL_S:
            return first
        return max(first, known[2])

    def merge(
        self,
        store: Store,
        names: Sequence[str],
        data: StoreData,
        read_from: int,
        first: int,
        now: int,
    ) -> None:
        """Complete ``data``'s buckets with the cached ones before ``read_from``; remember."""
        key = tuple(sorted(names))
        with self._lock:
            known = self._known.get(store)
            if known is None or read_from == first or known[1] != key:
                fetched, cached = time.monotonic(), {}
            else:
                fetched, cached = known[0], known[3]
            for db in names:
                older = {b: v for b, v in cached.get(db, {}).items() if first <= b < read_from}
                data.buckets[db] = {**older, **data.buckets.get(db, {})}
            self._known[store] = (
                fetched,
                key,
                now,
                {db: dict(data.buckets.get(db, {})) for db in names},
            )


BUCKETS = BucketCache()


class TableCache:
    """Which history tables each store has, trusted for :data:`TABLES_TTL_S` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[Store, tuple[float, frozenset[str]]] = {}

    def get(self, store: Store) -> frozenset[str]:
        """Return the store's tables as last seen (all of them when never looked at)."""
        with self._lock:
            seen = self._known.get(store)
        if seen is None or time.monotonic() - seen[0] > TABLES_TTL_S:
            return frozenset(HISTORY_TABLES)
        return seen[1]

    def look(self, conn: Any, store: Store) -> frozenset[str]:
        """Read the store's tables from its catalog (one more round trip) and remember them."""
        from maintenance_ops.core import sqlexec

        found = sqlexec.rows(
            conn,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "  # noqa: S608 - quoted identifiers, bound values
            f"AND table_name IN ({_placeholders(len(HISTORY_TABLES))})",
            (store.schema, *HISTORY_TABLES),
        )
        tables = frozenset(str(r[0]) for r in found)
        with self._lock:
            self._known[store] = (time.monotonic(), tables)
        return tables


TABLES = TableCache()


def error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def open_store(store: Store) -> Any:
    """Connect to a history store with short waits: a page must not hang on a lost server."""
    from maintenance_ops.core.session import connect

    return connect(
        store.conn_id,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        write_timeout=READ_TIMEOUT_S,
    )


def read_store(
    store: Store,
    names: Sequence[str],
    *,
    latest_runs: Sequence[RunRef],
    backup_runs: Sequence[RunRef],
    now: datetime,
    cache: TableCache = TABLES,
    buckets: BucketCache = BUCKETS,
) -> StoreData:
    """Read one store's part of the fleet page: one statement (two when its tables changed)."""
    from maintenance_ops.core import sqlexec

    first, current = bucket_of(now) - SPARK_30D + 1, bucket_of(now)
    read_from = buckets.read_from(store, names, first)
    conn = open_store(store)
    try:
        tables = cache.get(store)
        for attempt in (1, 2):
            sql, args = fleet_sql(
                store.schema,
                tables,
                names,
                latest_runs=latest_runs,
                backup_runs=backup_runs,
                since=bucket_start(read_from),
            )
            if not sql:
                return StoreData()
            try:
                data = parse_rows(sqlexec.rows(conn, sql, args))
                buckets.merge(store, names, data, read_from, first, current)
                return data
            except Exception as exc:
                if error_code(exc) not in MISSING_TABLE_ERRORS or attempt == 2:
                    raise
                tables = cache.look(conn, store)
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        conn.close()


def describe_error(exc: BaseException) -> str:
    """Say why a store could not be read, in one line (never a password: messages name hosts)."""
    from maintenance_ops.core.audit import redact

    message = " ".join(str(exc).split()) or type(exc).__name__
    return f"history store unreachable: {redact(message)}"


def read_stores(
    config: Config,
    *,
    latest_runs: Sequence[RunRef],
    backup_runs: Sequence[RunRef],
    now: datetime,
    workers: int = 8,
) -> dict[Store, StoreData | str]:
    """Read every store of the configuration at once; a store that fails maps to its reason."""
    by_store: dict[Store, list[str]] = {}
    for db in config.databases:
        by_store.setdefault(store_of(db), []).append(db.name)

    def one(item: tuple[Store, list[str]]) -> StoreData | str:
        store, names = item
        try:
            return read_store(
                store, names, latest_runs=latest_runs, backup_runs=backup_runs, now=now
            )
        except Exception as exc:  # noqa: BLE001 - shown on the page; the other stores go on
            return describe_error(exc)

    if not by_store:
        return {}
    with ThreadPoolExecutor(max_workers=min(workers, len(by_store))) as pool:
        results = list(pool.map(one, by_store.items()))
    return dict(zip(by_store, results, strict=True))


# --------------------------------------------------------------------------------------------
# assembly (pure)
# --------------------------------------------------------------------------------------------


@dataclass
class RunCell:
    """The latest run of one cadence as far as one database is concerned."""

    dag_id: str
    run_id: str
    state: str
    """The database's own task state in that run (``maintain``), else the run's state."""
    at: str | None
    outcomes: dict[str, int] = field(default_factory=dict)
    """Audit rows of the run on this database, by outcome (ok, skipped, failed, dry_run...)."""


@dataclass
class FleetRow:
    """One database on the fleet page."""

    database: str
    enabled: bool
    history: str
    error: str | None = None
    score: int | None = None
    status: str = "unknown"
    sampled_at: str | None = None
    breaches: list[dict[str, Any]] = field(default_factory=list)
    trend_7d: list[float | None] = field(default_factory=list)
    trend_30d: list[float | None] = field(default_factory=list)
    avg_7d: float | None = None
    avg_30d: float | None = None
    runs: dict[str, RunCell] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)
    reclaimed_bytes: int = 0
    backup_at: str | None = None
    backup_age_h: float | None = None
    rpo_h: float = 0.0
    restore: dict[str, Any] | None = None
    rto_target_s: float = 0.0
    drill_at: str | None = None
    drill_ok: bool | None = None
    drill_last_ok_at: str | None = None
    rank: int = 3
    concerns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(sep=" ", timespec="seconds") if value else None


def spark(
    buckets: dict[int, tuple[datetime, float, float, int]], now: datetime, count: int
) -> list[float | None]:
    """Return the worst score of each of the last ``count`` 6-hour buckets up to ``now``
    (``None``: no sample in it), oldest first (pure)."""
    last = bucket_of(now)
    return [buckets[b][2] if b in buckets else None for b in range(last - count + 1, last + 1)]


def _average(
    buckets: dict[int, tuple[datetime, float, float, int]], since: datetime
) -> float | None:
    chosen = [(avg, n) for b, (_at, avg, _w, n) in buckets.items() if bucket_start(b) >= since]
    total = sum(n for _, n in chosen)
    return round(sum(a * n for a, n in chosen) / total, 1) if total else None


def report_findings(results: dict[str, dict[str, Any]], name: str) -> dict[str, int]:
    """Count one database's open findings by kind in the latest reports (pure).

    :param results: cadence key -> that cadence's latest result for this database.
    """
    found: dict[str, int] = {}
    daily = results.get("daily_maintenance") or {}
    indexes = (daily.get("index_analysis") or {}).get("findings") or []
    if indexes:
        found["indexes"] = len(indexes)
    monthly = results.get("monthly_deep_maintenance") or {}
    capacity = monthly.get("capacity") or {}
    if capacity.get("autoinc"):
        found["auto-increment"] = len(capacity["autoinc"])
    near = [f for f in capacity.get("forecasts") or [] if f.get("days_until_limit") is not None]
    if near:
        found["capacity"] = len(near)
    return found


def reclaimed(results: dict[str, dict[str, Any]]) -> int:
    """Bytes the latest weekly and monthly rebuilds reclaimed (pure)."""
    total = 0
    for key in ("weekly_optimization", "monthly_deep_maintenance"):
        for rebuild in (results.get(key) or {}).get("rebuilds") or []:
            total += int(rebuild.get("reclaimed_bytes") or 0)
    return total


def _run_cell(run: RunInfo, name: str, audit: dict[tuple[str, str], dict[str, int]]) -> RunCell:
    return RunCell(
        dag_id=run.dag_id,
        run_id=run.run_id,
        state=run.tasks.get(name) or run.state,
        at=_iso(run.run_after),
        outcomes=dict(sorted(audit.get((run.dag_id, run.run_id), {}).items())),
    )


def _rank(row: FleetRow, now: datetime) -> None:
    """Place a row (0 worst) and say why: what a DBA should look at first."""
    concerns: list[str] = []
    critical = row.status == "critical"
    failed = [c for c in row.runs.values() if c.state in ("failed", "upstream_failed")]
    concerns += [f"{c.dag_id}: {c.state}" for c in failed]
    if row.restore and not row.restore["ok"]:
        concerns.append("last restore test failed")
        critical = True
    if row.drill_ok is False:
        concerns.append("last DR drill failed")
        critical = True
    late_backup = row.backup_age_h is not None and row.rpo_h and row.backup_age_h > row.rpo_h
    if late_backup:
        concerns.append(f"backup {row.backup_age_h:g} h old, RPO {row.rpo_h:g} h")
    slow = row.restore and row.restore.get("rto_s") and row.restore["rto_s"] > row.rto_target_s
    if slow:
        concerns.append("last restore slower than the RTO target")
    if row.error:
        rank = 1
    elif critical or failed:
        rank = 0
    elif row.status == "degraded" or late_backup or slow:
        rank = 2
    elif row.score is None:
        rank = 3
    else:
        rank = 4
    row.rank = rank
    row.concerns = concerns


def assemble(
    config: Config,
    stores: dict[Store, StoreData | str],
    runs: RunsSnapshot,
    now: datetime,
) -> list[FleetRow]:
    """Join history and runs into one row per configured database, worst first (pure)."""
    rows = []
    for db in config.databases:
        store = store_of(db)
        data = stores.get(store)
        row = FleetRow(
            database=db.name,
            enabled=db.enabled,
            history=str(store),
            rpo_h=db.backup.rpo_hours if db.backup.enabled else 0.0,
            rto_target_s=db.backup.rto_minutes * 60,
        )
        if isinstance(data, str):
            row.error = data
            data = StoreData()
        data = data or StoreData()
        latest = data.latest.get(db.name)
        if latest:
            row.score, row.status = latest["score"], latest["status"]
            row.sampled_at = _iso(latest["sampled_at"])
            row.breaches = latest["breaches"]
        buckets = data.buckets.get(db.name, {})
        row.trend_30d = spark(buckets, now, SPARK_30D)
        row.trend_7d = row.trend_30d[-SPARK_7D:]
        row.avg_7d = _average(buckets, bucket_start(bucket_of(now) - SPARK_7D + 1))
        row.avg_30d = _average(buckets, bucket_start(bucket_of(now) - SPARK_30D + 1))
        audit = data.audit.get(db.name, {})
        results: dict[str, dict[str, Any]] = {}
        for cadence in CADENCES:
            run = runs.latest.get(cadence.dag_id)
            if run is not None and (db.name in run.tasks or not run.tasks):
                row.runs[cadence.key] = _run_cell(run, db.name, audit)
            results[cadence.key] = runs.result(cadence.dag_id, db.name) or {}
        row.findings = report_findings(results, db.name)
        security = latest["security"] if latest else []
        if security:
            row.findings["security"] = len(security)
        if row.breaches:
            row.findings["health"] = len(row.breaches)
        row.reclaimed_bytes = reclaimed(results)
        backup = data.backup.get(db.name)
        if backup:
            row.backup_at = _iso(backup)
            row.backup_age_h = round((now - backup).total_seconds() / 3600, 1)
        restore = data.restore.get(db.name)
        if restore:
            row.restore = {**restore, "at": _iso(restore["at"])}
        drill = data.drill.get(db.name)
        if drill:
            row.drill_at, row.drill_ok = _iso(drill["at"]), drill["ok"]
        row.drill_last_ok_at = _iso(data.drill_ok.get(db.name))
        _rank(row, now)
        rows.append(row)
    rows.sort(key=lambda r: (r.rank, 101 if r.score is None else r.score, r.database))
    return rows


CADENCE_LABELS = {
    "daily_maintenance": "daily",
    "weekly_optimization": "weekly",
    "monthly_deep_maintenance": "monthly",
    "backup_testing": "backup test",
    "disaster_recovery_test": "DR drill",
    "health_check": "health",
}
assert set(CADENCE_LABELS) == set(BY_KEY)

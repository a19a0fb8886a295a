"""Weekly performance analysis from the statement digests, with regressions against history.

Top statements (by total and average latency), full-scan and temp-table-on-disk heavy
statements come from ``performance_schema.events_statements_summary_by_digest`` (cumulative
since the server started or the table was truncated). Each run stores a snapshot of every
digest's ``(calls, total_s)`` in ``<history_schema>.digest_snapshots`` and compares it with a
baseline snapshot chosen by :func:`pick_baseline`.

A digest's latency in the window is ``delta(total) / delta(calls)`` between the baseline and now;
its latency before is the baseline's cumulative average. When the counters went backwards
(server restart, truncate) the current cumulative average stands in for the window.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.identifiers import qualified, validate_identifier
from maintenance_ops.core.sqlfiles import load_sql, split_statements
from maintenance_ops.core.trends import DEFAULT_NEED, LIMITS, HistoryNeed, Trend, trend
from maintenance_ops.observe.health_history import HealthHistory
from maintenance_ops.upkeep.index_analysis import naive_utc

if TYPE_CHECKING:
    from maintenance_ops.core.session import MaintenanceSession

log = logging.getLogger(__name__)

DigestKey = tuple[str, str]  # (schema, digest)
ENABLE_HINT = (
    "performance_schema is off: statement digests are unavailable; set performance_schema=ON "
    "in the server's option file ([mysqld] section) and restart the server"
)
# A weekly schedule may run a little early; 6.5 days still counts as "a week ago".
BASELINE_MIN_AGE = timedelta(days=6, hours=12)
# Below these a ratio is noise: a handful of calls, or latencies under a millisecond.
DEFAULT_MIN_CALLS = 5
DEFAULT_MIN_AVG_S = 0.001
# Health metrics whose week-over-week movement a DBA reads in the weekly report.
TREND_METRICS = (
    "longest_query_s",
    "connections_pct",
    "max_used_connections_pct",
    "total_size_bytes",
    "memory_pct",
    "disk_pct",
    "buffer_pool_hit_pct",
    "history_list_length",
)


@dataclass(frozen=True)
class Counters:
    """Cumulative counters of one digest at one moment."""

    calls: int
    total_s: float

    @property
    def avg_s(self) -> float:
        """Return the cumulative average latency."""
        return self.total_s / self.calls if self.calls else 0.0


@dataclass
class Regression:
    """A digest whose average latency rose by more than the configured ratio."""

    digest: str
    schema: str
    text: str
    avg_before_s: float
    avg_now_s: float
    ratio: float
    calls: int
    counters_reset: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


@dataclass
class PerformanceResult:
    """The weekly performance analysis of one database."""

    database: str
    source: str  # "performance_schema" or "unavailable"
    taken_at: datetime
    top_by_total: list[dict[str, Any]] = field(default_factory=list)
    top_by_avg: list[dict[str, Any]] = field(default_factory=list)
    full_scans: list[dict[str, Any]] = field(default_factory=list)
    tmp_disk: list[dict[str, Any]] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)
    baseline_at: datetime | None = None
    trends: list[Trend] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (for XCom and reports)."""
        return {
            "database": self.database,
            "source": self.source,
            "taken_at": self.taken_at.isoformat(),
            "top_by_total": self.top_by_total,
            "top_by_avg": self.top_by_avg,
            "full_scans": self.full_scans,
            "tmp_disk": self.tmp_disk,
            "regressions": [r.to_dict() for r in self.regressions],
            "baseline_at": self.baseline_at.isoformat() if self.baseline_at else None,
            "trends": [t.to_dict() for t in self.trends],
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------------
# Pure decisions
# --------------------------------------------------------------------------------------------


def pick_baseline(
    taken: Iterable[datetime], now: datetime, min_age: timedelta = BASELINE_MIN_AGE
) -> tuple[datetime | None, bool]:
    """Return the snapshot to compare with and whether it is a full week old (pure).

    The newest snapshot at least ``min_age`` older than ``now`` wins; without one, the newest
    snapshot older than ``now`` (a shorter window, flagged ``False``); without any, None.
    """
    older = sorted(t for t in taken if t < now)
    aged = [t for t in older if t <= now - min_age]
    if aged:
        return aged[-1], True
    return (older[-1], False) if older else (None, False)


def window_average(before: Counters, now: Counters) -> tuple[float, int, bool] | None:
    """Return the window's average latency, its call count and whether counters reset (pure).

    None when the digest ran no calls in the window.
    """
    if now.calls < before.calls or now.total_s < before.total_s:
        return (now.avg_s, now.calls, True) if now.calls else None
    calls = now.calls - before.calls
    if calls <= 0:
        return None
    return (now.total_s - before.total_s) / calls, calls, False


def find_regressions(
    before: Mapping[DigestKey, Counters],
    now: Mapping[DigestKey, Counters],
    texts: Mapping[DigestKey, str],
    *,
    ratio: float,
    min_calls: int = DEFAULT_MIN_CALLS,
    min_avg_s: float = DEFAULT_MIN_AVG_S,
) -> list[Regression]:
    """Return digests whose window average exceeds ``ratio`` x their baseline average (pure).

    Worst ratio first; digests with fewer than ``min_calls`` calls in the window or a window
    average under ``min_avg_s`` are ignored as noise.
    """
    found = []
    for key, current in now.items():
        base = before.get(key)
        window = window_average(base, current) if base is not None else None
        if base is None or window is None or base.avg_s <= 0:
            continue
        avg_now, calls, reset = window
        if calls < min_calls or avg_now < min_avg_s or avg_now <= ratio * base.avg_s:
            continue
        found.append(
            Regression(
                digest=key[1],
                schema=key[0],
                text=texts.get(key, ""),
                avg_before_s=round(base.avg_s, 6),
                avg_now_s=round(avg_now, 6),
                ratio=round(avg_now / base.avg_s, 2),
                calls=calls,
                counters_reset=reset,
            )
        )
    return sorted(found, key=lambda r: (-r.ratio, r.schema, r.digest))


def top_statements(digests: Sequence[Mapping[str, Any]], top: int) -> dict[str, list[dict]]:
    """Return the top lists of the weekly report from digest rows (pure)."""

    def brief(row: Mapping[str, Any]) -> dict[str, Any]:
        calls = int(row["calls"])
        total = float(row["total_s"])
        return {
            "digest": row["digest"],
            "schema": row["schema_name"],
            "text": (row["text"] or "")[:200],
            "calls": calls,
            "total_s": round(total, 6),
            "avg_s": round(total / calls, 6) if calls else 0.0,
            "no_index_used": int(row["no_index_used"] or 0),
            "tmp_disk_tables": int(row["tmp_disk_tables"] or 0),
        }

    rows = [brief(r) for r in digests]
    # sorted() is stable: ties keep the server's digest order.
    return {
        "top_by_total": sorted(rows, key=lambda r: -r["total_s"])[:top],
        "top_by_avg": sorted(rows, key=lambda r: -r["avg_s"])[:top],
        "full_scans": sorted(
            (r for r in rows if r["no_index_used"]), key=lambda r: -r["no_index_used"]
        )[:top],
        "tmp_disk": sorted(
            (r for r in rows if r["tmp_disk_tables"]), key=lambda r: -r["tmp_disk_tables"]
        )[:top],
    }


def weekly_trends(
    series: Mapping[str, list[tuple[datetime, float]]],
    now: datetime,
    need: HistoryNeed = DEFAULT_NEED,
) -> list[Trend]:
    """Return the week-over-week trends of the report's health metrics (pure).

    Slopes and forecasts only where the samples meet ``need``.
    """
    found = (trend(m, series[m], now, LIMITS.get(m), need) for m in TREND_METRICS if m in series)
    return [t for t in found if t is not None]


# --------------------------------------------------------------------------------------------
# Snapshots
# --------------------------------------------------------------------------------------------


class DigestSnapshots:
    """Digest snapshots of each database in ``<history_schema>.digest_snapshots``."""

    def __init__(self, session: MaintenanceSession, history_schema: str) -> None:
        self.session = session
        for statement in split_statements(
            load_sql("perf_create_snapshots", history_schema=history_schema)
        ):
            session.execute(statement)
        self.table = qualified(history_schema, "digest_snapshots")

    def times(self, database: str) -> list[datetime]:
        """Return when each snapshot of ``database`` was taken."""
        rows = self.session.query(
            f"SELECT DISTINCT taken_at FROM {self.table} WHERE database_name = %s",  # noqa: S608
            (database,),
        )
        return [r["taken_at"] for r in rows]

    def read(self, database: str, taken_at: datetime) -> dict[DigestKey, Counters]:
        """Return one snapshot's counters."""
        rows = self.session.query(
            f"SELECT schema_name, digest, calls, total_s FROM {self.table} "  # noqa: S608
            "WHERE database_name = %s AND taken_at = %s",
            (database, taken_at),
        )
        return {
            (r["schema_name"], r["digest"]): Counters(int(r["calls"]), float(r["total_s"]))
            for r in rows
        }

    def store(self, database: str, taken_at: datetime, digests: Sequence[Mapping]) -> int:
        """Write a snapshot of the digest rows; return how many were stored."""
        values = [
            (database, taken_at, d["digest"], d["schema_name"], d["text"], d["calls"], d["total_s"])
            for d in digests
        ]
        for start in range(0, len(values), 500):
            self.session.execute_many(
                f"INSERT INTO {self.table} (database_name, taken_at, digest, schema_name, "  # noqa: S608
                "digest_text, calls, total_s) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                values[start : start + 500],
            )
        return len(values)


# --------------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------------


def performance_schema_on(session: MaintenanceSession) -> bool:
    """Return whether the server collects statement digests."""
    return bool(int(session.query_one("SELECT @@performance_schema AS on_")["on_"] or 0))


def analyze_performance(
    session: MaintenanceSession,
    *,
    history_session_or_store: MaintenanceSession | HealthHistory,
    database_name: str,
    history_schema: str,
    now: datetime,
    regression_ratio: float = 1.5,
    top: int = 10,
    min_calls: int = DEFAULT_MIN_CALLS,
    min_avg_s: float = DEFAULT_MIN_AVG_S,
    store_snapshot: bool = True,
    need: HistoryNeed = DEFAULT_NEED,
) -> PerformanceResult:
    """Report top, full-scan and tmp-disk statements, regressions and weekly health trends.

    :param session: an open maintenance session on the target.
    :param history_session_or_store: the history store: a session on it, or its
        :class:`HealthHistory`.
    :param database_name: the database's name in configuration.
    :param history_schema: the schema holding ``digest_snapshots`` and ``health_samples``.
    :param now: the run's logical time: the snapshot's time and the trends' reference.
    :param regression_ratio: window average / baseline average above which a digest regressed.
    :param top: length of each top list.
    :param min_calls: calls in the window below which a digest is not judged.
    :param min_avg_s: window average below which a digest is not judged.
    :param store_snapshot: write this run's snapshot (False for a dry run).
    :param need: the history the health trends' slopes need.
    """
    schema = validate_identifier(history_schema, "history schema")
    if isinstance(history_session_or_store, HealthHistory):
        health = history_session_or_store
    else:
        health = HealthHistory(history_session_or_store, schema)
    taken_at = naive_utc(now)
    result = PerformanceResult(database_name, "performance_schema", taken_at)
    result.trends = weekly_trends(
        health.series(database_name, taken_at - timedelta(days=30)), taken_at, need
    )
    if not performance_schema_on(session):
        result.source = "unavailable"
        result.notes.append(ENABLE_HINT)
        return result
    digests = session.query(load_sql("perf_digests"))
    for key, rows in top_statements(digests, top).items():
        setattr(result, key, rows)
    snapshots = DigestSnapshots(health.session, schema)
    baseline_at, full_week = pick_baseline(snapshots.times(database_name), taken_at)
    result.baseline_at = baseline_at
    current = {
        (d["schema_name"], d["digest"]): Counters(int(d["calls"]), float(d["total_s"]))
        for d in digests
    }
    if baseline_at is None:
        result.notes.append("no earlier digest snapshot: regressions are judged from next week")
    else:
        if not full_week:
            result.notes.append(
                f"the newest earlier snapshot ({baseline_at:%Y-%m-%d %H:%M}) is less than a "
                "week old: regressions compare a shorter window"
            )
        texts = {(d["schema_name"], d["digest"]): d["text"] or "" for d in digests}
        result.regressions = find_regressions(
            snapshots.read(database_name, baseline_at),
            current,
            texts,
            ratio=regression_ratio,
            min_calls=min_calls,
            min_avg_s=min_avg_s,
        )
    if store_snapshot:
        snapshots.store(database_name, taken_at, digests)
    log.info(
        "performance of %s: %s digests, %s regressions (baseline %s), %s full-scan, %s tmp-disk",
        database_name,
        len(digests),
        len(result.regressions),
        baseline_at,
        len(result.full_scans),
        len(result.tmp_disk),
    )
    return result

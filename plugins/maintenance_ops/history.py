"""Health history: samples for trends, alert state for the quiet period, retention.

The decisions (which alerts to send, which to hold back, which problems recovered; trends and
forecasts) are pure functions; :class:`HealthHistory` stores and reads what they need.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from maintenance_ops.identifiers import qualified
from maintenance_ops.sqlfiles import load_sql, split_statements

if TYPE_CHECKING:
    from maintenance_ops.health import Breach, HealthSample, HealthScore
    from maintenance_ops.session import MaintenanceSession


@dataclass
class AlertPlan:
    """What to do with this sample's breaches, given what was already sent."""

    send: list[Breach] = field(default_factory=list)
    held_back: list[Breach] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)


def plan_alerts(
    last_sent: dict[str, datetime | None],
    breaches: list[Breach],
    now: datetime,
    quiet_period: timedelta,
) -> AlertPlan:
    """Decide which breaches to alert now (pure).

    :param last_sent: open alert keys of this database and when each was last sent.
    A breach whose key was sent within the quiet period is held back; an open key that no
    longer breaches has recovered (announced once, then forgotten).
    """
    plan = AlertPlan()
    current = {b.key for b in breaches}
    for breach in breaches:
        sent = last_sent.get(breach.key)
        if sent is not None and now - sent < quiet_period:
            plan.held_back.append(breach)
        else:
            plan.send.append(breach)
    plan.recovered = sorted(k for k in last_sent if k not in current)
    return plan


def _duration(hours: float) -> str:
    """``7 min``, ``5.5 h`` or ``2.1 d``: a span in the unit a reader takes in at once."""
    if hours < 1:
        return f"{round(hours * 60):.0f} min"
    if hours < 48:
        return f"{round(hours, 1):g} h"
    return f"{round(hours / 24, 1):g} d"


def span_hours(points: Sequence[tuple[datetime, float]]) -> float:
    """Hours from the oldest to the newest of ``points`` (any order; 0 with fewer than two)."""
    if len(points) < 2:
        return 0.0
    times = [t for t, _ in points]
    return (max(times) - min(times)).total_seconds() / 3600


def history_span(points: Sequence[tuple[datetime, float]]) -> str:
    """``12 samples over 1.5 d``: what a trend or forecast was computed from (pure)."""
    count = len(points)
    noun = "sample" if count == 1 else "samples"
    return f"{count} {noun} over {_duration(span_hours(points))}"


@dataclass(frozen=True)
class HistoryNeed:
    """How much history a trend or forecast needs before it gives a number.

    A line through a few minutes of samples extrapolates noise (5 samples over 7 minutes once
    forecast a full disk in 0.9 days): below both minimums there is no slope and no forecast.

    :param min_hours: the samples must span at least this many hours.
    :param min_samples: and there must be at least this many of them.
    """

    min_hours: float = 24.0
    min_samples: int = 12

    def shortfall(self, points: Sequence[tuple[datetime, float]]) -> str | None:
        """Return why ``points`` are too few for a forecast, or None when they suffice (pure)."""
        if len(points) >= max(self.min_samples, 2) and span_hours(points) >= self.min_hours:
            return None
        return (
            f"not enough history ({history_span(points)}; needs {self.min_samples} samples "
            f"over at least {_duration(self.min_hours)})"
        )


DEFAULT_NEED = HistoryNeed()


@dataclass
class Trend:
    """How one metric moved and where it is heading.

    ``slope_per_day`` and ``days_until_limit`` are None unless the history suffices
    (:class:`HistoryNeed`); ``history`` says what they were computed from, or ``note`` why
    there are none.
    """

    metric: str
    latest: float
    change_24h: float | None
    change_7d: float | None
    slope_per_day: float | None
    days_until_limit: float | None = None
    limit: float | None = None
    samples: int = 0
    span_hours: float = 0.0
    history: str = ""
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One report line: the value, then the slope and forecast with their history."""
        head = f"trend {self.metric}: {self.latest:g}"
        if self.note:
            return f"{head}; {self.note}"
        if self.slope_per_day is None:
            return f"{head}; no slope ({self.history})"
        until = ""
        if self.limit is not None:
            until = (
                f", {self.limit:g} in ~{self.days_until_limit:g} days"
                if self.days_until_limit is not None
                else f", not heading for {self.limit:g}"
            )
        return f"{head}, {self.slope_per_day:+g}/day{until} (from {self.history})"


def _value_at(points: list[tuple[datetime, float]], when: datetime) -> float | None:
    """The last value at or before ``when`` (points sorted by time)."""
    before = [v for t, v in points if t <= when]
    return before[-1] if before else None


def linear_fit(points: list[tuple[datetime, float]]) -> tuple[float, float] | None:
    """Least-squares slope (per day) and intercept of the points; None with < 2 distinct times."""
    if len(points) < 2:
        return None
    t0 = points[0][0]
    xs = [(t - t0).total_seconds() / 86400 for t, _ in points]
    ys = [v for _, v in points]
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var
    return slope, mean_y - slope * mean_x


def trend(
    metric: str,
    points: list[tuple[datetime, float]],
    now: datetime,
    limit: float | None = None,
    need: HistoryNeed = DEFAULT_NEED,
) -> Trend | None:
    """Change over 24 h and 7 d, and a linear forecast of when ``limit`` is reached (pure).

    The slope and the forecast come from the last 30 days, and only when those samples meet
    ``need``; otherwise the trend carries a note saying how much history there is.
    """
    points = sorted(points)
    if not points:
        return None
    latest = points[-1][1]
    day_ago, week_ago = (
        _value_at(points, now - timedelta(days=1)),
        _value_at(points, now - timedelta(days=7)),
    )
    recent = [p for p in points if p[0] >= now - timedelta(days=30)]
    note = need.shortfall(recent)
    fit = None if note else linear_fit(recent)
    slope = fit[0] if fit else None
    days = None
    if limit is not None and slope and slope > 0 and latest < limit:
        days = round((limit - latest) / slope, 1)
    return Trend(
        metric,
        latest,
        None if day_ago is None else round(latest - day_ago, 3),
        None if week_ago is None else round(latest - week_ago, 3),
        None if slope is None else round(slope, 4),
        days,
        limit,
        samples=len(recent),
        span_hours=round(span_hours(recent), 2),
        history=history_span(recent),
        note=note,
    )


# Metrics with a natural limit: forecast the days until it is reached.
LIMITS = {"connections_pct": 100.0, "max_used_connections_pct": 100.0, "disk_pct": 100.0}


class HealthHistory:
    """Health samples and alert state in the history schema of one database.

    :param session: an open session on the history store.
    :param history_schema: the schema holding history tables.
    """

    def __init__(
        self, session: MaintenanceSession, history_schema: str, *, create: bool = True
    ) -> None:
        self.session = session
        self.schema = history_schema
        if create:
            sql = load_sql("create_health_history", history_schema=history_schema)
            for statement in split_statements(sql):
                session.execute(statement)
        self.samples = qualified(history_schema, "health_samples")
        self.alerts = qualified(history_schema, "alert_state")

    def store(
        self,
        sample: HealthSample,
        health: HealthScore,
        breaches: list[Breach],
        when: datetime,
        run_id: str | None,
    ) -> None:
        """Write one sample."""
        details = {
            "digests": sample.digests,
            "digest_source": sample.digest_source,
            "sizes": sample.sizes,
            "security": sample.security,
            "security_explained": sample.security_explained,
            "replicas": [asdict(r) for r in sample.replicas],
            "longest_query": sample.longest_query,
            "host": sample.host,
            "reasons": health.reasons,
        }
        self.session.execute(
            f"INSERT INTO {self.samples} (database_name, sampled_at, run_id, score, status, "  # noqa: S608
            "metrics, breaches, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                sample.database,
                when,
                run_id,
                health.score,
                health.status,
                json.dumps(sample.metrics),
                json.dumps([b.to_dict() for b in breaches]),
                json.dumps(details, default=str),
            ),
        )

    def latest(self, database: str) -> dict[str, Any] | None:
        """Return the newest sample of a database (metrics and breaches decoded)."""
        rows = self.session.query(
            f"SELECT * FROM {self.samples} WHERE database_name = %s "  # noqa: S608
            "ORDER BY sampled_at DESC, id DESC LIMIT 1",
            (database,),
        )
        if not rows:
            return None
        row = rows[0]
        for key in ("metrics", "breaches", "details"):
            row[key] = json.loads(row[key]) if row.get(key) else None
        return row

    def series(self, database: str, since: datetime) -> dict[str, list[tuple[datetime, float]]]:
        """Return every metric's points since ``since``, oldest first."""
        rows = self.session.query(
            f"SELECT sampled_at, metrics FROM {self.samples} "  # noqa: S608
            "WHERE database_name = %s AND sampled_at >= %s ORDER BY sampled_at",
            (database, since),
        )
        out: dict[str, list[tuple[datetime, float]]] = {}
        for row in rows:
            for metric, value in json.loads(row["metrics"]).items():
                out.setdefault(metric, []).append((row["sampled_at"], float(value)))
        return out

    def trends(
        self,
        database: str,
        now: datetime,
        need: HistoryNeed = DEFAULT_NEED,
    ) -> list[Trend]:
        """Return trends of every metric over the last 30 days; slopes only if ``need`` is met."""
        series = self.series(database, now - timedelta(days=30))
        found = (trend(m, pts, now, LIMITS.get(m), need) for m, pts in sorted(series.items()))
        return [t for t in found if t is not None]

    def open_alerts(self, database: str) -> dict[str, datetime | None]:
        rows = self.session.query(
            f"SELECT alert_key, last_sent FROM {self.alerts} WHERE database_name = %s",  # noqa: S608
            (database,),
        )
        return {r["alert_key"]: r["last_sent"] for r in rows}

    def record_alerts(self, database: str, plan: AlertPlan, now: datetime) -> None:
        """Remember what was sent and seen; forget what recovered."""
        for breach, sent in [(b, True) for b in plan.send] + [(b, False) for b in plan.held_back]:
            self.session.execute(
                f"INSERT INTO {self.alerts} (database_name, alert_key, level, first_seen, "  # noqa: S608
                "last_seen, last_sent, message) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON DUPLICATE KEY UPDATE last_seen = VALUES(last_seen), message = VALUES(message), "
                "last_sent = IF(%s, VALUES(last_sent), last_sent)",
                (
                    database,
                    breach.key,
                    breach.level,
                    now,
                    now,
                    now if sent else None,
                    breach.describe(),
                    sent,
                ),
            )
        for key in plan.recovered:
            self.session.execute(
                f"DELETE FROM {self.alerts} WHERE database_name = %s AND alert_key = %s",  # noqa: S608
                (database, key),
            )

    def enforce_retention(self, cutoff: datetime) -> int:
        """Delete samples older than ``cutoff`` in chunks; return how many went."""
        total = 0
        while True:
            removed = self.session.execute(
                f"DELETE FROM {self.samples} WHERE sampled_at < %s ORDER BY sampled_at LIMIT 5000",  # noqa: S608
                (cutoff,),
            )
            total += removed
            if removed < 5000:
                return total

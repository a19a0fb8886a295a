"""Trends and forecasts from samples (pure): a metric's change, slope and days to its limit.

How much history a number needs (:class:`HistoryNeed`) lives here too, so the configuration,
the health history and the capacity plan share one rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any


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

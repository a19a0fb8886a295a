"""Capacity planning: growth, forecasts with a confidence band, auto-increment exhaustion.

Sources: the health samples (``total_size_bytes`` and ``disk_pct`` per database, daily) and
``<history_schema>.capacity_samples``, written by each run: every schema's size, the top tables'
sizes and the auto-increment counters of the tables near exhaustion. Forecasts are a least-squares
line (:func:`maintenance_ops.core.trends.linear_fit`) with a band of two residual standard
deviations (about 95 % of the points when residuals are normal): the limit is reached between the
day the upper band crosses it (earliest) and the day the lower band does (latest).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from maintenance_ops.core.identifiers import qualified, validate_identifier
from maintenance_ops.core.sqlfiles import load_sql, split_statements
from maintenance_ops.core.trends import (
    DEFAULT_NEED,
    HistoryNeed,
    history_span,
    linear_fit,
    span_hours,
)
from maintenance_ops.upkeep.index_analysis import naive_utc

if TYPE_CHECKING:
    from maintenance_ops.core.dialect import Dialect
    from maintenance_ops.core.session import MaintenanceSession
    from maintenance_ops.observe.health_history import HealthHistory

log = logging.getLogger(__name__)

Points = list[tuple[datetime, float]]
BAND_SIGMAS = 2.0
HISTORY_DAYS = 90
TOP_TABLES = 10
# InnoDB addresses 2**32 pages per tablespace: 64 TiB with the default 16 KiB pages.
INNODB_MAX_PAGES = 2**32
_INT_BYTES = {"tinyint": 1, "smallint": 2, "mediumint": 3, "int": 4, "integer": 4, "bigint": 8}


# --------------------------------------------------------------------------------------------
# Pure decisions
# --------------------------------------------------------------------------------------------


def type_max(data_type: str, unsigned: bool) -> int:
    """Return the largest value an integer column type holds (pure).

    >>> type_max("tinyint", unsigned=False), type_max("smallint", unsigned=True)
    (127, 65535)
    """
    size = _INT_BYTES.get(data_type.lower())
    if size is None:
        raise ValueError(f"{data_type!r} is not an integer type with an auto-increment maximum")
    bits = 8 * size
    return 2**bits - 1 if unsigned else 2 ** (bits - 1) - 1


def table_size_limit(engine: str | None, page_size: int = 16384) -> int | None:
    """Return the engine's largest table (tablespace) in bytes, or None when unknown (pure)."""
    if (engine or "").lower() == "innodb":
        return INNODB_MAX_PAGES * page_size
    return None


@dataclass
class Forecast:
    """A linear forecast of one series with its confidence band."""

    metric: str
    latest: float
    slope_per_day: float
    residual_std: float
    limit: float | None = None
    days_until_limit: float | None = None
    days_earliest: float | None = None  # upper band reaches the limit
    days_latest: float | None = None  # lower band reaches the limit
    limit_date: datetime | None = None
    points: list[tuple[datetime, float, float, float]] = field(default_factory=list)
    samples: int = 0
    span_hours: float = 0.0
    history: str = ""

    def value_at(self, days: float) -> tuple[float, float, float]:
        """Return the fit and its band ``days`` after the latest point."""
        mid = self.latest + self.slope_per_day * days
        half = BAND_SIGMAS * self.residual_std
        return mid, mid - half, mid + half

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (forecast points as ISO time, fit, low, high)."""
        data = asdict(self)
        data["limit_date"] = self.limit_date.isoformat() if self.limit_date else None
        data["points"] = [(t.isoformat(), round(m, 3), round(lo, 3), round(hi, 3))
                          for t, m, lo, hi in self.points]  # fmt: skip
        return data

    def describe(self) -> str:
        """One report line: where the series is, where it heads, and from how much history."""
        line = f"forecast {self.metric}: {self.latest:g} now, {self.slope_per_day:+g}/day"
        if self.limit is not None:
            line += (
                f", reaches {self.limit:g} in ~{self.days_until_limit:g} days "
                f"(band {_days(self.days_earliest)} to {_days(self.days_latest)})"
                if self.days_until_limit is not None
                else f", not heading for {self.limit:g}"
            )
        return f"{line} (from {self.history})"


def _days(days: float | None) -> str:
    return "never" if days is None else f"{days:g}"


def _days_to(value: float, limit: float, slope: float) -> float | None:
    if value >= limit:
        return 0.0
    return round((limit - value) / slope, 1) if slope > 0 else None


def forecast(
    metric: str,
    points: Points,
    now: datetime,
    *,
    limit: float | None = None,
    horizon_days: int = 90,
    steps: int = 6,
) -> Forecast | None:
    """Fit a line to ``points`` and forecast ``horizon_days`` ahead with a band (pure).

    The band is ``BAND_SIGMAS`` residual standard deviations around the fit; None with fewer
    than two distinct times.
    """
    points = sorted(points)
    fit = linear_fit(points)
    if fit is None:
        return None
    slope, intercept = fit
    t0 = points[0][0]
    days = [(t - t0).total_seconds() / 86400 for t, _ in points]
    residuals = [v - (intercept + slope * x) for x, (_, v) in zip(days, points, strict=True)]
    dof = max(len(points) - 2, 1)
    std = math.sqrt(sum(r * r for r in residuals) / dof)
    elapsed = (now - t0).total_seconds() / 86400
    latest = intercept + slope * elapsed
    result = Forecast(metric, round(latest, 3), round(slope, 6), round(std, 6), limit)
    result.samples, result.history = len(points), history_span(points)
    result.span_hours = round(span_hours(points), 2)
    for step in range(steps + 1):
        ahead = horizon_days * step / max(steps, 1)
        result.points.append((now + timedelta(days=ahead), *result.value_at(ahead)))
    if limit is not None:
        half = BAND_SIGMAS * std
        result.days_until_limit = _days_to(latest, limit, slope)
        result.days_earliest = _days_to(latest + half, limit, slope)
        result.days_latest = _days_to(latest - half, limit, slope)
        # A limit millennia away (64 TiB at a few KiB a day) has no calendar date.
        if result.days_until_limit is not None and result.days_until_limit < (
            (datetime.max - now).days
        ):
            result.limit_date = now + timedelta(days=result.days_until_limit)
    return result


@dataclass
class AutoIncrement:
    """An auto-increment column and how much of its type it has used."""

    schema: str
    table: str
    column: str
    type: str
    max: int
    next: int
    used_ratio: float
    forecast_date: datetime | None = None
    forecast_history: str | None = None  # what the date came from, or why there is none

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (``exhaustion``: the date with its history, as text)."""
        data = asdict(self)
        data["forecast_date"] = self.forecast_date.isoformat() if self.forecast_date else None
        data["exhaustion"] = self.exhaustion()
        return data

    def exhaustion(self) -> str:
        """``exhausted ~DATE (from N samples over X d)``, or why there is no date."""
        history = self.forecast_history or "no history"
        if self.forecast_date is not None:
            return f"exhausted ~{self.forecast_date:%Y-%m-%d} (from {history})"
        if history.startswith("not enough history"):
            return f"exhaustion date: {history}"
        return f"not growing ({history})"


def autoinc_usage(row: Mapping[str, Any]) -> AutoIncrement | None:
    """Return the usage of a catalog row's auto-increment column, None without one (pure)."""
    if not row.get("autoinc_column") or row.get("auto_increment") is None:
        return None
    data_type = str(row["data_type"]).lower()
    if data_type not in _INT_BYTES:
        return None  # FLOAT/DOUBLE auto-increment: exhaustion is not a practical concern
    unsigned = "unsigned" in str(row.get("column_type") or "").lower()
    top = type_max(data_type, unsigned)
    nxt = int(row["auto_increment"])
    return AutoIncrement(
        row["schema_name"],
        row["table_name"],
        row["autoinc_column"],
        str(row.get("column_type") or data_type),
        top,
        nxt,
        round((nxt - 1) / top, 4),
    )


def exhaustion_date(
    points: Points, maximum: int, now: datetime, need: HistoryNeed = DEFAULT_NEED
) -> datetime | None:
    """Return when a counter's linear growth reaches ``maximum`` (pure).

    None when it is not growing, or when ``points`` are too few for ``need``.
    """
    if need.shortfall(points):
        return None
    fit = forecast("auto_increment", points, now, limit=float(maximum), steps=0)
    if fit is None or fit.limit_date is None:
        return None
    return fit.limit_date


def growth(
    name: str, points: Points, now: datetime, need: HistoryNeed = DEFAULT_NEED
) -> dict[str, Any] | None:
    """Return a series' latest value, change over 7 and 30 days and slope (pure).

    The slope needs ``need``'s history; ``history`` says what it came from or why it is None.
    """
    points = sorted(points)
    if not points:
        return None
    latest = points[-1][1]

    def change(days: int) -> float | None:
        before = [v for t, v in points if t <= now - timedelta(days=days)]
        return round(latest - before[-1], 1) if before else None

    short = need.shortfall(points)
    fit = None if short else linear_fit(points)
    return {
        "name": name,
        "latest_bytes": latest,
        "change_7d": change(7),
        "change_30d": change(30),
        "slope_per_day": round(fit[0], 1) if fit else None,
        "history": short or history_span(points),
    }


# --------------------------------------------------------------------------------------------
# SVG chart
# --------------------------------------------------------------------------------------------

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def render_svg(
    title: str,
    series: Mapping[str, Points],
    band: Sequence[tuple[datetime, float, float]] = (),
    *,
    width: int = 640,
    height: int = 320,
) -> str:
    """Return a small SVG line chart: one polyline per series, the band as a shaded polygon."""
    everything = [p for pts in series.values() for p in pts]
    everything += [(t, v) for t, lo, hi in band for v in (lo, hi)]
    if not everything:
        return ""
    pad = 40
    t_min = min(t for t, _ in everything)
    t_span = max((max(t for t, _ in everything) - t_min).total_seconds(), 1.0)
    v_min = min(v for _, v in everything)
    v_span = max(max(v for _, v in everything) - v_min, 1e-9)

    def xy(t: datetime, v: float) -> str:
        x = pad + (width - 2 * pad) * (t - t_min).total_seconds() / t_span
        y = height - pad - (height - 2 * pad) * (v - v_min) / v_span
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{pad}" y="20" font-size="14">{escape(title)}</text>',
    ]
    if band:
        outline = [xy(t, hi) for t, _, hi in band] + [xy(t, lo) for t, lo, _ in reversed(band)]
        parts.append(f'<polygon points="{" ".join(outline)}" fill="#d62728" opacity="0.15"/>')
    for index, (name, pts) in enumerate(series.items()):
        color = _COLORS[index % len(_COLORS)]
        coords = " ".join(xy(t, v) for t, v in sorted(pts))
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        parts.append(
            f'<text x="{width - pad - 150}" y="{20 + 14 * index}" font-size="11" '
            f'fill="{color}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass
class CapacityResult:
    """The capacity plan of one database."""

    database: str
    schemas: list[str]
    taken_at: datetime
    growth: list[dict[str, Any]] = field(default_factory=list)
    forecasts: list[Forecast] = field(default_factory=list)
    autoinc: list[AutoIncrement] = field(default_factory=list)
    svg: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (for XCom and reports)."""
        return {
            "database": self.database,
            "schemas": list(self.schemas),
            "taken_at": self.taken_at.isoformat(),
            "growth": list(self.growth),
            "forecasts": [f.to_dict() for f in self.forecasts],
            "autoinc": [a.to_dict() for a in self.autoinc],
            "svg": self.svg,
            "notes": list(self.notes),
            "lines": self.lines(),
        }

    def lines(self) -> list[str]:
        """The report's lines: each forecast with its history, then why others are missing."""
        return [f.describe() for f in self.forecasts] + list(self.notes)


# --------------------------------------------------------------------------------------------
# I/O
# --------------------------------------------------------------------------------------------


def catalog_fresh_sql(dialect: Dialect | None) -> str | None:
    """Return the SET that makes MySQL 8's catalog report live AUTO_INCREMENT values.

    MySQL 8 caches ``information_schema.TABLES`` statistics for a day by default; MariaDB
    reads them live. (A candidate for :class:`~maintenance_ops.core.dialect.Dialect`.)
    """
    if dialect is None or dialect.is_mariadb or not dialect.version.at_least(8):
        return None
    return "SET SESSION information_schema_stats_expiry = 0"


class CapacitySamples:
    """Sizes and counters over time in ``<history_schema>.capacity_samples``."""

    def __init__(self, session: MaintenanceSession, history_schema: str) -> None:
        self.session = session
        for statement in split_statements(
            load_sql("capacity_create_samples", history_schema=history_schema)
        ):
            session.execute(statement)
        self.table = qualified(history_schema, "capacity_samples")

    def store(
        self, database: str, when: datetime, rows: Sequence[tuple[str, str, int, Any]]
    ) -> None:
        """Write ``(schema, table, bytes, auto_increment)`` rows; table '' is a whole schema."""
        self.session.execute_many(
            f"INSERT INTO {self.table} (database_name, sampled_at, schema_name, table_name, "  # noqa: S608
            "bytes, auto_increment) VALUES (%s, %s, %s, %s, %s, %s)",
            [(database, when, *row) for row in rows],
        )

    def series(self, database: str, since: datetime) -> dict[tuple[str, str], list[Any]]:
        """Return ``(sampled_at, bytes, auto_increment)`` per (schema, table), oldest first."""
        rows = self.session.query(
            f"SELECT schema_name, table_name, sampled_at, bytes, auto_increment "  # noqa: S608
            f"FROM {self.table} WHERE database_name = %s AND sampled_at >= %s ORDER BY sampled_at",
            (database, since),
        )
        out: dict[tuple[str, str], list[Any]] = {}
        for r in rows:
            out.setdefault((r["schema_name"], r["table_name"]), []).append(
                (r["sampled_at"], int(r["bytes"]), r["auto_increment"])
            )
        return out


def _sample_rows(
    catalog: Sequence[Mapping[str, Any]], autoinc: Sequence[AutoIncrement], top: int
) -> list[tuple[str, str, int, Any]]:
    """Pick what this run stores: schema totals, the top tables, auto-increment candidates."""
    totals: dict[str, int] = {}
    for row in catalog:
        totals[row["schema_name"]] = totals.get(row["schema_name"], 0) + int(row["bytes"])
    rows: dict[tuple[str, str], tuple[str, str, int, Any]] = {
        (s, ""): (s, "", b, None) for s, b in totals.items()
    }
    by_size = sorted(catalog, key=lambda r: -int(r["bytes"]))[:top]
    wanted = {(r["schema_name"], r["table_name"]) for r in by_size}
    wanted |= {(a.schema, a.table) for a in autoinc}
    for row in catalog:
        key = (row["schema_name"], row["table_name"])
        if key in wanted:
            rows[key] = (*key, int(row["bytes"]), row["auto_increment"])
    return list(rows.values())


def plan_capacity(
    session: MaintenanceSession,
    *,
    history: HealthHistory,
    database_name: str,
    schemas: Sequence[str],
    now: datetime,
    autoinc_threshold: float = 0.8,
    horizon_days: int = 90,
    top_tables: int = TOP_TABLES,
    need: HistoryNeed = DEFAULT_NEED,
) -> CapacityResult:
    """Forecast growth, disk and table-size limits, and find auto-increment columns near their end.

    :param session: an open maintenance session on the target.
    :param history: the health history of the database (its session also stores
        ``capacity_samples``).
    :param database_name: the database's name in configuration.
    :param schemas: the schemas to plan for (validated identifiers).
    :param now: the run's logical time: this sample's time and the forecasts' origin.
    :param autoinc_threshold: share of the type's maximum from which a column is reported.
    :param horizon_days: how far the forecasts and the chart look ahead.
    :param top_tables: how many of the largest tables get their own growth line.
    :param need: the history a slope or forecast needs; below it the result says so instead.
    """
    names = [validate_identifier(s, "schema") for s in schemas]
    taken_at = naive_utc(now)
    result = CapacityResult(database_name, names, taken_at)
    fresh = catalog_fresh_sql(session.dialect)
    if fresh:
        session.execute(fresh)
    catalog = session.query(load_sql("capacity_tables"), {"schemas": tuple(names)}) if names else []
    usages = [u for u in (autoinc_usage(r) for r in catalog) if u is not None]
    watched = [u for u in usages if u.used_ratio >= autoinc_threshold / 2]
    store = CapacitySamples(history.session, history.schema)
    store.store(database_name, taken_at, _sample_rows(catalog, watched, top_tables))
    since = taken_at - timedelta(days=HISTORY_DAYS)
    samples = store.series(database_name, since)
    result.autoinc = _autoinc_findings(usages, samples, autoinc_threshold, taken_at, need)
    _table_growth(result, catalog, samples, top_tables, horizon_days, need)
    _database_forecasts(result, history.series(database_name, since), samples, horizon_days, need)
    log.info(
        "capacity of %s: %s tables, %s forecasts, %s auto-increment columns over %.0f%%",
        database_name,
        len(catalog),
        len(result.forecasts),
        len(result.autoinc),
        100 * autoinc_threshold,
    )
    return result


def _autoinc_findings(
    usages: Sequence[AutoIncrement],
    samples: Mapping[tuple[str, str], list[Any]],
    threshold: float,
    now: datetime,
    need: HistoryNeed,
) -> list[AutoIncrement]:
    found = []
    for usage in usages:
        if usage.used_ratio < threshold:
            continue
        history = samples.get((usage.schema, usage.table), [])
        points = [(t, float(a)) for t, _, a in history if a is not None]
        usage.forecast_date = exhaustion_date(points, usage.max, now, need)
        usage.forecast_history = need.shortfall(points) or history_span(points)
        found.append(usage)
    return sorted(found, key=lambda u: (-u.used_ratio, u.schema, u.table))


def _table_growth(
    result: CapacityResult,
    catalog: Sequence[Mapping[str, Any]],
    samples: Mapping[tuple[str, str], list[Any]],
    top: int,
    horizon_days: int,
    need: HistoryNeed,
) -> None:
    """Add per-schema and top-table growth, and table-size-limit forecasts."""
    for (schema, table), history in sorted(samples.items()):
        if table == "":
            item = growth(schema, [(t, float(b)) for t, b, _ in history], result.taken_at, need)
            if item:
                result.growth.append({"scope": "schema", **item})
    for row in sorted(catalog, key=lambda r: -int(r["bytes"]))[:top]:
        key = (row["schema_name"], row["table_name"])
        points = [(t, float(b)) for t, b, _ in samples.get(key, [])]
        item = growth(f"{key[0]}.{key[1]}", points, result.taken_at, need)
        if item:
            result.growth.append({"scope": "table", **item})
        limit = table_size_limit(row["engine"])
        if need.shortfall(points):
            continue  # the growth line says why: a size limit decades away needs no note each
        fit = forecast(f"table {key[0]}.{key[1]} bytes", points, result.taken_at,
                       limit=limit, horizon_days=horizon_days)  # fmt: skip
        if fit is not None and fit.days_until_limit is not None:
            result.forecasts.append(fit)


def _database_forecasts(
    result: CapacityResult,
    health: Mapping[str, Points],
    samples: Mapping[tuple[str, str], list[Any]],
    horizon_days: int,
    need: HistoryNeed,
) -> None:
    """Add the database's size growth, size and disk forecasts, and the size chart."""
    size = health.get("total_size_bytes") or _summed_schemas(samples)
    item = growth(result.database, size, result.taken_at, need)
    if item:
        result.growth.insert(0, {"scope": "database", **item})
    short = need.shortfall(size)
    size_fit = (
        None
        if short
        else forecast("total_size_bytes", size, result.taken_at, horizon_days=horizon_days)
    )
    if size_fit is not None:
        result.forecasts.insert(0, size_fit)
        band = [(t, lo, hi) for t, _, lo, hi in size_fit.points]
        result.svg = render_svg(
            f"{result.database}: size (bytes) and {horizon_days}-day forecast",
            {"size": size, "forecast": [(t, m) for t, m, _, _ in size_fit.points]},
            band,
        )
    else:
        result.notes.append(f"size forecast: {short or 'no fit'}")
    disk = health.get("disk_pct", [])
    short = need.shortfall(disk)
    disk_fit = (
        None
        if short
        else forecast("disk_pct", disk, result.taken_at, limit=100.0, horizon_days=horizon_days)
    )
    if disk_fit is not None:
        result.forecasts.append(disk_fit)
    elif not disk:
        result.notes.append("disk-full forecast: no disk_pct history (health check samples)")
    else:
        result.notes.append(f"disk-full forecast: {short or 'no fit'}")


def _summed_schemas(samples: Mapping[tuple[str, str], list[Any]]) -> Points:
    totals: dict[datetime, float] = {}
    for (_, table), history in samples.items():
        if table == "":
            for t, b, _ in history:
                totals[t] = totals.get(t, 0.0) + b
    return sorted(totals.items())

"""Inline SVG charts drawn on the server (pure): sparklines, line charts with a band, bars.

No chart library and nothing fetched by the browser: each function returns one ``<svg>``
element as text, every label escaped. Each chart carries ``data-points`` (how many values it
drew) so a test, or a reader of the HTML, can tell an empty chart from a drawn one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

COLORS = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#dc2626", "#0891b2")


def _scale(value: float, lo: float, hi: float, size: float) -> float:
    """Map ``value`` in [lo, hi] onto [size, 0] (SVG's y grows downwards)."""
    if hi <= lo:
        return size / 2
    return round(size - (value - lo) / (hi - lo) * size, 2)


def _bounds(values: Sequence[float], lo: float | None, hi: float | None) -> tuple[float, float]:
    low = min(values) if lo is None else lo
    high = max(values) if hi is None else hi
    if high <= low:
        high = low + 1
    return low, high


def sparkline(
    values: Sequence[float | None],
    *,
    width: int = 120,
    height: int = 24,
    lo: float | None = 0,
    hi: float | None = 100,
    label: str = "",
) -> str:
    """Return a small line of ``values`` (oldest first); ``None`` leaves a gap."""
    drawn = [v for v in values if v is not None]
    title = f"<title>{escape(label)}</title>" if label else ""
    if not drawn:
        return (
            f'<svg class="spark empty" width="{width}" height="{height}" data-points="0" '
            f'role="img">{title}<text x="2" y="{height - 8}" font-size="10" fill="#6b7280">'
            "no samples</text></svg>"
        )
    low, high = _bounds(drawn, lo, hi)
    step = width / max(len(values) - 1, 1)
    segments: list[list[str]] = [[]]
    last = (0.0, 0.0)
    for i, value in enumerate(values):
        if value is None:
            segments.append([])
            continue
        last = (round(i * step, 2), _scale(value, low, high, height - 2) + 1)
        segments[-1].append(f"{last[0]},{last[1]}")
    lines = "".join(
        f'<polyline points="{" ".join(s)}" fill="none" stroke="#2563eb" stroke-width="1.5"/>'
        for s in segments
        if s
    )
    return (
        f'<svg class="spark" width="{width}" height="{height}" data-points="{len(drawn)}" '
        f'role="img">{title}{lines}<circle cx="{last[0]}" cy="{last[1]}" r="2" '
        'fill="#1d4ed8"/></svg>'
    )


PAD_LEFT, PAD_TOP = 46, 18


def _head(css: str, width: int, height: int, count: int, title: str) -> str:
    """Open a chart's ``<svg>``: its size, how many values it draws, and its title."""
    return (
        f'<svg class="{css}" width="{width}" height="{height}" data-points="{count}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    )


def _empty(head: str, text: str) -> str:
    """A chart with nothing to draw: one line of text, 28 pixels high."""
    small = re.sub(r' height="\d+"', ' height="28"', head, count=1)
    return f'{small}<text x="8" y="20" font-size="12" fill="#6b7280">{escape(text)}</text></svg>'


def _level(y: float, width: float, text: str) -> str:
    """A dashed horizontal line at ``y`` with its label: a limit or a target."""
    return (
        f'<line class="limit" x1="0" x2="{width}" y1="{y}" y2="{y}" stroke="#dc2626" '
        f'stroke-dasharray="4 3"/><text x="{width - 4}" y="{y - 3}" font-size="10" '
        f'text-anchor="end" fill="#dc2626">{escape(text)}</text>'
    )


@dataclass(frozen=True)
class Series:
    """One named line of ``(time, value)`` points, oldest first."""

    name: str
    points: Sequence[tuple[datetime, float]]


@dataclass(frozen=True)
class Band:
    """A shaded range around a forecast: ``(time, low, high)`` points."""

    name: str
    points: Sequence[tuple[datetime, float, float]]


def _x_of(start: datetime, end: datetime, width: float) -> Callable[[datetime], float]:
    span = max((end - start).total_seconds(), 1.0)
    return lambda t: round((t - start).total_seconds() / span * width, 2)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    unit: str = "",
    band: Band | None = None,
    limit: float | None = None,
    width: int = 560,
    height: int = 160,
) -> str:
    """Return a line chart of ``series`` over a shared time axis, with an optional band/limit."""
    times = [t for s in series for t, _ in s.points]
    values = [v for s in series for _, v in s.points]
    if band:
        times += [t for t, _, _ in band.points]
        values += [v for _, lo, hi in band.points for v in (lo, hi)]
    if limit is not None and values:
        values.append(limit)
    count = sum(len(s.points) for s in series)
    head = _head("chart", width, height + 34, count, title)
    if not times:
        return _empty(head, f"{title}: no samples in this period")
    pad_l, plot_w, plot_h = PAD_LEFT, width - PAD_LEFT - 8, height - PAD_TOP
    low, high = _bounds(values, min(0.0, min(values)), None)
    x = _x_of(min(times), max(times), plot_w)
    parts = [head, f'<g transform="translate({pad_l},{PAD_TOP})">']
    parts.append(f'<rect width="{plot_w}" height="{plot_h}" fill="#f9fafb" stroke="#e5e7eb"/>')
    if band:
        upper = " ".join(f"{x(t)},{_scale(hi, low, high, plot_h)}" for t, _, hi in band.points)
        lower = " ".join(
            f"{x(t)},{_scale(lo, low, high, plot_h)}" for t, lo, _ in reversed(band.points)
        )
        parts.append(
            f'<polygon class="band" points="{upper} {lower}" fill="#93c5fd" opacity="0.35">'
            f"<title>{escape(band.name)}</title></polygon>"
        )
    if limit is not None:
        parts.append(_level(_scale(limit, low, high, plot_h), plot_w, f"limit {limit:g}{unit}"))
    for i, s in enumerate(series):
        if not s.points:
            continue
        color = COLORS[i % len(COLORS)]
        points = " ".join(f"{x(t)},{_scale(v, low, high, plot_h)}" for t, v in s.points)
        parts.append(
            f'<polyline class="series" points="{points}" fill="none" '
            f'stroke="{color}" stroke-width="1.5"><title>{escape(s.name)}'
            "</title></polyline>"
        )
        # The newest value as a dot: a series of one sample (a new database) shows too.
        at, value = s.points[-1]
        parts.append(
            f'<circle class="last" cx="{x(at)}" cy="{_scale(value, low, high, plot_h)}" r="3" '
            f'fill="{color}"><title>{escape(s.name)}: {value:.4g}{escape(unit)} at '
            f"{at:%Y-%m-%d %H:%M}</title></circle>"
        )
    parts.append(
        f'<text x="-4" y="8" font-size="10" text-anchor="end">{high:.4g}{escape(unit)}</text>'
        f'<text x="-4" y="{plot_h}" font-size="10" text-anchor="end">{low:.4g}{escape(unit)}</text>'
        f'<text x="0" y="{plot_h + 13}" font-size="10">{min(times):%Y-%m-%d %H:%M}</text>'
        f'<text x="{plot_w}" y="{plot_h + 13}" font-size="10" text-anchor="end">'
        f"{max(times):%Y-%m-%d %H:%M}</text></g>"
    )
    legend = "".join(
        f'<tspan fill="{COLORS[i % len(COLORS)]}">■ {escape(s.name)} </tspan>'
        for i, s in enumerate(series)
    )
    parts.append(f'<text x="{pad_l}" y="12" font-size="11">{escape(title)}: {legend}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    bars: Sequence[tuple[str, float | None, bool]],
    *,
    title: str,
    unit: str = "s",
    target: float | None = None,
    width: int = 560,
    height: int = 140,
) -> str:
    """Return bars of ``(label, value, ok)``; failed bars are red, a target is a dashed line."""
    drawn = [(label, v, ok) for label, v, ok in bars if v is not None]
    head = _head("chart bars", width, height + 30, len(drawn), title)
    if not drawn:
        return _empty(head, f"{title}: none recorded")
    pad_l, plot_w, plot_h = PAD_LEFT, width - PAD_LEFT - 8, height - PAD_TOP
    values = [v for _, v, _ in drawn if v is not None] + ([target] if target else [])
    high = max(values) or 1.0
    slot = plot_w / len(drawn)
    parts = [head, f'<g transform="translate({pad_l},{PAD_TOP})">']
    for i, (label, value, ok) in enumerate(drawn):
        # At least 2 px: a 3 s restore under a 1 h target is still a bar, not nothing.
        y = min(_scale(value or 0.0, 0, high, plot_h), plot_h - 2)
        parts.append(
            f'<rect class="bar{"" if ok else " failed"}" x="{round(i * slot + 2, 2)}" y="{y}" '
            f'width="{round(max(slot - 4, 1), 2)}" height="{round(plot_h - y, 2)}" '
            f'fill="{"#059669" if ok else "#dc2626"}"><title>{escape(label)}: {value:g}'
            f"{escape(unit)}{'' if ok else ' (failed)'}</title></rect>"
        )
    if target:
        parts.append(_level(_scale(target, 0, high, plot_h), plot_w, f"target {target:g}{unit}"))
    parts.append(
        f'<text x="-4" y="8" font-size="10" text-anchor="end">{high:g}{escape(unit)}</text>'
        f'<text x="0" y="{plot_h + 13}" font-size="10">{escape(drawn[0][0])}</text>'
        f'<text x="{plot_w}" y="{plot_h + 13}" font-size="10" text-anchor="end">'
        f"{escape(drawn[-1][0])}</text></g>"
        f'<text x="{pad_l}" y="12" font-size="11">{escape(title)}</text></svg>'
    )
    return "".join(parts)

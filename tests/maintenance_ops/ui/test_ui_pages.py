"""The pages' HTML and SVG (pure): what they draw, what they say, and that they escape."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from maintenance_ops.ui import LazyApp, pages
from maintenance_ops.ui.fleet import FleetRow, RunCell
from maintenance_ops.ui.runs import worst_state
from maintenance_ops.ui.svg import Band, Series, bar_chart, line_chart, sparkline

T0 = datetime(2026, 11, 1)


@pytest.mark.parametrize(
    ("values", "points", "lines"),
    [
        pytest.param([50, 60, 70], 3, 1, id="one-line"),
        pytest.param([50, None, 70, 80], 3, 2, id="a-gap-splits-the-line"),
        pytest.param([None, None], 0, 0, id="no-samples"),
    ],
)
def test_sparkline_draws_what_it_has(values: list, points: int, lines: int) -> None:
    svg = sparkline(values, label="shop <7 d>")
    assert f'data-points="{points}"' in svg
    assert svg.count("<polyline") == lines
    assert "shop &lt;7 d&gt;" in svg or points == 0


def test_line_chart_with_band_limit_and_escaped_names() -> None:
    pts = [(T0 + timedelta(days=i), float(10 * i)) for i in range(5)]
    svg = line_chart(
        [Series("disk <pct>", pts)],
        title="Capacity & forecast",
        unit="%",
        band=Band("band", [(t, v - 5, v + 5) for t, v in pts]),
        limit=100,
    )
    assert 'data-points="5"' in svg and 'class="band"' in svg and 'class="limit"' in svg
    assert "disk &lt;pct&gt;" in svg and "Capacity &amp; forecast" in svg
    assert "<pct>" not in svg
    assert "no samples" in line_chart([Series("x", [])], title="Empty")


def test_one_sample_still_shows_as_the_newest_value() -> None:
    svg = line_chart([Series("score", [(T0, 90.0)]), Series("none", [])], title="Health score")
    assert 'data-points="1"' in svg
    assert svg.count('<circle class="last"') == 1
    assert "score: 90 at 2026-11-01 00:00" in svg


def test_a_tiny_bar_under_a_large_target_is_still_drawn() -> None:
    svg = bar_chart([("w1", 3.0, True)], title="RTO", target=3600)
    height = float(svg.split('class="bar"')[1].split('height="')[1].split('"')[0])
    assert height >= 2


def test_bar_chart_marks_failures_and_the_target() -> None:
    svg = bar_chart([("w1", 40.0, True), ("w2", 90.0, False), ("w3", None, True)],
                    title="RTO", target=60)  # fmt: skip
    assert 'data-points="2"' in svg
    assert svg.count('class="bar"') == 1 and svg.count('class="bar failed"') == 1
    assert "target 60s" in svg


def test_fleet_row_html_escapes_and_links_runs() -> None:
    row = FleetRow(database="shop", enabled=True, history="c:h", score=75, status="degraded")
    row.runs["daily_maintenance"] = RunCell(
        "mysql_daily_maintenance", "manual__2026-11-01T00:00:00+00:00", "failed", None,
        {"ok": 3, "skipped": 1},
    )  # fmt: skip
    row.concerns = ["<b>late</b>"]
    html = pages.fleet_rows_html([row], "/")
    assert "&lt;b&gt;late&lt;/b&gt;" in html and "<b>late</b>" not in html
    assert (
        'href="/dags/mysql_daily_maintenance/runs/manual__2026-11-01T00%3A00%3A00%2B00%3A00"'
        in html
    )
    assert "1 skipped" in html and "3 ok" not in html
    assert '<span class="badge failed">failed</span>' in html


def test_run_section_says_what_failed_and_what_was_skipped() -> None:
    audit = [
        {"object_name": "app.t", "command": "ANALYZE TABLE `app`.`t`", "outcome": "ok",
         "rows_affected": None, "started_at": T0, "ended_at": T0 + timedelta(seconds=2),
         "error": None},
        {"object_name": "app.s", "command": "cleanup s", "outcome": "skipped",
         "rows_affected": 0, "started_at": T0, "ended_at": T0, "error": "table locked"},
        {"object_name": None, "command": "backup mariadb-dump", "outcome": "failed",
         "rows_affected": None, "started_at": T0, "ended_at": None, "error": "disk <full>"},
    ]  # fmt: skip
    html = pages.run_section("shop", "failed", (T0, T0 + timedelta(seconds=9)), None, audit, [])
    assert "No result in the report" in html and "in 9.0 s" in html
    failures = html.split("<h4>Failures</h4>")[1].split("</table>")[0]
    assert "disk &lt;full&gt;" in failures and "table locked" not in failures
    assert "table locked" in html.split("<h4>Skipped</h4>")[1].split("</table>")[0]
    skipped = pages.run_section("calm", "success", None, {"skipped": "window closed"}, [], [])
    assert "Skipped: window closed" in skipped
    unreachable = pages.run_section("lost", "success", None, {}, "history store unreachable: x", [])
    assert "history store unreachable: x" in unreachable


def test_the_lazy_app_ignores_lifespan_and_builds_nothing_for_it() -> None:
    app = LazyApp()
    asyncio.run(app({"type": "lifespan"}, None, None))
    assert app._app is None


@pytest.mark.parametrize(
    ("states", "worst"),
    [
        pytest.param(["success", "skipped", "success"], "skipped", id="a-skipped-step"),
        pytest.param(["success", "failed", "upstream_failed"], "failed", id="a-failed-step"),
        pytest.param(["success", "running", "none"], "running", id="still-running"),
        pytest.param(["success", "success"], "success", id="all-done"),
    ],
)
def test_a_database_state_is_its_worst_step(states: list[str], worst: str) -> None:
    assert worst_state(states) == worst

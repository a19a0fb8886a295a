"""Capacity planning: type maxima, forecast bands and the SVG (pure); planted auto-increment keys
near their maximum on the real server, with a forecast date from two samples."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.core.trends import HistoryNeed
from maintenance_ops.observe.health_history import HealthHistory
from maintenance_ops.upkeep.capacity import (
    autoinc_usage,
    exhaustion_date,
    forecast,
    plan_capacity,
    render_svg,
    table_size_limit,
    type_max,
)
from tests.conftest import Target

NOW = datetime(2026, 11, 1, 3, 0)
DAY = timedelta(days=1)
SVG = "{http://www.w3.org/2000/svg}"
TWO_SAMPLES = HistoryNeed(min_hours=24, min_samples=2)  # the math, not the history guard


@pytest.mark.parametrize(
    ("data_type", "unsigned", "expected"),
    [
        pytest.param("tinyint", False, 127, id="tinyint"),
        pytest.param("TINYINT", True, 255, id="tinyint-unsigned"),
        pytest.param("smallint", False, 32767, id="smallint"),
        pytest.param("mediumint", True, 16777215, id="mediumint-unsigned"),
        pytest.param("int", False, 2147483647, id="int"),
        pytest.param("bigint", True, 18446744073709551615, id="bigint-unsigned"),
    ],
)
def test_type_max(data_type: str, unsigned: bool, expected: int) -> None:
    assert type_max(data_type, unsigned) == expected


def test_type_max_rejects_non_integers() -> None:
    with pytest.raises(ValueError, match="'double' is not an integer type"):
        type_max("double", False)


def test_table_size_limit() -> None:
    assert table_size_limit("InnoDB") == 64 * 2**40 and table_size_limit("Aria") is None


def test_forecast_exact_line_has_zero_band() -> None:
    points = [(NOW - (10 - d) * DAY, 50.0 + d) for d in range(11)]  # 1 %/day, 60 % now
    fit = forecast("disk_pct", points, NOW, limit=100.0)
    assert fit is not None
    assert (fit.slope_per_day, fit.residual_std, fit.latest) == (1.0, 0.0, 60.0)
    assert fit.days_until_limit == fit.days_earliest == fit.days_latest == 40.0
    assert fit.limit_date == NOW + 40 * DAY


def test_forecast_noisy_line_band_brackets_the_fit() -> None:
    points = [(NOW - (10 - d) * DAY, 50.0 + d + (3 if d % 2 else -3)) for d in range(11)]
    fit = forecast("disk_pct", points, NOW, limit=100.0, horizon_days=30, steps=3)
    assert fit is not None and fit.residual_std > 2
    assert fit.days_earliest is not None and fit.days_latest is not None
    assert fit.days_earliest < fit.days_until_limit < fit.days_latest  # type: ignore[operator]
    _, low, high = fit.value_at(10)
    assert high - low == pytest.approx(4 * fit.residual_std)
    assert len(fit.points) == 4 and fit.to_dict()["limit_date"]


def test_a_limit_beyond_the_calendar_has_no_date() -> None:
    points = [(NOW - 7 * DAY, 16384.0), (NOW, 524288.0)]  # a small table: 64 TiB in 2.5e9 years
    fit = forecast("table t bytes", points, NOW, limit=float(64 * 2**40))
    assert fit is not None and fit.days_until_limit is not None and fit.days_until_limit > 1e8
    assert fit.limit_date is None


def test_forecast_needs_two_times_and_flat_never_hits() -> None:
    assert forecast("x", [(NOW, 1.0)], NOW) is None
    flat = forecast("x", [(NOW - DAY, 5.0), (NOW, 5.0)], NOW, limit=10.0)
    assert flat is not None and flat.days_until_limit is None and flat.limit_date is None


def test_autoinc_usage_and_exhaustion_date() -> None:
    row = {"schema_name": "s", "table_name": "t", "autoinc_column": "id", "data_type": "tinyint",
           "column_type": "tinyint(4)", "auto_increment": 121}  # fmt: skip
    usage = autoinc_usage(row)
    assert usage is not None and (usage.max, usage.next, usage.used_ratio) == (127, 121, 0.9449)
    assert autoinc_usage({**row, "autoinc_column": None}) is None
    points = [(NOW - 7 * DAY, 100.0), (NOW, 121.0)]  # 3 a day: 2 days to 127
    assert exhaustion_date(points, 127, NOW, TWO_SAMPLES) == NOW + 2 * DAY
    assert exhaustion_date(points, 127, NOW) is None  # two monthly samples: not yet by default


def test_svg_is_xml_with_one_polyline_per_series() -> None:
    series = {
        "size": [(NOW - 2 * DAY, 1.0), (NOW - DAY, 2.0), (NOW, 3.0)],
        "forecast <fit>": [(NOW, 3.0), (NOW + DAY, 4.0)],
    }
    svg = render_svg("db & size", series, [(NOW, 2.5, 3.5), (NOW + DAY, 3.0, 5.0)])
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert len(root.findall(f"{SVG}polyline")) == 2
    assert len(root.findall(f"{SVG}polygon")) == 1
    assert render_svg("empty", {}) == ""


PLANTED = [
    "CREATE TABLE tiny (id TINYINT NOT NULL AUTO_INCREMENT PRIMARY KEY, v INT)",
    "INSERT INTO tiny (id, v) VALUES (105, 1)",
    "CREATE TABLE small_u (id SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY)",
    "INSERT INTO small_u (id) VALUES (60000)",
    "CREATE TABLE roomy (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, pad CHAR(200))",
    "INSERT INTO roomy (pad) SELECT 'x' FROM seq_1_to_2000",
    "CREATE TABLE no_key (v INT)",
]


def _plan(target: Target, now: datetime, need: HistoryNeed = TWO_SAMPLES) -> dict:
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        history = HealthHistory(session, target.history_schema)
        return plan_capacity(
            session,
            history=history,
            database_name="primary",
            schemas=[target.schema],
            now=now,
            autoinc_threshold=0.8,
            need=need,
        ).to_dict()


def _create_history(target: Target) -> None:
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        HealthHistory(session, target.history_schema)


def _health_samples(target: Target, count: int = 8, step: timedelta = DAY) -> None:
    for i in range(count):
        metrics = {"disk_pct": 50.0 + i, "total_size_bytes": 1e6 * (1 + i)}
        target.sql(
            f"INSERT INTO `{target.history_schema}`.health_samples (database_name, sampled_at, "
            "score, status, metrics, breaches) VALUES ('primary', %s, 100, 'healthy', %s, '[]')",
            (NOW - (count - 1 - i) * step, json.dumps(metrics)),
        )


def test_planted_keys_near_their_maximum_are_found(target: Target) -> None:
    for statement in PLANTED:
        target.sql(statement)
    first = _plan(target, NOW - 7 * DAY)
    found = {a["table"]: a for a in first["autoinc"]}
    assert sorted(found) == ["small_u", "tiny"]
    assert (found["tiny"]["max"], found["tiny"]["next"]) == (127, 106)
    assert found["small_u"]["max"] == 65535 and found["small_u"]["used_ratio"] > 0.9
    assert found["tiny"]["forecast_date"] is None  # one sample: no growth known yet

    for value in range(14):  # 2 a day; single rows: INSERT ... SELECT reserves ids in batches
        target.sql("INSERT INTO tiny (v) VALUES (%s)", (value,))
    _health_samples(target)
    second = _plan(target, NOW)
    tiny = next(a for a in second["autoinc"] if a["table"] == "tiny")
    assert tiny["next"] == 120
    assert tiny["forecast_date"] == (NOW + 3.5 * DAY).isoformat()  # (127 - 120) / 2
    by_metric = {f["metric"]: f for f in second["forecasts"]}
    assert by_metric["disk_pct"]["days_until_limit"] == 43.0
    assert by_metric["total_size_bytes"]["slope_per_day"] == 1e6
    scopes = {(g["scope"], g["name"]) for g in second["growth"]}
    assert ("database", "primary") in scopes and ("schema", target.schema) in scopes
    assert ("table", f"{target.schema}.roomy") in scopes
    root = ET.fromstring(second["svg"])
    assert len(root.findall(f"{SVG}polyline")) == 2
    assert tiny["exhaustion"] == "exhausted ~2026-11-04 (from 2 samples over 7 d)"


def test_minutes_of_history_give_no_forecast(target: Target) -> None:
    # The run: 5 health samples over 7 minutes once forecast a full disk in 0.9 days.
    _create_history(target)
    _health_samples(target, count=5, step=timedelta(seconds=105))
    plan = _plan(target, NOW, HistoryNeed())
    assert plan["forecasts"] == [] and plan["svg"] == ""
    short = "not enough history (5 samples over 7 min; needs 12 samples over at least 24 h)"
    assert plan["lines"] == [f"size forecast: {short}", f"disk-full forecast: {short}"]
    database = next(g for g in plan["growth"] if g["scope"] == "database")
    assert database["slope_per_day"] is None and database["history"] == short


def test_a_day_of_history_gives_forecasts_with_their_span(target: Target) -> None:
    _create_history(target)
    _health_samples(target, count=30, step=timedelta(hours=1))  # +1 %/h over 29 h
    plan = _plan(target, NOW, HistoryNeed())
    disk = next(f for f in plan["forecasts"] if f["metric"] == "disk_pct")
    assert (disk["samples"], disk["span_hours"], disk["slope_per_day"]) == (30, 29.0, 24.0)
    assert "forecast disk_pct: 79 now, +24/day, reaches 100 in ~0.9 days" in plan["lines"][-1]
    assert plan["lines"][-1].endswith("(from 30 samples over 29 h)")
    assert plan["svg"]

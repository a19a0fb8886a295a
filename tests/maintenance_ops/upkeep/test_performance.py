"""Performance analysis: baseline and regression rules (pure), a real regression between two
snapshots on a private server with performance_schema on, and the hint when it is off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.upkeep.performance import (
    ENABLE_HINT,
    Counters,
    analyze_performance,
    find_regressions,
    pick_baseline,
    top_statements,
    weekly_trends,
    window_average,
)
from tests.support.accounts import Account, create_account

NOW = datetime(2026, 11, 8, 3, 0)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        pytest.param([], (None, False), id="none"),
        pytest.param([NOW - 14 * DAY, NOW - 7 * DAY, NOW - DAY], (NOW - 7 * DAY, True), id="week"),
        pytest.param([NOW - 6.8 * DAY], (NOW - 6.8 * DAY, True), id="early-run-counts"),
        pytest.param([NOW - 2 * DAY, NOW - DAY], (NOW - DAY, False), id="only-recent"),
        pytest.param([NOW, NOW + DAY], (None, False), id="none-older"),
    ],
)
def test_pick_baseline(taken: list[datetime], expected: tuple[datetime | None, bool]) -> None:
    assert pick_baseline(taken, NOW) == expected


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        pytest.param(Counters(10, 1.0), Counters(30, 5.0), (0.2, 20, False), id="delta"),
        pytest.param(Counters(10, 1.0), Counters(10, 1.0), None, id="no-calls"),
        pytest.param(Counters(100, 10.0), Counters(4, 2.0), (0.5, 4, True), id="reset"),
    ],
)
def test_window_average(
    before: Counters, now: Counters, expected: tuple[float, int, bool] | None
) -> None:
    assert window_average(before, now) == expected


def test_find_regressions_applies_ratio_and_noise_floors() -> None:
    before = {
        ("s", "slow"): Counters(100, 1.0),  # 10 ms
        ("s", "same"): Counters(100, 1.0),
        ("s", "few"): Counters(100, 1.0),
        ("s", "tiny"): Counters(100, 0.0001),
    }
    now = {
        ("s", "slow"): Counters(200, 4.0),  # window 30 ms: x3
        ("s", "same"): Counters(200, 2.4),  # window 14 ms: x1.4
        ("s", "few"): Counters(102, 2.0),  # 2 calls only
        ("s", "tiny"): Counters(200, 0.0005),  # under 1 ms
        ("s", "new"): Counters(50, 5.0),
    }
    found = find_regressions(before, now, {("s", "slow"): "SELECT ?"}, ratio=1.5)
    assert [(r.digest, r.ratio, r.calls, r.text) for r in found] == [("slow", 3.0, 100, "SELECT ?")]


def test_top_statements_lists() -> None:
    rows = [
        {"digest": "a", "schema_name": "s", "text": "A", "calls": 10, "total_s": 1.0,
         "no_index_used": 10, "tmp_disk_tables": 0},
        {"digest": "b", "schema_name": "s", "text": "B", "calls": 1, "total_s": 0.5,
         "no_index_used": 0, "tmp_disk_tables": 3},
    ]  # fmt: skip
    lists = top_statements(rows, top=5)
    assert [r["digest"] for r in lists["top_by_total"]] == ["a", "b"]
    assert [r["digest"] for r in lists["top_by_avg"]] == ["b", "a"]
    assert [r["digest"] for r in lists["full_scans"]] == ["a"]
    assert [r["digest"] for r in lists["tmp_disk"]] == ["b"]


def test_weekly_trends_compare_with_a_week_ago() -> None:
    series = {
        "connections_pct": [(NOW - 7 * DAY, 20.0), (NOW, 30.0)],
        "not_reported": [(NOW, 1.0)],
    }
    (only,) = weekly_trends(series, NOW)
    assert only.metric == "connections_pct" and only.change_7d == 10.0


PS_USER = "mmc_perf"  # the grants.sql account on ps_server; root runs the workload


@pytest.fixture(scope="module")
def ps_server() -> Iterator[MySQLInstance]:
    inst = MySQLInstance(InstanceSpec(extra_args=("--performance-schema=ON",))).start()
    try:
        inst.execute("CREATE DATABASE app")
        inst.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v INT)")
        inst.execute("INSERT INTO app.t SELECT seq, seq FROM app.seq_1_to_100")
        create_account(inst.execute, ["app"], "mmc_hist", port=inst.port, user=PS_USER)
        yield inst
    finally:
        inst.stop()


def _workload(inst: MySQLInstance, sleep_s: float, calls: int = 12) -> None:
    conn = inst.connect("app")
    try:
        cur = conn.cursor()
        for i in range(calls):
            # SLEEP's literal normalises to ?: every call shares one digest.
            cur.execute(f"SELECT v, SLEEP({sleep_s}) FROM t WHERE id = {i + 1}")
            cur.fetchall()
            cur.execute(f"SELECT COUNT(*) FROM t WHERE v > {i}")
            cur.fetchall()
    finally:
        conn.close()


def _analyze(conn_id: str, history_schema: str, now: datetime) -> dict:
    with MaintenanceSession(conn_id, MaintenanceSettings(), database_name="app_db") as session:
        return analyze_performance(
            session,
            history_session_or_store=session,
            database_name="app_db",
            history_schema=history_schema,
            now=now,
        ).to_dict()


def test_regression_detected_between_weekly_snapshots(
    ps_server: MySQLInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MMC_PS", Account(PS_USER, port=ps_server.port).conn_json())
    # 12 x 2 ms keeps SLEEP in the top list even when the set-up statements ran slowly.
    _workload(ps_server, 0.002)
    first = _analyze("mmc_ps", "mmc_hist", NOW - 7 * DAY)
    assert first["source"] == "performance_schema" and first["regressions"] == []
    assert "no earlier digest snapshot" in first["notes"][0]
    assert any("SLEEP" in r["text"] for r in first["top_by_total"])
    assert any("COUNT" in r["text"] for r in first["full_scans"])

    _workload(ps_server, 0.03)
    second = _analyze("mmc_ps", "mmc_hist", NOW)
    assert second["baseline_at"] == (NOW - 7 * DAY).isoformat()
    texts = [r["text"] for r in second["regressions"]]
    assert len(texts) == 1 and "SLEEP" in texts[0], json.dumps(second["regressions"])
    regression = second["regressions"][0]
    assert regression["avg_now_s"] >= 0.03 and regression["ratio"] > 1.5
    assert regression["calls"] == 12 and not regression["counters_reset"]


def test_performance_schema_off_says_how_to_enable(monkeypatch: pytest.MonkeyPatch) -> None:
    # A private server with performance_schema off, whatever the shared server runs with.
    with MySQLInstance(InstanceSpec(extra_args=("--performance-schema=OFF",))) as server:
        account = create_account(server.execute, ["app"], "mmc_hist", port=server.port)
        monkeypatch.setenv("AIRFLOW_CONN_MMC_NOPS", account.conn_json())
        with MaintenanceSession("mmc_nops", MaintenanceSettings()) as session:
            assert not session.query_one("SELECT @@performance_schema AS p")["p"]
            result = analyze_performance(
                session,
                history_session_or_store=session,
                database_name="primary",
                history_schema="mmc_hist",
                now=NOW,
            )
    assert result.source == "unavailable" and result.notes == [ENABLE_HINT]
    assert "performance_schema=ON" in ENABLE_HINT

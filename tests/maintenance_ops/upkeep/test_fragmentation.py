"""Tests for maintenance_ops.upkeep.fragmentation: the pure estimate and classification, then a real
rebuild that checks the estimate against the space it actually reclaims."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.upkeep.fragmentation import (
    MIB,
    FragEstimate,
    FragThresholds,
    TableStats,
    analyze_schema,
    classify,
    collect,
    estimate,
    level_of,
    row_width_sql,
)
from tests.conftest import Target


def _stats(**kw: object) -> TableStats:
    base: dict[str, object] = {
        "schema": "s",
        "table": "t",
        "engine": "InnoDB",
        "rows": 100_000,
        "data_length": 30 * MIB,
        "index_length": 5 * MIB,
        "data_free": 4 * MIB,
        "file_size": 44 * MIB,
        "row_bytes": 118.0,
    }
    return TableStats(**{**base, **kw})  # type: ignore[arg-type]


def _est(ratio: float, size: int = 100 * MIB) -> FragEstimate:
    return FragEstimate("s", f"t{ratio}", size, int(size * (1 - ratio)), int(size * ratio), ratio)


@pytest.mark.parametrize(
    ("stats", "low", "high"),
    [
        pytest.param(_stats(), 0.55, 0.7, id="half-empty-pages-beyond-data-free"),
        pytest.param(_stats(rows=200_000, file_size=40 * MIB), 0.0, 0.25, id="dense"),
        pytest.param(_stats(row_bytes=None), 0.09, 0.095, id="no-row-width-data-free-only"),
        pytest.param(_stats(rows=0, data_free=0, file_size=20 * MIB), 0.95, 1.0, id="emptied"),
    ],
)
def test_estimate_ratio(stats: TableStats, low: float, high: float) -> None:
    est = estimate(stats)
    assert low <= est.ratio <= high, est
    assert est.reclaimable_bytes + est.est_needed_bytes == est.size_bytes


def test_estimate_falls_back_to_catalog_sum_without_file_size() -> None:
    est = estimate(_stats(file_size=None, row_bytes=None))
    assert est.size_bytes == 39 * MIB
    assert est.reclaimable_bytes == 4 * MIB
    assert "DATA_FREE only" in est.reason


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        pytest.param(0.05, "none", id="none"),
        pytest.param(0.2, "low", id="low-boundary"),
        pytest.param(0.39, "low", id="low"),
        pytest.param(0.4, "high", id="high-boundary"),
    ],
)
def test_level_of(ratio: float, expected: str) -> None:
    assert level_of(ratio, FragThresholds()) == expected


@pytest.mark.parametrize(
    ("thresholds", "expected"),
    [
        pytest.param(
            FragThresholds(),
            {"t0.5": "rebuild", "t0.3": "nothing", "t0.1": "nothing", "small": "skip"},
            id="weekly-high-only",
        ),
        pytest.param(
            FragThresholds(actions={"none": "nothing", "low": "rebuild", "high": "rebuild"}),
            {"t0.5": "rebuild", "t0.3": "rebuild", "t0.1": "nothing", "small": "skip"},
            id="monthly-low-too",
        ),
    ],
)
def test_classify_actions(thresholds: FragThresholds, expected: dict[str, str]) -> None:
    small = FragEstimate("s", "small", MIB, 0, MIB, 1.0)
    out = classify([_est(0.1), _est(0.5), _est(0.3), small], thresholds)
    assert {e.table: e.action for e in out} == expected
    assert [e.table for e in out][:1] == ["t0.5"]  # largest reclaim first
    assert "minimum" in next(e.reason for e in out if e.table == "small")


def test_thresholds_refuse_inverted_levels() -> None:
    with pytest.raises(ValueError, match="low <= high"):
        FragThresholds(low=0.5, high=0.3)


def test_row_width_sql_measures_only_variable_columns() -> None:
    sql = row_width_sql("s", "t", [("id", "bigint"), ("name", "varchar"), ("at", "datetime")])
    assert sql == (
        "SELECT AVG(13 + COALESCE(LENGTH(`name`), 0)) AS row_bytes FROM "
        "(SELECT `id`, `name`, `at` FROM `s`.`t` LIMIT %s) AS sample"
    )


# --------------------------------------------------------------------------------------------
# Real server
# --------------------------------------------------------------------------------------------


@pytest.fixture
def session(target: Target) -> Iterator[MaintenanceSession]:
    settings = MaintenanceSettings(lock_wait_timeout_s=2, innodb_lock_wait_timeout_s=2)
    with MaintenanceSession(target.conn_id, settings, database_name="primary") as s:
        yield s


def make_fragmented(target: Target, table: str, rows: int, *, delete_share: float = 0.5) -> None:
    """Create a table of ``rows`` rows and delete ``delete_share`` of them at random."""
    target.sql(
        f"CREATE TABLE `{table}` (id BIGINT NOT NULL PRIMARY KEY, created DATETIME NOT NULL, "
        "account_id INT NOT NULL, status VARCHAR(16) NOT NULL, payload VARCHAR(200) NOT NULL, "
        "KEY by_created (created)) ENGINE=InnoDB"
    )
    target.sql(
        f"INSERT INTO `{table}` SELECT seq, '2024-01-01' + INTERVAL seq SECOND, seq MOD 9973, "
        "ELT(1 + seq MOD 3, 'new', 'paid', 'shipped'), REPEAT(MD5(seq), 3) "
        f"FROM seq_1_to_{int(rows)}"
    )
    if delete_share:
        target.sql(f"DELETE FROM `{table}` WHERE RAND(7) < %s", (delete_share,))
    target.sql(f"ANALYZE TABLE `{table}`")


def _file_size(target: Target, table: str) -> int:
    rows = target.sql(
        "SELECT FILE_SIZE FROM information_schema.INNODB_SYS_TABLESPACES WHERE NAME = %s",
        (f"{target.schema}/{table}",),
    )
    return int(rows[0][0])


def test_estimate_matches_a_real_rebuild(target: Target, session: MaintenanceSession) -> None:
    make_fragmented(target, "events", 200_000)
    (stats,) = collect(session, target.schema)
    est = estimate(stats)
    data_free = stats.data_free
    before = _file_size(target, "events")
    target.sql("ALTER TABLE events FORCE, ALGORITHM=INPLACE, LOCK=NONE")
    reclaimed = before - _file_size(target, "events")
    # DATA_FREE misses most of it; the estimate is within 25 % of what the rebuild freed.
    assert data_free < reclaimed / 2
    assert abs(est.reclaimable_bytes - reclaimed) <= 0.25 * reclaimed, (est, reclaimed)


def test_analyze_schema_one_row_per_table(target: Target, session: MaintenanceSession) -> None:
    make_fragmented(target, "big", 60_000)
    target.sql("CREATE TABLE tiny (id INT PRIMARY KEY) ENGINE=InnoDB")
    out = analyze_schema(session, target.schema, FragThresholds(min_size_bytes=4 * MIB))
    by_table = {e.table: e for e in out}
    assert by_table["tiny"].action == "skip"
    assert by_table["big"].level == "high" and by_table["big"].action == "rebuild"

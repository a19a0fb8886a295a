"""Tests for maintenance_ops.recovery.history: the RTO trend line, and the table on the server."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.recovery.history import (
    DR_DRILL,
    RESTORE_TEST,
    RecoveryHistory,
    RecoveryPoint,
    rto_trend_line,
)
from tests.conftest import Target

T0 = datetime(2026, 11, 1, 5, 0)


def _points(*rtos: float | None, failed: int = 0) -> list[RecoveryPoint]:
    points = [
        RecoveryPoint(T0 + timedelta(days=7 * i), True, rto, 3600.0, "mariadb-dump")
        for i, rto in enumerate(rtos)
    ]
    points += [RecoveryPoint(T0, False, None, None, "mariadb-dump")] * failed
    return points


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param(
            _points(40, 50, 60, 80),
            "RTO trend (4 restore tests): 40s -> 50s -> 60s -> 80s; +100% since the first; "
            "latest 80s of a 3600s target",
            id="growing",
        ),
        pytest.param(
            _points(4000),
            "RTO trend (1 restore test): 4000s; latest 4000s over a 3600s target",
            id="one-over-target",
        ),
        pytest.param(_points(), "RTO trend: no timed restore test in the period", id="none"),
        pytest.param(
            _points(30, failed=2),
            "RTO trend (1 restore test): 30s; latest 30s of a 3600s target; 2 failed",
            id="with-failures",
        ),
        pytest.param(
            _points(None, failed=1),
            "RTO trend: no timed restore test in the period; 1 failed",
            id="only-failures",
        ),
    ],
)
def test_rto_trend_line(points: list[RecoveryPoint], expected: str) -> None:
    assert rto_trend_line(points, 3600.0) == expected


def test_history_records_series_and_last_success(target: Target) -> None:
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        history = RecoveryHistory(session, target.history_schema)
        history.record("db1", RESTORE_TEST, T0, ok=True, rto_s=40.0, rpo_s=7200.0, tool="mydumper")
        history.record(
            "db1", RESTORE_TEST, T0 + timedelta(days=7), ok=False, rto_s=None, rpo_s=None
        )
        history.record("db1", DR_DRILL, T0 + timedelta(days=1), ok=True, rto_s=90.0, rpo_s=1.0)
        history.record("db1", DR_DRILL, T0 + timedelta(days=31), ok=False, rto_s=None, rpo_s=None)
        history.record("db2", DR_DRILL, T0 + timedelta(days=40), ok=True, rto_s=9.0, rpo_s=1.0)

        series = history.series("db1", RESTORE_TEST, T0 - timedelta(days=1))
        assert [(p.ok, p.rto_s, p.tool) for p in series] == [
            (True, 40.0, "mydumper"),
            (False, None, None),
        ]
        assert history.series("db1", RESTORE_TEST, T0 + timedelta(days=2))[0].ok is False
        assert history.last_success("db1", DR_DRILL) == T0 + timedelta(days=1)
        assert history.last_success("db3", DR_DRILL) is None
        # Creating it again keeps what is there.
        assert len(RecoveryHistory(session, target.history_schema).series("db1", DR_DRILL, T0)) == 2

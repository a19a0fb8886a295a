"""Health history on the real server: retention, trends from stored samples, alert state."""

from __future__ import annotations

from datetime import datetime, timedelta

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.core.trends import HistoryNeed
from maintenance_ops.observe.health import Breach, HealthSample, score
from maintenance_ops.observe.health_history import HealthHistory, plan_alerts
from tests.conftest import Target

NOW = datetime(2026, 11, 28, 12)


def test_retention_trends_and_alert_state(target: Target) -> None:
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        history = HealthHistory(session, target.history_schema)
        for days_ago in (200, 100, 8, 1, 0):
            sample = HealthSample("main", metrics={"disk_pct": 60.0 - days_ago * 0.1})
            history.store(sample, score([], sample), [], NOW - timedelta(days=days_ago), None)

        assert history.enforce_retention(NOW - timedelta(days=90)) == 2
        series = history.series("main", NOW - timedelta(days=365))
        assert [round(v, 1) for _, v in series["disk_pct"]] == [59.2, 59.9, 60.0]
        (disk,) = history.trends("main", NOW, HistoryNeed(min_hours=24, min_samples=3))
        assert disk.change_7d is not None and round(disk.change_7d, 1) == 0.8
        assert disk.days_until_limit is not None and disk.days_until_limit > 0

        breach = Breach("main", "disk_pct", 90, 85, "warning")
        plan = plan_alerts(history.open_alerts("main"), [breach], NOW, timedelta(hours=1))
        history.record_alerts("main", plan, NOW)
        assert history.open_alerts("main") == {"disk_pct:warning": NOW}
        held = plan_alerts(
            history.open_alerts("main"), [breach], NOW + timedelta(minutes=5), timedelta(hours=1)
        )
        history.record_alerts("main", held, NOW + timedelta(minutes=5))
        assert history.open_alerts("main") == {"disk_pct:warning": NOW}  # last_sent unchanged
        gone = plan_alerts(
            history.open_alerts("main"), [], NOW + timedelta(hours=2), timedelta(hours=1)
        )
        history.record_alerts("main", gone, NOW + timedelta(hours=2))
        assert gone.recovered == ["disk_pct:warning"] and history.open_alerts("main") == {}

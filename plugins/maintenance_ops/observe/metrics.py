"""Emit health metrics through Airflow's own metrics pipeline (StatsD or OpenTelemetry).

Whatever the deployment enabled (``[metrics] statsd_on`` or ``otel_on``) receives the gauges;
the database travels as the ``database`` tag (StatsD needs ``statsd_influxdb_enabled`` or
``statsd_datadog_enabled`` to carry tags).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maintenance_ops.observe.health import HealthSample, HealthScore

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")


def metric_names(sample: HealthSample, health: HealthScore, prefix: str) -> dict[str, float]:
    """Return ``{metric name: value}`` for one sample (pure)."""
    values = {f"{prefix}.health.{_UNSAFE.sub('_', k)}": float(v) for k, v in sample.metrics.items()}
    values[f"{prefix}.health.score"] = float(health.score)
    for replica in sample.replicas:
        if replica.seconds_behind is not None:
            name = _UNSAFE.sub("_", replica.name)
            values[f"{prefix}.health.replica_lag_s.{name}"] = replica.seconds_behind
    return values


def emit(sample: HealthSample, health: HealthScore, prefix: str) -> int:
    """Send every metric of the sample as a gauge tagged with the database; return the count."""
    values = metric_names(sample, health, prefix)
    emit_gauges(values, sample.database)
    log.info("Emitted %d health metrics for %s", len(values), sample.database)
    return len(values)


def emit_gauges(values: dict[str, float], database: str) -> int:
    """Send ``{name: value}`` as gauges tagged with the database; return the count."""
    from airflow.sdk.observability.stats import Stats

    _ensure_backend()
    for name, value in values.items():
        Stats.gauge(name, value, tags={"database": database})
    return len(values)


def _ensure_backend() -> None:
    """Set up Airflow's metrics backend where the task runner did not (``dag.test()``, scripts).

    A real executor's task runner initialises it from ``[metrics]``; an in-process run does not,
    and every gauge would silently go nowhere.
    """
    from airflow.sdk._shared.observability.metrics import stats

    if getattr(stats, "_factory", None) is None:
        from airflow.sdk.observability.metrics import stats_utils

        stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)

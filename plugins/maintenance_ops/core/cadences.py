"""The six maintenance cadences: their DAG ids, default schedules, steps and needs, as data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cadence:
    """One kind of maintenance run: the spec's schedule table, one row."""

    key: str
    """Name of the schedule in configuration (``schedules.<key>``)."""
    dag_id: str
    task_type: str
    """The spec's task type; custom schedules name it."""
    default_cron: str
    summary: str
    default_deadline_minutes: int
    writes: bool
    """Whether the run changes the target (then the maintenance window applies)."""
    tags: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    """The names of the cadence's steps, in the order they run on one database (each a task
    ``maintain.<step>``; :data:`maintenance_ops.dag_parts.CADENCE_STEPS` gives each its
    operator)."""


CADENCES: tuple[Cadence, ...] = (
    Cadence(
        key="daily_maintenance",
        dag_id="mysql_daily_maintenance",
        task_type="daily",
        default_cron="0 2 * * *",
        summary="Index analysis, statistics refresh and retention cleanup",
        default_deadline_minutes=120,
        writes=True,
        tags=("daily",),
        steps=("index_analysis", "statistics", "cleanup", "backup"),
    ),
    Cadence(
        key="weekly_optimization",
        dag_id="mysql_weekly_optimization",
        task_type="weekly",
        default_cron="0 3 * * 0",
        summary="Fragmentation analysis, online table rebuilds and performance analysis",
        default_deadline_minutes=240,
        writes=True,
        tags=("weekly",),
        steps=("optimize", "performance"),
    ),
    Cadence(
        key="monthly_deep_maintenance",
        dag_id="mysql_monthly_deep_maintenance",
        task_type="monthly",
        default_cron="0 4 1 * *",
        summary="Index rebuilds, integrity checks, full statistics and capacity planning",
        default_deadline_minutes=480,
        writes=True,
        tags=("monthly",),
        steps=("optimize", "integrity", "statistics", "capacity"),
    ),
    Cadence(
        key="backup_testing",
        dag_id="mysql_backup_testing",
        task_type="backup_test",
        default_cron="0 5 * * 6",
        summary="Find or take the newest backup, restore it to a scratch server and verify it",
        default_deadline_minutes=240,
        writes=False,
        tags=("backup",),
        steps=("restore_verify",),
    ),
    Cadence(
        key="disaster_recovery_test",
        dag_id="mysql_disaster_recovery_test",
        task_type="disaster_recovery_test",
        default_cron="0 6 1 * *",
        summary="Backup availability, replica readiness, runbooks, notifications and a PITR drill",
        default_deadline_minutes=240,
        writes=False,
        tags=("disaster-recovery",),
        steps=("replica_readiness", "drill"),
    ),
    Cadence(
        key="health_check",
        dag_id="mysql_health_check",
        task_type="health_check",
        default_cron="0 * * * *",
        summary="Metrics, thresholds, health score, history and alerts",
        default_deadline_minutes=20,
        writes=False,
        tags=("health",),
        steps=("health_check",),
    ),
)

BY_KEY = {c.key: c for c in CADENCES}
BY_TASK_TYPE = {c.task_type: c for c in CADENCES}
BY_DAG_ID = {c.dag_id: c for c in CADENCES}
TASK_TYPES = tuple(BY_TASK_TYPE)
STEP_NAMES: tuple[str, ...] = tuple(dict.fromkeys(s for c in CADENCES for s in c.steps))
"""Every step's name, once, in the order the cadences first use them (the keys of
``maintenance.step_timeout_minutes``)."""

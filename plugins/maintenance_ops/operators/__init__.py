"""Thin Airflow operators: validate in ``__init__``, do the I/O in ``execute``."""

from __future__ import annotations

from maintenance_ops.operators.backup import BackupTestingOperator
from maintenance_ops.operators.base import DatabaseOperator
from maintenance_ops.operators.daily import DailyMaintenanceOperator
from maintenance_ops.operators.deep import (
    MonthlyDeepMaintenanceOperator,
    WeeklyOptimizationOperator,
)
from maintenance_ops.operators.health import HealthCheckOperator
from maintenance_ops.operators.recovery import DisasterRecoveryOperator

# The operator that does each cadence's work.
OPERATORS: dict[str, type[DatabaseOperator]] = {
    "daily_maintenance": DailyMaintenanceOperator,
    "weekly_optimization": WeeklyOptimizationOperator,
    "monthly_deep_maintenance": MonthlyDeepMaintenanceOperator,
    "backup_testing": BackupTestingOperator,
    "disaster_recovery_test": DisasterRecoveryOperator,
    "health_check": HealthCheckOperator,
}


def operator_for(cadence: str) -> type[DatabaseOperator]:
    """Return the operator class that does ``cadence``'s work."""
    return OPERATORS.get(cadence, DatabaseOperator)


__all__ = [
    "OPERATORS",
    "BackupTestingOperator",
    "DailyMaintenanceOperator",
    "DatabaseOperator",
    "DisasterRecoveryOperator",
    "HealthCheckOperator",
    "MonthlyDeepMaintenanceOperator",
    "WeeklyOptimizationOperator",
    "operator_for",
]

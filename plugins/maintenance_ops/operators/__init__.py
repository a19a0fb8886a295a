"""Thin Airflow operators: validate in ``__init__``, do the I/O in ``execute``.

Each class is imported from its own module on first use (PEP 562), so a DAG file parsing one
cadence imports that operator's module, not all six.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maintenance_ops.operators.backup import BackupTestingOperator
    from maintenance_ops.operators.base import DatabaseOperator
    from maintenance_ops.operators.daily import DailyMaintenanceOperator
    from maintenance_ops.operators.deep import (
        MonthlyDeepMaintenanceOperator,
        WeeklyOptimizationOperator,
    )
    from maintenance_ops.operators.health import HealthCheckOperator
    from maintenance_ops.operators.recovery import DisasterRecoveryOperator

# Where each operator class lives: its module under maintenance_ops.operators.
_MODULES = {
    "BackupTestingOperator": "backup",
    "DatabaseOperator": "base",
    "DailyMaintenanceOperator": "daily",
    "MonthlyDeepMaintenanceOperator": "deep",
    "WeeklyOptimizationOperator": "deep",
    "HealthCheckOperator": "health",
    "DisasterRecoveryOperator": "recovery",
}

# The operator that does each cadence's work, by class name.
CADENCE_OPERATORS: dict[str, str] = {
    "daily_maintenance": "DailyMaintenanceOperator",
    "weekly_optimization": "WeeklyOptimizationOperator",
    "monthly_deep_maintenance": "MonthlyDeepMaintenanceOperator",
    "backup_testing": "BackupTestingOperator",
    "disaster_recovery_test": "DisasterRecoveryOperator",
    "health_check": "HealthCheckOperator",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    operator = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = operator  # later lookups skip this function
    return operator


def operator_for(cadence: str) -> type[DatabaseOperator]:
    """Return the operator class that does ``cadence``'s work."""
    operator: type[DatabaseOperator] = __getattr__(
        CADENCE_OPERATORS.get(cadence, "DatabaseOperator")
    )
    return operator


__all__ = [
    "CADENCE_OPERATORS",
    "BackupTestingOperator",
    "DailyMaintenanceOperator",
    "DatabaseOperator",
    "DisasterRecoveryOperator",
    "HealthCheckOperator",
    "MonthlyDeepMaintenanceOperator",
    "WeeklyOptimizationOperator",
    "operator_for",
]

"""Operators, one per kind of work on one database: validate in ``__init__``, I/O in ``execute``.

Each is usable in any DAG (``database=`` names a configured database); the built-in DAGs are
composed of them (``maintenance_ops.dag_parts.CADENCE_STEPS``). Each class is imported from
its own module on first use (PEP 562), so a DAG file imports the modules of its own steps only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maintenance_ops.operators.backup import (
        BackupTestingOperator,
        MySqlBackupOperator,
        MySqlRestoreVerifyOperator,
    )
    from maintenance_ops.operators.base import DatabaseOperator
    from maintenance_ops.operators.daily import (
        MySqlCleanupOperator,
        MySqlIndexAnalysisOperator,
        MySqlStatisticsOperator,
    )
    from maintenance_ops.operators.deep import (
        MySqlCapacityPlanOperator,
        MySqlIntegrityCheckOperator,
        MySqlOptimizeTablesOperator,
        MySqlPerformanceAnalysisOperator,
    )
    from maintenance_ops.operators.health import HealthCheckOperator, MySqlHealthCheckOperator
    from maintenance_ops.operators.recovery import (
        DisasterRecoveryOperator,
        MySqlRecoveryDrillOperator,
        MySqlReplicaReadinessOperator,
    )

# Where each operator class lives: its module under maintenance_ops.operators.
_MODULES = {
    "DatabaseOperator": "base",
    "MySqlIndexAnalysisOperator": "daily",
    "MySqlStatisticsOperator": "daily",
    "MySqlCleanupOperator": "daily",
    "MySqlOptimizeTablesOperator": "deep",
    "MySqlPerformanceAnalysisOperator": "deep",
    "MySqlIntegrityCheckOperator": "deep",
    "MySqlCapacityPlanOperator": "deep",
    "MySqlBackupOperator": "backup",
    "MySqlRestoreVerifyOperator": "backup",
    "MySqlHealthCheckOperator": "health",
    "MySqlReplicaReadinessOperator": "recovery",
    "MySqlRecoveryDrillOperator": "recovery",
    # The names of the one-operator-per-cadence days, kept for existing imports.
    "BackupTestingOperator": "backup",
    "HealthCheckOperator": "health",
    "DisasterRecoveryOperator": "recovery",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    operator = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = operator  # later lookups skip this function
    return operator


def operator(name: str) -> type[DatabaseOperator]:
    """Return the operator class called ``name`` (importing its module once)."""
    found: type[DatabaseOperator] = __getattr__(name)
    return found


def load_all() -> None:
    """Import every operator module (the dag-processor's preload does, once)."""
    for name in _MODULES:
        operator(name)


__all__ = [
    "BackupTestingOperator",
    "DatabaseOperator",
    "DisasterRecoveryOperator",
    "HealthCheckOperator",
    "MySqlBackupOperator",
    "MySqlCapacityPlanOperator",
    "MySqlCleanupOperator",
    "MySqlHealthCheckOperator",
    "MySqlIndexAnalysisOperator",
    "MySqlIntegrityCheckOperator",
    "MySqlOptimizeTablesOperator",
    "MySqlPerformanceAnalysisOperator",
    "MySqlRecoveryDrillOperator",
    "MySqlReplicaReadinessOperator",
    "MySqlRestoreVerifyOperator",
    "MySqlStatisticsOperator",
    "load_all",
    "operator",
]

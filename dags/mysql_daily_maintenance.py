"""
### Daily maintenance (default 02:00): index analysis, statistics refresh, retention cleanup.

For every selected database: a preflight (connect, flavor and version, the maintenance account's
privileges, the maintenance window) written to the audit log, then the day's work, then one
report across databases. Params: `databases` (empty = all enabled), `dry_run`.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, report, select_databases
from maintenance_ops.operators import DailyMaintenanceOperator

CADENCE = "daily_maintenance"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_daily_maintenance() -> None:
    databases = select_databases()
    done = DailyMaintenanceOperator.for_each(databases, cadence=CADENCE)
    report(databases, done.output)


mysql_daily_maintenance()

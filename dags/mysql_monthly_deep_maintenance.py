"""
### Monthly deep maintenance (default 1st of the month 04:00)

Index rebuilds, integrity checks, full statistics, capacity planning.

For every selected database: a preflight written to the audit log, then the month's work, then
one report across databases. Params: `databases` (empty = all enabled), `dry_run`.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, report, select_databases
from maintenance_ops.operators import MonthlyDeepMaintenanceOperator

CADENCE = "monthly_deep_maintenance"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_monthly_deep_maintenance() -> None:
    databases = select_databases()
    done = MonthlyDeepMaintenanceOperator.for_each(databases, cadence=CADENCE)
    report(databases, done.output)


mysql_monthly_deep_maintenance()

"""
### Weekly optimization (default Sunday 03:00)

Fragmentation analysis, safe online rebuilds, performance analysis.

For every selected database: a preflight written to the audit log, then the week's work, then one
report across databases. Params: `databases` (empty = all enabled), `dry_run`.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, report, select_databases
from maintenance_ops.operators import WeeklyOptimizationOperator

CADENCE = "weekly_optimization"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_weekly_optimization() -> None:
    databases = select_databases()
    done = WeeklyOptimizationOperator.for_each(databases, cadence=CADENCE)
    report(databases, done.output)


mysql_weekly_optimization()

"""
### Hourly health check: metrics, thresholds, health score, history and alerts.

For every selected database, a task group `maintain` (labelled with the database's name) with one
step, `health_check` (outside the maintenance pool: it only reads), after its own preflight
written to the audit log; then one report across databases. Params: `databases` (empty = all
enabled), `dry_run`.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, maintain, report, select_databases

CADENCE = "health_check"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_health_check() -> None:
    databases = select_databases()
    steps = maintain(CADENCE).expand(database=databases)
    report(databases, steps)


mysql_health_check()

"""
### Hourly health check: metrics, thresholds, health score, history and alerts.

For every selected database: a preflight written to the audit log, then the measurements, then
one report across databases. Params: `databases` (empty = all enabled), `dry_run`.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, report, select_databases
from maintenance_ops.operators import HealthCheckOperator

CADENCE = "health_check"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_health_check() -> None:
    databases = select_databases()
    done = HealthCheckOperator.for_each(databases, cadence=CADENCE)
    report(databases, done.output)


mysql_health_check()

"""
### Disaster-recovery drill (default 1st of the month 06:00)

Backup availability, replica readiness, runbooks, notification test, point-in-time recovery.

For every selected database: a preflight written to the audit log, then the drill, then a
readiness report. Params: `databases`, `dry_run`.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, report, select_databases
from maintenance_ops.operators import DatabaseOperator

CADENCE = "disaster_recovery_test"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_disaster_recovery_test() -> None:
    databases = select_databases()
    done = DatabaseOperator.for_each(databases, cadence=CADENCE)
    report(databases, done.output)


mysql_disaster_recovery_test()

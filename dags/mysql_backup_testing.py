"""
### Backup testing (default Saturday 05:00)

Find or take the newest backup, restore it to a scratch server, verify it, measure RTO and RPO.

Restore tests never touch the source server. For every selected database: a preflight written to
the audit log, then the restore test, then one report. Params: `databases`, `dry_run`.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, report, select_databases
from maintenance_ops.operators import BackupTestingOperator

CADENCE = "backup_testing"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_backup_testing() -> None:
    databases = select_databases()
    done = BackupTestingOperator.for_each(databases, cadence=CADENCE)
    report(databases, done.output)


mysql_backup_testing()

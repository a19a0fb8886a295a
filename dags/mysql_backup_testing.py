"""
### Backup testing (default Saturday 05:00)

Find or take the newest backup, restore it to a scratch server, verify it, measure RTO and RPO.

Restore tests never touch the source server. For every selected database, a task group
`maintain` (labelled with the database's name) with one step, `restore_verify`, after its own
preflight written to the audit log; then one report. Params: `databases`, `dry_run`.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, maintain, report, select_databases

CADENCE = "backup_testing"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_backup_testing() -> None:
    databases = select_databases()
    steps = maintain(CADENCE).expand(database=databases)
    report(databases, steps)


mysql_backup_testing()

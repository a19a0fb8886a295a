"""
### Daily maintenance (default 02:00): index analysis, statistics, retention cleanup, backup.

For every selected database, a task group `maintain` (one per database, labelled with its name)
of four steps, each its own task with its own preflight (connect, flavor and version, the
privileges the step needs, the maintenance window) written to the audit log:
`index_analysis` → `statistics` → `cleanup` → `backup` (when `backup.enabled`). A failed step
stops the steps after it on that database only; a retry repeats that step alone. Then one
report across databases. Params: `databases` (empty = all enabled), `dry_run`.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, maintain, report, select_databases

CADENCE = "daily_maintenance"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_daily_maintenance() -> None:
    databases = select_databases()
    steps = maintain(CADENCE).expand(database=databases)
    report(databases, steps)


mysql_daily_maintenance()

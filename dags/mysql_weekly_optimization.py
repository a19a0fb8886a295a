"""
### Weekly optimization (default Sunday 03:00)

Fragmentation analysis, safe online rebuilds, performance analysis.

For every selected database, a task group `maintain` (one per database, labelled with its name):
`optimize` (fragmentation and online rebuilds of the highly fragmented tables, in the
maintenance pool) → `performance` (statement regressions, the restore tests' RTO trend), each
with its own preflight written to the audit log; then one report across databases. Params:
`databases` (empty = all enabled), `dry_run`.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, maintain, report, select_databases

CADENCE = "weekly_optimization"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_weekly_optimization() -> None:
    databases = select_databases()
    steps = maintain(CADENCE).expand(database=databases)
    report(databases, steps)


mysql_weekly_optimization()

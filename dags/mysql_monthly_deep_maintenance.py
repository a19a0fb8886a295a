"""
### Monthly deep maintenance (default 1st of the month 04:00)

Index rebuilds, integrity checks, full statistics, capacity planning.

For every selected database, a task group `maintain` (one per database, labelled with its name):
`optimize` (low and high fragmentation, and tables not rebuilt for `rebuild_after_days`) →
`integrity` (CHECK TABLE; a corrupt or missing table is a critical alert) → `statistics` (stale
tables and histograms) → `capacity` (growth forecast, auto-increment exhaustion), each with its
own preflight written to the audit log; then one report across databases. Params: `databases`
(empty = all enabled), `dry_run`.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, maintain, report, select_databases

CADENCE = "monthly_deep_maintenance"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_monthly_deep_maintenance() -> None:
    databases = select_databases()
    steps = maintain(CADENCE).expand(database=databases)
    report(databases, steps)


mysql_monthly_deep_maintenance()

"""
### Disaster-recovery drill (default 1st of the month 06:00)

For every selected database: the newest backup (present, within RPO, checksums), the binlogs
that roll it forward (no gap, retention), every replica (threads, lag, `read_only`, advancing,
checksums of sample tables), the runbooks in `include/recovery/` (`--help`, `--dry-run`, review
date), every alert channel (a marked test message), and a point-in-time recovery of the newest
backup onto a private server to a time between two markers the drill writes. Ends with a
readiness report (score, verdict, RTO and RPO against targets) saved as JSON + Markdown
evidence; any failed check is a critical alert. Each database's checks are two steps of its
task group `maintain` (labelled with the database's name): `replica_readiness` (every replica:
threads, lag, `read_only`, advancing, checksums), then `drill` (backup, binlogs, runbooks,
channels, PITR and the readiness evidence, which counts the replica step's checks), each after
its own preflight; the drill runs whatever the replica step's outcome. Params:
`databases`, `dry_run` (reads only: no markers, no restore, no test messages).
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.dag_parts import dag_kwargs, maintain, report, select_databases

CADENCE = "disaster_recovery_test"


@dag(**dag_kwargs(CADENCE, doc_md=__doc__))
def mysql_disaster_recovery_test() -> None:
    databases = select_databases()
    steps = maintain(CADENCE).expand(database=databases)
    report(databases, steps)


mysql_disaster_recovery_test()

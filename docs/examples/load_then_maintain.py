"""
### Load, then maintain what was loaded: the maintenance operators in a team's own DAG

The team's nightly load appends the day's events to `events`; right after it, in the same DAG,
the retention rule `events_90d` removes the events past 90 days (`MySqlCleanupOperator`, one rule
of the database `shop`), then the table's optimizer statistics are refreshed
(`MySqlStatisticsOperator`), so the morning's queries are planned on today's row counts.

The operators read the database `shop` and its rule from the maintenance configuration
(`MAINTENANCE_CONFIG`, see the README):

```yaml
databases:
  - name: shop
    conn_id: shop_db
    schemas: [shop]
    cleanup_rules:
      - {name: events_90d, table: events, date_column: created, retention_days: 90}
```

Each step checks the maintenance account's privileges first (include/sql/grants.sql), writes
its own audit rows, and is retried alone; the cleanup's cutoff is the run's date, so a re-run
or a backfill deletes only what had expired by then. Trigger with `dry_run: true` to see what
the cleanup would remove without removing it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from maintenance_ops.operators import MySqlCleanupOperator, MySqlStatisticsOperator

DATABASE = "shop"  # a database of the maintenance configuration
CONN_ID = "shop_db"  # the connection the load writes through (the database's conn_id)


@dag(
    schedule="0 1 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={"dry_run": Param(False, type="boolean", description="Clean up nothing; count.")},
    tags=["example", "mysql"],
    doc_md=__doc__,
)
def load_then_maintain() -> None:
    @task
    def load_events(**context: Any) -> int:
        """Stand-in for the team's load: append the day's events."""
        from airflow.providers.mysql.hooks.mysql import MySqlHook

        day = context["data_interval_end"].replace(tzinfo=None)
        rows = [(day - timedelta(minutes=i), "order") for i in range(10)]
        MySqlHook(mysql_conn_id=CONN_ID).insert_rows(
            "events", rows, target_fields=["created", "kind"]
        )
        return len(rows)

    expire = MySqlCleanupOperator(
        task_id="expire_old_events",
        database=DATABASE,
        rule="events_90d",
        execution_timeout=timedelta(hours=1),
    )
    statistics = MySqlStatisticsOperator(task_id="refresh_statistics", database=DATABASE)
    load_events() >> expire >> statistics


load_then_maintain()

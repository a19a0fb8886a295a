"""
### Custom schedules: one extra DAG per entry of `custom_schedules` in the configuration.

The spec's `CUSTOM_MAINTENANCE_SCHEDULES`: each entry names a database, a task type (daily,
weekly, monthly, backup_test, disaster_recovery_test, health_check) and a cron, and becomes the
DAG `mysql_custom_<name>` running that one task type on that one database: the same steps, the
same operators, as the task type's own DAG (a task group `maintain` of its steps).
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.core.config import load_config
from maintenance_ops.dag_parts import custom_dag_kwargs, maintain, report, select_databases


def build(name: str) -> None:
    """Define the DAG of custom schedule ``name``."""
    kwargs, cadence_key, database = custom_dag_kwargs(name, doc_md=__doc__)

    @dag(**kwargs)
    def custom_schedule() -> None:
        databases = select_databases(only=database)
        steps = maintain(cadence_key).expand(database=databases)
        report(databases, steps)

    custom_schedule()


for schedule_name in load_config().custom_schedules:
    build(schedule_name)

"""
### Custom schedules: one extra DAG per entry of `custom_schedules` in the configuration.

The spec's `CUSTOM_MAINTENANCE_SCHEDULES`: each entry names a database, a task type (daily,
weekly, monthly, backup_test, disaster_recovery_test, health_check) and a cron, and becomes the
DAG `mysql_custom_<name>` running that one task type on that one database.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.config import load_config
from maintenance_ops.dag_parts import custom_dag_kwargs, report, select_databases
from maintenance_ops.operators import operator_for


def build(name: str) -> None:
    """Define the DAG of custom schedule ``name``."""
    kwargs, cadence_key, database = custom_dag_kwargs(name, doc_md=__doc__)

    @dag(**kwargs)
    def custom_schedule() -> None:
        databases = select_databases(only=database)
        done = operator_for(cadence_key).for_each(databases, cadence=cadence_key)
        report(databases, done.output)

    custom_schedule()


for schedule_name in load_config().custom_schedules:
    build(schedule_name)

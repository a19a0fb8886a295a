"""Listeners of the maintenance package: one Slack summary per backfill, from the scheduler.

Airflow calls a plugin's listeners where a DAG run changes state (the scheduler, and the API
server when a run's state is set by hand). When a run of a maintenance DAG that belongs to a
backfill ends, :func:`maintenance_ops.observe.backfill_summary.on_run_finished` sends the
backfill's one summary if that run was its last. Cheap for every other run: two attribute
reads, and the package is imported only for a backfilled maintenance run.
"""

from __future__ import annotations

from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

DAG_PREFIX = "mysql_"


def _finished(dag_run: Any) -> None:
    if getattr(dag_run, "backfill_id", None) is None:
        return
    if not str(getattr(dag_run, "dag_id", "")).startswith(DAG_PREFIX):
        return
    from maintenance_ops.observe.backfill_summary import on_run_finished

    on_run_finished(dag_run)


class BackfillSummaryListener:
    """Hears every DAG run that ends; acts on the last run of a maintenance backfill."""

    @hookimpl
    def on_dag_run_success(self, dag_run: Any, msg: str) -> None:
        _finished(dag_run)

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        _finished(dag_run)


class MaintenanceListenersPlugin(AirflowPlugin):
    """Registers the listeners; nothing else."""

    name = "mysql_maintenance_listeners"
    listeners = [BackfillSummaryListener()]

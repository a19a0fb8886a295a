"""
### Statistics on assets: refresh the statistics of the tables an updated asset changed.

Scheduled on the assets the databases' `statistics_on_assets` name (any of them: a load DAG's
output, or a maintenance step's `mysql-maintenance://<database>/<schema>/<table>` events). A run
refreshes (`ANALYZE TABLE`, stale or not) only the tables behind the assets that triggered it,
one task per database, each with its own preflight and audit rows; a manual run, with no
triggering event, refreshes nothing. Param: `dry_run`. Without any `statistics_on_assets`
entry the DAG does not exist.
"""

from __future__ import annotations

from airflow.sdk import dag

from maintenance_ops.asset_refresh import choose_tables, dag_kwargs
from maintenance_ops.core.config import load_config
from maintenance_ops.core.labels import MAP_INDEX_TEMPLATE
from maintenance_ops.operators import MySqlStatisticsOperator

kwargs = dag_kwargs(load_config(), doc_md=__doc__)

if kwargs:

    @dag(**kwargs)
    def mysql_statistics_on_assets() -> None:
        MySqlStatisticsOperator.partial(
            task_id="statistics", map_index_template=MAP_INDEX_TEMPLATE
        ).expand_kwargs(choose_tables())

    mysql_statistics_on_assets()

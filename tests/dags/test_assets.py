"""Asset events for cleaned tables, and the statistics refresh that asset events trigger.

Real MariaDB as the grants.sql account, real Airflow: the daily DAG through ``dag.test()``; the
asset-triggered run is created as the scheduler creates one (``run_type=ASSET_TRIGGERED``, the
queued events attached as consumed) and its tasks run by ``dag.test()``'s own task runner, since
``dag.test()`` only makes manual runs, which have no triggering events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.asset_refresh import CLEANUP_ALIAS, DAG_ID, REBUILD_ALIAS, table_asset_uri
from maintenance_ops.core.audit import AuditLog
from tests.conftest import Target, target_database
from tests.dags.conftest import load_dagbag, task_states

DAY = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
HOSTILE = "we`ird %s 100% \"q\" 'é'"  # a table the load fills (backtick, %, quotes, unicode)


def _rule(name: str, table: str) -> dict[str, Any]:
    return {"name": name, "table": table, "date_column": "created", "retention_days": 30}


@pytest.fixture
def setup(target: Target, write_config: Callable[..., Path]) -> dict[str, str]:
    """Tables with expired rows (``sess$ions``), without (``tokens``), and statistics maps."""
    naive = DAY.replace(tzinfo=None)
    for table in ("sess$ions", "tokens", HOSTILE.replace("`", "``"), "untouched"):
        target.sql(f"CREATE TABLE `{table}` (id INT PRIMARY KEY, created DATETIME NOT NULL)")
    rows = [(i, naive - timedelta(days=100 if i <= 10 else 1)) for i in range(1, 21)]
    target.sql("INSERT INTO `sess$ions` VALUES " + ",".join(["(%s, %s)"] * 20), [*sum(rows, ())])
    target.sql("INSERT INTO tokens VALUES (1, %s)", [naive])
    cleaned = table_asset_uri("primary", target.schema, "sess$ions")
    write_config(
        {
            "databases": [
                target_database(
                    target,
                    cleanup_rules=[_rule("sessions", "sess$ions"), _rule("tokens", "tokens")],
                    statistics_on_assets=[
                        {
                            "asset": cleaned,
                            "tables": [f"{target.schema}.sess$ions", f"{target.schema}.{HOSTILE}"],
                        },
                        {
                            "asset": "s3://lake/other.parquet",
                            "tables": [f"{target.schema}.untouched"],
                        },
                    ],
                )
            ]
        }
    )
    return {"cleaned": cleaned}


def _events(run_id: str) -> list[Any]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run_id))
        return [
            {
                "id": e.id,
                "uri": e.uri,
                "name": e.name,
                "extra": e.extra,
                "task": e.source_task_id,
                "aliases": [a.name for a in e.source_aliases],
            }
            for e in events
        ]


def unpause(dag_id: str) -> None:
    """Write the DAG folder to the metadata DB (as ``dag.test()`` does) and unpause ``dag_id``.

    Airflow queues a run for an asset's consumers only when they are unpaused, and new DAGs
    start paused.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.version)
    with create_session() as session:
        model = session.get(DagModel, dag_id)
        assert model is not None, f"{dag_id} was not written to the metadata DB"
        model.is_paused = False


def _queued_for(dag_id: str) -> set[str]:
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetModel.uri)
            .join(AssetDagRunQueue, AssetDagRunQueue.asset_id == AssetModel.id)
            .where(AssetDagRunQueue.target_dag_id == dag_id)
        )
        return set(session.scalars(query))


def run_asset_triggered(dag: Any, event_ids: list[int]) -> Any:
    """Create an asset-triggered run consuming ``event_ids`` and run its tasks to the end."""
    from airflow.models.asset import AssetEvent
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    run_after = datetime.now(UTC)
    with create_session() as session:
        run = scheduler_dag.create_dagrun(
            run_id=DagRun.generate_run_id(
                run_type=DagRunType.ASSET_TRIGGERED, logical_date=None, run_after=run_after
            ),
            logical_date=None,
            data_interval=None,
            run_after=run_after,
            run_type=DagRunType.ASSET_TRIGGERED,
            triggered_by=DagRunTriggeredByType.ASSET,
            state=DagRunState.RUNNING,
            session=session,
        )
        run.consumed_asset_events.extend(
            session.scalars(select(AssetEvent).where(AssetEvent.id.in_(event_ids)))
        )
        session.commit()
        deadline = time.monotonic() + 300
        while run.state == DagRunState.RUNNING:
            assert time.monotonic() < deadline, task_states(run)
            session.expire_all()
            schedulable, _ = run.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in run.get_task_instances(session=session):
                if ti.state == TaskInstanceState.SCHEDULED:
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id])
        session.expunge_all()
        return run


def _analysed(target: Target, run_id: str) -> list[str]:
    audit = AuditLog(target.conn_id, target.history_schema).read(run_id=run_id)
    return sorted(r["object_name"] for r in audit if r["command"].startswith("ANALYZE TABLE"))


def test_a_dry_run_emits_no_asset_event(setup: dict[str, str]) -> None:
    dag = load_dagbag().dags["mysql_daily_maintenance"]
    run = dag.test(logical_date=DAY, run_conf={"dry_run": True})
    assert str(run.state) == "success", task_states(run)
    assert _events(run.run_id) == []


def test_cleaned_table_event_triggers_the_refresh_of_its_tables_only(
    target: Target, setup: dict[str, str]
) -> None:
    bag = load_dagbag()
    assert not bag.import_errors, bag.import_errors
    unpause(DAG_ID)
    run = bag.dags["mysql_daily_maintenance"].test(logical_date=DAY)
    assert str(run.state) == "success", task_states(run)
    assert target.sql("SELECT COUNT(*) FROM `sess$ions`") == [(10,)]

    # One event, for the one table the cleanup removed rows of; none for `tokens`.
    (event,) = _events(run.run_id)
    assert event["uri"] == event["name"] == setup["cleaned"]
    assert event["uri"] == f"mysql-maintenance://primary/{target.schema}/sess%24ions"
    assert event["task"] == "maintain.cleanup" and event["aliases"] == [CLEANUP_ALIAS]
    assert event["extra"]["rows_deleted"] == 10
    assert [(r["rule"], r["rows_deleted"]) for r in event["extra"]["rules"]] == [("sessions", 10)]
    assert (event["extra"]["schema"], event["extra"]["table"]) == (target.schema, "sess$ions")
    # The scheduler would now run the statistics DAG: the event is queued for it.
    assert _queued_for(DAG_ID) == {setup["cleaned"]}

    refresh = run_asset_triggered(bag.dags[DAG_ID], [event["id"]])
    assert str(refresh.state) == "success", task_states(refresh)
    assert task_states(refresh) == {
        ("choose_tables", -1): "success",
        ("statistics", 0): "success",
    }
    # Just the tables behind the triggering asset, the hostile name included; not `untouched`.
    assert _analysed(target, refresh.run_id) == sorted(
        [f"{target.schema}.sess$ions", f"{target.schema}.{HOSTILE}"]
    )


def test_a_rebuilt_table_gets_an_event_and_a_dry_run_none(
    target: Target, write_config: Callable[..., Path]
) -> None:
    quoted = HOSTILE.replace("`", "``")
    target.sql(f"CREATE TABLE `{quoted}` (id INT PRIMARY KEY, body VARCHAR(400))")
    target.sql(f"INSERT INTO `{quoted}` SELECT seq, REPEAT('x', 380) FROM seq_1_to_60000")
    target.sql(f"DELETE FROM `{quoted}` WHERE id % 2 = 0")
    write_config({"databases": [target_database(target)], "optimization": {"min_table_size_mb": 1}})
    dag = load_dagbag().dags["mysql_weekly_optimization"]

    dry = dag.test(run_conf={"dry_run": True})
    assert str(dry.state) == "success", task_states(dry)
    assert _events(dry.run_id) == []

    run = dag.test(run_conf={"dry_run": False})
    assert str(run.state) == "success", task_states(run)
    (event,) = _events(run.run_id)
    assert event["uri"] == table_asset_uri("primary", target.schema, HOSTILE)
    assert event["uri"].endswith("/we%60ird%20%25s%20100%25%20%22q%22%20%27%C3%A9%27")
    assert event["task"] == "maintain.optimize" and event["aliases"] == [REBUILD_ALIAS]
    assert event["extra"]["status"] == "rebuilt" and event["extra"]["table"] == HOSTILE
    assert {"reclaimed_bytes", "algorithm", "duration_s"} <= set(event["extra"])


def test_the_dag_exists_only_with_configured_assets_and_parses_without_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.accounts import Account
    from tests.support.receivers import CountingListener

    config = tmp_path / "m.yaml"
    monkeypatch.setenv("MAINTENANCE_CONFIG", str(config))
    with CountingListener() as listener:
        monkeypatch.setenv("AIRFLOW_CONN_MYSQL_A", Account("m", port=listener.port).conn_json())
        config.write_text("databases: [{name: alpha, conn_id: mysql_a}]\n")
        without = load_dagbag()
        config.write_text(
            "databases:\n"
            "  - name: alpha\n"
            "    conn_id: mysql_a\n"
            "    statistics_on_assets:\n"
            "      - {asset: 's3://lake/a.parquet', tables: [app.a]}\n"
            "      - {asset: 'mysql-maintenance://alpha/app/b', tables: [app.b, app.c]}\n"
        )
        bag = load_dagbag()
    assert listener.accepted == 0
    assert not without.import_errors and DAG_ID not in without.dags
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[DAG_ID]
    assert {a.uri for a in dag.timetable.asset_condition.objects} == {
        "s3://lake/a.parquet",
        "mysql-maintenance://alpha/app/b",
    }
    assert [t.task_id for t in dag.tasks] == ["choose_tables", "statistics"]
    assert list(dag.params) == ["dry_run"] and dag.doc_md and dag.max_active_runs == 1


def test_a_manual_run_without_triggering_events_refreshes_nothing(
    target: Target, setup: dict[str, str]
) -> None:
    run = load_dagbag().dags[DAG_ID].test()
    assert str(run.state) == "success", task_states(run)
    assert task_states(run) == {("choose_tables", -1): "success", ("statistics", -1): "skipped"}
    assert _analysed(target, run.run_id) == []

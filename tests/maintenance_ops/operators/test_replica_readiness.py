"""MySqlReplicaReadinessOperator alone in a small DAG under ``dag.test()``: no replicas, a real
ready replica (with only the replica grants), and a replica whose SQL thread is stopped."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.audit import AuditLog
from maintenance_ops.observe.reports import FAILURE_KEY
from maintenance_ops.operators import MySqlReplicaReadinessOperator
from maintenance_ops.operators.recovery import NO_REPLICAS, REPLICA_CHECKS_KEY
from tests.conftest import Target, target_database
from tests.dags.conftest import load_dagbag, task_states
from tests.support.replication import replication_pair

LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
TASK = "replicas_ready"
DAG_FILE = f'''
from datetime import datetime

from airflow.sdk import dag

from maintenance_ops.operators import MySqlReplicaReadinessOperator


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def replica_check():
    MySqlReplicaReadinessOperator(task_id="{TASK}", database="shop", wait_timeout_s=10)


replica_check()
'''


def _run_alone(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run the one-task DAG above from its own bundle; return the finished run."""
    folder.mkdir(exist_ok=True)
    (folder / "replica_check.py").write_text(DAG_FILE)
    bundles = [
        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
        {"name": "replica-check", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(folder)}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    bag = load_dagbag(folder)
    assert not bag.import_errors, bag.import_errors
    return bag.dags["replica_check"].test()


def _xcom(run: Any, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter(XComModel.run_id == run.run_id, XComModel.task_id == TASK, XComModel.key == key)
            .one_or_none()
        )
    value = None if row is None else row.value
    return json.loads(value) if isinstance(value, str) else value


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"replicas": []}, "replicas= takes the names of configured", id="empty-list"),
        pytest.param({"replicas": ["r1", " "]}, "replicas= takes the names", id="blank-name"),
        pytest.param({"replicas": "r1"}, "replicas= takes a list of names, not 'r1'", id="str"),
        pytest.param({"lag_threshold_s": -1}, "lag_threshold_s= must be a number >= 0", id="lag"),
        pytest.param({"wait_timeout_s": 0}, "wait_timeout_s= must be > 0 seconds", id="wait"),
    ],
)
def test_bad_arguments_are_refused_when_the_dag_is_built(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        MySqlReplicaReadinessOperator(task_id="t", database="shop", **kwargs)


def test_keyword_only_templated_and_cheap() -> None:
    with pytest.raises(TypeError, match="keyword arguments"):
        MySqlReplicaReadinessOperator("t", "shop")  # type: ignore[misc]
    op = MySqlReplicaReadinessOperator(
        task_id="t",
        database="{{ params.db }}",
        replicas="{{ params.replicas }}",
        default_args={"pool": "mysql_maintenance"},
    )
    assert op.template_fields == ("database", "replicas")
    assert (op.cadence, op.step, op.pool) == (
        "disaster_recovery_test",
        "replica_readiness",
        "default_pool",
    )


def test_without_replicas_it_says_so_and_succeeds(
    target: Target,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config({"databases": [target_database(target, "shop")]})
    run = _run_alone(tmp_path / "dags", monkeypatch)
    assert str(run.state) == "success", task_states(run)
    result = _xcom(run, "return_value")
    assert result["summary"] == NO_REPLICAS
    assert result["checks"] == [{"name": "replicas", "status": "skipped", "detail": NO_REPLICAS}]
    audit = AuditLog(target.conn_id, target.history_schema).read(run_id=run.run_id)
    assert [r["command"] for r in audit] == ["preflight mysql_disaster_recovery_test"]
    assert json.loads(audit[0]["details"])["step"] == "replica_readiness"


@pytest.mark.timeout(240)
def test_a_ready_replica_passes_on_replica_grants_alone_and_a_stopped_one_fails(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with replication_pair() as pair:
        pair.primary_sql("CREATE DATABASE app")
        pair.primary_sql("CREATE TABLE app.accounts (id INT PRIMARY KEY, owner VARCHAR(20))")
        pair.primary_sql("INSERT INTO app.accounts VALUES (1, 'ada'), (2, 'bob')")
        on_primary, on_replica = pair.create_account(["app"], "_maintenance")
        # What the drill needs besides (the process list, binlog reads) is not needed here.
        pair.primary_sql(
            "REVOKE PROCESS, REPLICATION CLIENT, REPLICATION SLAVE ON *.* FROM %s@'%%'",
            (on_primary.user,),
        )
        pair.sync()
        monkeypatch.setenv("AIRFLOW_CONN_RR_PRIMARY", on_primary.conn_json())
        monkeypatch.setenv("AIRFLOW_CONN_RR_REPLICA", on_replica.conn_json())
        write_config(
            {
                "databases": [
                    {
                        "name": "shop",
                        "conn_id": "rr_primary",
                        "schemas": ["app"],
                        "replicas": [{"name": "replica1", "conn_id": "rr_replica"}],
                    }
                ]
            }
        )
        ready = _run_alone(tmp_path / "dags", monkeypatch)
        assert str(ready.state) == "success", task_states(ready)
        result = _xcom(ready, "return_value")
        assert result["summary"] == "replicas ready: replica1"
        statuses = {c["name"]: c["status"] for c in result["checks"]}
        assert statuses["replica1/threads"] == "pass" and statuses["replica1/lag"] == "pass"
        assert statuses["replica1/consistency"] == "pass", result["checks"]

        pair.replica_sql("STOP SLAVE SQL_THREAD")
        stopped = _run_alone(tmp_path / "dags", monkeypatch)
        audit = AuditLog("rr_primary", "_maintenance").read(run_id=stopped.run_id)
    assert str(stopped.state) == "failed", task_states(stopped)
    failure = _xcom(stopped, FAILURE_KEY)
    assert failure["step"] == "replica_readiness" and "replica1/threads" in failure["reason"]
    left = {c["name"]: c["status"] for c in _xcom(stopped, REPLICA_CHECKS_KEY)}
    assert left["replica1/threads"] == "fail", left  # for a drill's report, despite the failure
    rows = {r["command"]: r for r in audit}
    assert rows["replica readiness replica1"]["outcome"] == "failed"
    assert "threads" in rows["replica readiness replica1"]["error"]


def test_named_replicas_are_chosen_and_an_unknown_one_is_refused_naming_the_configured() -> None:
    from maintenance_ops.core.config import Database
    from maintenance_ops.core.exceptions import ConfigError

    db = Database.model_validate(
        {
            "name": "shop",
            "conn_id": "shop_db",
            "replicas": [
                {"name": "r1", "conn_id": "shop_r1"},
                {"name": "r2", "conn_id": "shop_r2"},
            ],
        }
    )
    every = MySqlReplicaReadinessOperator(task_id="a", database="shop")
    assert [r.name for r in every.chosen(db)] == ["r1", "r2"]
    named = MySqlReplicaReadinessOperator(task_id="b", database="shop", replicas=["r2"])
    assert [r.name for r in named.chosen(db)] == ["r2"]
    rendered = MySqlReplicaReadinessOperator(task_id="c", database="shop", replicas="{{ x }}")
    rendered.replicas = "r2, r1"  # what the template rendered to
    assert [r.name for r in rendered.chosen(db)] == ["r2", "r1"]
    unknown = MySqlReplicaReadinessOperator(task_id="d", database="shop", replicas=["r3"])
    with pytest.raises(ConfigError, match=r"replicas=\['r3'\]: not configured for shop \(its "):
        unknown.chosen(db)

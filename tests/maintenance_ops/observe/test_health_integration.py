"""The health check against real servers: each threshold driven across its line for real.

A private primary (max_connections=20, binlog) and a private replica replicating from it; the
shared server's settings are never touched. Root builds the servers; the health check connects
to both as the grants.sql account (created on the primary, replicated).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.config import MaintenanceSettings, Thresholds
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.observe.health import collect, evaluate, score
from tests.dags.conftest import run_dag
from tests.support.accounts import Account, create_account
from tests.support.receivers import SlackReceiver

ACCOUNT_USER = "mmc_health"
ACCOUNT = Account(ACCOUNT_USER)  # the grants.sql account; the port is each server's


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[MySQLInstance, MySQLInstance]]:
    primary = MySQLInstance(
        InstanceSpec(server_id=1, binlog=True, extra_args=("--max-connections=20",))
    ).start()
    replica = MySQLInstance(InstanceSpec(server_id=2, binlog=True, read_only=True)).start()
    try:
        replica.execute(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%s, MASTER_USER='root', "
            "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos",
            (primary.port, primary.password),
        )
        replica.execute("START SLAVE")
        primary.execute("CREATE DATABASE app")
        primary.execute("CREATE TABLE app.t (id INT PRIMARY KEY)")
        create_account(primary.execute, ["app"], "_maintenance", user=ACCOUNT_USER)
        _wait_replicated(primary, replica)
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


def _wait_replicated(primary: MySQLInstance, replica: MySQLInstance, timeout: int = 30) -> None:
    """Wait until the replica applied everything the primary wrote (the account's last GRANT
    included: waiting for the account row alone raced its grants)."""
    ((position,),) = primary.execute("SELECT @@gtid_binlog_pos")
    ((waited,),) = replica.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (position, timeout))
    if waited != 0:
        raise AssertionError(
            f"replica did not reach {position}: " + str(replica.execute("SHOW SLAVE STATUS"))
        )


@pytest.fixture
def conns(pair: tuple[MySQLInstance, MySQLInstance], monkeypatch: pytest.MonkeyPatch) -> None:
    primary, replica = pair
    for conn_id, server in (("MMC_PRIMARY", primary), ("MMC_REPLICA", replica)):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id}", replace(ACCOUNT, port=server.port).conn_json()
        )


def _sample(pair: tuple[MySQLInstance, MySQLInstance]) -> tuple[Any, Any, Any]:
    settings = MaintenanceSettings(connect_timeout_s=3)
    with (
        MaintenanceSession("mmc_primary", settings, database_name="app_db") as session,
        MaintenanceSession("mmc_replica", settings, database_name="r1") as rs,
    ):
        sample = collect(session, "app_db", [("r1", rs)])
    breaches = evaluate(sample, Thresholds())
    return sample, breaches, score(breaches, sample)


def _idle(instance: MySQLInstance, count: int) -> list[Any]:
    return [instance.connect() for _ in range(count)]


@pytest.mark.usefixtures("conns")
def test_connections_cross_warning_then_critical(pair: tuple[MySQLInstance, MySQLInstance]) -> None:
    primary, _ = pair
    # The sample holds 1 connection to the primary; 15 idle ones make 16 of 20 = 80 %.
    idle = _idle(primary, 15)
    try:
        sample, breaches, health = _sample(pair)
        found = [(b.metric, b.level) for b in breaches if b.metric == "connections_pct"]
        assert found == [("connections_pct", "warning")], sample.metrics
        assert health.status == "degraded"
        idle += _idle(primary, 3)  # 19 of 20 = 95 %
        sample, breaches, health = _sample(pair)
        found = [(b.metric, b.level) for b in breaches if b.metric == "connections_pct"]
        assert found == [("connections_pct", "critical")], sample.metrics
        assert health.status == "critical" and health.score <= 70
    finally:
        for conn in idle:
            conn.close()


@pytest.mark.usefixtures("conns")
def test_a_long_query_crosses_warning_then_critical(
    pair: tuple[MySQLInstance, MySQLInstance],
) -> None:
    primary, _ = pair
    sleeper = threading.Thread(target=primary.execute, args=("SELECT SLEEP(8)",), daemon=True)
    started = time.monotonic()
    sleeper.start()
    time.sleep(max(0.0, 2.5 - (time.monotonic() - started)))
    sample, breaches, _ = _sample(pair)
    assert [(b.metric, b.level) for b in breaches if b.metric == "longest_query_s"] == [
        ("longest_query_s", "warning")
    ]
    (long_query,) = [b for b in breaches if b.metric == "longest_query_s"]
    assert "SLEEP(8)" in long_query.detail
    time.sleep(max(0.0, 6.0 - (time.monotonic() - started)))
    sample, breaches, health = _sample(pair)
    assert [(b.metric, b.level) for b in breaches if b.metric == "longest_query_s"] == [
        ("longest_query_s", "critical")
    ]
    assert health.status == "critical"
    sleeper.join()
    sample, breaches, _ = _sample(pair)
    assert [b for b in breaches if b.metric == "longest_query_s"] == []
    assert sample.host == "local" and 0 <= sample.metrics["disk_pct"] <= 100
    assert sample.digest_source == "processlist" and sample.notes


@pytest.mark.usefixtures("conns")
def test_replica_lag_is_measured_for_real(pair: tuple[MySQLInstance, MySQLInstance]) -> None:
    primary, replica = pair
    # A replica applying a slow statement falls behind for real: SLEEP inside the replicated
    # UPDATE keeps the SQL thread busy while the primary moves on.
    primary.execute("INSERT INTO app.t VALUES (1)")
    conn = primary.connect()
    cur = conn.cursor()
    cur.execute("SET SESSION binlog_format = 'STATEMENT'")
    cur.execute("UPDATE app.t SET id = id + SLEEP(7) * 0")
    conn.commit()
    conn.close()
    primary.execute("INSERT INTO app.t VALUES (2)")
    deadline = time.monotonic() + 15
    lag_levels: set[str] = set()
    while time.monotonic() < deadline and "warning" not in lag_levels:
        _, breaches, _ = _sample(pair)
        lag_levels |= {b.level for b in breaches if b.metric == "replica.r1.lag_s"}
        time.sleep(0.5)
    assert "warning" in lag_levels
    _wait_rows(replica, 2)
    _, breaches, _ = _sample(pair)
    assert [b for b in breaches if b.metric.startswith("replica.")] == []


def _wait_rows(replica: MySQLInstance, n: int) -> None:
    deadline = time.monotonic() + 30
    while replica.execute("SELECT COUNT(*) FROM app.t") != [(n,)]:
        assert time.monotonic() < deadline, replica.execute("SHOW SLAVE STATUS")
        time.sleep(0.2)


@pytest.mark.usefixtures("conns")
def test_dag_alerts_once_holds_back_repeats_and_announces_recovery(
    pair: tuple[MySQLInstance, MySQLInstance],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    primary, replica = pair
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        write_config(
            {
                "databases": [
                    {
                        "name": "app_db",
                        "conn_id": "mmc_primary",
                        "schemas": ["app"],
                        "replicas": [{"name": "r1", "conn_id": "mmc_replica"}],
                    }
                ],
                "health": {"quiet_period_minutes": 60},
                "notifications": {"slack_conn_id": "slack_alerts"},
            }
        )
        healthy = run_dag("mysql_health_check")
        assert str(healthy.state) == "success"
        # Host CPU may be high on a busy test machine (a warning): no critical alert, though.
        assert not [t for t in slack.texts() if "CRITICAL" in t], slack.texts()

        replica.execute("STOP SLAVE SQL_THREAD")
        try:
            broken = run_dag("mysql_health_check")
            assert str(broken.state) == "failed"
            failed = "maintain.health_check failed"
            alerts = [t for t in slack.texts() if failed in t]
            assert len(alerts) == 1, slack.texts()
            assert "Database: app_db" in alerts[0]
            assert "replica.r1.sql_running=0 >= critical threshold 1" in alerts[0]

            repeat = run_dag("mysql_health_check")
            assert str(repeat.state) == "failed"
            assert len([t for t in slack.texts() if failed in t]) == 1  # held back
        finally:
            replica.execute("START SLAVE SQL_THREAD")

        recovered = run_dag("mysql_health_check")
        assert str(recovered.state) == "success"
        again = run_dag("mysql_health_check")
        assert str(again.state) == "success"
    recoveries = [
        t for t in slack.texts() if "recovered" in t and "replica.r1.sql_running:critical" in t
    ]
    assert len(recoveries) == 1, slack.texts()

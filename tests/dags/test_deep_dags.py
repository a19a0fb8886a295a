"""Weekly and monthly DAGs end to end (``dag.test()``) on private servers.

Root builds the fixture (and breaks a tablespace); the DAGs connect as the grants.sql account.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from maintenance_ops.core.instance import MySQLInstance
from tests.dags.conftest import run_dag, task_states
from tests.support.accounts import Account, create_account
from tests.support.receivers import SlackReceiver


@dataclass
class Private:
    """The private server and the maintenance account the DAGs use on it."""

    inst: MySQLInstance
    account: Account


@pytest.fixture(scope="module")
def private() -> Iterator[Private]:
    inst = MySQLInstance().start()
    try:
        inst.execute("CREATE DATABASE app")
        inst.execute(
            "CREATE TABLE app.events (id INT PRIMARY KEY, body VARCHAR(400), kind TINYINT)"
        )
        inst.execute(
            "INSERT INTO app.events SELECT seq, REPEAT('x', 380), seq % 7 FROM app.seq_1_to_60000"
        )
        inst.execute("DELETE FROM app.events WHERE id % 2 = 0")
        inst.execute(
            "CREATE TABLE app.kinds (id TINYINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, n INT)"
        )
        inst.execute("ALTER TABLE app.kinds AUTO_INCREMENT = 250")
        inst.execute("INSERT INTO app.kinds (n) VALUES (1)")
        yield Private(inst, create_account(inst.execute, ["app"], "_maintenance", port=inst.port))
    finally:
        inst.stop()


def _config(
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    private: Private,
    **extra: object,
) -> None:
    account = replace(private.account, port=private.inst.port)  # a restart picks a new port
    monkeypatch.setenv("AIRFLOW_CONN_MMC_PRIVATE", account.conn_json())
    write_config(
        {
            "databases": [{"name": "app_db", "conn_id": "mmc_private", "schemas": ["app"]}],
            "optimization": {"min_table_size_mb": 1},
            **extra,
        }
    )


def _file_size(inst: MySQLInstance) -> int:
    return os.path.getsize(os.path.join(inst.datadir, "app", "events.ibd"))


def test_weekly_rebuilds_the_fragmented_table_and_dry_run_changes_nothing(
    private: Private, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = private.inst
    _config(write_config, monkeypatch, private)
    before = _file_size(server)
    dry = run_dag("mysql_weekly_optimization", {"dry_run": True})
    assert str(dry.state) == "success", task_states(dry)
    assert _file_size(server) == before
    run = run_dag("mysql_weekly_optimization")
    assert str(run.state) == "success", task_states(run)
    assert _file_size(server) < before * 0.8
    assert server.execute("SELECT COUNT(*) FROM app.events") == [(30000,)]


def test_monthly_finds_the_autoincrement_and_alerts_on_a_missing_table(
    private: Private, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = private.inst
    server.execute("CREATE TABLE app.doomed (id INT PRIMARY KEY) ENGINE=InnoDB")
    server.stop(keep_files=True)
    os.remove(os.path.join(server.datadir, "app", "doomed.ibd"))
    server.start()
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        _config(
            write_config,
            monkeypatch,
            private,
            notifications={"slack_conn_id": "slack_alerts"},
        )
        run = run_dag("mysql_monthly_deep_maintenance")
    assert str(run.state) == "failed"
    (alert,) = [t for t in slack.texts() if "maintain.integrity failed" in t]
    assert "CHECK TABLE found problems" in alert and "app.doomed" in alert
    assert "CRITICAL" in alert and "Database: app_db" in alert
    server.execute("DROP TABLE IF EXISTS app.doomed")

"""``include/sql/grants.sql`` gives exactly what the DAGs need; the preflight names what is missing.

Accounts are created on a private server: tests never change the shared server's users.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from maintenance_ops.cadences import BY_KEY, CADENCES
from maintenance_ops.config import Database, MaintenanceSettings
from maintenance_ops.instance import MySQLInstance
from maintenance_ops.preflight import GLOBAL_ONLY, HISTORY_PRIVILEGES, run_preflight
from maintenance_ops.session import MaintenanceSession
from maintenance_ops.sqlfiles import load_sql, split_statements

GRANTS = split_statements(load_sql("grants"))


def _granted(statement_kind: str) -> set[str]:
    privileges: set[str] = set()
    for statement in GRANTS:
        match = re.match(r"GRANT (.+?)\s+ON (\S+) TO", " ".join(statement.split()))
        if match and match.group(2) == statement_kind:
            privileges.update(p.strip() for p in match.group(1).split(","))
    return privileges


def test_grants_file_gives_exactly_what_the_cadences_need() -> None:
    needed = set().union(*(c.privileges for c in CADENCES))
    assert _granted("*.*") == needed & GLOBAL_ONLY
    assert _granted("`app`.*") == needed - GLOBAL_ONLY
    assert _granted("`_maintenance`.*") == set(HISTORY_PRIVILEGES)


@pytest.fixture(scope="module")
def server() -> Iterator[MySQLInstance]:
    with MySQLInstance() as instance:
        instance.execute("CREATE DATABASE app")
        for statement in GRANTS:
            instance.execute(statement)
        yield instance


def _preflight(server: MySQLInstance, cadence_key: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_MMC_LIMITED", f"mysql://maintenance:change-me@127.0.0.1:{server.port}"
    )
    db = Database(name="app_db", conn_id="mmc_limited", schemas=["app"])
    with MaintenanceSession("mmc_limited", MaintenanceSettings()) as session:
        return run_preflight(
            session, BY_KEY[cadence_key], db, window=None, now=datetime.now(UTC), dry_run=False
        )


@pytest.mark.parametrize("cadence_key", [c.key for c in CADENCES])
def test_the_granted_account_passes_every_preflight(
    server: MySQLInstance, cadence_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _preflight(server, cadence_key, monkeypatch)
    assert result.missing_privileges == []
    assert result.schemas == ["app"]


def test_a_revoked_privilege_is_named(
    server: MySQLInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.execute("REVOKE PROCESS ON *.* FROM 'maintenance'@'%'")
    server.execute("REVOKE ALTER ON `app`.* FROM 'maintenance'@'%'")
    try:
        health = _preflight(server, "health_check", monkeypatch)
        weekly = _preflight(server, "weekly_optimization", monkeypatch)
        backup = _preflight(server, "backup_testing", monkeypatch)
    finally:
        server.execute("GRANT PROCESS ON *.* TO 'maintenance'@'%'")
        server.execute("GRANT ALTER ON `app`.* TO 'maintenance'@'%'")
    assert health.missing_privileges == ["PROCESS ON *.*"]
    assert weekly.missing_privileges == ["ALTER ON `app`.*", "PROCESS ON *.*"]
    assert backup.missing_privileges == ["PROCESS ON *.*"]


def test_a_dag_run_stops_at_the_preflight_naming_the_privilege(
    server: MySQLInstance, monkeypatch: pytest.MonkeyPatch, write_config
) -> None:
    from maintenance_ops.audit import AuditLog
    from tests.dags.conftest import run_dag
    from tests.support.receivers import SlackReceiver

    monkeypatch.setenv(
        "AIRFLOW_CONN_MMC_LIMITED", f"mysql://maintenance:change-me@127.0.0.1:{server.port}"
    )
    server.execute("REVOKE PROCESS ON *.* FROM 'maintenance'@'%'")
    try:
        with SlackReceiver() as slack:
            monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
            write_config(
                {
                    "databases": [{"name": "app_db", "conn_id": "mmc_limited", "schemas": ["app"]}],
                    "notifications": {"slack_conn_id": "slack_alerts"},
                }
            )
            dag_run = run_dag("mysql_health_check")
    finally:
        server.execute("GRANT PROCESS ON *.* TO 'maintenance'@'%'")
    assert str(dag_run.state) == "failed"
    (alert,) = [t for t in slack.texts() if "maintain" in t]
    assert "lacks PROCESS ON *.* for mysql_health_check" in alert
    assert "include/sql/grants.sql" in alert
    rows = AuditLog("mmc_limited", "_maintenance").read(run_id=dag_run.run_id)
    assert [(r["command"], r["outcome"]) for r in rows] == [
        ("preflight mysql_health_check", "failed")
    ]

"""The disaster-recovery drill end to end under dag.test(): a real primary with a binlog, a real
replica, a real backup, the runbooks, Slack and email receivers, and a point-in-time recovery.
The drill connects to both servers as the grants.sql account; root only builds the fixture."""

from __future__ import annotations

import json
from collections.abc import Callable
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from maintenance_ops.core.config import BackupSettings, MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.recovery.backup import take_backup
from tests.dags.conftest import run_dag, task_states
from tests.recovery.oncall import OnCall, create_oncall
from tests.support.receivers import SlackReceiver, SmtpSink
from tests.support.replication import ReplicationPair, replication_pair

HISTORY = "_maintenance"


def _evidence(reports: Path) -> dict:
    (path,) = sorted((reports / "mysql_disaster_recovery_test" / "evidence").glob("*.json"))[-1:]
    return json.loads(path.read_text())


def _on_replica_only(pair: ReplicationPair, sql: str) -> None:
    """Change the replica behind replication's back (not logged: the GTIDs stay the primary's)."""
    conn = pair.connect_replica()
    try:
        cur = conn.cursor()
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute(sql)
    finally:
        conn.close()


def _oncall_conn(oncall: OnCall, port: int) -> str:
    return json.dumps(
        {
            "conn_type": "mysql",
            "host": "127.0.0.1",
            "port": port,
            "login": oncall.user,
            "password": oncall.password,
        }
    )


def test_drill_passes_on_a_healthy_setup_and_names_a_purged_binlog(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    with replication_pair() as pair, SlackReceiver() as slack, SmtpSink() as smtp:
        pair.primary_sql("CREATE DATABASE app")
        pair.primary_sql("CREATE TABLE app.accounts (id INT PRIMARY KEY, owner VARCHAR(20))")
        pair.primary_sql("INSERT INTO app.accounts VALUES (1, 'ada'), (2, 'bob'), (3, 'cy')")
        # The on-call account (grants.sql's second section): the drill's failover dry run runs
        # as it against the real pair. Created first, so create_account's sync carries it over.
        oncall = create_oncall(pair.primary.execute, pair.primary.port)
        on_primary, on_replica = pair.create_account(["app"], HISTORY)  # syncs the pair
        monkeypatch.setenv("AIRFLOW_CONN_DR_PRIMARY", on_primary.conn_json())
        monkeypatch.setenv("AIRFLOW_CONN_DR_REPLICA", on_replica.conn_json())
        for name, port in (("PRIMARY", pair.primary.port), ("REPLICA", pair.replica.port)):
            monkeypatch.setenv(f"AIRFLOW_CONN_DR_{name}_ONCALL", _oncall_conn(oncall, port))
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_SINK", smtp.conn_uri)
        # Encrypted at rest: the drill must decrypt for the PITR and give the runbook the key.
        monkeypatch.setenv("AIRFLOW_CONN_DR_BACKUP_KEY", "generic://:drill-key-0123456789@")
        backup = {
            "enabled": True,
            "location": (tmp_path / "backups").as_uri(),
            "encryption_conn_id": "dr_backup_key",
        }
        write_config(
            {
                "databases": [
                    {
                        "name": "shop",
                        "conn_id": "dr_primary",
                        "schemas": ["app"],
                        "history_schema": HISTORY,
                        "oncall_conn_id": "dr_primary_oncall",
                        "replicas": [
                            {
                                "name": "replica1",
                                "conn_id": "dr_replica",
                                "oncall_conn_id": "dr_replica_oncall",
                            }
                        ],
                        "backup": backup,
                    }
                ],
                "notifications": {
                    "slack_conn_id": "slack_alerts",
                    "smtp_conn_id": "smtp_sink",
                    "emails": ["oncall@example.com"],
                    "from_email": "airflow@example.com",
                    "send_reports": False,
                    "report_dir": str(reports),
                },
                "disaster_recovery": {"pitr_marker_gap_s": 1.0},
            }
        )
        with MaintenanceSession("dr_primary", MaintenanceSettings()) as session:
            take_backup(
                session,
                conn_id="dr_primary",
                database_name="shop",
                schemas=["app"],
                history_schema=HISTORY,
                settings=BackupSettings(**backup),
            )
        pair.primary_sql("INSERT INTO app.accounts VALUES (4, 'dee')")  # after the backup

        dry = run_dag("mysql_disaster_recovery_test", {"dry_run": True})
        assert str(dry.state) == "success", task_states(dry)
        assert not slack.texts() and not smtp.messages  # a dry run sends no test message

        drill = run_dag("mysql_disaster_recovery_test")
        assert str(drill.state) == "success", task_states(drill)
        evidence = _evidence(reports)
        assert evidence["verdict"] == "ready" and evidence["score"] == 100, evidence["reasons"]
        areas = evidence["areas"]
        assert {c["name"] for c in areas["replicas"]} >= {
            "replica1/threads",
            "replica1/lag",
            "replica1/read_only",
            "replica1/consistency",
        }
        assert any(c["name"] == "markers" and c["status"] == "pass" for c in areas["pitr"])
        assert {"name": "encryption", "status": "pass"}.items() <= areas["backup"][-1].items()
        dry_runs = {
            c["name"]: c["status"] for c in areas["runbooks"] if c["name"].startswith("dry run")
        }
        assert len(dry_runs) == 3, areas["runbooks"]
        assert dry_runs["dry run: failover_to_replica.py"] == "pass", areas["runbooks"]
        assert evidence["rto_s"] > 0 and evidence["recovery_point"]
        assert any("[TEST]" in t for t in slack.texts()), slack.texts()
        subjects = [str(make_header(decode_header(m["Subject"]))) for m in smtp.messages]
        assert any("[TEST]" in s for s in subjects), subjects
        (drill_row,) = pair.primary_sql(
            f"SELECT ok FROM {HISTORY}.recovery_tests WHERE kind = 'dr_drill'"
        )
        assert drill_row == (1,)
        steps = {ti.task_id: str(ti.state) for ti in drill.get_task_instances()}
        assert steps["maintain.replica_readiness"] == steps["maintain.drill"] == "success"

        # A replica that differs from its primary fails its own step, with one alert naming
        # it; the drill still runs, and its report counts the replica's failure.
        _on_replica_only(pair, "UPDATE app.accounts SET owner = 'zed' WHERE id = 1")
        alerted = len(slack.texts())
        differing = run_dag("mysql_disaster_recovery_test")
        _on_replica_only(pair, "UPDATE app.accounts SET owner = 'ada' WHERE id = 1")
        steps = {ti.task_id: str(ti.state) for ti in differing.get_task_instances()}
        assert steps["maintain.replica_readiness"] == "failed", steps
        assert steps["maintain.drill"] == "success", steps
        replicas = _evidence(reports)["areas"]["replicas"]
        assert {"name": "replica1/consistency", "status": "fail"}.items() <= replicas[-1].items()
        news = slack.texts()[alerted:]
        assert len([t for t in news if "maintain.replica_readiness failed" in t]) == 1, news
        assert not [t for t in news if "maintain.drill failed" in t], news

        # A purged binlog breaks the chain from the backup: the drill fails naming the file.
        (first_log,) = pair.primary_sql("SHOW BINARY LOGS")[:1]
        pair.primary_sql("FLUSH BINARY LOGS")
        pair.primary_sql("INSERT INTO app.accounts VALUES (5, 'eve')")
        pair.sync()  # the replica has moved to the new file: the old one may go
        (last_log,) = pair.primary_sql("SHOW BINARY LOGS")[-1:]
        pair.primary_sql("PURGE BINARY LOGS TO %s", (last_log[0],))
        assert [r[0] for r in pair.primary_sql("SHOW BINARY LOGS")] == [last_log[0]]
        failed = run_dag("mysql_disaster_recovery_test")
    assert str(failed.state) == "failed", task_states(failed)
    evidence = _evidence(reports)
    assert evidence["verdict"] == "not ready"
    gap = [c for c in evidence["areas"]["binlogs"] if c["status"] == "fail"]
    assert gap and first_log[0] in gap[0]["detail"], gap
    alerts = [t for t in slack.texts() if "maintain.drill failed" in t]
    assert alerts and first_log[0] in alerts[-1], slack.texts()

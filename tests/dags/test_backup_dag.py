"""Backup testing end to end: daily takes a backup, the backup DAG restores and verifies it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from maintenance_ops.core.labels import database_of
from tests.conftest import Target, target_database
from tests.dags.conftest import run_dag, task_states
from tests.support.receivers import SlackReceiver


def test_daily_backup_is_restore_tested_and_an_empty_location_alerts(
    target: Target,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target.sql("CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(20))")
    target.sql("INSERT INTO accounts VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    target.sql("CREATE VIEW active AS SELECT id FROM accounts")
    location = (tmp_path / "backups").as_uri()
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        write_config(
            {
                "databases": [
                    target_database(target, backup={"enabled": True, "location": location}),
                    target_database(
                        target,
                        "nobackups",
                        backup={"location": (tmp_path / "empty").as_uri()},
                    ),
                ],
                "notifications": {
                    "slack_conn_id": "slack_alerts",
                    "send_reports": False,
                    "report_dir": str(tmp_path / "reports"),
                },
            }
        )
        daily = run_dag("mysql_daily_maintenance", {"databases": ["primary"]})
        assert str(daily.state) == "success", task_states(daily)
        assert len(list((tmp_path / "backups" / "primary").iterdir())) == 1

        tested = run_dag("mysql_backup_testing")
    by_db = {
        database_of(ti.rendered_map_index): str(ti.state)
        for ti in tested.get_task_instances()
        if ti.task_id == "maintain.restore_verify"
    }
    assert by_db == {"primary": "success", "nobackups": "failed"}, task_states(tested)
    (alert,) = [t for t in slack.texts() if "maintain.restore_verify failed" in t]
    assert "Database: nobackups" in alert and "the location is empty" in alert
    # The source was never the restore target: its data is exactly as before.
    assert target.sql("SELECT COUNT(*) FROM accounts") == [(3,)]
    # The test's RTO and RPO are kept for trends, and the weekly report shows them.
    (row,) = target.sql(
        f"SELECT database_name, kind, ok, rto_s, tool FROM `{target.history_schema}`.recovery_tests"
    )
    assert row[:3] == ("primary", "restore_test", 1) and row[3] > 0 and row[4] == "mariadb-dump"
    # The audit log says the same: the backup and its restore test, both ok.
    audited = target.sql(
        f"SELECT command, outcome, error FROM `{target.history_schema}`.maintenance_log"
        " WHERE database_name = 'primary' AND (command LIKE 'backup %' OR command = 'restore test')"
        " ORDER BY id"
    )
    assert audited == [("backup mariadb-dump", "ok", None), ("restore test", "ok", None)]
    weekly = run_dag("mysql_weekly_optimization", {"databases": ["primary"], "dry_run": True})
    assert str(weekly.state) == "success", task_states(weekly)
    (report,) = (tmp_path / "reports" / "mysql_weekly_optimization").glob("*.md")
    assert "RTO trend (1 restore test): " in report.read_text()

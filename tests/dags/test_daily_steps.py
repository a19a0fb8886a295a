"""Each daily step is its own task: a locked table fails the cleanup alone, and only it retries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from maintenance_ops.core.audit import AuditLog
from tests.conftest import Target, mysql_connect, target_database
from tests.dags.conftest import load_dagbag, task_states
from tests.support.receivers import SlackReceiver

DAY = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)


def test_a_locked_table_fails_the_cleanup_alone_and_its_retry_repeats_only_it(
    target: Target,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target.sql("CREATE TABLE sessions (id INT PRIMARY KEY, expire_date DATETIME NOT NULL)")
    naive = DAY.replace(tzinfo=None)
    rows = [(i, naive - timedelta(days=100 if i <= 10 else 1)) for i in range(1, 21)]
    target.sql("INSERT INTO sessions VALUES " + ",".join(["(%s, %s)"] * 20), [*sum(rows, ())])
    backups = tmp_path / "backups"
    # The application holds an expired row: every delete chunk waits 1 s for it, in vain.
    holder = mysql_connect(target.schema)
    holder.autocommit(False)
    holder.cursor().execute("SELECT * FROM sessions WHERE id = 5 FOR UPDATE")
    try:
        with SlackReceiver() as slack:
            monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
            write_config(
                {
                    "databases": [
                        target_database(
                            target,
                            backup={"enabled": True, "location": backups.as_uri()},
                            cleanup_rules=[
                                {
                                    "name": "sessions",
                                    "table": "sessions",
                                    "date_column": "expire_date",
                                    "retention_days": 30,
                                }
                            ],
                        )
                    ],
                    "maintenance": {
                        "retries": 1,
                        "retry_delay_s": 1,
                        "max_retry_delay_s": 1,
                        "innodb_lock_wait_timeout_s": 1,
                    },
                    "notifications": {"slack_conn_id": "slack_alerts", "send_reports": False},
                }
            )
            dag = load_dagbag().dags["mysql_daily_maintenance"]
            run = dag.test(logical_date=DAY)
    finally:
        holder.rollback()
        holder.close()

    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    states = task_states(run)
    assert str(run.state) == "failed", states
    # The analysis and the statistics ran once; the cleanup twice (its retry); the backup never.
    assert (
        str(tis["maintain.index_analysis"].state),
        tis["maintain.index_analysis"].try_number,
    ) == (
        "success",
        1,
    )
    assert (str(tis["maintain.statistics"].state), tis["maintain.statistics"].try_number) == (
        "success",
        1,
    )
    assert (str(tis["maintain.cleanup"].state), tis["maintain.cleanup"].try_number) == ("failed", 2)
    assert str(tis["maintain.backup"].state) == "upstream_failed", states
    assert tis["maintain.backup"].try_number == 0  # never queued, never tried
    assert not backups.exists() or not any(backups.iterdir())

    # The audit log agrees: one preflight per try of each step that ran, none for the backup.
    audit = AuditLog(target.conn_id, target.history_schema).read(run_id=run.run_id)
    preflights = [r["task_id"] for r in audit if r["command"].startswith("preflight")]
    assert sorted(preflights) == [
        "maintain.cleanup",
        "maintain.cleanup",
        "maintain.index_analysis",
        "maintain.statistics",
    ]
    assert [r["command"] for r in audit if r["command"] == "index analysis"] == ["index analysis"]
    assert not [r for r in audit if r["command"].startswith("backup")]
    assert target.sql("SELECT COUNT(*) FROM sessions WHERE id = 5") == [(1,)]

    # One alert, once the retry failed too, naming the step and the locked rule.
    (alert,) = [t for t in slack.texts() if ".maintain." in t and " failed" in t]
    assert "mysql_daily_maintenance.maintain.cleanup failed" in alert
    assert "rule sessions on" in alert and "skipped_locked" in alert

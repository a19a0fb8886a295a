"""The daily DAG end to end (``dag.test()``) on a real schema with planted problems."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import Target, target_database
from tests.dags.conftest import load_dagbag, task_states

DAY = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # the logical date of the (backfilled) run


def _plant(target: Target) -> None:
    target.sql(
        "CREATE TABLE sessions (id INT PRIMARY KEY, expire_date DATETIME NOT NULL, "
        "KEY by_expiry (expire_date), KEY by_expiry_dup (expire_date))"
    )
    target.sql(
        "CREATE TABLE admin_log (id INT PRIMARY KEY, action_time DATETIME NOT NULL, msg TEXT)"
    )
    naive = DAY.replace(tzinfo=None)
    # ages in days relative to the run's date: 10 rows per age
    ages = [5, 20, 40, 100, 400]
    rows = [(i, naive - timedelta(days=ages[i % 5])) for i in range(50)]
    target.sql(
        "INSERT INTO sessions VALUES " + ",".join(["(%s, %s)"] * 50), [v for r in rows for v in r]
    )
    target.sql(
        "INSERT INTO admin_log VALUES " + ",".join(["(%s, %s, 'x')"] * 50),
        [v for r in rows for v in r],
    )


def _config(target: Target) -> dict:
    return {
        "databases": [
            target_database(
                target,
                cleanup_rules=[
                    {
                        "name": "sessions",
                        "table": "sessions",
                        "date_column": "expire_date",
                        "retention_days": 30,
                        "cleanup_type": "delete",
                    },
                    {
                        "name": "admin_log",
                        "table": "admin_log",
                        "date_column": "action_time",
                        "retention_days": 90,
                        "cleanup_type": "archive",
                    },
                ],
            )
        ]
    }


def _run(conf: dict | None = None) -> object:
    bag = load_dagbag()
    assert not bag.import_errors, bag.import_errors
    return bag.dags["mysql_daily_maintenance"].test(logical_date=DAY, run_conf=conf or {})


def _safe(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)


def _count(target: Target, table: str) -> int:
    return int(target.sql(f"SELECT COUNT(*) FROM `{table}`")[0][0])


def test_daily_run_on_a_backfilled_date(target: Target, write_config: Callable[..., Path]) -> None:
    _plant(target)
    write_config(_config(target))

    dry = _run({"dry_run": True})
    assert str(dry.state) == "success", task_states(dry)
    assert (_count(target, "sessions"), _count(target, "admin_log")) == (50, 50)

    run = _run()
    assert str(run.state) == "success", task_states(run)
    # Cutoffs come from the run's date, not from today: 30 days deletes ages 40, 100, 400.
    assert _count(target, "sessions") == 20
    # 90 days archives ages 100 and 400: copied, then deleted, nothing lost or doubled.
    assert _count(target, "admin_log") == 30
    assert _count(target, "admin_log_archive") == 20
    assert target.sql("SELECT COUNT(*) FROM admin_log a JOIN admin_log_archive b USING (id)") == [
        (0,)
    ]

    # The readable report of the run, as a Markdown file.
    reports = Path(os.environ["AIRFLOW_HOME"]) / "maintenance-reports" / "mysql_daily_maintenance"
    (report,) = [p for p in reports.glob("*.md") if _safe(run.run_id) in p.name]
    text = report.read_text()
    assert "cleanup sessions on" in text and "deleted 30 row(s)" in text
    assert "duplicate:" in text and "DROP INDEX `by_expiry_dup`" in text

    again = _run()  # a re-run of the same date finds nothing new
    assert str(again.state) == "success"
    assert (_count(target, "sessions"), _count(target, "admin_log_archive")) == (20, 20)


def test_a_run_without_logical_date_keeps_its_time_when_cleared_later(
    target: Target, write_config: Callable[..., Path]
) -> None:
    # Triggered from the UI, the CLI or REST: no logical date, no data interval, only the
    # moment it was asked to run (run_after). The cutoff comes from that moment, so the run
    # cleared and re-run months later (today is long after DAY) deletes nothing new.
    _plant(target)
    write_config(_config(target))
    dag = load_dagbag().dags["mysql_daily_maintenance"]
    first = dag.test(logical_date=None, run_after=DAY)
    assert str(first.state) == "success", task_states(first)
    assert first.logical_date is None and first.data_interval_end is None
    # 30 days before run_after: ages 40, 100 and 400 go; with the clock (over 150 days later)
    # every row would be over 30 days old.
    assert _count(target, "sessions") == 20
    assert _count(target, "admin_log_archive") == 20
    again = dag.test(logical_date=None, run_after=DAY)
    assert str(again.state) == "success", task_states(again)
    assert (_count(target, "sessions"), _count(target, "admin_log")) == (20, 30)


def test_a_rule_naming_a_missing_table_fails_before_any_write(
    target: Target, write_config: Callable[..., Path]
) -> None:
    _plant(target)
    config = _config(target)
    config["databases"][0]["cleanup_rules"].append(
        {"name": "ghost", "table": "no_such_table", "date_column": "d", "retention_days": 1}
    )
    write_config(config)
    run = _run()
    assert str(run.state) == "failed"
    states = {task: state for (task, _), state in task_states(run).items()}
    assert states == {
        "select_databases": "success",
        "maintain.index_analysis": "success",
        "maintain.statistics": "success",
        "maintain.cleanup": "failed",
        "maintain.backup": "upstream_failed",
        "report": "failed",
    }
    assert (_count(target, "sessions"), _count(target, "admin_log")) == (50, 50)

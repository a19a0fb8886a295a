"""A failure a retry cannot fix fails the task on its first try and alerts once, at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from maintenance_ops.core.labels import database_of
from tests.conftest import Target, target_database
from tests.dags.conftest import load_dagbag, run_dag, task_states
from tests.support.accounts import PASSWORD, Account
from tests.support.receivers import SlackReceiver


def test_wrong_password_fails_on_the_first_try_despite_retries(
    target: Target, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert target.account is not None
    wrong = Account(target.account.user, password="not-" + PASSWORD)
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        monkeypatch.setenv("AIRFLOW_CONN_MMC_WRONG_PW", wrong.conn_json())
        write_config(
            {
                "databases": [
                    target_database(target, "healthy"),
                    {
                        "name": "orders",
                        "conn_id": "mmc_wrong_pw",
                        "history_schema": target.history_schema,
                    },
                ],
                # Retries configured, with a short delay: dag.test() would really retry.
                "maintenance": {"retries": 2, "retry_delay_s": 1, "max_retry_delay_s": 1},
                "notifications": {"slack_conn_id": "slack_alerts"},
            }
        )
        dag_run = run_dag("mysql_health_check")

    tis = {
        database_of(ti.rendered_map_index): ti
        for ti in dag_run.get_task_instances()
        if ti.task_id == "maintain.health_check"
    }
    assert str(tis["healthy"].state) == "success", task_states(dag_run)
    failed = tis["orders"]
    assert str(failed.state) == "failed"
    assert failed.try_number == 1  # no retry used, though two were configured
    assert failed.max_tries == 2

    alerts = [t for t in slack.texts() if "Database: orders" in t and "maintain.health_check" in t]
    assert len(alerts) == 1, slack.texts()
    assert "[1045]" in alerts[0] and "Not retried" in alerts[0], alerts[0]
    assert not any(PASSWORD in t for t in slack.texts())


def test_a_bad_cleanup_rule_fails_only_the_cleanup_step_naming_it(
    target: Target, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # retention_days 0 is invalid: the configuration still loads, every DAG parses (the
    # health check keeps working), and only the step that would run the rule fails, at once,
    # with the one-line reason, before any write.
    target.sql("CREATE TABLE sessions (id INT PRIMARY KEY, expire_date DATETIME NOT NULL)")
    target.sql("INSERT INTO sessions VALUES (1, '2001-01-01')")
    rules = [
        {"name": "old", "table": "sessions", "date_column": "expire_date", "retention_days": 1},
        {"name": "broken", "table": "sessions", "date_column": "expire_date", "retention_days": 0},
    ]
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        write_config(
            {
                "databases": [target_database(target, cleanup_rules=rules)],
                "maintenance": {"retries": 2, "retry_delay_s": 1, "max_retry_delay_s": 1},
                "notifications": {"slack_conn_id": "slack_alerts"},
            }
        )
        bag = load_dagbag()
        assert not bag.import_errors, bag.import_errors
        assert "mysql_health_check" in bag.dags
        dag_run = bag.dags["mysql_daily_maintenance"].test()

    states = {task: state for (task, _), state in task_states(dag_run).items()}
    assert states["maintain.statistics"] == "success", states
    assert states["maintain.cleanup"] == "failed", states
    (cleanup,) = [t for t in dag_run.get_task_instances() if t.task_id == "maintain.cleanup"]
    assert cleanup.try_number == 1  # a configuration error is not retried
    assert target.sql("SELECT COUNT(*) FROM sessions") == [(1,)]  # not even the good rule ran
    (alert,) = [t for t in slack.texts() if "maintenance.maintain.cleanup failed" in t]
    assert "cleanup rule(s) 'broken' invalid" in alert, alert
    assert "cleanup_rules[1].retention_days" in alert, alert

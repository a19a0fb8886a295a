"""A rule refused for its foreign keys fails the cleanup step once, after its other rules ran."""

from __future__ import annotations

from tests.conftest import Target, target_database
from tests.dags.conftest import run_dag, task_states
from tests.support.receivers import SlackReceiver


def _plant(target: Target) -> None:
    target.sql("CREATE TABLE orders (id INT PRIMARY KEY, created DATETIME NOT NULL)")
    target.sql(
        "CREATE TABLE order_items (id INT PRIMARY KEY, order_id INT NOT NULL, "
        "CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id) "
        "ON DELETE CASCADE)"
    )
    target.sql("CREATE TABLE logs (id INT PRIMARY KEY, at DATETIME NOT NULL)")
    target.sql("INSERT INTO orders VALUES (1, '2000-01-01'), (2, NOW())")
    target.sql("INSERT INTO order_items VALUES (10, 1), (20, 2)")
    target.sql("INSERT INTO logs VALUES (1, '2000-01-01'), (2, NOW())")


def _rules() -> list[dict]:
    return [
        {
            "name": "orders",
            "table": "orders",
            "date_column": "created",
            "retention_days": 30,
            "cleanup_type": "delete",
        },
        {
            "name": "logs",
            "table": "logs",
            "date_column": "at",
            "retention_days": 30,
            "cleanup_type": "delete",
        },
    ]


def test_a_refused_rule_alerts_once_naming_it_and_the_rest_of_the_day_runs(
    target: Target, write_config, monkeypatch
) -> None:
    _plant(target)
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        write_config(
            {
                "databases": [target_database(target, "shop", cleanup_rules=_rules())],
                "notifications": {"slack_conn_id": "slack_alerts", "send_reports": False},
            }
        )
        dag_run = run_dag("mysql_daily_maintenance")
    states = task_states(dag_run)
    assert states[("maintain.index_analysis", 0)] == "success"
    assert states[("maintain.cleanup", 0)] == "failed"
    assert states[("maintain.backup", 0)] == "upstream_failed"
    task_alerts = [t for t in slack.texts() if " failed" in t and ".maintain." in t]
    assert len(task_alerts) == 1, slack.texts()
    assert "maintain.cleanup failed" in task_alerts[0]
    assert ".orders refused" in task_alerts[0]
    assert "fk_items_order" in task_alerts[0] and "archive_children" in task_alerts[0]
    # Nothing of the refused rule was touched; the other rule did its work.
    assert target.sql("SELECT COUNT(*) FROM orders") == [(2,)]
    assert target.sql("SELECT COUNT(*) FROM order_items") == [(2,)]
    assert target.sql("SELECT id FROM logs") == [(2,)]


def test_a_dry_run_of_a_refused_rule_only_reports(target: Target, write_config) -> None:
    _plant(target)
    write_config({"databases": [target_database(target, "shop", cleanup_rules=_rules())]})
    dag_run = run_dag("mysql_daily_maintenance", {"dry_run": True})
    assert task_states(dag_run)[("maintain.cleanup", 0)] == "success"
    assert target.sql("SELECT COUNT(*) FROM logs") == [(2,)]

"""The audit log on the real server: rows written, completed, failed, redacted, read back."""

from __future__ import annotations

import pytest

from maintenance_ops.core.audit import AuditEntry, AuditLog, RunContext, redact
from tests.conftest import Target


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "CREATE USER m IDENTIFIED BY 's3cret'",
            "CREATE USER m IDENTIFIED BY ***",
            id="identified",
        ),
        pytest.param(
            "CHANGE MASTER TO MASTER_PASSWORD='pw', MASTER_HOST='h'",
            "CHANGE MASTER TO MASTER_PASSWORD=***, MASTER_HOST='h'",
            id="master-password",
        ),
        pytest.param("mysql://u:pa55@h:3306/db", "mysql://u:***@h:3306/db", id="uri"),
        pytest.param("mariadb-dump --password=pw db", "mariadb-dump --password=*** db", id="cli"),
        pytest.param("SET PASSWORD = PASSWORD('x')", "SET PASSWORD = ***", id="function"),
        pytest.param("SELECT PASSWORD('x y')", "SELECT PASSWORD(***)", id="function-with-space"),
        pytest.param(
            "SET PASSWORD FOR 'u'@'%' = 'plain text'",
            "SET PASSWORD FOR 'u'@'%' = ***",
            id="set-password-plain",
        ),
        pytest.param(
            "CREATE USER m IDENTIFIED BY 'pa\\'ss word'",
            "CREATE USER m IDENTIFIED BY ***",
            id="backslash-escaped-quote",
        ),
        pytest.param(
            "CREATE USER m IDENTIFIED BY 'pa''ss word'",
            "CREATE USER m IDENTIFIED BY ***",
            id="doubled-quote",
        ),
        pytest.param(
            "CHANGE MASTER TO MASTER_PASSWORD='p\\'w x', MASTER_HOST='h'",
            "CHANGE MASTER TO MASTER_PASSWORD=***, MASTER_HOST='h'",
            id="master-password-escaped-quote",
        ),
        pytest.param("mysql://u:p@ss@h:3306/db", "mysql://u:***@h:3306/db", id="at-in-password"),
        pytest.param("mysql -p'sec ret' db", "mysql -p*** db", id="cli-quoted"),
        pytest.param(
            "OPTIMIZE TABLE `shop`.`t-price`", "OPTIMIZE TABLE `shop`.`t-price`", id="t-price"
        ),
        pytest.param(
            "cleanup delete rule t-price cutoff x",
            "cleanup delete rule t-price cutoff x",
            id="t-price-bare",
        ),
        pytest.param(
            "my_print_defaults --print-defaults -p",
            "my_print_defaults --print-defaults -p",
            id="no-value",
        ),
        pytest.param('password="a\\"b c"\nuser=x', "password=***\nuser=x", id="option-file"),
        pytest.param("MYSQL_PWD=abc mysql", "MYSQL_PWD=*** mysql", id="environment"),
        pytest.param(
            """{'login': 'm', 'password': 'Pw\\'"%s'}""",
            "{'login': 'm', 'password': ***}",
            id="dict-repr",
        ),
        pytest.param('{"password": "a\\"b"}', '{"password": ***}', id="json"),
        pytest.param(
            "Access denied (using password: YES)",
            "Access denied (using password: YES)",
            id="mysql-error",
        ),
        pytest.param("openssl enc -pass pass:xyz", "openssl enc -pass pass:***", id="openssl"),
        pytest.param(
            "404 for url: https://hooks.slack.com/services/T0/B0/XyZsecret",
            "404 for url: https://hooks.slack.com/services/***",
            id="slack-webhook",
        ),
        pytest.param(
            "POST https://events.example/v2?routing_key=abc123&x=1 failed",
            "POST https://events.example/v2?routing_key=***&x=1 failed",
            id="query-key",
        ),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_action_rows_are_written_and_completed(target: Target) -> None:
    run = RunContext("dag_a", "run_1", "maintain", 0)
    audit = AuditLog(target.conn_id, target.history_schema, run)
    with audit.action("primary", "ANALYZE TABLE `shop`.`t`", "shop.t") as entry:
        entry.rows = 12
        entry.details = {"why": "stale"}
    with pytest.raises(RuntimeError), audit.action("primary", "CREATE USER x IDENTIFIED BY 'pw'"):
        raise RuntimeError("boom mysql://u:pw@h")
    with audit.action("primary", "OPTIMIZE TABLE t", dry_run=True):
        pass
    rows = audit.read("primary", dag_id="dag_a", run_id="run_1")
    audit.close()
    assert [r["outcome"] for r in rows] == ["ok", "failed", "dry_run"]
    first, failed, _ = rows
    assert (first["object_name"], first["rows_affected"], first["task_id"], first["map_index"]) == (
        "shop.t",
        12,
        "maintain",
        0,
    )
    assert first["ended_at"] >= first["started_at"]
    assert '"why": "stale"' in first["details"]
    assert "pw" not in failed["command"] and "pw" not in failed["error"]
    assert "RuntimeError: boom" in failed["error"]


def test_a_killed_action_leaves_a_running_row(target: Target) -> None:
    audit = AuditLog(target.conn_id, target.history_schema)
    audit.start(AuditEntry("primary", None, "DELETE chunk"))
    audit.close()  # the process "dies" here: the row stays, marked running
    rows = AuditLog(target.conn_id, target.history_schema).read("primary")
    assert [(r["command"], r["outcome"], r["ended_at"]) for r in rows] == [
        ("DELETE chunk", "running", None)
    ]


def test_a_failed_check_is_recorded_failed_with_its_reason(target: Target) -> None:
    audit = AuditLog(target.conn_id, target.history_schema)
    with audit.action("primary", "restore test", "/backups/x") as entry:
        entry.fail("definitions: routine s.p (PROCEDURE) differs from the backup")
    with audit.action("primary", "cleanup rule", "s.t") as entry:
        entry.fail("parent has CASCADE children", outcome="refused")
    rows = audit.read("primary")
    audit.close()
    assert [(r["outcome"], r["error"]) for r in rows] == [
        ("failed", "definitions: routine s.p (PROCEDURE) differs from the backup"),
        ("refused", "parent has CASCADE children"),
    ]
    assert all(r["ended_at"] is not None for r in rows)

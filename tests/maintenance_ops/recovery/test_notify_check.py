"""The drill's notification test against local receivers: what arrives is asserted on."""

from __future__ import annotations

import json
from email.header import decode_header, make_header

import pytest

from maintenance_ops.core.config import Notifications
from maintenance_ops.core.instance import free_port
from maintenance_ops.recovery.notify_check import TEST_TITLE, check_channels, configured_channels
from tests.support.receivers import SlackReceiver, SmtpSink


def test_slack_and_email_receive_the_marked_test_message(monkeypatch: pytest.MonkeyPatch) -> None:
    with SlackReceiver() as slack, SmtpSink() as sink:
        monkeypatch.setenv("AIRFLOW_CONN_DRILL_SLACK", slack.conn_uri)
        monkeypatch.setenv("AIRFLOW_CONN_DRILL_SMTP", sink.conn_uri)
        notifications = Notifications(
            slack_conn_id="drill_slack",
            smtp_conn_id="drill_smtp",
            emails=["oncall@example.com"],
            from_email="drill@example.com",
        )
        checks = check_channels(notifications, database="app_db", context={"run_id": "drill_1"})
    assert [(c.name, c.status) for c in checks] == [
        ("notify: slack", "pass"),
        ("notify: email", "pass"),
    ]
    (text,) = slack.texts()
    assert TEST_TITLE in text and "no action needed" in text
    assert "[app_db]" in text and "Run: drill_1" in text
    (message,) = sink.messages
    subject = str(make_header(decode_header(message["Subject"])))
    assert subject == f"[MySQL maintenance] INFO: {TEST_TITLE} [app_db]"
    assert message["To"] == "oncall@example.com"
    assert "No action is needed" in sink.bodies()[0]


def test_a_channel_on_a_closed_port_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    closed = json.dumps(
        {"conn_type": "slackwebhook", "host": f"http://127.0.0.1:{port}", "password": "T0/B0/X"}
    )
    monkeypatch.setenv("AIRFLOW_CONN_DRILL_SLACK", closed)
    with SmtpSink() as sink:
        monkeypatch.setenv("AIRFLOW_CONN_DRILL_SMTP", sink.conn_uri)
        notifications = Notifications(
            slack_conn_id="drill_slack", smtp_conn_id="drill_smtp", emails=["oncall@example.com"]
        )
        slack, email = check_channels(notifications, database="app_db")
    assert slack.name == "notify: slack" and slack.status == "fail"
    assert "connection drill_slack" in slack.detail and "failed:" in slack.detail
    assert email.status == "pass" and len(sink.messages) == 1  # one broken channel only


def test_email_to_a_closed_smtp_port_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": free_port(),
            "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": 5},
        }
    )
    monkeypatch.setenv("AIRFLOW_CONN_DRILL_SMTP", closed)
    notifications = Notifications(smtp_conn_id="drill_smtp", emails=["oncall@example.com"])
    (email,) = check_channels(notifications, database="app_db")
    assert email.name == "notify: email" and email.status == "fail"
    assert "oncall@example.com via drill_smtp: failed:" in email.detail


def test_no_channel_is_a_failure() -> None:
    (check,) = check_channels(Notifications(), database="app_db")
    assert check.status == "fail" and "no notification channel is configured" in check.detail


def test_alerts_switched_off_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_DRILL_SLACK", slack.conn_uri)
        notifications = Notifications(slack_conn_id="drill_slack", send_alerts=False)
        checks = check_channels(notifications, database="app_db")
    assert [(c.name, c.status) for c in checks] == [
        ("notify: alerts enabled", "fail"),
        ("notify: slack", "pass"),  # the channel itself works
    ]
    assert len(slack.posts) == 1


def test_pagerduty_is_tested_with_a_critical_event() -> None:
    notifications = Notifications(
        slack_conn_id="s", emails=["a@example.com"], pagerduty_conn_id="pd"
    )
    assert configured_channels(notifications) == [
        ("slack", "connection s", "info"),
        ("email", "a@example.com via smtp_default", "info"),
        ("pagerduty", "connection pd", "critical"),
    ]

"""Send one marked test message to every configured channel: would anyone hear of a disaster?

The monthly disaster-recovery drill runs this. Each channel gets its own message through the one
notification path (:func:`maintenance_ops.observe.alerts.send_alert`), so a broken channel is
named on its own. Slack and email get an ``info`` message; PagerDuty only takes ``critical``
alerts, so its test event is critical too, titled so that nobody mistakes it for a real page.
"""

from __future__ import annotations

from typing import Any

from maintenance_ops.core.config import Notifications
from maintenance_ops.observe.alerts import Alert, Severity, send_alert
from maintenance_ops.recovery.restore import Check

DRILL_DAG_ID = "mysql_disaster_recovery_test"
TEST_TITLE = "[TEST] Disaster-recovery drill notification test — no action needed"
TEST_DETAILS = (
    "This is a test sent by the monthly disaster-recovery drill to prove this channel works. "
    "No action is needed."
)


def _only(notifications: Notifications, channel: str) -> Notifications:
    """Return ``notifications`` with every channel but ``channel`` switched off."""
    update: dict[str, Any] = {
        "slack_conn_id": notifications.slack_conn_id if channel == "slack" else None,
        "emails": list(notifications.emails) if channel == "email" else [],
        "pagerduty_conn_id": notifications.pagerduty_conn_id if channel == "pagerduty" else None,
    }
    return notifications.model_copy(update=update)


def configured_channels(notifications: Notifications) -> list[tuple[str, str, Severity]]:
    """Return each configured channel as (name, where it goes, the severity its test uses)."""
    channels: list[tuple[str, str, Severity]] = []
    if notifications.slack_conn_id:
        channels.append(("slack", f"connection {notifications.slack_conn_id}", "info"))
    if notifications.emails:
        where = f"{', '.join(notifications.emails)} via {notifications.smtp_conn_id}"
        channels.append(("email", where, "info"))
    if notifications.pagerduty_conn_id:
        channels.append(("pagerduty", f"connection {notifications.pagerduty_conn_id}", "critical"))
    return channels


def check_channels(
    notifications: Notifications, *, database: str, context: Any = None
) -> list[Check]:
    """Send the marked test message to each configured channel; one check per channel.

    :param notifications: the ``notifications`` section of the configuration.
    :param database: the database the drill is about, shown in the message.
    :param context: the task's Airflow context, if any (its ``run_id`` goes in the message).
    """
    channels = configured_channels(notifications)
    if not channels:
        return [
            Check(
                "notify: any channel",
                "fail",
                "no notification channel is configured, so nobody would hear about a disaster; "
                "set notifications.slack_conn_id, emails or pagerduty_conn_id",
            )
        ]
    run_id = (context or {}).get("run_id")
    checks: list[Check] = []
    if not notifications.send_alerts:
        checks.append(
            Check(
                "notify: alerts enabled",
                "fail",
                "notifications.send_alerts is false: failure alerts reach no channel; set it true",
            )
        )
    for name, where, severity in channels:
        alert = Alert(
            severity=severity,
            title=TEST_TITLE,
            dag_id=DRILL_DAG_ID,
            database=database,
            run_id=run_id,
            error=TEST_DETAILS,
        )
        outcome = send_alert(alert, _only(notifications, name), context).get(name)
        if outcome == "sent":
            checks.append(Check(f"notify: {name}", "pass", f"test message sent to {where}"))
        elif outcome is None:
            checks.append(
                Check(
                    f"notify: {name}",
                    "fail",
                    f"not sent to {where}: notifications.send_alerts is false",
                )
            )
        else:
            checks.append(Check(f"notify: {name}", "fail", f"{where}: {outcome}"))
    return checks

"""The one notification path: failure callbacks, deadline alerts and reports.

Every alert has one format (DAG, task, database, logical date, error summary, log link) and goes
to every configured channel through the providers' notifiers: Slack webhook, SMTP email, and
PagerDuty for critical alerts. A channel that fails is logged and never masks the task's own
outcome. Provider imports stay inside functions: DAG files import this module at parse time.
"""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from maintenance_ops.core.config import Notifications

log = logging.getLogger(__name__)

Severity = Literal["critical", "warning", "info"]
_MAX_ERROR = 600


@dataclass(frozen=True)
class Alert:
    """One message, rendered the same way for every channel."""

    severity: Severity
    title: str
    dag_id: str
    task_id: str | None = None
    database: str | None = None
    logical_date: str | None = None
    run_id: str | None = None
    error: str | None = None
    log_url: str | None = None
    run_after: str | None = None  # shown for runs without a logical date (manual, REST)

    def fields(self) -> list[tuple[str, str]]:
        """Return the labelled lines of the message, in order, leaving out empty ones."""
        pairs = [
            ("DAG", self.dag_id),
            ("Task", self.task_id),
            ("Database", self.database),
            ("Logical date", self.logical_date),
            ("Run after (no logical date)", None if self.logical_date else self.run_after),
            ("Run", self.run_id),
            ("Details" if self.severity == "info" else "Error", self.error),
            ("Report" if self.severity == "info" else "Log", self.log_url),
        ]
        return [(k, v) for k, v in pairs if v]

    @property
    def subject(self) -> str:
        where = f" [{self.database}]" if self.database else ""
        return f"[MySQL maintenance] {self.severity.upper()}: {self.title}{where}"

    def text(self) -> str:
        """Plain text (Slack)."""
        return "\n".join([f"*{self.subject}*", *(f"{k}: {v}" for k, v in self.fields())])

    def html(self) -> str:
        """HTML (email)."""
        rows = "".join(
            f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self.fields()
        )
        return f"<h3>{html.escape(self.subject)}</h3><table>{rows}</table>"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_error(exc: BaseException | str | None) -> str | None:
    """Return the first lines of an error, short enough for a chat message."""
    if exc is None:
        return None
    text = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    from maintenance_ops.core.audit import redact

    text = redact(text) or ""
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."


def _database_of(context: Any) -> str | None:
    task = context.get("task")
    database = getattr(task, "database", None)
    if isinstance(database, str):
        return database
    params = context.get("params") or {}
    selected = params.get("databases") or []
    return ", ".join(selected) if selected else None


def alert_from_context(
    context: Any, severity: Severity = "critical", *, whole_run: bool = False
) -> Alert:
    """Build the failure alert of a task, or with ``whole_run`` of a DAG run, from its context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None) or "?"
    task_id = None if whole_run else getattr(ti, "task_id", None)
    logical = context.get("logical_date") or getattr(dag_run, "logical_date", None)
    run_after = getattr(dag_run, "run_after", None)
    error = context.get("exception") if not whole_run else context.get("reason")
    return Alert(
        severity=severity,
        title=f"{dag_id}.{task_id} failed" if task_id else f"{dag_id} run failed",
        dag_id=dag_id,
        task_id=task_id,
        database=_database_of(context) if task_id else None,
        logical_date=logical.isoformat() if logical is not None else None,
        run_after=run_after.isoformat() if run_after is not None else None,
        run_id=getattr(dag_run, "run_id", None) or context.get("run_id"),
        error=summarize_error(error),
        log_url=getattr(ti, "log_url", None) if task_id else None,
    )


def _send_slack(alert: Alert, conn_id: str, context: Any) -> None:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=alert.text()).notify(context)


def _send_email(alert: Alert, notifications: Notifications, context: Any) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    SmtpNotifier(
        to=list(notifications.emails),
        from_email=notifications.from_email or "mysql-maintenance@localhost",
        subject=alert.subject,
        html_content=alert.html(),
        smtp_conn_id=notifications.smtp_conn_id,
    ).notify(context)


def _send_pagerduty(alert: Alert, conn_id: str, context: Any) -> None:
    from airflow.providers.pagerduty.notifications.pagerduty import PagerdutyNotifier

    PagerdutyNotifier(
        summary=alert.subject,
        severity="critical",
        source=alert.database or alert.dag_id,
        dedup_key=f"{alert.dag_id}:{alert.task_id}:{alert.database}:{alert.run_id}",
        custom_details=alert.to_dict(),
        pagerduty_events_conn_id=conn_id,
    ).notify(context)


def send_alert(alert: Alert, notifications: Notifications, context: Any = None) -> dict[str, str]:
    """Send ``alert`` to every configured channel; return each channel's outcome.

    Never raises: a notifier that fails is logged, so it cannot hide the task's own result.
    """
    context = context if context is not None else {}
    outcome: dict[str, str] = {}
    if not notifications.send_alerts and alert.severity != "info":
        return outcome
    channels: list[tuple[str, Any]] = []
    if notifications.slack_conn_id:
        channels.append(("slack", lambda: _send_slack(alert, notifications.slack_conn_id, context)))
    if notifications.emails:
        channels.append(("email", lambda: _send_email(alert, notifications, context)))
    if notifications.pagerduty_conn_id and alert.severity == "critical":
        pd_conn = notifications.pagerduty_conn_id
        channels.append(("pagerduty", lambda: _send_pagerduty(alert, pd_conn, context)))
    for name, send in channels:
        try:
            send()
            outcome[name] = "sent"
        except Exception as exc:  # noqa: BLE001 - a broken channel must not mask the task
            log.error("Could not send the %s alert %r: %s", name, alert.subject, exc)
            outcome[name] = f"failed: {summarize_error(exc)}"
    log.info("Alert %r: %s", alert.subject, outcome or "no channel configured")
    return outcome


def _notify(context: Any, whole_run: bool) -> None:
    from maintenance_ops.core.config import load_config

    try:
        notifications = load_config().notifications
    except Exception as exc:  # noqa: BLE001 - a callback must never raise
        log.error("Cannot read the configuration to send the failure alert: %s", exc)
        return
    send_alert(alert_from_context(context, whole_run=whole_run), notifications, context)


class AlertedFailure(AirflowFailException):
    """Fails the task (no retry) without a failure alert, because one was sent already.

    :func:`on_failure` honours ``suppress_alert``: the run's summary from the report task, a
    run that stopped before choosing its databases (``select_databases`` alerted), health
    breaches alerted within the quiet period.
    """

    def __init__(self, message: str, *, suppress_alert: bool = True) -> None:
        super().__init__(message)
        self.suppress_alert = suppress_alert


def on_failure(context: Any) -> None:
    """Task ``on_failure_callback``: alert every channel about the failed task.

    An exception marked ``suppress_alert`` (the same health breaches were already alerted
    within the quiet period) fails the task without a new message.
    """
    if getattr(context.get("exception"), "suppress_alert", False):
        log.info("Alert held back: already sent within the quiet period")
        return
    _notify(context, whole_run=False)


def on_dag_failure(context: Any) -> None:
    """DAG ``on_failure_callback``: alert that the whole run failed, unless that is said.

    A run failed by its tasks (``task_failure``) has been told already: each failed task
    alerted once, and the ``report`` task (it runs after every outcome) sent the run's one
    summary naming the failed databases and why. Any other reason (the run timed out, its
    tasks deadlocked) is alerted here.
    """
    if context.get("reason") == "task_failure":
        log.info("Run failed by its tasks: their alerts and the report's summary said so")
        return
    _notify(context, whole_run=True)


async def deadline_missed(
    context: Any = None,
    *,
    dag_id: str,
    interval_minutes: float,
    notifications: dict[str, Any],
) -> str:
    """Deadline-alert callback (runs in the triggerer): a run is overrunning its deadline.

    :param dag_id: the DAG whose run overran.
    :param interval_minutes: the configured deadline, for the message.
    :param notifications: the ``notifications`` section, as a dict (it travels serialized).
    """
    from maintenance_ops.core.config import Notifications

    dag_run = (context or {}).get("dag_run") or {}
    run_id = dag_run.get("dag_run_id") or dag_run.get("run_id")
    alert = Alert(
        severity="critical",
        title=f"{dag_id} run overran its {interval_minutes:g} min deadline",
        dag_id=dag_id,
        database=_run_databases(dag_run),
        logical_date=str(dag_run.get("logical_date") or "") or None,
        run_after=str(dag_run.get("run_after") or "") or None,
        run_id=run_id,
        error=(
            f"still running {interval_minutes:g} {'minute' if interval_minutes == 1 else 'minutes'}"
            " after it was queued; the run's grid shows which task is still running"
        ),
        log_url=_run_url(dag_id, run_id),
    )
    settings = Notifications.model_validate(notifications)
    outcome = await asyncio.to_thread(send_alert, alert, settings, {})
    # Airflow 3.3 stores the return value in a text column: a dict crashes the triggerer.
    return "; ".join(f"{k}: {v}" for k, v in outcome.items()) or "no channel configured"


def _run_databases(dag_run: Any) -> str:
    """The databases a run was asked for (its ``databases`` param), or every enabled one."""
    conf = dag_run.get("conf") if isinstance(dag_run, dict) else None
    chosen = (conf or {}).get("databases") if isinstance(conf, dict) else None
    if isinstance(chosen, list) and chosen:
        return ", ".join(str(name) for name in chosen)
    return "every enabled database"


def _run_url(dag_id: str, run_id: str | None) -> str | None:
    """The run's page in the Airflow UI, where the other commands find the API server."""
    from maintenance_ops.core.airflow_api import ApiSettings, run_page_url

    if not run_id:
        return None
    try:
        return run_page_url(ApiSettings.from_environment().url, dag_id, run_id)
    except Exception as exc:  # noqa: BLE001 - an alert goes out without its link
        log.warning("no link to the run in the alert: %s", exc)
        return None

"""One Slack summary per backfill, sent when its last run finishes (not one per date).

A task cannot tell which backfill its run belongs to, nor whether it is the last one to finish
(see :func:`maintenance_ops.observe.reports.wants_summary`), so each backfilled date's report
stays a file and an XCom. The scheduler can: it calls the listeners of
``plugins/maintenance_ops_listeners.py`` when a run ends, with the run (``DagRun.backfill_id``)
and the session it is changing. When no other run of that backfill is still queued or running,
:func:`on_run_finished` gathers every run's outcome (state, each failed database with its step
and reason, the report file) and sends one message. A run cleared after its backfill completed
sends nothing again. Everything here is bounded and never raises into the scheduler.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.wording import counted
from maintenance_ops.observe.reports import FAILURE_KEY, STEP_GROUP, reports_wanted

if TYPE_CHECKING:
    from maintenance_ops.core.config import Config
    from maintenance_ops.observe.alerts import Alert

log = logging.getLogger(__name__)
UNFINISHED = ("queued", "running")
MOST_RUNS = 31  # runs listed one per line; the rest are counted


@dataclass
class RunOutcome:
    """What one backfilled date came to."""

    logical_date: str
    run_id: str
    state: str
    failed: dict[str, str] = field(default_factory=dict)  # database -> "step: reason"
    report_file: str | None = None


def render_summary(dag_id: str, from_date: str, to_date: str, runs: Sequence[RunOutcome]) -> Alert:
    """Return the backfill's one message (pure): its dates, and what failed where."""
    from maintenance_ops.observe.alerts import Alert

    failed = [r for r in runs if r.state != "success"]
    outcome = f"{counted(len(failed), 'run')} failed" if failed else "all succeeded"
    lines = []
    for run in sorted(runs, key=lambda r: r.logical_date)[:MOST_RUNS]:
        line = f"{run.logical_date}: {run.state}"
        if run.failed:
            line += " (" + "; ".join(f"{db}: {why}" for db, why in sorted(run.failed.items())) + ")"
        elif run.report_file:
            line += f" (report {run.report_file})"
        lines.append(line)
    if len(runs) > MOST_RUNS:
        lines.append(f"... and {len(runs) - MOST_RUNS} more run(s) (see the DAG's grid)")
    return Alert(
        "critical" if failed else "info",
        f"{dag_id} backfill {from_date} to {to_date}: {counted(len(runs), 'run')}, {outcome}",
        dag_id,
        error="\n".join(lines),
    )


def wants_backfill_summary(config: Config, dag_id: str, dry_run: bool) -> bool:
    """Whether a backfill of ``dag_id`` gets its summary: as the DAG's reports, not dry runs."""
    return not dry_run and reports_wanted(config, dag_id)


def on_run_finished(dag_run: Any) -> None:
    """The listeners' entry: send the backfill's summary if ``dag_run`` was its last run.

    Never raises: a summary that cannot be made or sent is logged, the scheduler goes on.
    """
    try:
        _summarize_if_last(dag_run)
    except Exception:  # noqa: BLE001 - never break the scheduler's loop for a message
        log.exception("backfill summary of %s not sent", getattr(dag_run, "run_id", "?"))


def _summarize_if_last(dag_run: Any) -> None:
    from sqlalchemy.orm import object_session

    session = object_session(dag_run)
    if session is not None:
        # The scheduler's own session: it sees the states this loop changed and has not
        # committed yet (two runs ending in one loop: the second sees the first finished).
        _summarize_in(session, dag_run)
        return
    from airflow.utils.session import create_session

    with create_session() as own:
        _summarize_in(own, dag_run)


def _summarize_in(session: Any, dag_run: Any) -> None:
    from airflow.models.backfill import Backfill
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    from maintenance_ops.core.config import load_config
    from maintenance_ops.observe.alerts import send_alert

    backfill = session.get(Backfill, dag_run.backfill_id)
    if backfill is None or backfill.completed_at is not None:
        return  # gone, or a run cleared after its backfill completed: said already
    runs = session.scalars(select(DagRun).where(DagRun.backfill_id == dag_run.backfill_id)).all()
    if any(
        r.id != dag_run.id and str(getattr(r.state, "value", r.state)) in UNFINISHED for r in runs
    ):
        return  # not the last one
    config = load_config()
    dry_run = bool((backfill.dag_run_conf or {}).get("dry_run"))
    if not wants_backfill_summary(config, dag_run.dag_id, dry_run):
        return
    outcomes = [_outcome(session, run) for run in runs]
    alert = render_summary(
        dag_run.dag_id, _day(backfill.from_date), _day(backfill.to_date), outcomes
    )
    send_alert(alert, config.notifications, None)
    log.info("backfill %s of %s: summary sent (%s)", backfill.id, dag_run.dag_id, alert.title)


def _outcome(session: Any, run: Any) -> RunOutcome:
    from airflow.models.xcom import XComModel

    rows = session.scalars(
        XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, key=FAILURE_KEY)
    ).all()
    failed = {}
    for row in rows:
        value = XComModel.deserialize_value(row)
        if isinstance(value, dict) and row.task_id.startswith(f"{STEP_GROUP}."):
            failed[str(value.get("database"))] = f"{value.get('step')}: {value.get('reason')}"
    report_file = None
    reports = session.scalars(
        XComModel.get_many(
            run_id=run.run_id, dag_ids=run.dag_id, task_ids="report", key="return_value"
        )
    ).all()
    for row in reports:
        value = XComModel.deserialize_value(row)
        if isinstance(value, dict):
            report_file = value.get("report_file")
    date = run.logical_date or run.run_after
    return RunOutcome(
        logical_date=_day(date, minutes=True),
        run_id=run.run_id,
        state=str(getattr(run.state, "value", run.state)),
        failed=failed,
        report_file=report_file,
    )


def _day(moment: datetime | None, *, minutes: bool = False) -> str:
    if moment is None:
        return "?"
    return moment.strftime("%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d")

"""Airflow's own records of the maintenance runs, read in the api-server.

The pages run inside the api-server, next to Airflow's metadata database: which run of each
cadence is the latest, how each database's mapped ``maintain`` task ended (its map index is
shown as the database's name), and each run's ``report`` XCom. These are a handful of indexed
reads per page (one per DAG), through the api-server's own SQLAlchemy session; nothing here
writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.cadences import CADENCES
from maintenance_ops.ui.fleet import RunRef

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MAINTAIN, REPORT, SELECT = "maintain", "report", "select_databases"
DAILY = "mysql_daily_maintenance"
BACKUP_TEST = "mysql_backup_testing"
# Backups are taken by the daily run (and the backup test when it finds none): the newest good
# one is looked for among these many recent runs of each.
RECENT_RUNS = {DAILY: 14, BACKUP_TEST: 4}
# The reports the fleet page counts findings and reclaimed space in (the hourly health check's
# report, the largest, is not read: its findings are in the history store's newest sample).
FINDINGS_FROM = frozenset({DAILY, "mysql_weekly_optimization", "mysql_monthly_deep_maintenance"})


@dataclass
class RunInfo:
    """One DAG run and how each database's mapped task in it ended."""

    dag_id: str
    run_id: str
    state: str
    run_after: datetime | None
    start_date: datetime | None = None
    end_date: datetime | None = None
    tasks: dict[str, str] = field(default_factory=dict)
    """Database name (the rendered map index) -> the state of its ``maintain`` task."""
    task_times: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)


@dataclass
class RunsSnapshot:
    """The latest run per maintenance DAG, recent run ids, and each DAG's latest report."""

    latest: dict[str, RunInfo] = field(default_factory=dict)
    recent: dict[str, list[str]] = field(default_factory=dict)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None

    def result(self, dag_id: str, database: str) -> dict[str, Any] | None:
        """Return one database's result in the DAG's latest report, if any."""
        for result in (self.reports.get(dag_id) or {}).get("databases") or []:
            if isinstance(result, dict) and result.get("database") == database:
                return result
        return None

    def latest_refs(self) -> list[RunRef]:
        return [RunRef(r.dag_id, r.run_id) for r in self.latest.values()]

    def backup_refs(self) -> list[RunRef]:
        return [RunRef(d, r) for d in RECENT_RUNS for r in self.recent.get(d, [])]


def _tables() -> tuple[Any, Any, Any]:
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel

    return DagRun.__table__.c, TaskInstance.__table__.c, XComModel.__table__.c


# A database's state in a run is its worst step's: the first of these its steps are in.
STATE_ORDER = (
    "failed",
    "upstream_failed",
    "up_for_retry",
    "up_for_reschedule",
    "restarting",
    "running",
    "deferred",
    "queued",
    "scheduled",
    "removed",
    "none",
    "skipped",
    "success",
)


def worst_state(states: list[str]) -> str:
    """Return the state that says most about a database's steps (pure)."""
    return min(states, key=lambda s: STATE_ORDER.index(s) if s in STATE_ORDER else 10)


def maintain_tasks(ti: Any) -> Any:
    """The per-database work: the mapped ``maintain`` task, or each step of the mapped
    ``maintain`` task group (``maintain.<step>``)."""
    from sqlalchemy import or_

    return or_(ti.task_id == MAINTAIN, ti.task_id.like(f"{MAINTAIN}.%"))


def task_states(session: Session, dag_id: str, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Return run id -> database -> (state, start, end) of the runs' per-database tasks.

    The database is the rendered map index's (the DAGs label each map index with it, and a
    note after it: :func:`~maintenance_ops.core.labels.database_of`); with a task group of
    steps, the state is the worst step's and the times span all of them.
    """
    from sqlalchemy import select

    from maintenance_ops.core.labels import database_of

    _, ti, _ = _tables()
    if not run_ids:
        return {}
    rows = session.execute(
        select(
            ti.run_id, ti.map_index, ti.rendered_map_index, ti.state, ti.start_date, ti.end_date
        ).where(ti.dag_id == dag_id, maintain_tasks(ti), ti.run_id.in_(run_ids))
    ).all()
    found: dict[str, dict[str, list[Any]]] = {}
    selected: dict[str, list[str]] = {}
    for run_id, map_index, label, state, start, end in rows:
        if map_index < 0:  # not expanded yet: no database has a task of its own
            continue
        if not label:  # the label is rendered when the task runs; before, the expand input
            if run_id not in selected:
                selected[run_id] = _selected(session, dag_id, run_id)
            names = selected[run_id]
            label = names[map_index] if map_index < len(names) else None
        name = database_of(label) if label else str(map_index)
        found.setdefault(run_id, {}).setdefault(name, []).append((state or "none", start, end))
    out: dict[str, dict[str, Any]] = {}
    for run_id, databases in found.items():
        for name, steps in databases.items():
            starts = [s for _, s, _ in steps if s is not None]
            ends = [e for _, _, e in steps if e is not None]
            out.setdefault(run_id, {})[name] = (
                worst_state([state for state, _, _ in steps]),
                min(starts) if starts else None,
                max(ends) if ends and len(ends) == len(steps) else None,
            )
    return out


def _selected(session: Session, dag_id: str, run_id: str) -> list[str]:
    """Return the databases a run maps over (``select_databases``' XCom), in map-index order."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    _, _, xcom = _tables()
    row = session.execute(
        select(xcom.value).where(
            xcom.dag_id == dag_id,
            xcom.run_id == run_id,
            xcom.task_id == SELECT,
            xcom.key == "return_value",
        )
    ).first()
    value = XComModel.deserialize_value(row) if row else None
    return [str(v) for v in value] if isinstance(value, list) else []


def report_value(session: Session, dag_id: str, run_id: str | None = None) -> dict[str, Any] | None:
    """Return the ``report`` task's XCom of a run (the newest run that has one when ``None``)."""
    from sqlalchemy import select

    _, _, xcom = _tables()
    query = select(xcom.value, xcom.run_id).where(
        xcom.dag_id == dag_id, xcom.task_id == REPORT, xcom.key == "return_value"
    )
    if run_id is not None:
        query = query.where(xcom.run_id == run_id)
    from airflow.models.xcom import XComModel

    row = session.execute(query.order_by(xcom.dag_run_id.desc()).limit(1)).first()
    # As Airflow reads its own XComs: JSON text with its encoder's types, or already decoded.
    value = XComModel.deserialize_value(row) if row else None
    return value if isinstance(value, dict) else None


def read_runs(session: Session, dag_ids: list[str] | None = None) -> RunsSnapshot:
    """Read the latest run of each maintenance DAG, its tasks, and each DAG's newest report."""
    from sqlalchemy import select

    run, _, _ = _tables()
    snapshot = RunsSnapshot()
    for dag_id in dag_ids or [c.dag_id for c in CADENCES]:
        found = session.execute(
            select(run.run_id, run.state, run.run_after, run.start_date, run.end_date)
            .where(run.dag_id == dag_id)
            .order_by(run.run_after.desc(), run.id.desc())
            .limit(RECENT_RUNS.get(dag_id, 1))
        ).all()
        if not found:
            continue
        snapshot.recent[dag_id] = [r[0] for r in found]
        run_id, state, run_after, start, end = found[0]
        info = RunInfo(dag_id, run_id, state or "none", run_after, start, end)
        for name, (ti_state, ti_start, ti_end) in (
            task_states(session, dag_id, [run_id]).get(run_id, {}).items()
        ):
            info.tasks[name] = ti_state
            info.task_times[name] = (ti_start, ti_end)
        snapshot.latest[dag_id] = info
        report = report_value(session, dag_id) if dag_id in FINDINGS_FROM else None
        if report is not None:
            snapshot.reports[dag_id] = report
    return snapshot


def read_run(session: Session, dag_id: str, run_id: str) -> RunInfo | None:
    """Return one run and its tasks, or None when Airflow has no such run."""
    from sqlalchemy import select

    run, _, _ = _tables()
    row = session.execute(
        select(run.state, run.run_after, run.start_date, run.end_date).where(
            run.dag_id == dag_id, run.run_id == run_id
        )
    ).first()
    if row is None:
        return None
    info = RunInfo(dag_id, run_id, row[0] or "none", row[1], row[2], row[3])
    for name, (state, start, end) in task_states(session, dag_id, [run_id]).get(run_id, {}).items():
        info.tasks[name] = state
        info.task_times[name] = (start, end)
    return info

"""The DAGs under the CeleryExecutor, driven the way operators drive them: REST API, CLI, backfill.

The stack (``celery_stack`` in conftest.py) runs every component natively with the settings of
``include/airflow.env`` (the file docker-compose.yaml reads) and one Celery worker that serves
only the ``maintenance`` queue: a task routed anywhere else would never run, so every
successful run below also proves the queue routing. The tests share the stack but not an
order: each sets up what it needs, so pytest-xdist may spread them over workers (each worker
then starts its own stack).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import run_sql
from tests.support.airflow_stack import AirflowStack
from tests.support.receivers import wait_until

from .conftest import DAG_IDS, QUEUE, CeleryStack

HEALTH = "mysql_health_check"
DAILY = "mysql_daily_maintenance"
WEEKLY = "mysql_weekly_optimization"
# Three logical dates of the daily DAG, long ago; one planted session expires per day around
# them, so each date's 30-day cutoff finds its own number of expired rows.
BACKFILL_DAYS = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, 23, 59, tzinfo=UTC))
PLANTED_FROM = datetime(2026, 1, 1, 12, 0)
PLANTED = 60

pytestmark = pytest.mark.e2e


def _runs(stack: AirflowStack, dag_id: str) -> list[dict[str, Any]]:
    body = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=run_after")
    return list(body["dag_runs"])


def _report(stack: AirflowStack, dag_id: str, run_id: str) -> dict[str, Any]:
    """Return the return value (XCom) of the run's ``report`` task."""
    run = quote(run_id, safe="")  # run ids contain ':' and '+'
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/report/xcomEntries/return_value"
    value = stack.api("GET", path)["value"]
    return value if isinstance(value, dict) else json.loads(value)


def _assert_success_on_the_queue(stack: AirflowStack, dag_id: str, run: dict[str, Any]) -> None:
    tis = stack.task_instances(dag_id, run["dag_run_id"])
    states = {(t["task_id"], t["map_index"]): t["state"] for t in tis}
    assert run["state"] == "success", states
    assert {t["queue"] for t in tis} == {QUEUE}, [(t["task_id"], t["queue"]) for t in tis]


def test_the_six_dags_are_listed(celery_stack: CeleryStack) -> None:
    dags = celery_stack.stack.api("GET", "/api/v2/dags?limit=100")["dags"]
    by_id = {d["dag_id"]: d for d in dags}
    assert set(DAG_IDS) <= set(by_id), sorted(by_id)
    for dag_id in DAG_IDS:
        assert {"mysql", "maintenance"} <= {t["name"] for t in by_id[dag_id]["tags"]}
        assert by_id[dag_id]["timetable_summary"], dag_id  # every DAG has a schedule


def test_the_worker_serves_only_the_maintenance_queue(celery_stack: CeleryStack) -> None:
    # Celery's start-up banner lists the queues the worker consumes, one per line.
    banner = celery_stack.stack.log_tail("celery-worker", 400)
    queues = re.findall(r"^\s*\.> (\S+)\s+exchange=", banner, re.M)
    assert queues == [QUEUE], banner[-2000:]


def test_health_check_over_rest_reports_on_the_named_database(celery_stack: CeleryStack) -> None:
    stack = celery_stack.stack
    stack.unpause(HEALTH)
    run_id = stack.trigger(HEALTH, conf={"databases": ["primary"]})
    run = stack.wait_for_run(HEALTH, run_id, timeout=240)
    _assert_success_on_the_queue(stack, HEALTH, run)

    report = _report(stack, HEALTH, run_id)
    assert report["dag_id"] == HEALTH
    assert [d["database"] for d in report["databases"]] == ["primary"]
    assert report["text"].startswith(f"{HEALTH}: 1 of 1 database(s) done"), report["text"]
    assert "secondary" not in report["text"]
    # The run's audit rows are in the named database's history schema, and only there.
    assert _audit_rows(celery_stack.history["primary"], run_id) > 0
    assert _audit_rows(celery_stack.history["secondary"], run_id) == 0


def _audit_rows(history_schema: str, run_id: str) -> int:
    exists = run_sql(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
        "AND table_name = 'maintenance_log'",
        (history_schema,),
    )
    if not exists:
        return 0
    sql = f"SELECT COUNT(*) FROM `{history_schema}`.maintenance_log WHERE run_id = %s"
    return int(run_sql(sql, (run_id,))[0][0])


def test_cli_trigger_runs_a_dry_run(celery_stack: CeleryStack) -> None:
    stack = celery_stack.stack
    stack.unpause(DAILY)
    result = stack.cli(
        ["dags", "trigger", DAILY, "--conf", json.dumps({"dry_run": True}), "-o", "json"]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Log lines may precede the JSON on stdout; the JSON is one line.
    (created,) = json.loads(next(s for s in result.stdout.splitlines() if s.startswith("[{")))
    run = stack.wait_for_run(DAILY, created["dag_run_id"], timeout=240)
    _assert_success_on_the_queue(stack, DAILY, run)
    assert run["run_type"] == "manual" and run["conf"] == {"dry_run": True}

    report = _report(stack, DAILY, run["dag_run_id"])
    assert {d["database"] for d in report["databases"]} == {"primary", "secondary"}
    assert all(d["dry_run"] is True for d in report["databases"])
    assert "(dry run)" in report["text"]


def _plant_sessions(schema: str) -> None:
    rows = [(i, PLANTED_FROM + timedelta(days=i)) for i in range(PLANTED)]
    run_sql(
        f"INSERT INTO `{schema}`.sessions VALUES " + ",".join(["(%s, %s)"] * PLANTED),
        [v for row in rows for v in row],
    )


def _expired(cutoff: datetime) -> int:
    return sum(PLANTED_FROM + timedelta(days=i) < cutoff for i in range(PLANTED))


def _unpause_and_let_the_scheduled_run_end(
    stack: AirflowStack, dag_id: str, timeout: float
) -> None:
    """Unpause ``dag_id`` and wait until its scheduled run (Airflow starts the latest at once)
    and every other run of it have ended."""
    stack.unpause(dag_id)
    wait_until(
        lambda: (
            (runs := _runs(stack, dag_id))
            and any(r["run_type"] == "scheduled" for r in runs)
            and all(r["state"] in ("success", "failed") for r in runs)
        ),
        timeout=timeout,
        interval=1,
    )


def _finished_backfill_runs(stack: AirflowStack, dag_id: str, count: int) -> list[dict[str, Any]]:
    """Wait until ``dag_id`` has ``count`` backfill runs, all ended; return them."""

    def finished() -> list[dict[str, Any]]:
        runs = [r for r in _runs(stack, dag_id) if r["run_type"] == "backfill"]
        done = len(runs) == count and all(r["state"] in ("success", "failed") for r in runs)
        return runs if done else []

    return wait_until(finished, timeout=360, interval=2)


def test_backfill_does_each_dates_own_work(celery_stack: CeleryStack) -> None:
    stack = celery_stack.stack
    # Backfill runs, too, only run while the DAG is unpaused. The scheduled run unpausing starts
    # is a real (not dry) one: it and any manual run end before the rows are planted, so the
    # backfill's dry runs are the only ones to see them.
    _unpause_and_let_the_scheduled_run_end(stack, DAILY, timeout=240)
    schema = celery_stack.schemas["primary"]
    _plant_sessions(schema)

    start, end = BACKFILL_DAYS
    backfill = stack.api(
        "POST",
        "/api/v2/backfills",
        {
            "dag_id": DAILY,
            "from_date": start.isoformat(),
            "to_date": end.isoformat(),
            "dag_run_conf": {"dry_run": True},
            "max_active_runs": 1,
        },
    )
    assert backfill["dag_id"] == DAILY

    runs = _finished_backfill_runs(stack, DAILY, 3)
    logical_dates = sorted(datetime.fromisoformat(r["logical_date"]) for r in runs)
    assert [d.date().isoformat() for d in logical_dates] == [
        "2026-03-01",
        "2026-03-02",
        "2026-03-03",
    ]

    expired_by_date = {}
    for run in runs:
        _assert_success_on_the_queue(stack, DAILY, run)
        report = _report(stack, DAILY, run["dag_run_id"])
        (primary,) = [d for d in report["databases"] if d["database"] == "primary"]
        (rule,) = primary["cleanup"]
        logical = datetime.fromisoformat(run["logical_date"]).astimezone(UTC).replace(tzinfo=None)
        cutoff = logical - timedelta(days=30)
        # The cutoff comes from this run's own date, not from today, and so does the count.
        assert datetime.fromisoformat(str(rule["cutoff"])[:19]) == cutoff, rule
        assert rule["dry_run_rows"] == _expired(cutoff), (rule, cutoff)
        expired_by_date[logical.date()] = rule["dry_run_rows"]

    assert len(set(expired_by_date.values())) == 3, expired_by_date  # three different days' work
    # Dry runs: nothing was deleted.
    assert run_sql(f"SELECT COUNT(*) FROM `{schema}`.sessions") == [(PLANTED,)]
    # ... and nothing said: no report per date, no summary of a dry-run backfill.
    time.sleep(5)
    assert not [t for t in celery_stack.slack.texts() if f"{DAILY} backfill" in t]


def test_a_backfill_sends_one_summary_when_its_last_run_ends(celery_stack: CeleryStack) -> None:
    """Not one Slack report per backfilled date: one message from the scheduler's listener
    (plugins/maintenance_ops_listeners.py) when the backfill's last run ends."""
    stack, slack = celery_stack.stack, celery_stack.slack
    # Unpausing starts the latest scheduled run (and posts its report): it ends first.
    _unpause_and_let_the_scheduled_run_end(stack, WEEKLY, timeout=300)
    before = len(slack.posts)
    # Two Sundays (the weekly schedule), both allowed to run at once: the two runs may end in
    # one scheduler loop, and still only the last one's listener sends.
    stack.api(
        "POST",
        "/api/v2/backfills",
        {
            "dag_id": WEEKLY,
            "from_date": "2026-03-01T00:00:00+00:00",
            "to_date": "2026-03-09T00:00:00+00:00",
            "max_active_runs": 2,
        },
    )

    runs = _finished_backfill_runs(stack, WEEKLY, 2)
    assert {r["state"] for r in runs} == {"success"}, runs

    def summaries() -> list[str]:
        return [t for t in slack.texts()[before:] if f"{WEEKLY} backfill" in t]

    wait_until(summaries, timeout=60, interval=0.5)
    time.sleep(5)  # a second summary, or a report per date, would have come by now
    (text,) = summaries()
    assert f"{WEEKLY} backfill 2026-03-01 to 2026-03-09: 2 runs, all succeeded" in text, text
    assert len(re.findall(r"2026-0[23]-\d\d \d\d:\d\d: success \(report ", text)) == 2, text
    assert not [t for t in slack.texts()[before:] if f"{WEEKLY} report" in t]


def test_a_paused_dag_is_no_longer_scheduled(celery_stack: CeleryStack) -> None:
    stack = celery_stack.stack
    # The health check runs every minute in this configuration: unpaused, the scheduler
    # creates its scheduled runs (the latest tick's at once).
    stack.unpause(HEALTH)
    wait_until(
        lambda: any(r["run_type"] == "scheduled" for r in _runs(stack, HEALTH)),
        timeout=90,
        interval=1,
    )
    stack.pause(HEALTH)
    paused_at = datetime.now(UTC)
    known = {r["dag_run_id"] for r in _runs(stack, HEALTH)}

    # Wait past the next cron tick plus a few scheduler loops (1 s heartbeat).
    next_tick = paused_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    time.sleep(max(0.0, (next_tick - datetime.now(UTC)).total_seconds()) + 10)

    dag = stack.api("GET", f"/api/v2/dags/{HEALTH}")
    assert dag["is_paused"] is True
    due = dag.get("next_dagrun_run_after")
    assert due is None or datetime.fromisoformat(due) <= datetime.now(UTC), dag
    health = stack.api("GET", "/api/v2/monitor/health")["scheduler"]
    beat = datetime.fromisoformat(health["latest_scheduler_heartbeat"])
    assert beat > next_tick, health  # the scheduler kept looping while we waited
    after = {r["dag_run_id"] for r in _runs(stack, HEALTH)}
    assert after == known, sorted(after - known)

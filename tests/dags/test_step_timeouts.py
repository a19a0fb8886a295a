"""Each step's task takes its own execution timeout from ``maintenance.step_timeout_minutes``."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.audit import AuditLog
from maintenance_ops.core.cadences import CADENCES, STEP_NAMES
from maintenance_ops.dag_parts import CADENCE_STEPS, STEP_OPERATORS
from tests.conftest import Target, mysql_connect, run_sql, target_database
from tests.dags.conftest import load_dagbag, task_states

DAY = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
HOLD_S = 10.0


def _release_when_waited_on(holder: Any, schema: str, done: threading.Event) -> None:
    """Roll ``holder`` back HOLD_S after a statement on ``schema`` starts waiting for a lock."""
    deadline = time.monotonic() + 180
    while not done.is_set() and time.monotonic() < deadline:
        waiting = run_sql(
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX "
            "WHERE trx_state = 'LOCK WAIT' AND trx_query LIKE %s",
            (f"%{schema}%",),
        )
        if waiting[0][0]:
            done.wait(HOLD_S)
            break
        time.sleep(0.05)
    holder.rollback()


def test_every_step_name_has_an_operator_and_every_cadence_its_steps_in_order() -> None:
    assert set(STEP_OPERATORS) == set(STEP_NAMES)
    for cadence in CADENCES:
        assert tuple(s.task_id for s in CADENCE_STEPS[cadence.key]) == cadence.steps


def test_a_configured_step_timeout_applies_to_that_step_and_the_others_keep_the_default(
    write_config: Callable[..., Path],
) -> None:
    write_config(
        {
            "databases": [{"name": "shop", "conn_id": "shop_db"}],
            "maintenance": {
                "execution_timeout_minutes": 45,
                "step_timeout_minutes": {"cleanup": 90, "optimize": 240},
            },
            "custom_schedules": {
                "nightly_cleanup": {"database": "shop", "task_type": "daily", "cron": "0 1 * * *"}
            },
        }
    )
    bag = load_dagbag()
    assert not bag.import_errors, bag.import_errors
    daily = bag.dags["mysql_daily_maintenance"]
    timeouts = {t.task_id: t.execution_timeout for t in daily.tasks}
    assert timeouts == {
        "select_databases": timedelta(minutes=45),
        "maintain.index_analysis": timedelta(minutes=45),
        "maintain.statistics": timedelta(minutes=45),
        "maintain.cleanup": timedelta(minutes=90),
        "maintain.backup": timedelta(minutes=45),
        "report": timedelta(minutes=45),
    }
    for dag_id in ("mysql_weekly_optimization", "mysql_monthly_deep_maintenance"):
        assert bag.dags[dag_id].get_task("maintain.optimize").execution_timeout == timedelta(
            hours=4
        )
    custom = bag.dags["mysql_custom_nightly_cleanup"]
    assert custom.get_task("maintain.cleanup").execution_timeout == timedelta(minutes=90)
    assert custom.get_task("maintain.backup").execution_timeout == timedelta(minutes=45)


@pytest.mark.timeout(240)
def test_a_step_over_its_own_timeout_fails_alone_the_steps_before_it_succeed(
    target: Target, write_config: Callable[..., Path]
) -> None:
    target.sql("CREATE TABLE sessions (id INT PRIMARY KEY, expire_date DATETIME NOT NULL)")
    naive = DAY.replace(tzinfo=None)
    rows = [(i, naive - timedelta(days=100 if i <= 10 else 1)) for i in range(1, 21)]
    target.sql("INSERT INTO sessions VALUES " + ",".join(["(%s, %s)"] * 20), [*sum(rows, ())])
    write_config(
        {
            "databases": [
                target_database(
                    target,
                    cleanup_rules=[
                        {
                            "name": "sessions",
                            "table": "sessions",
                            "date_column": "expire_date",
                            "retention_days": 30,
                        }
                    ],
                )
            ],
            # The cleanup may wait 30 s for a row lock, but its step only 1.2 s.
            "maintenance": {
                "innodb_lock_wait_timeout_s": 30,
                "step_timeout_minutes": {"cleanup": 0.02},
            },
        }
    )
    # The application holds an expired row until HOLD_S after the cleanup starts waiting for
    # it: the lock wait allows 30 s, so the cleanup would then finish, but its 1.2 s run out.
    holder = mysql_connect(target.schema)
    holder.autocommit(False)
    holder.cursor().execute("SELECT * FROM sessions WHERE id = 5 FOR UPDATE")
    done = threading.Event()
    releaser = threading.Thread(target=_release_when_waited_on, args=(holder, target.schema, done))
    releaser.start()
    try:
        dag = load_dagbag().dags["mysql_daily_maintenance"]
        run = dag.test(logical_date=DAY)
    finally:
        done.set()
        releaser.join()
        holder.close()
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    states = task_states(run)
    assert str(tis["maintain.index_analysis"].state) == "success", states
    assert str(tis["maintain.statistics"].state) == "success", states
    assert str(tis["maintain.cleanup"].state) == "failed", states
    assert str(tis["maintain.backup"].state) == "upstream_failed", states
    # Cut while it waited, long before the lock would have been released: by Airflow's
    # timeout (or the read timeout the step's timeout bounds, whichever ends the wait first).
    assert tis["maintain.cleanup"].duration < HOLD_S, tis["maintain.cleanup"].duration
    audit = AuditLog(target.conn_id, target.history_schema).read(run_id=run.run_id)
    (cut,) = [r for r in audit if r["command"].startswith("cleanup delete")]
    assert cut["outcome"] == "failed", cut
    assert re.search(r"AirflowTaskTimeout|Lost connection|2013", cut["error"] or ""), cut
    # The step left its reason for the run's report and summary alert (a timeout is a
    # BaseException, caught apart from the others).
    (failure,) = _xcom(run, "maintain.cleanup", "failure")
    assert failure["step"] == "cleanup" and failure["reason"], failure


def _xcom(dag_run: Any, task_id: str, key: str) -> list[Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(
                run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key
            )
        ).all()
        return [XComModel.deserialize_value(row) for row in rows]

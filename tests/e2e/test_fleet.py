"""A fleet of 20 databases: one run of each DAG maps over all, the pool caps heavy work, and one
broken database fails only its own first step (its later steps never run) and sends only its own
alert.

``bench/fleet.py --write`` runs the same scenario over 50 databases and records its numbers in
docs/benchmarks.md. The test takes 20: each database adds five step tasks (250 at 50, about
300 s on a quiet 2-core machine and over the 600 s test timeout beside the rest of the suite),
and 20 prove the same: every database mapped, the pool the limit, one failure alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .fleet import BROKEN, DAGS, run_fleet

DATABASES = 20
POOL_SLOTS = 3
WORKER_CONCURRENCY = 6  # more than the pool: the pool, not the worker, must be the limit
STEPS = {  # each DAG's steps per database, in order
    "mysql_health_check": ["health_check"],
    "mysql_daily_maintenance": ["index_analysis", "statistics", "cleanup", "backup"],
}

pytestmark = [pytest.mark.e2e]


def test_a_fleet_run_maps_over_every_database(mysql_server: str, tmp_path: Path) -> None:
    result = run_fleet(
        tmp_path,
        databases=DATABASES,
        pool_slots=POOL_SLOTS,
        worker_concurrency=WORKER_CONCURRENCY,
    )
    print(
        f"fleet: {DATABASES} databases, wall {result.wall_s:.1f} s, runs {result.run_s}, "
        f"max running {result.max_running_sampled} sampled / {result.max_running_intervals} "
        f"from task times, pool {POOL_SLOTS}"
    )
    for dag_id in DAGS:
        states = result.states[dag_id]
        maintain = {k: v for k, v in states.items() if k.startswith("maintain.")}
        steps = STEPS[dag_id]
        assert len(maintain) == DATABASES * len(steps), sorted(maintain)
        # Only the broken database's first step failed, and the steps after it never ran; every
        # other database's steps succeeded.
        assert list(maintain.values()).count("success") == (DATABASES - 1) * len(steps)
        assert {k for k, v in maintain.items() if v == "failed"} == {
            f"maintain.{steps[0]}[{BROKEN}]"
        }
        assert list(maintain.values()).count("upstream_failed") == len(steps) - 1
        assert states["select_databases[-1]"] == "success"
        # The report names the failure, so the run is failed (and alerts once as a whole).
        assert states["report[-1]"] == "failed" and result.run_states[dag_id] == "failed"

    # The pool caps concurrent work even though the worker could run more at once, and it
    # was actually used (more than one at a time).
    assert 1 < result.max_running_intervals <= POOL_SLOTS, result.max_running_intervals
    assert result.max_running_sampled <= POOL_SLOTS

    # Task failure alerts: exactly one per DAG, naming the broken database and no other.
    task_alerts = [t for t in result.alerts if re.search(r"\.maintain\.\w+ failed", t)]
    assert len(task_alerts) == len(DAGS), result.alerts
    for dag_id in DAGS:
        (alert,) = [t for t in task_alerts if f"{dag_id}.maintain.{STEPS[dag_id][0]} failed" in t]
        assert f"[{BROKEN}]" in alert and f"Database: {BROKEN}" in alert
    named = {m for t in result.alerts for m in re.findall(r"Database: (\S+)", t)}
    assert named == {BROKEN}, named

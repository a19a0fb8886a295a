"""Benchmark: one run of the health check and of daily maintenance over a fleet of 50 databases.

Run it from the repository root (the machine's PostgreSQL, Redis and MariaDB must be up:
``bash scripts/services.sh``)::

    .venv/bin/python bench/fleet.py            # print the results as Markdown
    .venv/bin/python bench/fleet.py --write    # also update docs/benchmarks.md

The scenario is ``tests/e2e/fleet.py``, the one ``tests/e2e/test_fleet.py`` asserts on: a native
Celery stack (api-server, scheduler, dag-processor, triggerer, one Celery worker on the
``maintenance`` queue, Redis broker, Postgres metadata database), 49 schemas on the shared
MariaDB each behind its own ``AIRFLOW_CONN_*`` connection plus one database whose connection
points at a closed port, and a Slack receiver. Both DAGs are triggered together; the wall time
runs from the first trigger to the end of the later run. Concurrency is observed twice: the
``mysql_maintenance`` pool's running slots sampled every 0.5 s through the REST API, and the most
task instances whose recorded start-end intervals overlap. The same expectations as the test
are checked before anything is written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchlib import ROOT, machine, write_section

sys.path.insert(0, str(ROOT))

from tests.e2e.fleet import BROKEN, DAGS, FleetResult, run_fleet  # noqa: E402
from tests.e2e.test_fleet import STEPS  # noqa: E402

SECTION = "## Fleet (issue 8)"


def check(result: FleetResult) -> list[str]:
    """Return what differs from the expected outcome (empty when all is as the test asserts)."""
    problems = []
    for dag_id in DAGS:
        steps = STEPS[dag_id]
        maintain = {k: v for k, v in result.states[dag_id].items() if k.startswith("maintain.")}
        failed = {k for k, v in maintain.items() if v == "failed"}
        done = list(maintain.values()).count("success")
        if (
            len(maintain) != result.databases * len(steps)
            or done != (result.databases - 1) * len(steps)
            or failed != {f"maintain.{steps[0]}[{BROKEN}]"}
        ):
            problems.append(
                f"{dag_id}: {len(maintain)} step tasks, {done} succeeded, failed: {failed}"
            )
    if max(result.max_running_sampled, result.max_running_intervals) > result.pool_slots:
        problems.append("more tasks ran at once than the pool has slots")
    named = {m for t in result.alerts for m in re.findall(r"Database: (\S+)", t)}
    if named != {BROKEN}:
        problems.append(f"Slack alerts named {sorted(named)}, expected only {BROKEN!r}")
    return problems


def render(result: FleetResult, command: str, load: tuple[float, float]) -> str:
    m = machine()
    runs = ", ".join(f"`{d}` {s:.1f} s" for d, s in result.run_s.items())
    medians = ", ".join(f"`{d}` {s:.2f} s" for d, s in result.mapped_task_s.items())
    n, slots, workers = result.databases, result.pool_slots, result.worker_concurrency
    mapped = n * sum(len(steps) for steps in STEPS.values())
    return f"""{SECTION}

What: one run of `mysql_health_check` and one of `mysql_daily_maintenance`, triggered together,
each mapping its task group `maintain` (its steps: health check; index analysis, statistics,
cleanup, backup) over {n} databases ({n - 1} schemas on
the shared MariaDB, each its own `AIRFLOW_CONN_*` connection and `databases:` entry, plus one
whose connection points at a closed port), under a native Celery stack (scheduler,
dag-processor, triggerer, api-server, one Celery worker on the `maintenance` queue with
concurrency {workers}, Redis broker, Postgres metadata database). Heavy tasks run in
the `mysql_maintenance` pool with {slots} slots (the heavy steps: cleanup, backup; the cheap
ones run in `default_pool`). Scenario: `tests/e2e/fleet.py` (the one
`tests/e2e/test_fleet.py` asserts on).

- Machine: {m["nproc"]} CPUs (`nproc`), {m["memory"]} memory, {m["cpu"]}
- Command: `{command}`
- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC
- Load average (1 min): {load[0]:.2f} before, {load[1]:.2f} after (the machine is shared).

| Measure | Value |
|---|--:|
| wall time, first trigger to the end of both runs ({mapped} mapped + 4) | {result.wall_s:.1f} s |
| each run's own duration | {runs} |
| median time per database (its steps summed) | {medians} |
| max tasks running at once, pool's running slots every 0.5 s | {result.max_running_sampled} |
| max tasks running at once, from task start/end times | {result.max_running_intervals} |
| pool slots / worker concurrency | {slots} / {workers} |
| stack start-up (not in the wall time) | {result.startup_s:.1f} s |

The pool, not the worker ({workers} processes), set the limit: never more than
{slots} tasks ran at once. The broken database failed only its own first step in each
run, its later steps never ran (the other {n - 1} succeeded); each run's `report` then failed
naming it, and the only database any Slack alert named was `{BROKEN}`.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--databases", type=int, default=50)
    parser.add_argument("--pool-slots", type=int, default=3)
    parser.add_argument("--worker-concurrency", type=int, default=6)
    args = parser.parse_args()
    command = ".venv/bin/python bench/fleet.py" + (" --write" if args.write else "")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mmc-fleet-") as work:
        result = run_fleet(
            Path(work),
            databases=args.databases,
            pool_slots=args.pool_slots,
            worker_concurrency=args.worker_concurrency,
        )
    text = render(result, command, (load_before, os.getloadavg()[0]))
    print(text)
    problems = check(result)
    if problems:
        print("not as expected, nothing written:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    if args.write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

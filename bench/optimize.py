# ruff: noqa: S608 - SQL here is built from the benchmark's own constants
"""Benchmark: our online rebuild vs OPTIMIZE TABLE vs pt-online-schema-change, under traffic.

Run it from the repository root (needs mariadbd and percona-toolkit)::

    .venv/bin/python bench/optimize.py                     # 1,000,000 rows, print Markdown
    .venv/bin/python bench/optimize.py --rows 200000       # a quick, smaller run
    .venv/bin/python bench/optimize.py --write             # also update docs/benchmarks.md

Everything happens on a private MariaDB (``MySQLInstance``). Before each method the table is
built afresh (``--rows`` rows, then half of them deleted at random, so the free space sits in
half-empty pages) while the probe (``benchlib.Probe``, shared with ``bench/cleanup.py``: open
loop, ``--probe-rate`` ops/s through a pool of 16 connections, timed from each operation's
scheduled start) reads and updates random rows of the same table. Two scenarios: a quiet
server, and the MDL scenario where a session opened a transaction that read the table
``--hold`` seconds before the method starts and keeps it open.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import benchlib
from benchlib import DOC, ROOT, Probe, ProbeStats, ProbeTarget, root_option_file, write_section
from cleanup import DirectSession

sys.path.insert(0, str(ROOT / "plugins"))

from maintenance_ops.fragmentation import collect, estimate  # noqa: E402
from maintenance_ops.instance import InstanceSpec, MySQLInstance  # noqa: E402
from maintenance_ops.rebuild import Candidate, RetryPolicy, plan_rebuilds, rebuild_many  # noqa: E402
from maintenance_ops.throttle import Limits, Throttle  # noqa: E402

SECTION = "## Online rebuild (issue 5)"
DB = "bench"


@dataclass
class Outcome:
    """One method's measurement."""

    scenario: str
    method: str
    seconds: float
    before_mib: float
    after_mib: float
    reclaimed_mib: float
    probe: ProbeStats
    note: str = ""


class NullAudit:
    """The audit log's interface without a history store (the bench measures the rebuild)."""

    @contextmanager
    def action(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        yield SimpleNamespace(rows=None, outcome="ok", details={})


def fresh_table(inst: MySQLInstance, rows: int) -> None:
    """(Re)create ``bench.events`` with ``rows`` rows and delete half of them at random."""
    inst.execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
    inst.execute(f"DROP TABLE IF EXISTS {DB}.events")
    inst.execute(
        f"CREATE TABLE {DB}.events (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
        "created DATETIME NOT NULL, account_id INT NOT NULL, status VARCHAR(16) NOT NULL, "
        "payload VARCHAR(200) NOT NULL, KEY by_created (created)) ENGINE=InnoDB"
    )
    step = 250_000
    for start in range(1, rows + 1, step):
        end = min(start + step - 1, rows)
        inst.execute(
            f"INSERT INTO {DB}.events SELECT seq, '2024-01-01' + INTERVAL seq SECOND, "
            "seq MOD 9973, ELT(1 + seq MOD 3, 'new', 'paid', 'shipped'), REPEAT(MD5(seq), 3) "
            f"FROM {DB}.seq_{start}_to_{end}"
        )
    inst.execute(f"DELETE FROM {DB}.events WHERE RAND(7) < 0.5")
    inst.execute(f"ANALYZE TABLE {DB}.events")


def file_size(inst: MySQLInstance) -> int:
    rows = inst.execute(
        "SELECT FILE_SIZE FROM information_schema.INNODB_SYS_TABLESPACES WHERE NAME = %s",
        (f"{DB}/events",),
    )
    return int(rows[0][0])


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------


def ours(inst: MySQLInstance) -> str:
    with DirectSession(inst) as session:
        est = estimate(collect(session, DB)[0])
        throttle = Throttle(session, Limits(max_threads_running=50), budget_s=600)
        plan = plan_rebuilds(
            [Candidate(DB, "events", est.size_bytes, est.reclaimable_bytes)], {}, 600
        )
        (result,) = rebuild_many(
            session,
            plan,
            audit=NullAudit(),
            database_name="bench",
            throttle=throttle,
            retry=RetryPolicy(max_attempts=120, wait_s=1.0),
            max_trx_age_s=1,
            lock_wait_timeout_s=1,
        )
    assert result.status == "rebuilt", result
    return (
        f"estimated {est.reclaimable_bytes / 2**20:.0f} MiB reclaimable; "
        f"{result.attempts} attempt(s)"
    )


def optimize(inst: MySQLInstance) -> str:
    rows = inst.execute(f"OPTIMIZE TABLE {DB}.events")
    return "; ".join(str(r[3]) for r in rows if r[3] != "OK")[:120]


def plain_alter(inst: MySQLInstance) -> str:
    """The online ALTER alone, without our guard: what a DBA would type by hand."""
    inst.execute(f"ALTER TABLE {DB}.events FORCE, ALGORITHM=INPLACE, LOCK=NONE")
    return ""


def pt_osc(inst: MySQLInstance) -> str:
    cmd = [
        "pt-online-schema-change",
        "--alter",
        "ENGINE=InnoDB",
        "--execute",
        "--recursion-method=none",
        "--no-check-alter",
        f"F={root_option_file(inst)},S={inst.socket},D={DB},t=events",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pt-online-schema-change failed: {done.stderr[-500:]}")
    return ""


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def hold_transaction(inst: MySQLInstance, seconds: float, opened: threading.Event) -> None:
    """Open a transaction that reads the table and keep it open for ``seconds``."""
    conn = inst.connect(DB)
    cur = conn.cursor()
    cur.execute("BEGIN")
    cur.execute("SELECT COUNT(*) FROM events WHERE id < 100")
    cur.fetchall()
    opened.set()
    time.sleep(seconds)
    conn.rollback()
    conn.close()


def measure(
    inst: MySQLInstance, args: argparse.Namespace, scenario: str, method: str, action: Callable
) -> Outcome:
    """Run ``action`` on a fresh fragmented table under the probe (and the holder, if MDL)."""
    fresh_table(inst, args.rows)
    before = file_size(inst)
    target = ProbeTarget("events", "id", "payload", 1, args.rows)
    holder = None
    # The MDL scenario's transaction opens 2 s before the method (the probe settles first).
    settle = 0.0 if scenario == "mdl" else 1.0
    with Probe(inst, DB, target, rate=args.probe_rate, pool=args.probe_pool, settle_s=settle) as p:
        if scenario == "mdl":
            opened = threading.Event()
            holder = threading.Thread(target=hold_transaction, args=(inst, args.hold, opened))
            holder.start()
            opened.wait(10)
            time.sleep(2.0)  # the transaction is a few seconds old when maintenance starts
        started = time.monotonic()
        note = action(inst)
        seconds = time.monotonic() - started
        if holder is not None:
            holder.join()
    assert p.stats is not None
    if p.stats.errors:
        note = f"{note + '; ' if note else ''}probe errors: {p.stats.errors}"
    after = file_size(inst)
    return Outcome(
        scenario,
        method,
        round(seconds, 2),
        round(before / 2**20, 1),
        round(after / 2**20, 1),
        round((before - after) / 2**20, 1),
        p.stats,
        note or "",
    )


def run(inst: MySQLInstance, args: argparse.Namespace) -> list[Outcome]:
    methods: list[tuple[str, str, Callable]] = [
        ("quiet", "ours: ALTER TABLE ... FORCE, ALGORITHM=INPLACE, LOCK=NONE + guard", ours),
        ("quiet", "plain ALTER TABLE ... FORCE, ALGORITHM=INPLACE, LOCK=NONE", plain_alter),
        ("quiet", "OPTIMIZE TABLE", optimize),
        ("quiet", 'pt-online-schema-change --alter "ENGINE=InnoDB"', pt_osc),
        ("mdl", "ours (guard, lock_wait_timeout=1, retried)", ours),
        ("mdl", "plain online ALTER (no guard)", plain_alter),
        ("mdl", "OPTIMIZE TABLE", optimize),
    ]
    results = []
    for scenario, name, action in methods:
        print(f"{scenario}: {name} ...", file=sys.stderr, flush=True)
        result = measure(inst, args, scenario, name, action)
        print(f"  {json.dumps(asdict(result))}", file=sys.stderr, flush=True)
        results.append(result)
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def table(results: list[Outcome]) -> str:
    lines = [
        "| Method | Seconds | File before → after MiB | Reclaimed MiB | "
        f"{benchlib.PROBE_COLUMNS} | Note |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.method} | {r.seconds} | {r.before_mib} → {r.after_mib} | {r.reclaimed_mib} | "
            f"{benchlib.probe_cells(r.probe)} | {r.note} |"
        )
    return "\n".join(lines)


def pt_version() -> str:
    out = subprocess.run(
        ["pt-online-schema-change", "--version"], capture_output=True, text=True, check=False
    ).stdout
    return out.strip().split()[-1] if out.strip() else "?"


def report(args: argparse.Namespace, version: str, results: list[Outcome]) -> str:
    command = " ".join([".venv/bin/python", "bench/optimize.py", *sys.argv[1:]])
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    m = benchlib.machine()
    host = f"{m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, {m['system']}"
    quiet = [r for r in results if r.scenario == "quiet"]
    mdl = [r for r in results if r.scenario == "mdl"]
    probe = benchlib.PROBE_DESCRIPTION.format(rate=args.probe_rate, pool=args.probe_pool)
    return f"""{SECTION}

Written by `bench/optimize.py` on {when}; machine: {host}; server: private MariaDB {version}
(`MySQLInstance`, 1 GiB buffer pool, 512 MiB redo log, binlog off); pt-online-schema-change
{pt_version()}. Command: `{command}`.

Each method starts from a freshly built table of {args.rows:,} rows (indexes on `id` (PK) and
`created`) of which half were then deleted at random, so most free space sits in half-empty
pages. While each method runs, {probe}.
"Ours" is `rebuild_many` with the metadata-lock guard (no transaction older than 1 s, no MDL
waiters), the DDL's `lock_wait_timeout=1` and retries every 1 s. pt-online-schema-change runs
with `--recursion-method=none --no-check-alter`.

### Quiet server

{table(quiet)}

### MDL scenario: a transaction that read the table stays open {args.hold:g} s

The transaction opens 2 s before the method starts. Every probe operation due while the
application is blocked counts: "ops > 1 s" is how many operations waited over a second, "max ms"
how long the longest waited.

{table(mdl)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows before the delete")
    parser.add_argument("--probe-rate", type=float, default=benchlib.PROBE_RATE, help="probe ops/s")
    parser.add_argument(
        "--probe-pool", type=int, default=benchlib.PROBE_POOL, help="probe connections"
    )
    parser.add_argument("--hold", type=float, default=20.0, help="open transaction, seconds")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    if not shutil.which("pt-online-schema-change"):
        sys.exit("pt-online-schema-change not found: apt-get install -y percona-toolkit")
    spec = InstanceSpec(
        innodb_buffer_pool_size="1G",
        extra_args=("--innodb-log-file-size=512M",),
        startup_timeout_s=120,
    )
    with MySQLInstance(spec) as inst:
        results = run(inst, args)
        text = report(args, inst.version, results)
    print(text)
    if args.write:
        write_section(SECTION, text)
        print(f"wrote {SECTION!r} in {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()

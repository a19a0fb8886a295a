# ruff: noqa: S608 - SQL here is built from the benchmark's own constants
"""Benchmark: retention cleanup against pt-archiver and a naive DELETE, under live traffic.

Run it from the repository root (needs mariadbd and percona-toolkit's pt-archiver)::

    .venv/bin/python bench/cleanup.py                      # 2,000,000 rows, print Markdown
    .venv/bin/python bench/cleanup.py --rows 200000        # a quick, smaller run
    .venv/bin/python bench/cleanup.py --write              # also update docs/benchmarks.md

Everything happens in one run on a private MariaDB (``MySQLInstance``: own datadir and port,
1 GiB buffer pool), never on a shared server. The data is generated once (``--rows`` rows, one
per second, ``--expired`` of them older than the cutoff) into a template table, and every method
starts from an identical copy of it. While a method runs, a separate process (the *probe*) does
point reads and single-row updates of live rows of the same table at ``--probe-rate`` ops/s;
each operation's latency is its own service time.

Delete mode: our cleanup (``run_cleanup_rule``), ``pt-archiver --purge --bulk-delete --limit
1000 --commit-each``, one ``DELETE ... WHERE created < cutoff``. Archive mode (``--archive-rows``
rows): our cleanup in archive mode, ``pt-archiver --dest --limit 1000 --commit-each`` and
``pt-archiver --dest --bulk-insert --bulk-delete --limit 1000 --commit-each``; each is checked:
source before == after + archived, no duplicate in the archive, archived rows equal to the
source's expired rows (count and checksum).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from benchlib import DOC, ROOT, machine, root_option_file, write_section

sys.path.insert(0, str(ROOT / "plugins"))

from maintenance_ops.cleanup import run_cleanup_rule  # noqa: E402
from maintenance_ops.config import CleanupRule, MaintenanceSettings  # noqa: E402
from maintenance_ops.dialect import Dialect, parse_version  # noqa: E402
from maintenance_ops.instance import InstanceSpec, MySQLInstance  # noqa: E402
from maintenance_ops.session import MaintenanceSession  # noqa: E402
from maintenance_ops.throttle import Limits, Throttle  # noqa: E402

SECTION = "## Retention cleanup (issue 4)"
DB = "bench"
BASE = datetime(2024, 1, 1)
CHUNK = 1000


@dataclass
class Outcome:
    """One method's measurement."""

    mode: str
    method: str
    rows: int
    seconds: float
    rows_per_s: float
    probe_ops: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    over_1s: int
    check: str = ""


class DirectSession(MaintenanceSession):
    """A maintenance session on the private server's socket (no Airflow connection needed)."""

    def __init__(self, inst: MySQLInstance) -> None:
        super().__init__("bench", MaintenanceSettings(), database_name="bench")
        self.inst = inst

    def open(self) -> None:
        self.conn = self.inst.connect(DB)
        self.conn.autocommit(True)
        self.dialect = Dialect(parse_version(self.query_one("SELECT VERSION() AS v")["v"]))
        self.execute("SET SESSION innodb_lock_wait_timeout = 5, lock_wait_timeout = 5")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

TABLE_DDL = (
    "CREATE TABLE {name} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
    "created DATETIME NOT NULL, account_id INT NOT NULL, status VARCHAR(16) NOT NULL, "
    "payload VARCHAR(200) NOT NULL, KEY by_created (created)) ENGINE=InnoDB"
)


def generate(inst: MySQLInstance, rows: int) -> None:
    """Create ``bench.template`` with ``rows`` rows, one per second from BASE."""
    inst.execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
    inst.execute(f"DROP TABLE IF EXISTS {DB}.template")
    inst.execute(TABLE_DDL.format(name=f"{DB}.template"))
    step = 250_000
    for start in range(1, rows + 1, step):
        end = min(start + step - 1, rows)
        inst.execute(
            f"INSERT INTO {DB}.template SELECT seq, %s + INTERVAL seq SECOND, seq MOD 9973, "
            f"ELT(1 + seq MOD 3, 'new', 'paid', 'shipped'), REPEAT(MD5(seq), 3) "
            f"FROM {DB}.seq_{start}_to_{end}",
            (BASE,),
        )


def fresh_table(inst: MySQLInstance, rows: int) -> None:
    """(Re)create ``bench.events`` as a copy of the first ``rows`` template rows."""
    for table in ("events", "events_archive"):
        inst.execute(f"DROP TABLE IF EXISTS {DB}.{table}")
    inst.execute(TABLE_DDL.format(name=f"{DB}.events"))
    inst.execute(f"INSERT INTO {DB}.events SELECT * FROM {DB}.template WHERE id <= %s", (rows,))
    inst.execute(f"ANALYZE TABLE {DB}.events")


# --------------------------------------------------------------------------------------------
# The probe: live traffic on the same table
# --------------------------------------------------------------------------------------------


def probe(
    socket: str,
    password: str,
    first_live: int,
    last_live: int,
    rate: float,
    ready: Any,
    stop: Any,
    out: Any,
) -> None:
    """Read and update random live rows at ``rate`` ops/s until ``stop``; send latencies."""
    import random

    import MySQLdb

    conn = MySQLdb.connect(unix_socket=socket, user="root", passwd=password, db=DB)
    conn.autocommit(True)
    cur = conn.cursor()
    ready.set()
    rng = random.Random(7)
    latencies: list[float] = []
    started = time.monotonic()
    i = 0
    while not stop.is_set():
        due = started + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        row = rng.randint(first_live, last_live)
        began = time.monotonic()
        if i % 2:
            cur.execute("UPDATE events SET payload = CONCAT('p', %s) WHERE id = %s", (i, row))
        else:
            cur.execute("SELECT * FROM events WHERE id = %s", (row,))
            cur.fetchall()
        # Service time of the operation: what an application request waits for. (From "due"
        # would measure this one connection's backlog once the server is merely busy.)
        latencies.append(time.monotonic() - began)
        i += 1
    conn.close()
    out.put(latencies)


def measure(inst: MySQLInstance, args: argparse.Namespace, rows: int, action: Any) -> tuple:
    """Run ``action()`` under the probe; return (seconds, latencies, action's return)."""
    expired = int(rows * args.expired)
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(
        target=probe,
        args=(inst.socket, inst.password, expired + 2, rows, args.probe_rate, ready, stop, out),
    )
    proc.start()
    if not ready.wait(60):
        raise RuntimeError("the probe did not connect within 60s")
    time.sleep(1.0)  # the probe is steady before the method starts
    started = time.monotonic()
    value = action()
    seconds = time.monotonic() - started
    time.sleep(0.5)
    stop.set()
    latencies = out.get(timeout=60)
    proc.join()
    return seconds, latencies, value


def outcome(mode: str, method: str, removed: int, seconds: float, lat: list[float]) -> Outcome:
    ordered = sorted(lat) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Outcome(
        mode,
        method,
        removed,
        round(seconds, 2),
        round(removed / seconds, 0),
        len(lat),
        round(statistics.median(ordered) * 1000, 2),
        round(p99 * 1000, 2),
        round(ordered[-1] * 1000, 1),
        sum(1 for x in lat if x > 1.0),
    )


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------


def ours(inst: MySQLInstance, cutoff: datetime, mode: str, chunk: int) -> int:
    rule = CleanupRule(
        name="events",
        table="events",
        date_column="created",
        retention_days=1,
        cleanup_type=mode,  # type: ignore[arg-type]
    )
    with DirectSession(inst) as session:
        throttle = Throttle(session, Limits(max_threads_running=50))
        result = run_cleanup_rule(
            session,
            rule,
            schema=DB,
            cutoff=cutoff,
            database_name="bench",
            throttle=throttle,
            chunk_size=chunk,
        )
    assert result.status == "ok", result
    return result.rows_deleted


def pt_archiver(inst: MySQLInstance, cutoff: datetime, extra: list[str]) -> int:
    before = count(inst, "events")
    where = f"created < '{cutoff:%Y-%m-%d %H:%M:%S}'"
    cmd = [
        "pt-archiver",
        "--source",
        f"F={root_option_file(inst)},S={inst.socket},D={DB},t=events",
        "--where",
        where,
        "--no-check-charset",
        *extra,
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return before - count(inst, "events")


def naive(inst: MySQLInstance, cutoff: datetime) -> int:
    conn = inst.connect(DB)
    conn.autocommit(True)
    cur = conn.cursor()
    removed = cur.execute("DELETE FROM events WHERE created < %s", (cutoff,))
    conn.close()
    return int(removed)


def count(inst: MySQLInstance, table: str, where: str = "1=1") -> int:
    return int(inst.execute(f"SELECT COUNT(*) FROM {DB}.{table} WHERE {where}")[0][0])


def checksum(inst: MySQLInstance, table: str, where: str = "1=1") -> tuple:
    return inst.execute(
        f"SELECT COUNT(*), BIT_XOR(CRC32(CONCAT_WS('#', id, created, account_id, status, "
        f"payload))) FROM {DB}.{table} WHERE {where}"
    )[0]


def verify_archive(inst: MySQLInstance, rows: int, cutoff: datetime) -> str:
    """Check before == after + archived, no duplicates, archived == the source's rows.

    Archived rows are compared with the same ids' rows of the template (the untouched source)
    by count and checksum; a method stopped by a run-time cap archives only part of them.
    """
    after, archived = count(inst, "events"), count(inst, "events_archive")
    distinct = int(inst.execute(f"SELECT COUNT(DISTINCT id) FROM {DB}.events_archive")[0][0])
    too_new = count(inst, "events_archive", f"created >= '{cutoff:%Y-%m-%d %H:%M:%S}'")
    source = inst.execute(
        f"SELECT COUNT(*), BIT_XOR(CRC32(CONCAT_WS('#', t.id, t.created, t.account_id, "
        f"t.status, t.payload))) FROM {DB}.template AS t JOIN {DB}.events_archive AS a "
        "ON a.id = t.id"
    )[0]
    same = checksum(inst, "events_archive") == source
    expired = count(inst, "template", f"created < '{cutoff:%Y-%m-%d %H:%M:%S}' AND id <= {rows}")
    ok = rows == after + archived and distinct == archived and same and not too_new
    part = "" if archived == expired else f" (partial: {archived:,} of {expired:,} expired)"
    return (
        f"{'ok' if ok else 'FAILED'}: {rows:,} = {after:,} + {archived:,}, "
        f"{'no' if distinct == archived else archived - distinct} duplicates, "
        f"content {'equal' if same else 'DIFFERENT'}, {too_new} unexpired archived{part}"
    )


def run_mode(inst: MySQLInstance, args: argparse.Namespace, mode: str) -> list[Outcome]:
    rows = args.rows if mode == "delete" else args.archive_rows
    cutoff = BASE + timedelta(seconds=int(rows * args.expired) + 1)
    pt_base = ["--limit", str(CHUNK), "--commit-each", "--statistics", "--quiet"]
    dest = ["--dest", f"F={root_option_file(inst)},S={inst.socket},D={DB},t=events_archive"]
    methods: list[tuple[str, Any]] = [
        (f"ours (chunk {args.chunk})", lambda: ours(inst, cutoff, mode, args.chunk)),
    ]
    if mode == "delete":
        methods += [
            (
                "pt-archiver --purge --bulk-delete --limit 1000 --commit-each",
                lambda: pt_archiver(inst, cutoff, ["--purge", "--bulk-delete", *pt_base]),
            ),
            ("naive single DELETE", lambda: naive(inst, cutoff)),
        ]
    else:
        methods += [
            (
                f"pt-archiver --dest --limit 1000 --commit-each (--run-time {args.pt_run_time}s)",
                lambda: pt_archiver(
                    inst, cutoff, [*dest, *pt_base, "--run-time", f"{args.pt_run_time}s"]
                ),
            ),
            (
                "pt-archiver --dest --bulk-insert --bulk-delete --limit 1000 --commit-each",
                lambda: pt_archiver(
                    inst, cutoff, [*dest, "--bulk-insert", "--bulk-delete", *pt_base]
                ),
            ),
        ]
    results = []
    for name, action in methods:
        fresh_table(inst, rows)
        if mode == "archive" and name.startswith("pt-"):
            inst.execute(f"CREATE TABLE {DB}.events_archive LIKE {DB}.events")
        print(f"{mode}: {name} ...", file=sys.stderr, flush=True)
        seconds, lat, removed = measure(inst, args, rows, action)
        result = outcome(mode, name, removed, seconds, lat)
        if mode == "archive":
            result.check = verify_archive(inst, rows, cutoff)
        print(f"  {json.dumps(asdict(result))}", file=sys.stderr, flush=True)
        results.append(result)
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def table(results: list[Outcome]) -> str:
    lines = [
        "| Method | Rows | Seconds | Rows/s | Probe ops | p50 ms | p99 ms | max ms | ops > 1 s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        lines.append(
            f"| {r.method} | {r.rows:,} | {r.seconds} | {r.rows_per_s:,.0f} | {r.probe_ops:,} | "
            f"{r.p50_ms} | {r.p99_ms} | {r.max_ms} | {r.over_1s} |"
        )
    return "\n".join(lines)


def verdict(results: list[Outcome], mode: str) -> str:
    mine = results[0]
    pts = [r for r in results if r.method.startswith("pt-")]
    best = max(pts, key=lambda r: r.rows_per_s)
    ratio = mine.rows_per_s / best.rows_per_s
    return (
        f"Ours vs pt-archiver's best ({best.method.removeprefix('pt-archiver ')}): "
        f"{ratio:.2f}x rows/s (goal >= 1.3x: {'met' if ratio >= 1.3 else 'NOT met'}); probe p99 "
        f"{mine.p99_ms} ms vs {best.p99_ms} ms (goal no worse: "
        f"{'met' if mine.p99_ms <= best.p99_ms else 'NOT met'}); probe ops over 1 s: "
        f"{mine.over_1s} (goal 0: {'met' if mine.over_1s == 0 else 'NOT met'})."
    )


def report(args: argparse.Namespace, version: str, deletes: list, archives: list) -> str:
    command = "  ".join(["$", ".venv/bin/python", "bench/cleanup.py", *sys.argv[1:]])
    checks = "\n".join(f"- {r.method}: {r.check}" for r in archives)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    m = machine()
    host = f"{m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, {m['system']}"
    return f"""{SECTION}

Written by `bench/cleanup.py` on {when}; machine: {host}; server: private MariaDB
{version} (`MySQLInstance`, 1 GiB buffer pool, 512 MiB redo log, binlog off); pt-archiver
{pt_version()}. Command: `{command.replace("$  ", "")}`.

Each method starts from an identical copy of the same generated table (one row per second,
{args.expired:.0%} older than the cutoff; indexes on `id` (PK) and `created`) while a separate
process reads and updates random live rows of that table at up to {args.probe_rate:g} ops/s
(one connection, paced; latency is each operation's service time; "Probe ops" is how many it
completed, across the method's run plus 1.5 s). Ours runs with chunk size {args.chunk}, the
throttle on (`Threads_running` < 50), and the session's 5 s lock wait timeouts.

### Delete ({args.rows:,} rows, {int(args.rows * args.expired):,} expired)

{table(deletes)}

{verdict(deletes, "delete")}

### Archive ({args.archive_rows:,} rows, {int(args.archive_rows * args.expired):,} expired)

{table(archives)}

{verdict(archives, "archive")}

Checks (source before == after + archived, no duplicates, archived rows equal to the
source's expired rows by count and CRC32 checksum):
{checks}
"""


def pt_version() -> str:
    if not shutil.which("pt-archiver"):
        return "(missing)"
    out = subprocess.run(["pt-archiver", "--version"], capture_output=True, text=True).stdout
    return out.strip().split()[-1] if out.strip() else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows in delete mode")
    parser.add_argument("--archive-rows", type=int, default=700_000, help="rows in archive mode")
    parser.add_argument("--expired", type=float, default=0.6, help="share older than cutoff")
    parser.add_argument("--probe-rate", type=float, default=200.0, help="probe ops per second")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="our chunk size")
    parser.add_argument(
        "--pt-run-time",
        type=int,
        default=60,
        help="cap (s) on the row-by-row pt-archiver --dest run: its rate is steady and slow",
    )
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    if not shutil.which("pt-archiver"):
        sys.exit("pt-archiver not found: apt-get install -y percona-toolkit")
    spec = InstanceSpec(
        innodb_buffer_pool_size="1G",
        extra_args=("--innodb-log-file-size=512M",),
        startup_timeout_s=120,
    )
    with MySQLInstance(spec) as inst:
        print(f"generating {max(args.rows, args.archive_rows):,} rows ...", file=sys.stderr)
        generate(inst, max(args.rows, args.archive_rows))
        deletes = run_mode(inst, args, "delete")
        archives = run_mode(inst, args, "archive")
        text = report(args, inst.version, deletes, archives)
    print(text)
    if args.write:
        write_section(SECTION, text)
        print(f"wrote {SECTION!r} in {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()

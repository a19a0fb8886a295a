"""Helpers shared by the benchmark scripts under ``bench/``.

The scripts are run as ``.venv/bin/python bench/<name>.py``, so this directory is on
``sys.path`` and they import it as ``from benchlib import ...``.
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
DOC_HEADER = """# Benchmarks

Each section is written by a script under `bench/`: what was measured, on which machine, with
which command and when. Re-run the command to refresh a section; the others are left alone.
"""


def machine() -> dict[str, str]:
    """Describe the machine: CPUs (``nproc``), memory, CPU model and operating system."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        cpuinfo = meminfo = ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem_kb = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "memory": f"{int(mem_kb[1]) / 1024**2:.1f} GiB" if mem_kb else "?",
        "cpu": model[1].strip() if model else platform.processor() or "?",
        "system": platform.system(),
    }


def write_section(section: str, text: str, doc: Path = DOC) -> None:
    """Replace (or append) ``section`` in ``doc`` with ``text``, leaving other sections alone.

    ``section`` is the section's heading line (``## ...``) and ``text`` the whole section,
    heading included. A missing ``doc`` starts from ``DOC_HEADER``.
    """
    content = doc.read_text(encoding="utf-8") if doc.exists() else DOC_HEADER
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.M | re.S)
    block = text.rstrip("\n") + "\n"
    if pattern.search(content):
        content = pattern.sub(lambda _: block + "\n", content, count=1).rstrip("\n") + "\n"
    else:
        content = content.rstrip("\n") + "\n\n" + block
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(content, encoding="utf-8")


def root_option_file(inst: object) -> Path:
    """Write a private (0600) option file for root of a private server; return its path.

    Private servers have a random root password: the tools the benchmarks compare against
    (pt-*, the clients, myloader) read it from here (``--defaults-file``, DSN ``F=``), never
    from their command line. It lives in the instance's folder and goes with it.
    """
    from maintenance_ops.core.pipes import option_file

    path = Path(inst.dir) / "bench-root.cnf"  # type: ignore[attr-defined]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            option_file(
                {"user": inst.user, "password": inst.password},  # type: ignore[attr-defined]
                ("client", "myloader"),
            )
        )
    return path


# --------------------------------------------------------------------------------------------
# The probe: open-loop application traffic, timed from each operation's scheduled start
# --------------------------------------------------------------------------------------------

PROBE_RATE = 200.0
SLOW_S = 0.1  # operations slower than this are also kept with their due time
PROBE_POOL = 16
SELECT_SHARE = 7  # of every 10 operations; the other 3 are single-row UPDATEs


@dataclass(frozen=True)
class ProbeTarget:
    """The live rows the probe reads and updates: ones the measured maintenance never touches.

    Rows are numbered ``first..last``; row ``n``'s key is ``n`` (``key_kind="int"``) or
    ``SHA1(n)`` as the server computes it on the decimal string (``"sha1"``: random keys).
    The UPDATE rewrites the first 10 characters of ``data_column`` (the row keeps its size).
    """

    table: str
    key_column: str
    data_column: str
    first: int
    last: int
    key_kind: Literal["int", "sha1"] = "int"

    def key(self, n: int) -> int | str:
        """Return row ``n``'s primary key value."""
        return hashlib.sha1(str(n).encode()).hexdigest() if self.key_kind == "sha1" else n

    def statement(self, i: int, n: int) -> tuple[str, tuple[Any, ...]]:
        """Return operation ``i``'s statement on row ``n``: 7 in 10 SELECT, 3 in 10 UPDATE."""
        if i % 10 < SELECT_SHARE:
            sql = f"SELECT * FROM {self.table} WHERE {self.key_column} = %s"  # noqa: S608
            return sql, (self.key(n),)
        col = self.data_column  # names: the benchmark's own constants
        sql = (
            f"UPDATE {self.table} SET {col} = CONCAT(LPAD(%s, 10, '0'), "  # noqa: S608
            f"SUBSTRING({col}, 11)) WHERE {self.key_column} = %s"
        )
        return sql, (i % 10**10, self.key(n))


class OpenLoop:
    """Operation ``i`` is due at ``start + i / rate``, whether earlier ones finished or not.

    Workers (one per pooled connection) claim the next operation, wait for its due time if it
    is still ahead, run it, and record its latency from the *due* time: when every worker is
    stuck, the operations due meanwhile wait for one and each counts its wait (no coordinated
    omission). After :meth:`stop` at ``t``, operations due before ``t`` still run and count.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"probe rate must be > 0 ops/s (got {rate})")
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.start = clock()
        self.stop_at = math.inf
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.slow: list[tuple[float, float]] = []  # (due, latency) of operations over 100 ms
        self._next = 0
        self._lock = threading.Lock()

    def due(self, i: int) -> float:
        """Return when operation ``i`` is scheduled."""
        return self.start + i / self.rate

    def stop(self, at: float | None = None) -> None:
        """Schedule nothing due at or after ``at`` (default: now)."""
        self.stop_at = self.clock() if at is None else at

    def claim(self) -> tuple[int, float] | None:
        """Return the next operation and its due time, or None once it is due after the stop."""
        with self._lock:
            i = self._next
            if self.due(i) >= self.stop_at:
                return None
            self._next += 1
            return i, self.due(i)

    def worker(
        self, execute: Callable[[int], None], error: type[BaseException] = Exception
    ) -> None:
        """Run claimed operations with ``execute(i)`` until the stop; record each latency."""
        while (claimed := self.claim()) is not None:
            i, due = claimed
            wait = due - self.clock()
            if wait > 0:
                self.sleep(wait)
            try:
                execute(i)
            except error as exc:  # counted; the application would have seen it
                self.errors.append(str(exc.args[0]) if exc.args else type(exc).__name__)
            latency = self.clock() - due
            self.latencies.append(latency)
            if latency > SLOW_S:
                self.slow.append((due, latency))


@dataclass
class ProbeStats:
    """What the probe saw: operations, latency percentiles from the scheduled start, errors."""

    ops: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    over_100ms: int
    over_1s: int
    errors: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, latencies: Sequence[float], errors: Sequence[str] = ()) -> ProbeStats:
        """Summarise latencies (seconds); percentiles by nearest rank."""
        ordered = sorted(latencies) or [0.0]

        def pct(q: float) -> float:
            return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000, 2)

        return cls(
            ops=len(latencies),
            p50_ms=pct(0.50),
            p99_ms=pct(0.99),
            p999_ms=pct(0.999),
            max_ms=round(ordered[-1] * 1000, 1),
            over_100ms=sum(1 for x in latencies if x > 0.1),
            over_1s=sum(1 for x in latencies if x > 1.0),
            errors={code: list(errors).count(code) for code in sorted(set(errors))},
        )


def stalls(slow: Sequence[tuple[float, float]], origin: float, gap_s: float = 0.5) -> str:
    """Describe when slow operations (``Probe.slow``) were due, grouped into stalls.

    Operations due within ``gap_s`` of each other form one stall; each is shown as its start
    (seconds after ``origin``, a ``time.monotonic()`` value such as the method's start), its
    operation count and its longest wait: ``"at 12.3 s: 47 ops (max 1229 ms)"``.
    """
    groups: list[list[tuple[float, float]]] = []
    for due, latency in sorted(slow):
        if groups and due - groups[-1][-1][0] <= gap_s:
            groups[-1].append((due, latency))
        else:
            groups.append([(due, latency)])
    return "; ".join(
        f"at {g[0][0] - origin:.1f} s: {len(g)} ops (max {max(x for _, x in g) * 1000:.0f} ms)"
        for g in groups
    )


PROBE_COLUMNS = "Probe ops | p50 ms | p99 ms | p99.9 ms | max ms | ops > 100 ms | ops > 1 s"


def probe_cells(stats: ProbeStats) -> str:
    """Return the probe's cells for a Markdown table row (``PROBE_COLUMNS``'s order)."""
    return (
        f"{stats.ops:,} | {stats.p50_ms} | {stats.p99_ms} | {stats.p999_ms} | {stats.max_ms} | "
        f"{stats.over_100ms:,} | {stats.over_1s:,}"
    )


PROBE_DESCRIPTION = (
    "an open-loop probe sends {rate:g} ops/s (7 in 10 primary-key SELECTs, 3 in 10 single-row "
    "UPDATEs of live rows the maintenance does not touch) through a pool of {pool} connections "
    "and times each operation from its *scheduled* start, so a stalled pool shows as every "
    "operation due meanwhile, not as one slow one"
)


def _probe_process(
    socket: str,
    password: str,
    db: str,
    target: ProbeTarget,
    rate: float,
    pool: int,
    ready: Any,
    stop: Any,
    out: Any,
) -> None:
    """The probe's process: ``pool`` connections, one worker thread each, until ``stop``."""
    import random

    import MySQLdb

    conns = [
        MySQLdb.connect(unix_socket=socket, user="root", passwd=password, db=db)
        for _ in range(pool)
    ]
    for conn in conns:
        conn.autocommit(True)
    rng = random.Random(7)
    rows = [rng.randint(target.first, target.last) for _ in range(100_000)]

    def execute_on(cur: Any) -> Callable[[int], None]:
        def execute(i: int) -> None:
            sql, args = target.statement(i, rows[i % len(rows)])
            cur.execute(sql, args)
            cur.fetchall()

        return execute

    loop = OpenLoop(rate)
    threads = [
        threading.Thread(target=loop.worker, args=(execute_on(c.cursor()), MySQLdb.Error))
        for c in conns
    ]
    for thread in threads:
        thread.start()
    ready.set()
    stop.wait()
    loop.stop()
    for thread in threads:
        thread.join()
    for conn in conns:
        conn.close()
    out.put((loop.latencies, loop.errors, loop.slow))


class Probe:
    """Run the probe in its own process against a private server while a block runs.

    ``with Probe(inst, "bench", target) as probe: ...`` starts it, lets it settle
    ``settle_s``, runs the block, goes on ``tail_s`` more, then ``probe.stats`` holds the
    operations of the whole span (the block's duration is the caller's to time).
    """

    def __init__(
        self,
        inst: Any,
        db: str,
        target: ProbeTarget,
        *,
        rate: float = PROBE_RATE,
        pool: int = PROBE_POOL,
        settle_s: float = 1.0,
        tail_s: float = 0.5,
    ) -> None:
        self.args = (inst.socket, inst.password, db, target, rate, pool)
        self.settle_s, self.tail_s = settle_s, tail_s
        self.stats: ProbeStats | None = None
        self.slow: list[tuple[float, float]] = []  # (due on time.monotonic(), latency) > 100 ms

    def __enter__(self) -> Probe:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._ready, self._stop, self._out = ctx.Event(), ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(
            target=_probe_process, args=(*self.args, self._ready, self._stop, self._out)
        )
        self._proc.start()
        deadline = time.monotonic() + 60
        while not self._ready.wait(0.2):
            if not self._proc.is_alive() or time.monotonic() > deadline:
                self._proc.kill()
                raise RuntimeError("the probe did not connect within 60s (see its traceback)")
        time.sleep(self.settle_s)
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            time.sleep(self.tail_s)
        self._stop.set()
        latencies, errors, self.slow = self._out.get(timeout=600)
        self._proc.join()
        self.stats = ProbeStats.of(latencies, errors)

"""bench/benchlib: write_section (one section of docs/benchmarks.md) and the probe's maths."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from benchlib import DOC_HEADER, OpenLoop, ProbeStats, ProbeTarget, write_section  # noqa: E402

ALPHA = "## Alpha\n\nold alpha\n"
BETA = "## Beta (issue 2)\n\nold beta\n"
DOC = f"{DOC_HEADER}\n{ALPHA}\n{BETA}"


@pytest.mark.parametrize(
    ("section", "text", "expected"),
    [
        pytest.param(  # trailing blank lines of the text are dropped
            "## Alpha",
            "## Alpha\n\nnew alpha\nsecond line\n\n\n",
            f"{DOC_HEADER}\n## Alpha\n\nnew alpha\nsecond line\n\n{BETA}",
            id="replace-first-keeps-the-next",
        ),
        pytest.param(
            "## Beta (issue 2)",
            "## Beta (issue 2)\n\nnew beta",
            f"{DOC_HEADER}\n{ALPHA}\n## Beta (issue 2)\n\nnew beta\n",
            id="replace-last-keeps-the-previous",
        ),
        pytest.param(  # a prefix of an existing title is another section
            "## Alph",
            "## Alph\n\ngamma\n",
            f"{DOC}\n## Alph\n\ngamma\n",
            id="append-new",
        ),
    ],
)
def test_write_section(tmp_path: Path, section: str, text: str, expected: str) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC, encoding="utf-8")
    write_section(section, text, doc=doc)
    assert doc.read_text(encoding="utf-8") == expected


def test_a_missing_doc_starts_from_the_header(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "benchmarks.md"
    write_section("## Alpha", "## Alpha\n\nalpha\n", doc=doc)
    assert doc.read_text(encoding="utf-8") == f"{DOC_HEADER}\n## Alpha\n\nalpha\n"


class FakeTime:
    """A clock that only moves when the probe sleeps or an operation runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _run_one_worker(stall_s: float, stall_op: int = 100) -> OpenLoop:
    """200 ops/s for 3 s on one worker: every op takes 1 ms but ``stall_op`` takes ``stall_s``."""
    fake = FakeTime()
    loop = OpenLoop(200.0, clock=fake.clock, sleep=fake.sleep)
    loop.stop(at=3.0)

    def execute(i: int) -> None:
        fake.now += stall_s if i == stall_op else 0.001

    loop.worker(execute)
    return loop


def test_a_stalled_operation_makes_the_following_scheduled_ones_late() -> None:
    loop = _run_one_worker(1.21)
    # Op 100 (due at 0.5 s) ends at 1.71 s. Op 100+m was due at 0.5 + 0.005m and ends at
    # 1.71 + 0.001m: late by 1.21 - 0.004m until the worker catches up (m = 302).
    stats = ProbeStats.of(loop.latencies, loop.errors)
    assert stats.ops == 600  # every op due before the stop ran and counted
    assert stats.over_1s == 53  # m = 0..52, not 1 (the stalled op alone)
    assert stats.over_100ms == 278  # m = 0..277
    assert stats.max_ms == 1210.0
    assert stats.p50_ms == 10.0  # half the run was late: the median is m = 300's 10 ms
    assert loop.latencies[100 + 302] > 0.001 and loop.latencies[100 + 304] == pytest.approx(0.001)


def test_without_a_stall_every_operation_counts_its_own_time() -> None:
    stats = ProbeStats.of(_run_one_worker(0.001).latencies)
    assert (stats.ops, stats.over_100ms, stats.over_1s, stats.max_ms) == (600, 0, 0, 1.0)


def test_operations_due_after_the_stop_are_not_run() -> None:
    fake = FakeTime()
    loop = OpenLoop(100.0, clock=fake.clock, sleep=fake.sleep)
    ran: list[int] = []
    loop.stop(at=0.05)
    loop.worker(ran.append)
    assert ran == [0, 1, 2, 3, 4]


def test_errors_are_counted_and_the_probe_goes_on() -> None:
    fake = FakeTime()
    loop = OpenLoop(100.0, clock=fake.clock, sleep=fake.sleep)
    loop.stop(at=0.1)

    def execute(i: int) -> None:
        if i % 5 == 0:
            raise RuntimeError("1213", "Deadlock found")

    loop.worker(execute, RuntimeError)
    stats = ProbeStats.of(loop.latencies, loop.errors)
    assert (stats.ops, stats.errors) == (10, {"1213": 2})


def test_probe_stats_percentiles_by_nearest_rank() -> None:
    stats = ProbeStats.of([i / 1000 for i in range(1000, 0, -1)])  # 1 ms .. 1000 ms
    assert (stats.p50_ms, stats.p99_ms, stats.p999_ms, stats.max_ms) == (
        500.0,
        990.0,
        999.0,
        1000.0,
    )
    assert (stats.over_100ms, stats.over_1s) == (900, 0)


def test_probe_target_mix_and_keys() -> None:
    target = ProbeTarget("django_session", "session_key", "session_data", 1, 10, "sha1")
    statements = [target.statement(i, 1) for i in range(10)]
    assert sum(sql.startswith("SELECT") for sql, _ in statements) == 7
    assert statements[0] == (
        "SELECT * FROM django_session WHERE session_key = %s",
        ("356a192b7913b04c54574d18c28d46e6395428ab",),  # SHA1('1') on the server
    )
    assert statements[9] == (
        "UPDATE django_session SET session_data = CONCAT(LPAD(%s, 10, '0'), "
        "SUBSTRING(session_data, 11)) WHERE session_key = %s",
        (9, "356a192b7913b04c54574d18c28d46e6395428ab"),
    )
    assert ProbeTarget("events", "id", "payload", 1, 10).key(7) == 7


def test_slow_operations_are_grouped_into_stalls_by_due_time() -> None:
    from benchlib import stalls

    slow = [(10.2, 0.15), (10.0, 1.2), (10.4, 0.3), (15.0, 0.11)]  # unordered, as workers finish
    assert stalls(slow, origin=8.0) == "at 2.0 s: 3 ops (max 1200 ms); at 7.0 s: 1 ops (max 110 ms)"
    assert stalls([], origin=0.0) == ""


def _forked(totals: dict[Path, float]) -> dict:
    run = {"tasks": 3, "dags": 1, "errors": [], "connects": []}
    return {"runs": {str(p): [{**run, "total": t}] for p, t in totals.items()}}


def test_parse_time_before_and_after_names_a_file_whose_ratio_rose(tmp_path: Path) -> None:
    import parse_time

    base = tmp_path / "empty.py"
    old, new = tmp_path / "old" / "daily.py", tmp_path / "new" / "daily.py"
    same_old, same_new = tmp_path / "old" / "health.py", tmp_path / "new" / "health.py"
    results = {
        "baseline": base,
        "files": [new, same_new],
        # The machine got slower between the two: the empty DAG too, so the ratios still compare.
        "forked": _forked({new: 0.040, same_new: 0.030, base: 0.020}),
        "before": {
            "rev": "abc^",
            "subject": "`abc`",
            "files": [old, same_old],
            "forked": _forked({old: 0.015, same_old: 0.015, base: 0.010}),
        },
    }
    text = parse_time._before_section(results)
    assert "| `daily.py` | 3 | 15.0 | 1.5 | 3 | 40.0 | 2.0 |" in text
    assert "missed: `daily.py` 1.5x -> 2.0x" in text and "health.py` 1.5x" not in text
    results["forked"] = _forked({new: 0.030, same_new: 0.030, base: 0.020})
    assert "met (no file's ratio rose" in parse_time._before_section(results)

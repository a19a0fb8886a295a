from __future__ import annotations

from maintenance_ops.operators.deep import due_for_rebuild
from maintenance_ops.upkeep.fragmentation import FragEstimate


def est(table: str, level: str, action: str = "nothing") -> FragEstimate:
    return FragEstimate("s", table, 100, 50, 50, 0.5, level, action)  # type: ignore[arg-type]


ESTIMATES = [
    est("hi", "high", "rebuild"),
    est("lo", "low"),
    est("none", "none"),
    est("tiny", "high", "skip"),
]


def test_weekly_takes_high_only() -> None:
    assert [e.table for e in due_for_rebuild(ESTIMATES, ("high",), set())] == ["hi"]


def test_monthly_takes_low_and_aged_but_never_tiny() -> None:
    due = due_for_rebuild(ESTIMATES, ("low", "high"), {"s.none", "s.tiny"})
    assert [e.table for e in due] == ["hi", "lo", "none"]

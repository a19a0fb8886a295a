"""What every per-table run under a time budget reports the same way."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any


class BudgetedRun:
    """Mixin for result dataclasses of per-table work under a time budget.

    The dataclass has ``left`` (tables the budget did not reach) and ``duration_s``.
    """

    left: list[str]
    duration_s: float

    @property
    def budget_exhausted(self) -> bool:
        """Return whether the time budget stopped the run before every table."""
        return bool(self.left)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (for XCom and reports)."""
        data = asdict(self)  # type: ignore[call-overload]  # subclasses are dataclasses
        data["budget_exhausted"] = self.budget_exhausted
        data["duration_s"] = round(self.duration_s, 3)
        return data

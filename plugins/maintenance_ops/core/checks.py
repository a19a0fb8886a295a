"""A check and its outcome: what restore tests, replica checks and the drill report, one by one.

Kept apart from the modules that run the checks so a DAG file can import the operators without
loading them (parse time).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["pass", "fail", "skipped"]


@dataclass
class Check:
    """One verification step and its outcome."""

    name: str
    status: Status
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

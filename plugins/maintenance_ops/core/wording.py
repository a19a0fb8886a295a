"""Words for messages a person reads: a count with its noun in the right number."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``"1 step"`` / ``"2 steps"``: a count with its noun in the right number."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"

"""The grid label of a step's mapped task, and the database read back from a label."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from maintenance_ops.core.config import Database
from maintenance_ops.core.identifiers import SAFE_IDENTIFIER
from maintenance_ops.core.labels import (
    CONTEXT_KEY,
    MAP_INDEX_TEMPLATE,
    SEPARATOR,
    database_of,
    map_index_label,
)


@pytest.mark.parametrize(
    ("step", "result", "label"),
    [
        pytest.param("cleanup", {"summary": "cleanup removed 3 row(s)"}, "shop", id="all-well"),
        pytest.param(
            "health_check",
            {"score": {"score": 96, "status": "healthy", "reasons": []}},
            "shop",
            id="healthy",
        ),
        pytest.param(
            "health_check",
            {"score": {"score": 75, "status": "degraded", "reasons": ["x"]}},
            "shop · 75 degraded",
            id="degraded",
        ),
        pytest.param(
            "health_check",
            {"score": {"score": 40, "status": "critical", "reasons": ["x"]}},
            "shop · 40 critical",
            id="critical",
        ),
        pytest.param(
            "cleanup",
            {"skipped": "outside the maintenance window 02:00-05:00 UTC"},
            "shop · cleanup skipped",
            id="skipped",
        ),
        pytest.param(
            "rebuild",
            {"score": "not a health result", "summary": "rebuilt 0 table(s)"},
            "shop",
            id="other-score-shape",
        ),
    ],
)
def test_label(step: str, result: dict[str, Any], label: str) -> None:
    assert map_index_label("shop", step, result) == label
    assert database_of(label) == "shop"


@pytest.mark.parametrize(
    "label",
    ["shop", "shop · 75 degraded", "shop · cleanup skipped", "shop · a · b"],
)
def test_database_of(label: str) -> None:
    assert database_of(label) == "shop"


@pytest.mark.parametrize("name", ["a · b", "a ·b", "a·b", "shop ", "a b"])
def test_a_database_name_never_holds_the_separator(name: str) -> None:
    # Names are identifiers: letters, digits, _ and $ only, so the label splits unambiguously.
    assert not SAFE_IDENTIFIER.match(name)
    with pytest.raises(ValidationError):
        Database(name=name, conn_id="c")
    assert SEPARATOR.strip() not in "".join(
        chr(c) for c in range(128) if SAFE_IDENTIFIER.match(chr(c))
    )


@pytest.mark.parametrize(
    ("context", "rendered"),
    [
        pytest.param({}, "shop", id="at-the-start-of-a-try"),
        pytest.param({CONTEXT_KEY: "shop · 75 degraded"}, "shop · 75 degraded", id="after"),
    ],
)
def test_the_template_renders_under_airflows_strict_undefined(
    context: dict[str, str], rendered: str
) -> None:
    # DAGs render templates with StrictUndefined: the label's absence must not be an error.
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    task = type("Task", (), {"database": "shop"})()
    assert env.from_string(MAP_INDEX_TEMPLATE).render(task=task, **context) == rendered

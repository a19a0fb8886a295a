"""The label a step's mapped task shows in Airflow's grid, and the database behind a label.

The built-in DAGs label each mapped step with its database (``map_index_template``). A step
that succeeded but has something to say puts it in the label, so the grid tells it without
opening the task: ``shop · 75 degraded`` for a health score below healthy, ``shop · cleanup
skipped`` for a step that did not run. Everything that finds a database by its task's label
(the UI's run pages, the tests) reads it back with :func:`database_of`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEPARATOR = " · "
"""Between the database and the note; a database name (``[A-Za-z0-9_$]``) never holds it."""
CONTEXT_KEY = "map_index_label"
"""Where a step leaves its label in the task's context, for :data:`MAP_INDEX_TEMPLATE`."""
MAP_INDEX_TEMPLATE = "{{ map_index_label | default(task.database) }}"
"""A step task's ``map_index_template``: rendered at the start of each try (the database) and
after it (the step's label). Airflow renders it with the task's context."""


def map_index_label(database: str, step: str, result: Mapping[str, Any]) -> str:
    """Return the grid label of ``step``'s successful ``result`` on ``database`` (pure).

    The database alone when all is well; ``<database> · <score> <status>`` for a health result
    that is not healthy; ``<database> · <step> skipped`` for a step that did not run.
    """
    if result.get("skipped"):
        return f"{database}{SEPARATOR}{step} skipped"
    health = result.get("score")
    if isinstance(health, Mapping) and health.get("status") not in (None, "healthy"):
        return f"{database}{SEPARATOR}{health.get('score')} {health['status']}"
    return database


def database_of(label: str) -> str:
    """Return the database a task's rendered map index names (pure): the label's first part."""
    return label.split(SEPARATOR, 1)[0]

"""Read the source for a backup: the schemas to dump, the heartbeat row, objects and definitions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.identifiers import quote_identifier
from maintenance_ops.core.processes import checked_names
from maintenance_ops.core.sqlfiles import load_sql
from maintenance_ops.recovery.definitions import read_definitions, routine_key

if TYPE_CHECKING:
    from maintenance_ops.core.session import MaintenanceSession


HEARTBEAT_TABLE = "backup_heartbeat"


def _resolve_schemas(
    session: MaintenanceSession, schemas: Sequence[str], history_schema: str
) -> list[str]:
    """Return the schemas to dump: the maintained ones plus the history schema (heartbeat)."""
    chosen = list(schemas) or [
        row["schema_name"]
        for row in session.query(load_sql("user_schemas"), {"history_schema": history_schema})
    ]
    # A schema named like an option (``--result-file=...``) is refused before anything runs.
    return checked_names(dict.fromkeys([*chosen, history_schema]), "schema")


def write_heartbeat(
    session: MaintenanceSession, history_schema: str, database_name: str
) -> dict[str, Any]:
    """Insert a heartbeat row (autocommit) and return ``{schema, table, id, at}``."""
    session.execute(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(history_schema)}")
    session.execute(load_sql("backup_create_heartbeat", schema=history_schema))
    session.execute(
        load_sql("backup_insert_heartbeat", schema=history_schema),
        {"database_name": database_name},
    )
    row = session.query_one(load_sql("backup_read_heartbeat", schema=history_schema))
    at = row["taken_at"].replace(tzinfo=UTC)
    return {
        "schema": history_schema,
        "table": HEARTBEAT_TABLE,
        "id": int(row["id"]),
        "at": at.isoformat(),
    }


@dataclass
class Catalog:
    """What the source's catalog holds for a backup: the manifest's objects and definitions."""

    objects: dict[str, list[str]]
    tables: list[tuple[str, str, str | None]]
    """(schema, table, engine) of every base table, to count."""
    definitions: dict[str, dict[str, str]]
    """sha256 of each view, routine, trigger and event (``recovery/definitions.py``)."""
    post_schemas: set[str]
    """Schemas holding routines or events."""


def catalog_objects(session: MaintenanceSession, schemas: Sequence[str]) -> Catalog:
    """Read every object of ``schemas`` and the checksums of their definitions."""
    objects: dict[str, list[str]] = {
        "tables": [],
        "views": [],
        "routines": [],
        "triggers": [],
        "events": [],
    }
    tables: list[tuple[str, str, str | None]] = []
    post: set[str] = set()
    for row in session.query(load_sql("backup_objects"), {"schemas": tuple(schemas)}):
        name = f"{row['schema_name']}.{row['name']}"
        kind = row["kind"]
        if kind == "table":
            tables.append((row["schema_name"], row["name"], row["detail"]))
        if kind == "routine":
            name = routine_key(row["schema_name"], row["name"], row["detail"])
        if kind in ("routine", "event"):
            post.add(row["schema_name"])
        objects[f"{kind}s"].append(name)

    def query(sql: str, args: Any) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in session.query(sql, args)]

    return Catalog(objects, tables, read_definitions(query, schemas), post)

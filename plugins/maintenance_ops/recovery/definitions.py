"""Checksums of the definitions of views, routines, triggers and events.

A backup's manifest records one sha256 per object (``definitions``); a restore test reads the
restored copy's catalog the same way and names every object that is missing or whose
definition changed. Tables are verified by ``CHECK TABLE`` and row counts instead.

What a definition is, per kind, is the set of catalog columns in ``include/sql/definitions_*``;
the columns left out are those a faithful restore legitimately changes:

* ``DEFINER``: a restore may run as another account, or strip definers that do not exist;
* ``CREATED`` / ``LAST_ALTERED`` / ``LAST_EXECUTED`` and an event's ``ORIGINATOR`` (server id);
* the creating session's client character set and collation, which the tools re-create;
* an event's ``TIME_ZONE``: mydumper restores events with ``+00:00`` (its ``--tz-utc``).

Each text is then normalised: line endings become ``\\n`` and trailing spaces at the end of
each line are removed (mydumper 0.10 writes ``; \\n`` inside routine bodies so that myloader
does not split them). Nothing else is changed: a changed word, literal or clause changes the
checksum. :data:`DEFINITIONS_FORMAT` is recorded with the checksums so that a later change of
these rules is not mistaken for a changed object.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from maintenance_ops.core.sqlfiles import load_sql

DEFINITIONS_FORMAT = 1
KINDS = ("views", "routines", "triggers", "events")

# (columns..., ) rows of one catalog query; the first two columns are schema and name.
Query = Callable[[str, Mapping[str, Any]], Sequence[Sequence[Any]]]

_TRAILING_SPACE = re.compile(r"[ \t]+$", re.M)


def normalise(value: Any) -> Any:
    """Return a catalog value as compared: text without trailing spaces per line, else str."""
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return _TRAILING_SPACE.sub("", text.replace("\r\n", "\n")).strip()


def checksum(fields: Sequence[Any]) -> str:
    """Return the sha256 of a definition's normalised fields."""
    text = json.dumps([normalise(f) for f in fields], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def routine_key(schema: str, name: str, routine_type: str) -> str:
    """Return a routine's name as the manifest writes it: ``schema.name (PROCEDURE)``."""
    return f"{schema}.{name} ({routine_type})"


def read_definitions(query: Query, schemas: Sequence[str]) -> dict[str, dict[str, str]]:
    """Return ``{kind: {name: sha256}}`` for every view, routine, trigger and event of ``schemas``.

    :param query: runs one catalog statement with bound arguments and returns tuples.
    :param schemas: the schemas to read.
    """
    found: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    if not schemas:
        return found
    args = {"schemas": tuple(schemas)}
    parameters: dict[str, list[Any]] = {}
    for schema, name, routine_type, *rest in query(load_sql("definitions_parameters"), args):
        parameters.setdefault(routine_key(schema, name, routine_type), []).append(rest)
    for schema, name, routine_type, *rest in query(load_sql("definitions_routines"), args):
        key = routine_key(schema, name, routine_type)
        found["routines"][key] = checksum([*rest, json.dumps(parameters.get(key, []), default=str)])
    for kind in ("views", "triggers", "events"):
        for schema, name, *rest in query(load_sql(f"definitions_{kind}"), args):
            found[kind][f"{schema}.{name}"] = checksum(rest)
    return {kind: dict(sorted(names.items())) for kind, names in found.items()}


def definition_problems(
    expected: Mapping[str, Mapping[str, str]], found: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """Return one line per object of ``expected`` that is missing from ``found`` or differs."""
    problems: list[str] = []
    for kind in KINDS:
        present = found.get(kind) or {}
        for name, digest in sorted((expected.get(kind) or {}).items()):
            if name not in present:
                problems.append(f"{kind[:-1]} {name} is missing")
            elif present[name] != digest:
                problems.append(
                    f"{kind[:-1]} {name} differs from the backup "
                    f"(definition sha256 {present[name][:12]}, manifest {digest[:12]})"
                )
    return problems

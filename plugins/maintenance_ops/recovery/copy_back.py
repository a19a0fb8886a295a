"""Copy rows back from a restored copy to production: the missing rows only, by primary key.

After a bad ``DELETE`` the usual repair is to restore a copy to just before it and copy the lost
rows back. Production has moved on since: rows were written after the damage, some of them
with the same keys. So rows are compared by primary key, and only rows missing on production
are inserted (``INSERT IGNORE``: a row that appears meanwhile wins over the copy); rows on both
sides are left alone, counted, and the ones that differ are listed for a person to judge.

Triggers: neither MySQL nor MariaDB can switch triggers off for one session (``mysqldump
--skip-triggers`` only leaves their definitions out of a dump; the target's own triggers still
fire on every row inserted). A BEFORE INSERT trigger can rewrite the rows copied back (a
``payment_date`` set to ``NOW()``), an AFTER INSERT trigger can write elsewhere. So a table with
INSERT triggers is refused unless the caller accepts them (``triggers_fire``); the rows a
trigger changed are then re-read and listed.

Statement builders are pure and return ``(sql, args)``; :func:`copy_back` does the I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from maintenance_ops.core import sqlexec
from maintenance_ops.core.exceptions import ConfigError, MaintenanceError
from maintenance_ops.core.identifiers import qualified, quote_identifier
from maintenance_ops.core.row_filter import FilterError, filter_columns, missing_columns

DEFAULT_CHUNK_ROWS = 1000
SHOWN_KEYS = 20


def _row_value(columns: Sequence[str]) -> str:
    names = ", ".join(quote_identifier(c) for c in columns)
    return f"({names})" if len(columns) > 1 else names


def _placeholders(count: int) -> str:
    return "(" + ", ".join(["%s"] * count) + ")" if count > 1 else "%s"


def chunk_sql(
    table_sql: str,
    columns: Sequence[str],
    key: Sequence[str],
    where: str | None,
    after: Sequence[object] | None,
    size: int,
) -> tuple[str, tuple[object, ...]]:
    """Return the next chunk of rows after key ``after`` (keyset order), filtered by ``where``."""
    conditions = [f"({where})"] if where else []
    args: tuple[object, ...] = ()
    if after is not None:
        conditions.append(f"{_row_value(key)} > {_placeholders(len(key))}")
        args = tuple(after)
    names = ", ".join(quote_identifier(c) for c in columns)
    sql = f"SELECT {names} FROM {table_sql}"  # noqa: S608 - quoted identifiers
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    order = ", ".join(quote_identifier(c) for c in key)
    return f"{sql} ORDER BY {order} LIMIT %s", (*args, size)


def existing_sql(
    table_sql: str, columns: Sequence[str], key: Sequence[str], keys: Sequence[Sequence[object]]
) -> tuple[str, tuple[object, ...]]:
    """Return the rows of ``table_sql`` whose primary key is one of ``keys``."""
    one = _placeholders(len(key))
    names = ", ".join(quote_identifier(c) for c in columns)
    sql = (
        f"SELECT {names} FROM {table_sql} "  # noqa: S608 - quoted identifiers
        f"WHERE {_row_value(key)} IN ({', '.join([one] * len(keys))})"
    )
    return sql, tuple(value for k in keys for value in k)


def insert_sql(
    table_sql: str, columns: Sequence[str], count: int
) -> tuple[str, tuple[object, ...]]:
    """Return ``INSERT IGNORE`` for ``count`` rows (values bound by the caller)."""
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    names = ", ".join(quote_identifier(c) for c in columns)
    values = ", ".join([row] * count)
    return f"INSERT IGNORE INTO {table_sql} ({names}) VALUES {values}", ()  # noqa: S608


@dataclass
class CopyBackResult:
    """What a copy-back found and did."""

    table: str
    key: list[str]
    dry_run: bool
    in_copy: int = 0
    """Rows of the restored copy that match the filter."""
    missing: int = 0
    """Of those, rows production lacks (copied, or would be under dry run)."""
    inserted: int = 0
    identical: int = 0
    differing: list[str] = field(default_factory=list)
    """Keys of rows on both sides with different contents (left alone)."""
    triggers: list[str] = field(default_factory=list)
    changed_by_trigger: list[str] = field(default_factory=list)

    @property
    def on_both(self) -> int:
        return self.identical + len(self.differing)

    def lines(self) -> list[str]:
        """The report printed to the operator."""
        verb = "would be copied" if self.dry_run else f"copied {self.inserted}"
        lines = [
            f"copy-back {self.table} (primary key {', '.join(self.key)}): {self.in_copy} rows "
            f"in the restored copy match; {self.missing} missing on production ({verb})",
            f"on both sides, left alone: {self.on_both} ({self.identical} identical, "
            f"{len(self.differing)} different)",
        ]
        if self.differing:
            lines.append("  different on production (check by hand): " + _shown(self.differing))
        if self.triggers:
            lines.append(
                f"INSERT triggers that fired on each copied row: {', '.join(self.triggers)}"
            )
        if self.changed_by_trigger:
            lines.append(
                "  rows a trigger changed after the copy: " + _shown(self.changed_by_trigger)
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shown(keys: Sequence[str]) -> str:
    more = f" ... ({len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else ""
    return ", ".join(keys[:SHOWN_KEYS]) + more


def primary_key(conn: Any, schema: str, table: str) -> list[str]:
    """Return the table's primary key columns in order (empty: none)."""
    rows = sqlexec.rows(
        conn,
        "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s"
        " AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
        (schema, table),
    )
    return [str(r[0]) for r in rows]


def table_columns(conn: Any, schema: str, table: str) -> list[str]:
    """Return the table's stored columns in order (generated columns left out: not insertable)."""
    rows = sqlexec.rows(
        conn,
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
        " AND TABLE_NAME = %s AND EXTRA NOT LIKE %s ORDER BY ORDINAL_POSITION",
        (schema, table, "%GENERATED%"),
    )
    return [str(r[0]) for r in rows]


def insert_triggers(conn: Any, schema: str, table: str) -> list[str]:
    """Return the table's INSERT triggers as ``name (BEFORE|AFTER)``."""
    rows = sqlexec.rows(
        conn,
        "SELECT TRIGGER_NAME, ACTION_TIMING FROM information_schema.TRIGGERS"
        " WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE = %s"
        " AND EVENT_MANIPULATION = 'INSERT' ORDER BY TRIGGER_NAME",
        (schema, table),
    )
    return [f"{r[0]} ({r[1]})" for r in rows]


def _key_text(key: Sequence[str], row: Sequence[object]) -> str:
    return ",".join(f"{name}={value!r}" for name, value in zip(key, row, strict=True))


@dataclass
class _Table:
    schema: str
    name: str
    columns: list[str]
    key: list[str]

    @property
    def sql(self) -> str:
        return qualified(self.schema, self.name)

    def key_of(self, row: Sequence[object]) -> tuple[object, ...]:
        return tuple(row[self.columns.index(k)] for k in self.key)


def describe(source: Any, target: Any, schema: str, table: str, where: str | None) -> _Table:
    """Check the table on both sides (same columns, a primary key, the filter's columns)."""
    columns = table_columns(target, schema, table)
    if not columns:
        raise ConfigError(f"{schema}.{table} does not exist on production (--to)")
    key = primary_key(target, schema, table)
    if not key:
        raise ConfigError(
            f"{schema}.{table} has no primary key: rows cannot be matched one to one; copy "
            "them by hand"
        )
    copied = table_columns(source, schema, table)
    if copied != columns:
        raise ConfigError(
            f"{schema}.{table} has other columns in the restored copy ({', '.join(copied)}) "
            f"than on production ({', '.join(columns)}): was it altered after the backup?"
        )
    if where:
        try:
            filter_columns(where)
        except FilterError as exc:
            raise ConfigError(f"--where {exc}; nothing was copied") from None
        unknown = missing_columns(where, columns)
        if unknown:
            raise ConfigError(f"--where names columns {schema}.{table} lacks: {unknown}")
    return _Table(schema, table, columns, key)


def copy_back(
    source: Any,
    target: Any,
    schema: str,
    table: str,
    *,
    where: str | None = None,
    dry_run: bool = False,
    triggers_fire: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> CopyBackResult:
    """Insert the rows of ``source`` (the restored copy) that ``target`` lacks, by primary key.

    :param source: a connection to the restored copy (read only).
    :param target: an autocommit connection to production (only INSERT IGNORE is sent).
    :param where: one condition over the table's columns, the same on both sides.
    :param dry_run: count and list only.
    :param triggers_fire: copy into a table with INSERT triggers anyway (see the module doc).
    :param chunk_rows: rows read, compared and inserted per chunk (one statement each).
    """
    spec = describe(source, target, schema, table, where)
    result = CopyBackResult(f"{schema}.{table}", spec.key, dry_run)
    result.triggers = insert_triggers(target, schema, table)
    if result.triggers and not triggers_fire and not dry_run:
        raise MaintenanceError(
            f"{schema}.{table} has INSERT triggers on production ({', '.join(result.triggers)}) "
            "that would run on every row copied back (neither MySQL nor MariaDB can switch them "
            "off for one session); pass --triggers-fire to accept what they do (the rows they "
            "change are listed), or drop them for the copy in a maintenance window"
        )
    after: tuple[object, ...] | None = None
    while True:
        rows = sqlexec.rows(
            source, *chunk_sql(spec.sql, spec.columns, spec.key, where, after, chunk_rows)
        )
        if not rows:
            break
        after = spec.key_of(rows[-1])
        result.in_copy += len(rows)
        _copy_chunk(target, spec, rows, result)
        if len(rows) < chunk_rows:
            break
    return result


def _copy_chunk(
    target: Any, spec: _Table, rows: list[tuple[Any, ...]], result: CopyBackResult
) -> None:
    keys = [spec.key_of(row) for row in rows]
    there = {
        spec.key_of(row): row
        for row in sqlexec.rows(target, *existing_sql(spec.sql, spec.columns, spec.key, keys))
    }
    missing = []
    for key, row in zip(keys, rows, strict=True):
        found = there.get(key)
        if found is None:
            missing.append(row)
        elif tuple(found) == tuple(row):
            result.identical += 1
        else:
            result.differing.append(_key_text(spec.key, key))
    result.missing += len(missing)
    if not missing or result.dry_run:
        return
    sql, _ = insert_sql(spec.sql, spec.columns, len(missing))
    result.inserted += sqlexec.execute(target, sql, tuple(v for row in missing for v in row))
    if result.triggers:
        copied = [spec.key_of(row) for row in missing]
        now = {
            spec.key_of(row): row
            for row in sqlexec.rows(target, *existing_sql(spec.sql, spec.columns, spec.key, copied))
        }
        for row in missing:
            key = spec.key_of(row)
            if key in now and tuple(now[key]) != tuple(row):
                result.changed_by_trigger.append(_key_text(spec.key, key))

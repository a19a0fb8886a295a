"""Index analysis: duplicate, redundant, unused and low-selectivity indexes, missing primary keys.

Report only: nothing here drops an index. A finding is either ``drop``, with the exact ``ALTER
TABLE ... DROP INDEX`` a DBA can run blindly (all of an analysis' statements together, in
order), or ``review``, with no statement: the evidence does not justify a drop (low
selectivity; an unused index whose counters do not cover the observation window; an index a
foreign key or the AUTO_INCREMENT column needs and nothing else serves). The DROPs of a table
are decided together (:func:`plan_table`): an index kept as the original of a duplicate or the
cover of a redundant prefix is never also dropped, and no DROP leaves a foreign key (on either
side) without an index; an index only foreign keys read is not "unused", because
performance_schema does not count InnoDB's foreign-key checks. A DROP on a table that foreign
keys from schemas the account cannot see reference becomes a review (:func:`review_hidden`).

The catalog is read in a handful of queries for the whole run (one pass over
``information_schema.STATISTICS`` per schema, one for tables, one for AUTO_INCREMENT columns,
one for foreign keys, one for sizes, one for usage) and compared in Python: measured on
MariaDB 10.11 with 5,000 tables, that is an order of magnitude faster than a self-join of
``STATISTICS``, ``sys.schema_redundant_indexes`` or one ``SHOW CREATE TABLE`` per table (see
docs/benchmarks.md). The detection itself is a set of pure functions over :class:`IndexDef`
values.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from maintenance_ops.core.exceptions import ConnectionFailed
from maintenance_ops.core.identifiers import qualified, quote_identifier, validate_identifier
from maintenance_ops.core.sqlfiles import load_sql, split_statements
from maintenance_ops.upkeep.cleanup_fk import (
    ForeignKey,
    foreign_keys_from_rows,
    hidden_referencing_keys,
)

if TYPE_CHECKING:
    from maintenance_ops.core.session import MaintenanceSession

log = logging.getLogger(__name__)

FindingKind = Literal["duplicate", "redundant", "unused", "no_primary_key", "low_selectivity"]
Action = Literal["drop", "review"]
ORDERED_TYPES = frozenset({"BTREE"})
PERFORMANCE_SCHEMA_OFF = (
    "performance_schema is off; enable with performance_schema=ON in my.cnf (restart) to "
    "detect unused indexes"
)
DEFAULT_UNUSED_DAYS = 7.0
DEFAULT_MAX_SELECTIVITY = 0.001
DEFAULT_MIN_ROWS = 10_000
# A server start read as NOW() - Uptime drifts by a second or two between readings.
BOOT_TOLERANCE = timedelta(seconds=30)
_UPSERT_BATCH = 500


# --------------------------------------------------------------------------------------------
# Definitions and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexColumn:
    """One key part: a column, its prefix length (None = whole column) and its direction."""

    name: str
    sub_part: int | None = None
    descending: bool = False

    def key(self) -> tuple[str, int | None, bool]:
        """Return the comparable form (column names are case-insensitive in MySQL)."""
        return (self.name.lower(), self.sub_part, self.descending)

    def __str__(self) -> str:
        text = self.name + (f"({self.sub_part})" if self.sub_part else "")
        return text + (" DESC" if self.descending else "")


@dataclass(frozen=True, slots=True)
class IndexDef:
    """One index as the catalog describes it."""

    schema: str
    table: str
    name: str
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    primary: bool = False
    index_type: str = "BTREE"
    visible: bool = True  # False for MySQL INVISIBLE and MariaDB IGNORED indexes
    size_bytes: int | None = None
    cardinality: int | None = None
    position: int = 0  # where the catalog lists it among its table's indexes (older first)
    # The comparable key parts, computed once: comparisons run millions of times on big servers.
    keys: tuple[tuple[str, int | None, bool], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(c.key() for c in self.columns))
        object.__setattr__(self, "index_type", self.index_type.upper())

    @property
    def constraint(self) -> bool:
        """Return whether dropping this index would drop a constraint (PRIMARY or UNIQUE)."""
        return self.primary or self.unique

    def column_list(self) -> str:
        """Return the key parts as a readable list, e.g. ``a(10), b DESC``."""
        return ", ".join(str(c) for c in self.columns)


@dataclass(frozen=True)
class Rules:
    """The thresholds of the rules that need one."""

    max_selectivity: float = DEFAULT_MAX_SELECTIVITY
    min_rows: int = DEFAULT_MIN_ROWS
    unused_days: float = DEFAULT_UNUSED_DAYS


@dataclass(frozen=True)
class TableInfo:
    """A base table: engine and estimated rows (for missing keys and selectivity)."""

    schema: str
    table: str
    engine: str | None = "InnoDB"
    rows: int | None = None


@dataclass(frozen=True)
class Finding:
    """One thing a DBA should look at; ``drop_sql`` only when running it as is is safe.

    A finding with a statement has action ``drop``: it can be run blindly, in the order given,
    together with every other ``drop`` of the same analysis. A finding without one has action
    ``review``: the evidence is not enough to drop anything (low selectivity, an unused index
    whose counters do not cover the whole observation window, an index a foreign key needs, a
    table referenced by foreign keys the account cannot see).
    """

    kind: FindingKind
    schema: str
    table: str
    index: str | None
    reason: str
    size_bytes: int | None = None
    drop_sql: str | None = None
    covered_by: str | None = None

    @property
    def action(self) -> Action:
        """Return ``drop`` when the finding carries a statement to run, else ``review``."""
        return "drop" if self.drop_sql else "review"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (for XCom and reports)."""
        return {**asdict(self), "action": self.action}


@dataclass
class IndexAnalysis:
    """The result of one analysis run over some schemas of one server."""

    schemas: list[str]
    findings: list[Finding] = field(default_factory=list)
    tables: int = 0
    indexes: int = 0
    notes: list[str] = field(default_factory=list)
    performance_schema: bool = False
    duration_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Return the number of findings of each kind (every kind present, zeros included)."""
        result = dict.fromkeys(
            ("duplicate", "redundant", "unused", "no_primary_key", "low_selectivity"), 0
        )
        for finding in self.findings:
            result[finding.kind] += 1
        return result

    def actions(self) -> dict[str, int]:
        """Return the number of findings to drop and to review."""
        result = dict.fromkeys(("drop", "review"), 0)
        for finding in self.findings:
            result[finding.action] += 1
        return result

    def reclaimable_bytes(self) -> int:
        """Return the size of the duplicate and redundant indexes suggested for dropping."""
        return sum(
            f.size_bytes or 0
            for f in self.findings
            if f.kind in ("duplicate", "redundant") and f.action == "drop"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (for XCom and reports)."""
        return {
            "schemas": list(self.schemas),
            "tables": self.tables,
            "indexes": self.indexes,
            "counts": self.counts(),
            "actions": self.actions(),
            "reclaimable_bytes": self.reclaimable_bytes(),
            "performance_schema": self.performance_schema,
            "notes": list(self.notes),
            "duration_s": round(self.duration_s, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "findings": [f.to_dict() for f in self.findings],
        }


def drop_index_sql(schema: str, table: str, index: str) -> str:
    """Return ``ALTER TABLE `s`.`t` DROP INDEX `i``` with every name quoted by the guard."""
    return f"ALTER TABLE {qualified(schema, table)} DROP INDEX {quote_identifier(index)}"


# --------------------------------------------------------------------------------------------
# What the server needs an index for: foreign keys (both sides) and AUTO_INCREMENT columns
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyNeed:
    """Columns that some index of a table must start with, and what needs them.

    InnoDB keeps, for each foreign key, an index of the child table that starts with the
    foreign key's columns and one of the parent table that starts with the referenced columns
    (in that order); dropping the last one fails with ERROR 1553. A table's AUTO_INCREMENT
    column must start some index (ERROR 1075).
    """

    schema: str
    table: str
    columns: tuple[str, ...]  # lower case: MySQL column names are case-insensitive
    what: str  # for reasons, e.g. "foreign key FK_TrackAlbumId (AlbumId)"
    constraint: str | None = None  # the foreign key's name, on its child table
    anywhere: bool = False  # MyISAM/Aria accept the AUTO_INCREMENT column anywhere in a key


def key_needs(
    foreign_keys: Iterable[ForeignKey], auto_increment: Iterable[tuple[str, str, str]] = ()
) -> dict[tuple[str, str], list[KeyNeed]]:
    """Return what each table (``(schema, table)``) needs an index for."""
    needs: dict[tuple[str, str], list[KeyNeed]] = defaultdict(list)
    for fk in foreign_keys:
        cols = ", ".join(fk.child_columns)
        needs[fk.child].append(
            KeyNeed(
                *fk.child,
                tuple(c.lower() for c in fk.child_columns),
                f"foreign key {fk.constraint} ({cols})",
                constraint=fk.constraint,
            )
        )
        needs[fk.parent].append(
            KeyNeed(
                *fk.parent,
                tuple(c.lower() for c in fk.parent_columns),
                f"foreign key {fk.constraint} of {fk.child[1]} ({cols}) referencing "
                f"{fk.parent[1]} ({', '.join(fk.parent_columns)})",
            )
        )
    for schema, table, column in auto_increment:
        needs[(schema, table)].append(
            KeyNeed(
                schema, table, (column.lower(),), f"AUTO_INCREMENT column {column}", anywhere=True
            )
        )
    return dict(needs)


def serves(index: IndexDef, need: KeyNeed) -> bool:
    """Return whether ``index`` surely serves ``need``: the strict test.

    Its declared key parts start with the needed columns, in order, whole (a prefix such as
    ``a(10)`` never serves a foreign key) and ascending. The server may accept more (InnoDB
    also counts the primary key columns it appends); being stricter only keeps more indexes.
    """
    if _family(index) not in ORDERED_TYPES or len(index.columns) < len(need.columns):
        return False
    return all(
        part.sub_part is None and not part.descending and part.name.lower() == column
        for part, column in zip(index.columns, need.columns, strict=False)
    )


def may_serve(index: IndexDef, need: KeyNeed, primary: IndexDef | None) -> bool:
    """Return whether the server might use ``index`` for ``need``: the liberal test.

    Column names only (prefix lengths and directions ignored), with the primary key columns
    InnoDB appends to a secondary index; for an AUTO_INCREMENT column, anywhere in the key.
    """
    if _family(index) not in ORDERED_TYPES:
        return False
    names = [key[0] for key in _effective_columns(index, primary)]
    if need.anywhere:
        return need.columns[0] in names
    return tuple(names[: len(need.columns)]) == need.columns


def keeper_rank(needs: Sequence[KeyNeed] = ()) -> Callable[[IndexDef], tuple[Any, ...]]:
    """Return the sort key choosing which index of a group to keep (smallest first).

    Keep the primary key, then a unique key (dropping either drops a constraint), then a
    visible index (keeping only an ignored one would change plans), then an index named after
    a foreign key of the table (the one the foreign key was declared with), then one that a
    foreign key or the AUTO_INCREMENT column needs, then the original: the one that comes
    first in the catalog's order. Neither STATISTICS nor SHOW INDEX has a creation time, but
    both list a table's keys in the order the server stores them: primary, unique, then plain
    keys in the order they were created (``ALTER TABLE ... ADD INDEX`` appends), so the first
    one listed is the older one. Names never decide.
    """
    named = {n.constraint.lower() for n in needs if n.constraint}

    def rank(index: IndexDef) -> tuple[Any, ...]:
        return (
            not index.primary,
            not index.unique,
            not index.visible,
            index.name.lower() not in named,
            not any(serves(index, n) for n in needs),
            index.position,
        )

    return rank


# --------------------------------------------------------------------------------------------
# Pure detection: duplicates and redundant left prefixes
# --------------------------------------------------------------------------------------------


def _family(index: IndexDef) -> str:
    """Return the group an index may be compared with: FULLTEXT and SPATIAL only with their own."""
    return index.index_type


def _effective_columns(index: IndexDef, primary: IndexDef | None) -> tuple[Any, ...]:
    """Return the key parts InnoDB really stores: the declared ones plus the missing PK columns.

    InnoDB appends the primary key to every secondary index, so ``KEY (x)`` and ``KEY (x, id)``
    on a table with ``PRIMARY KEY (id)`` are the same index on disk.
    """
    declared = list(index.keys)
    if primary is None or index.primary or _family(index) not in ORDERED_TYPES:
        return tuple(declared)
    whole = {name for name, sub_part, _ in declared if sub_part is None}
    extra = [k for k in primary.keys if k[0] not in whole]
    return tuple(declared + [(name, None, False) for name, _, _ in extra])


def _duplicate_key(index: IndexDef, primary: IndexDef | None) -> tuple[Any, ...]:
    family = _family(index)
    if family == "FULLTEXT":  # MATCH(a, b) needs the column set; order does not matter
        return (family, tuple(sorted(c.name.lower() for c in index.columns)))
    return (family, _effective_columns(index, primary))


def _primary_of(indexes: Sequence[IndexDef]) -> IndexDef | None:
    return next((i for i in indexes if i.primary), None)


def find_duplicates(
    indexes: Sequence[IndexDef], *, clustered: bool = True, needs: Sequence[KeyNeed] = ()
) -> tuple[list[Finding], set[str]]:
    """Return exact-duplicate findings of one table and the names of the flagged indexes.

    Duplicates have the same type and the same key parts (prefix lengths, order, direction);
    with ``clustered`` (InnoDB) the primary key columns a secondary index stores anyway count.
    A primary key is never flagged; a unique key only when it duplicates the primary key or
    another unique key. The one kept is chosen by :func:`keeper_rank`.
    """
    primary = _primary_of(indexes) if clustered else None
    rank = keeper_rank(needs)
    groups: dict[tuple[Any, ...], list[IndexDef]] = defaultdict(list)
    for index in indexes:
        groups[_duplicate_key(index, primary)].append(index)
    findings: list[Finding] = []
    flagged: set[str] = set()
    for group in groups.values():
        if len(group) < 2:
            continue
        keeper, *others = sorted(group, key=rank)
        for other in others:
            if other.primary or (other.unique and not keeper.unique):
                continue  # dropping it would drop a stronger constraint than the keeper's
            if keeper.primary and not _same_declared(other, keeper):
                continue  # a left prefix of the primary key: reported as redundant
            if other.visible and not keeper.visible:
                continue  # the keeper is ignored: dropping this one would change plans
            findings.append(_duplicate_finding(other, keeper, primary))
            flagged.add(other.name)
    return findings, flagged


def _same_declared(a: IndexDef, b: IndexDef) -> bool:
    return a.keys == b.keys


def _duplicate_finding(index: IndexDef, keeper: IndexDef, primary: IndexDef | None) -> Finding:
    if _same_declared(index, keeper) or _family(index) == "FULLTEXT":
        what = "the primary key" if keeper.primary else keeper.name
        reason = f"{index.name} is a duplicate of {what} ({keeper.column_list()})"
    else:
        pk = primary.column_list() if primary else ""
        reason = (
            f"{index.name} ({index.column_list()}) is the same as {keeper.name} "
            f"({keeper.column_list()}): InnoDB appends the primary key ({pk}) to every "
            "secondary index"
        )
    return Finding(
        "duplicate",
        index.schema,
        index.table,
        index.name,
        reason,
        index.size_bytes,
        drop_index_sql(index.schema, index.table, index.name),
        keeper.name,
    )


def _part_covers(
    shorter: tuple[str, int | None, bool], longer: tuple[str, int | None, bool]
) -> bool:
    """Return whether ``longer``'s key part serves every lookup ``shorter``'s does."""
    if shorter[0] != longer[0] or shorter[2] != longer[2]:
        return False
    if longer[1] is None:
        return True
    return shorter[1] is not None and shorter[1] <= longer[1]


def is_left_prefix(shorter: IndexDef, longer: IndexDef) -> bool:
    """Return whether ``shorter``'s key parts are a left prefix of ``longer``'s.

    Directions must match and each prefix length of ``shorter`` must be at most ``longer``'s
    (a whole column covers any prefix; a prefix never covers a whole column).
    """
    if len(shorter.keys) > len(longer.keys):
        return False
    return all(map(_part_covers, shorter.keys, longer.keys))


def _can_be_redundant(index: IndexDef) -> bool:
    return not index.constraint and _family(index) in ORDERED_TYPES


def _can_cover(cover: IndexDef, index: IndexDef) -> bool:
    if cover.name == index.name or _family(cover) not in ORDERED_TYPES:
        return False
    # An ignored/invisible index serves no query, so it cannot stand in for a visible one.
    if not cover.visible and index.visible:
        return False
    return not _same_declared(cover, index) and is_left_prefix(index, cover)


def find_redundant(
    indexes: Sequence[IndexDef], skip: Iterable[str] = (), needs: Sequence[KeyNeed] = ()
) -> list[Finding]:
    """Return redundant left-prefix findings of one table.

    A non-unique BTREE index is redundant when another BTREE index (the primary key and unique
    keys included) starts with the same key parts. Indexes in ``skip`` (already flagged as
    duplicates) neither get flagged nor serve as covers. The cover named in the reason is one
    that is not redundant itself (the first by :func:`keeper_rank`), so dropping every flagged
    index keeps every cover.
    """
    skipped = set(skip)
    rank = keeper_rank(needs)
    pool = [i for i in indexes if i.name not in skipped]
    redundant = {i.name for i in pool if _can_be_redundant(i) and _covers(pool, i)}
    survivors = [i for i in pool if i.name not in redundant]
    return [
        _redundant_finding(index, min(_covers(survivors, index), key=rank))
        for index in pool
        if index.name in redundant
    ]


def _covers(pool: Sequence[IndexDef], index: IndexDef) -> list[IndexDef]:
    return [c for c in pool if _can_cover(c, index)]


def _redundant_finding(index: IndexDef, cover: IndexDef) -> Finding:
    what = "the primary key" if cover.primary else cover.name
    reason = (
        f"{index.name} ({index.column_list()}) is a left prefix of {what} ({cover.column_list()})"
    )
    return Finding(
        "redundant",
        index.schema,
        index.table,
        index.name,
        reason,
        index.size_bytes,
        drop_index_sql(index.schema, index.table, index.name),
        cover.name,
    )


def find_table_findings(
    indexes: Sequence[IndexDef], *, clustered: bool = True, needs: Sequence[KeyNeed] = ()
) -> list[Finding]:
    """Return the duplicate and redundant findings of one table's indexes, consistent together.

    When the original kept from a set of duplicates is itself a left prefix of a wider index,
    "drop B, a duplicate of A" and "drop A, a prefix of C" would both go: then every copy is
    reported as a prefix of C if each one is, else A stays (not redundant) so its copies'
    findings stay true.
    """
    duplicates, flagged = find_duplicates(indexes, clustered=clustered, needs=needs)
    redundant = {f.index: f for f in find_redundant(indexes, flagged, needs)}
    by_name = {i.name: i for i in indexes}
    copies: dict[str, list[Finding]] = defaultdict(list)
    for finding in duplicates:
        copies[finding.covered_by or ""].append(finding)
    result: list[Finding] = []
    for keeper, found in copies.items():
        cover = redundant.get(keeper)
        if cover is None:
            result += found
        elif all(
            _can_cover(by_name[cover.covered_by or ""], by_name[f.index or ""]) for f in found
        ):
            result += [
                _redundant_finding(by_name[f.index or ""], by_name[cover.covered_by or ""])
                for f in found
            ]
        else:
            del redundant[keeper]
            result += found
    return result + list(redundant.values())


# --------------------------------------------------------------------------------------------
# Pure detection: tables without a primary key, low selectivity
# --------------------------------------------------------------------------------------------


def find_missing_primary_keys(
    tables: Iterable[TableInfo], indexes: Iterable[IndexDef]
) -> list[Finding]:
    """Return a finding for each table without a primary key."""
    by_table: dict[tuple[str, str], list[IndexDef]] = defaultdict(list)
    for index in indexes:
        by_table[(index.schema, index.table)].append(index)
    findings = []
    for table in tables:
        own = by_table.get((table.schema, table.table), [])
        if any(i.primary for i in own):
            continue
        uniques = sorted(i.name for i in own if i.unique)
        reason = "no primary key"
        if table.engine and table.engine.lower() == "innodb":
            reason += (
                f"; InnoDB may cluster on unique key {uniques[0]} if its columns are NOT NULL"
                if uniques
                else "; InnoDB clusters on a hidden row id and row-based replication scans "
                "the table for each changed row"
            )
        findings.append(
            Finding("no_primary_key", table.schema, table.table, None, reason + ": add one")
        )
    return findings


def find_low_selectivity(
    indexes: Iterable[IndexDef],
    tables: Mapping[tuple[str, str], TableInfo],
    *,
    max_selectivity: float = DEFAULT_MAX_SELECTIVITY,
    min_rows: int = DEFAULT_MIN_ROWS,
    skip: Iterable[tuple[str, str, str]] = (),
) -> list[Finding]:
    """Return non-unique BTREE indexes whose distinct values per row are below a threshold.

    Selectivity is the index's cardinality (distinct keys, from statistics) divided by the
    table's rows; only tables with at least ``min_rows`` rows count, because on small tables
    the estimate means little and the index costs little. Always ``review``: an index on few
    distinct values still serves a query for a rare value, a sort, or a foreign key.
    """
    skipped = set(skip)
    findings = []
    for index in indexes:
        table = tables.get((index.schema, index.table))
        if not _selectivity_applies(index, table, min_rows, skipped):
            continue
        assert table is not None and table.rows and index.cardinality is not None
        selectivity = index.cardinality / table.rows
        if selectivity < max_selectivity:
            reason = (
                f"{index.name} ({index.column_list()}) has {index.cardinality} distinct values "
                f"in about {table.rows} rows (selectivity {selectivity:.6f} < {max_selectivity})"
                "; review the queries on a rare value before dropping it"
            )
            findings.append(
                Finding(
                    "low_selectivity",
                    index.schema,
                    index.table,
                    index.name,
                    reason,
                    index.size_bytes,
                )
            )
    return findings


def _selectivity_applies(
    index: IndexDef, table: TableInfo | None, min_rows: int, skipped: set[tuple[str, str, str]]
) -> bool:
    return (
        table is not None
        and (table.rows or 0) >= max(min_rows, 1)
        and not index.constraint
        and _family(index) in ORDERED_TYPES
        and index.cardinality is not None
        and (index.schema, index.table, index.name) not in skipped
    )


# --------------------------------------------------------------------------------------------
# Pure detection: unused indexes from accumulated usage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageRecord:
    """An index's reads accumulated across server restarts (a row of ``index_usage``)."""

    first_seen: datetime
    last_seen: datetime
    server_boot: datetime
    last_reads: int
    total_reads: int
    last_used: datetime | None = None


def accumulate_usage(
    previous: UsageRecord | None, reads: int, now: datetime, server_boot: datetime
) -> UsageRecord:
    """Fold one reading of an index's read counter into its accumulated record.

    The counter restarts at 0 when the server restarts (or the table is truncated), so the
    new reads are the whole counter after a restart or a drop, else the growth since the last
    reading.
    """
    if previous is None:
        # The first reading covers an unknown stretch before we started watching: any reads
        # count as use, but the observation period starts now.
        return UsageRecord(now, now, server_boot, reads, reads, now if reads else None)
    restarted = abs(server_boot - previous.server_boot) > BOOT_TOLERANCE
    new_reads = reads if restarted or reads < previous.last_reads else reads - previous.last_reads
    return UsageRecord(
        first_seen=previous.first_seen,
        last_seen=now,
        server_boot=server_boot,
        last_reads=reads,
        total_reads=previous.total_reads + new_reads,
        last_used=now if new_reads else previous.last_used,
    )


def unused_reason(record: UsageRecord, now: datetime, observation_days: float) -> str | None:
    """Return why an index counts as unused, or None when it does not (yet).

    Unused means watched for at least ``observation_days`` and no reads seen during the last
    ``observation_days``.
    """
    period = timedelta(days=observation_days)
    if now - record.first_seen < period:
        return None
    if record.last_used is not None and now - record.last_used < period:
        return None
    watched = (now - record.first_seen).total_seconds() / 86400
    if record.last_used is None:
        return f"no reads in {watched:.1f} days of observation (since {record.first_seen:%Y-%m-%d})"
    return (
        f"no reads since {record.last_used:%Y-%m-%d} "
        f"({(now - record.last_used).total_seconds() / 86400:.1f} days)"
    )


def evidence_gap(record: UsageRecord, now: datetime, observation_days: float) -> str | None:
    """Return why the counters do not cover the whole observation window, or None if they do.

    performance_schema counts reads since the server started; the readings are folded in
    once a run. Reads between the last reading before a restart and the restart are lost, so
    "no reads" is evidence only when the server has been up since the window began.
    """
    start = now - timedelta(days=observation_days)
    if record.server_boot <= start + BOOT_TOLERANCE:
        return None
    return (
        f"the server restarted at {record.server_boot:%Y-%m-%d %H:%M} UTC, inside the "
        f"{observation_days:g}-day window, so reads before the restart may be missing"
    )


def find_unused(
    indexes: Iterable[IndexDef],
    usage: Mapping[tuple[str, str, str], UsageRecord],
    now: datetime,
    observation_days: float,
    skip: Iterable[tuple[str, str, str]] = (),
) -> list[Finding]:
    """Return unused-index findings; primary, unique and FULLTEXT/SPATIAL keys are never flagged.

    ``drop`` when the counters cover the whole window, else ``review`` (see :func:`evidence_gap`).
    """
    skipped = set(skip)
    findings = []
    for index in indexes:
        key = (index.schema, index.table, index.name)
        record = usage.get(key)
        if record is None or key in skipped or not _can_be_redundant(index):
            continue
        reason = unused_reason(record, now, observation_days)
        if not reason:
            continue
        gap = evidence_gap(record, now, observation_days)
        statement = None if gap else drop_index_sql(index.schema, index.table, index.name)
        findings.append(
            Finding(
                "unused",
                index.schema,
                index.table,
                index.name,
                f"{index.name} ({index.column_list()}): {reason}"
                + (f"; review: {gap}" if gap else ""),
                index.size_bytes,
                statement,
            )
        )
    return findings


# --------------------------------------------------------------------------------------------
# Pure: the joint decision for one table, then all rules over a whole catalog
# --------------------------------------------------------------------------------------------


def guard_needs(
    findings: Sequence[Finding], indexes: Sequence[IndexDef], needs: Sequence[KeyNeed]
) -> list[Finding]:
    """Return ``findings`` (of one table) with no DROP that leaves a need without an index.

    Every index a finding could drop (``drop`` findings and ``unused`` ones under review, which
    a DBA may drop after looking) counts as gone. For each need that no remaining index serves
    (strict test), the best index that serves it stays: its finding becomes ``review`` with the
    need named, or disappears if it said "unused" (InnoDB's foreign-key checks read the index
    without performance_schema counting them). When no index about to go surely serves it,
    every one that might stays. Keepers only grow, so one pass settles every need.
    """
    primary = _primary_of(indexes)
    rank = keeper_rank(needs)
    going = {f.index: f for f in findings if f.index and (f.drop_sql or f.kind == "unused")}
    kept: dict[str, KeyNeed] = {}
    for need in needs:
        remaining = [i for i in indexes if i.name not in going]
        if any(serves(i, need) for i in remaining):
            continue
        candidates = [i for i in indexes if i.name in going]
        sure = [i for i in candidates if serves(i, need)]
        stay = (
            [min(sure, key=rank)]
            if sure
            else [i for i in candidates if may_serve(i, need, primary)]
        )
        for index in stay:
            kept[index.name] = need
            del going[index.name]
    result = []
    for finding in findings:
        needed = kept.get(finding.index or "")
        if needed is None:
            result.append(finding)
        elif finding.kind != "unused":
            result.append(
                replace(
                    finding,
                    drop_sql=None,
                    reason=f"{finding.reason}; keep it: {needed.what} needs it and no other "
                    "remaining index serves it",
                )
            )
    return result


def _need_notes(finding: Finding, indexes: Sequence[IndexDef], needs: Sequence[KeyNeed]) -> Finding:
    """Return a review finding with the needs its index may serve named in its reason."""
    primary = _primary_of(indexes)
    index = next((i for i in indexes if i.name == finding.index), None)
    users = [n.what for n in needs if index is not None and may_serve(index, n, primary)]
    if not users:
        return finding
    return replace(finding, reason=f"{finding.reason}; {' and '.join(users)} may use it")


def plan_table(
    indexes: Sequence[IndexDef],
    needs: Sequence[KeyNeed] = (),
    *,
    table: TableInfo | None = None,
    rules: Rules | None = None,
    usage: Mapping[tuple[str, str, str], UsageRecord] | None = None,
    now: datetime | None = None,
) -> list[Finding]:
    """Return the findings of one table, decided together so the DROPs are consistent.

    1. duplicates, then redundant left prefixes among what is left: the kept index of each is
       protected (never also dropped as unused: "drop A as a duplicate of B" and "drop B as
       unused" together would lose both);
    2. unused indexes among the rest (``review`` when the counters do not cover the window);
    3. :func:`guard_needs`: no DROP leaves a foreign key (either side) or the AUTO_INCREMENT
       column without an index;
    4. low selectivity (always ``review``) for indexes not already in a finding.
    """
    rules = rules or Rules()
    clustered = table is None or (table.engine or "").lower() == "innodb"
    findings = find_table_findings(indexes, clustered=clustered, needs=needs)
    keys = {(f.schema, f.table, f.index or "") for f in findings}
    protected = {(f.schema, f.table, f.covered_by or "") for f in findings}
    if usage is not None and now is not None:
        findings += find_unused(indexes, usage, now, rules.unused_days, keys | protected)
    findings = guard_needs(findings, indexes, needs)
    keys = {(f.schema, f.table, f.index or "") for f in findings}
    tables = {(table.schema, table.table): table} if table else {}
    findings += [
        _need_notes(f, indexes, needs)
        for f in find_low_selectivity(
            indexes,
            tables,
            max_selectivity=rules.max_selectivity,
            min_rows=rules.min_rows,
            skip=keys,
        )
    ]
    return findings


def detect(
    indexes: Sequence[IndexDef],
    tables: Sequence[TableInfo],
    *,
    max_selectivity: float = DEFAULT_MAX_SELECTIVITY,
    min_rows: int = DEFAULT_MIN_ROWS,
    usage: Mapping[tuple[str, str, str], UsageRecord] | None = None,
    now: datetime | None = None,
    unused_days: float = DEFAULT_UNUSED_DAYS,
    needs: Mapping[tuple[str, str], Sequence[KeyNeed]] | None = None,
) -> list[Finding]:
    """Return every finding over a catalog, sorted by schema, table, kind and index.

    Each table is decided by :func:`plan_table`; an index is in at most one finding.
    """
    rules = Rules(max_selectivity=max_selectivity, min_rows=min_rows, unused_days=unused_days)
    table_map = {(t.schema, t.table): t for t in tables}
    by_table: dict[tuple[str, str], list[IndexDef]] = defaultdict(list)
    for index in indexes:
        by_table[(index.schema, index.table)].append(index)
    findings: list[Finding] = []
    for key, own in by_table.items():
        findings += plan_table(
            own,
            (needs or {}).get(key, ()),
            table=table_map.get(key),
            rules=rules,
            usage=usage,
            now=now,
        )
    findings += find_missing_primary_keys(tables, indexes)
    return sorted(findings, key=lambda f: (f.schema, f.table, f.kind, f.index or ""))


def review_hidden(
    findings: Sequence[Finding], hidden: Mapping[tuple[str, str], Sequence[str]]
) -> list[Finding]:
    """Return ``findings`` with the DROPs on tables referenced by unseen foreign keys reviewed.

    information_schema hides the tables the account has no privilege on, so a child table in
    another schema is not in the catalog the decisions used; the referenced index it needs
    could be any of its parent's. ``hidden`` maps such a parent to its unseen keys.
    """
    result = []
    for finding in findings:
        keys = hidden.get((finding.schema, finding.table))
        if finding.drop_sql and keys:
            finding = replace(
                finding,
                drop_sql=None,
                reason=f"{finding.reason}; review: the table is referenced by foreign keys the "
                f"maintenance account cannot see ({'; '.join(keys)}): grant it SELECT on their "
                "schemas so the analysis can check them",
            )
        result.append(finding)
    return result


def naive_utc(moment: datetime) -> datetime:
    """Return ``moment`` as a naive UTC datetime, the form DATETIME columns store."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def render_findings(analysis: IndexAnalysis) -> str:
    """Return the analysis as readable text: a summary line, then one line per finding.

    A ``drop`` finding is followed by its statement; a ``review`` finding has none.
    """
    counts = ", ".join(f"{n} {kind}" for kind, n in analysis.counts().items())
    actions = analysis.actions()
    lines = [
        f"Index analysis of {', '.join(analysis.schemas)}: {analysis.tables} tables, "
        f"{analysis.indexes} indexes, {counts} ({actions['drop']} to drop, "
        f"{actions['review']} to review); {analysis.reclaimable_bytes() / 1048576:.1f} MiB "
        f"in duplicate or redundant indexes ({analysis.duration_s:.2f}s)"
    ]
    lines += [f"note: {note}" for note in analysis.notes]
    for f in analysis.findings:
        size = f" [{f.size_bytes / 1048576:.1f} MiB]" if f.size_bytes else ""
        where = f"{f.schema}.{f.table}" + (f".{f.index}" if f.index else "")
        lines.append(f"{f.kind:<15} {f.action:<6} {where}: {f.reason}{size}")
        if f.drop_sql:
            lines.append(f"{'':<22} {f.drop_sql};")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Catalog access
# --------------------------------------------------------------------------------------------

_ENCODED = re.compile(r"@([0-9a-fA-F]{4})")


def decode_table_name(name: str) -> str:
    """Return a table name from InnoDB's file-name form (``my@002dt#P#p0`` -> ``my-t``).

    Partitions are folded into their table; ``@XXXX`` is a code point in hex. Rarer encodings
    of non-ASCII letters are left as they are (their sizes are then simply not matched).
    """
    base = re.split(r"#[Pp]#", name, maxsplit=1)[0]
    return _ENCODED.sub(lambda m: chr(int(m.group(1), 16)), base)


def _visible(row: Mapping[str, Any]) -> bool:
    # MariaDB 10.6+ has IGNORED ('YES'/'NO'); MySQL 8 has IS_VISIBLE ('YES'/'NO'). The flag
    # belongs to the index, so one of its rows tells (this runs once per index of the server).
    flag = row.get("IGNORED")
    if flag is not None:
        return flag not in ("YES", "yes")
    flag = row.get("IS_VISIBLE")
    return flag is None or flag not in ("NO", "no")


def indexes_from_statistics(
    rows: Iterable[Mapping[str, Any]], sizes: Mapping[tuple[str, str, str], int] | None = None
) -> list[IndexDef]:
    """Build :class:`IndexDef` values from ``information_schema.STATISTICS`` rows and sizes.

    Each index's ``position`` is the order in which the rows list it among its table's
    indexes: the server's key order, the proxy for age (see :func:`keeper_rank`).
    """
    sizes = sizes or {}
    parts: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        parts[(row["TABLE_SCHEMA"], row["TABLE_NAME"], row["INDEX_NAME"])].append(row)
    indexes = []
    positions: dict[tuple[str, str], int] = defaultdict(int)
    for (schema, table, name), own in parts.items():
        position = positions[(schema, table)]
        positions[(schema, table)] += 1
        own = sorted(own, key=lambda r: int(r["SEQ_IN_INDEX"]))
        columns = tuple(
            IndexColumn(
                # MySQL 8 functional key parts have no column name, only an expression.
                r["COLUMN_NAME"] or f"({r.get('EXPRESSION') or '?'})",
                int(r["SUB_PART"]) if r["SUB_PART"] is not None else None,
                r["COLLATION"] == "D",
            )
            for r in own
        )
        last = own[-1]
        indexes.append(
            IndexDef(
                schema=schema,
                table=table,
                name=name,
                columns=columns,
                unique=int(last["NON_UNIQUE"]) == 0,
                primary=name == "PRIMARY",
                index_type=str(last["INDEX_TYPE"] or "BTREE").upper(),
                visible=_visible(own[0]),
                size_bytes=sizes.get((schema, table, name)),
                cardinality=int(last["CARDINALITY"]) if last["CARDINALITY"] is not None else None,
                position=position,
            )
        )
    return indexes


@dataclass
class Catalog:
    """What the analysis reads from the server's catalog, before any decision."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # STATISTICS rows
    tables: list[TableInfo] = field(default_factory=list)
    auto_increment: list[tuple[str, str, str]] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    sizes: dict[tuple[str, str, str], int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_catalog(session: MaintenanceSession, schemas: Sequence[str]) -> Catalog:
    """Read index columns and sizes, base tables, AUTO_INCREMENT columns and foreign keys.

    The STATISTICS pass (the longest: it opens every table) runs on this session while the
    other reads run at the same time on a second connection of the same account, so the
    foreign-key and AUTO_INCREMENT reads that keep the advice safe cost little wall time.
    Without a second connection (a server at max_connections) everything runs here, in turn.
    """
    from concurrent.futures import ThreadPoolExecutor

    from maintenance_ops.core.session import MaintenanceSession as Session

    def side_reads() -> Catalog:
        with Session(session.conn_id, session.settings) as side:
            return _read_keys_and_tables(side, schemas)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(side_reads)
        rows = _read_index_rows(session, schemas)
        try:
            catalog = pending.result()
        except ConnectionFailed as exc:
            log.info("catalog reads in turn (no second connection: %s)", exc)
            catalog = _read_keys_and_tables(session, schemas)
    catalog.rows = rows
    return catalog


def _read_index_rows(session: MaintenanceSession, schemas: Sequence[str]) -> list[dict[str, Any]]:
    stats_sql = load_sql("index_definitions")
    return [row for schema in schemas for row in session.query(stats_sql, (schema,))]


def _read_keys_and_tables(session: MaintenanceSession, schemas: Sequence[str]) -> Catalog:
    """Base tables and AUTO_INCREMENT columns (two queries per schema), foreign keys and index
    sizes (one query each)."""
    tables_sql = load_sql("index_tables")
    auto_sql = load_sql("index_auto_increment")
    catalog = Catalog()
    for schema in schemas:
        catalog.tables += [
            TableInfo(r["schema_name"], r["table_name"], r["engine"], _int_or_none(r["table_rows"]))
            for r in session.query(tables_sql, (schema,))
        ]
        catalog.auto_increment += [
            (r["schema_name"], r["table_name"], r["column_name"])
            for r in session.query(auto_sql, (schema,))
        ]
    catalog.foreign_keys = foreign_keys_from_rows(
        session.query(load_sql("index_foreign_keys"), {"schemas": tuple(schemas)})
    )
    catalog.sizes = read_sizes(session, schemas, catalog.notes)
    return catalog


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None


def hidden_foreign_keys(
    session: MaintenanceSession,
    tables: Iterable[tuple[str, str]],
    visible: Sequence[ForeignKey],
    notes: list[str],
) -> dict[tuple[str, str], list[str]]:
    """Return, per table of ``tables``, the foreign keys on it that InnoDB has and the account
    cannot see in information_schema (one query on InnoDB's own catalog; needs PROCESS)."""
    import MySQLdb

    wanted = set(tables)
    if not wanted or session.dialect is None:
        return {}
    sql = load_sql(
        "cleanup_innodb_foreign_keys", innodb_foreign=session.dialect.innodb_foreign_keys_table()
    )
    try:
        rows = session.query(sql)
    except (MySQLdb.OperationalError, MySQLdb.ProgrammingError) as exc:
        if exc.args[0] not in (1227, 1142, 1044):  # access denied
            raise
        notes.append(
            "foreign keys from schemas the account cannot see are not checked: grant PROCESS "
            "to the maintenance account"
        )
        return {}
    by_parent: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        schema, _, table = str(row["parent"]).partition("/")
        by_parent[(decode_table_name(schema), decode_table_name(table))].append(row)
    found = {
        table: hidden_referencing_keys(by_parent[table], [table], visible)
        for table in wanted & set(by_parent)
    }
    return {table: keys for table, keys in found.items() if keys}


def read_sizes(
    session: MaintenanceSession, schemas: Sequence[str], notes: list[str]
) -> dict[tuple[str, str, str], int]:
    """Return index sizes in bytes from InnoDB's persistent statistics, partitions summed.

    Without SELECT on ``mysql.innodb_index_stats`` the findings carry no size; a note says so.
    """
    import MySQLdb

    page_size = int(session.query_one("SELECT @@innodb_page_size AS p")["p"])
    sizes: dict[tuple[str, str, str], int] = defaultdict(int)
    try:
        rows = session.query(load_sql("index_sizes"), {"schemas": tuple(schemas)})
    except (MySQLdb.OperationalError, MySQLdb.ProgrammingError) as exc:
        if exc.args[0] not in (1142, 1044):  # table access denied
            raise
        notes.append(
            "index sizes unknown: grant SELECT ON mysql.innodb_index_stats to the maintenance "
            "account"
        )
        return {}
    for row in rows:
        key = (row["schema_name"], decode_table_name(row["table_name"]), row["index_name"])
        sizes[key] += int(row["pages"]) * page_size
    return dict(sizes)


# --------------------------------------------------------------------------------------------
# Usage history
# --------------------------------------------------------------------------------------------


def performance_schema_state(session: MaintenanceSession) -> str | None:
    """Return None when index I/O is being counted, else a note saying why not and the fix."""
    if not int(session.query_one("SELECT @@performance_schema AS ps")["ps"] or 0):
        return PERFORMANCE_SCHEMA_OFF
    rows = session.query(
        "SELECT ENABLED AS enabled FROM performance_schema.setup_instruments "
        "WHERE NAME = 'wait/io/table/sql/handler'"
    )
    if not rows or str(rows[0]["enabled"]).upper() != "YES":
        return (
            "performance_schema instrument wait/io/table/sql/handler is disabled; enable it "
            "(performance-schema-instrument='wait/io/table/sql/handler=ON' in my.cnf) to detect "
            "unused indexes"
        )
    return None


def server_boot_time(session: MaintenanceSession) -> datetime:
    """Return when the server started (UTC), from ``UTC_TIMESTAMP()`` and ``Uptime``."""
    now = session.query_one("SELECT UTC_TIMESTAMP() AS now")["now"]
    uptime = session.query("SHOW GLOBAL STATUS LIKE 'Uptime'")
    return now - timedelta(seconds=int(uptime[0]["Value"])) if uptime else now  # type: ignore[no-any-return]


def update_usage(
    session: MaintenanceSession,
    history_schema: str,
    schemas: Sequence[str],
    indexes: Sequence[IndexDef],
    now: datetime,
) -> dict[tuple[str, str, str], UsageRecord]:
    """Fold the current performance_schema counters into ``index_usage``; return the records."""
    history = validate_identifier(history_schema, "history schema")
    for statement in split_statements(load_sql("create_index_usage", history_schema=history)):
        session.execute(statement)
    boot = server_boot_time(session)
    counters = {
        (r["schema_name"], r["table_name"], r["index_name"]): int(r["read_count"] or 0)
        for r in session.query(load_sql("index_usage_counters"), {"schemas": tuple(schemas)})
    }
    previous = {
        (r["schema_name"], r["table_name"], r["index_name"]): UsageRecord(
            r["first_seen"],
            r["last_seen"],
            r["server_boot"],
            int(r["last_reads"]),
            int(r["total_reads"]),
            r["last_used"],
        )
        for r in session.query(
            load_sql("select_index_usage", history_schema=history), {"schemas": tuple(schemas)}
        )
    }
    records = {}
    for index in indexes:
        key = (index.schema, index.table, index.name)
        records[key] = accumulate_usage(previous.get(key), counters.get(key, 0), now, boot)
    _save_usage(session, history, records)
    return records


def _save_usage(
    session: MaintenanceSession, history: str, records: Mapping[tuple[str, str, str], UsageRecord]
) -> None:
    """Upsert usage records in multi-row batches (values bound, never formatted)."""
    sql = load_sql("upsert_index_usage", history_schema=history)
    head, _, tail = sql.partition("VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)")
    row_sql = "(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    items = list(records.items())
    for start in range(0, len(items), _UPSERT_BATCH):
        batch = items[start : start + _UPSERT_BATCH]
        args: list[Any] = []
        for (schema, table, index), r in batch:
            args += [schema, table, index, r.first_seen, r.last_seen, r.server_boot]
            args += [r.last_reads, r.total_reads, r.last_used]
        session.execute(f"{head}VALUES {', '.join([row_sql] * len(batch))}{tail}", args)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def analyze_indexes(
    session: MaintenanceSession,
    schemas: Sequence[str],
    *,
    history_schema: str | None,
    now: datetime,
    unused_days: float = DEFAULT_UNUSED_DAYS,
    max_selectivity: float = DEFAULT_MAX_SELECTIVITY,
    min_rows: int = DEFAULT_MIN_ROWS,
) -> IndexAnalysis:
    """Analyse the indexes of ``schemas``; report only, nothing is dropped.

    :param session: an open maintenance session on the target.
    :param schemas: the schemas to analyse (validated identifiers).
    :param history_schema: where index usage accumulates; None skips unused-index detection.
    :param now: the run's logical time (``data_interval_end``), used for the usage history.
    :param unused_days: how long an index must go without reads to count as unused.
    :param max_selectivity: cardinality/rows below which an index is low-selectivity.
    :param min_rows: tables with fewer estimated rows are not checked for selectivity.
    """
    started = time.monotonic()
    names = [validate_identifier(s, "schema") for s in schemas]
    now = naive_utc(now)
    result = IndexAnalysis(schemas=names)
    if not names:
        result.notes.append("no schemas to analyse")
        return result
    catalog = read_catalog(session, names)
    tables = catalog.tables
    result.notes += catalog.notes
    result.timings["catalog_s"] = time.monotonic() - started  # sizes included (in parallel)
    compare_started = time.monotonic()
    indexes = indexes_from_statistics(catalog.rows, catalog.sizes)
    usage = _usage_or_note(session, result, history_schema, names, indexes, now)
    findings = detect(
        indexes,
        tables,
        max_selectivity=max_selectivity,
        min_rows=min_rows,
        usage=usage,
        now=now,
        unused_days=unused_days,
        needs=key_needs(catalog.foreign_keys, catalog.auto_increment),
    )
    dropping = {(f.schema, f.table) for f in findings if f.drop_sql}
    hidden = hidden_foreign_keys(session, dropping, catalog.foreign_keys, result.notes)
    result.findings = review_hidden(findings, hidden)
    result.timings["compare_s"] = time.monotonic() - compare_started
    result.tables, result.indexes = len(tables), len(indexes)
    result.duration_s = time.monotonic() - started
    log.info(
        "index analysis of %s: %s tables, %s indexes, findings %s in %.2fs",
        ",".join(names),
        result.tables,
        result.indexes,
        result.counts(),
        result.duration_s,
    )
    return result


def _usage_or_note(
    session: MaintenanceSession,
    result: IndexAnalysis,
    history_schema: str | None,
    schemas: Sequence[str],
    indexes: Sequence[IndexDef],
    now: datetime,
) -> dict[tuple[str, str, str], UsageRecord] | None:
    """Return accumulated usage, or None with a note saying why unused indexes are not checked."""
    if history_schema is None:
        result.notes.append("no history schema: unused indexes are not checked")
        return None
    problem = performance_schema_state(session)
    if problem:
        result.notes.append(problem)
        return None
    result.performance_schema = True
    started = time.monotonic()
    usage = update_usage(session, history_schema, schemas, indexes, now)
    result.timings["usage_s"] = time.monotonic() - started
    return usage

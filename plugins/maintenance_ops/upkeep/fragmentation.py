"""Fragmentation analysis: how much space a rebuild of each table would give back.

``DATA_FREE`` alone is wrong: after deleting half the rows of a table at random, the free
space sits inside half-empty pages, which ``DATA_FREE`` (whole free extents) does not count.
The estimate here compares the tablespace file's real size with what the live rows need once
rebuilt: rows x stored row width (measured on a small sample of rows, because the catalog's
``AVG_ROW_LENGTH`` is allocated pages / rows and grows with fragmentation) + InnoDB's per-record
and per-page overhead, with the secondary indexes scaled like the clustered index.

Collecting (:func:`collect`: one catalog query per schema plus one sample per large table) is
kept apart from deciding (:func:`estimate` and :func:`classify`, pure functions).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from maintenance_ops.core.identifiers import qualified, quote_identifier
from maintenance_ops.core.sqlfiles import load_sql

log = logging.getLogger(__name__)

Level = Literal["none", "low", "high"]
Action = Literal["nothing", "rebuild", "skip"]

MIB = 1024 * 1024
PAGE_SIZE = 16384
# InnoDB COMPACT/DYNAMIC record: 5-byte header, 6-byte DB_TRX_ID, 7-byte DB_ROLL_PTR, plus
# about 2 bytes of variable-length header and page-directory slot share per record.
RECORD_OVERHEAD = 20
# A rebuild's sorted bulk load leaves 1/16 of each page free (innodb_fill_factor=100), and each
# page spends ~200 bytes on headers; what a page really holds of records:
PAGE_FILL = (PAGE_SIZE - 200) / PAGE_SIZE * 15 / 16
# An empty file-per-table tablespace (header pages, inode, root pages) before any row.
EMPTY_TABLESPACE = 6 * PAGE_SIZE
# Stored bytes of fixed-width types; any other type is measured with LENGTH() on the sample.
FIXED_WIDTH = {
    "tinyint": 1,
    "smallint": 2,
    "mediumint": 3,
    "int": 4,
    "integer": 4,
    "bigint": 8,
    "float": 4,
    "double": 8,
    "date": 3,
    "time": 3,
    "year": 1,
    "timestamp": 4,
    "datetime": 5,
    "enum": 2,
    "bit": 8,
}


@dataclass(frozen=True)
class TableStats:
    """Catalog numbers of one table (and the measured row width, when sampled)."""

    schema: str
    table: str
    engine: str | None
    rows: int
    data_length: int
    index_length: int
    data_free: int
    file_size: int | None = None
    row_bytes: float | None = None
    blocking_index_types: tuple[str, ...] = ()

    @property
    def size_bytes(self) -> int:
        """Return the table's on-disk size: the file when known, else the catalog's sum."""
        if self.file_size:
            return self.file_size
        return self.data_length + self.index_length + self.data_free


@dataclass(frozen=True)
class FragEstimate:
    """One table's estimated reclaimable space, and what to do about it."""

    schema: str
    table: str
    size_bytes: int
    est_needed_bytes: int
    reclaimable_bytes: int
    ratio: float
    level: Level = "none"
    action: Action = "nothing"
    reason: str = ""
    engine: str | None = None
    blocking_index_types: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable form."""
        data = asdict(self)
        data["blocking_index_types"] = list(self.blocking_index_types)
        return data


@dataclass(frozen=True)
class FragThresholds:
    """When a table is worth rebuilding (fractions of its size that a rebuild would reclaim).

    :param min_size_bytes: smaller tables are skipped: rebuilding them reclaims nothing
        worth a DDL.
    :param low: reclaimable share from which a table is at the *low* level.
    :param high: reclaimable share from which a table is at the *high* level.
    :param actions: action per level (weekly: rebuild only *high*; monthly: *low* too).
    """

    min_size_bytes: int = 16 * MIB
    low: float = 0.2
    high: float = 0.4
    actions: Mapping[Level, Action] = field(
        default_factory=lambda: {"none": "nothing", "low": "nothing", "high": "rebuild"}
    )

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high < 1:
            raise ValueError(
                f"fragmentation levels low={self.low} high={self.high}: need 0 < low <= high < 1"
            )


def _mib(value: float) -> str:
    return f"{value / MIB:.1f} MiB"


def estimate(stats: TableStats) -> FragEstimate:
    """Estimate how many bytes a rebuild of one table would reclaim (level not yet set)."""
    size = stats.size_bytes
    if stats.row_bytes is None or stats.data_length <= 0:
        # Without the row width only the free extents are known: a lower bound.
        reclaimable = min(stats.data_free, size)
        needed = size - reclaimable
        reason = "row width unknown: DATA_FREE only (a lower bound)"
    else:
        clustered = stats.rows * (stats.row_bytes + RECORD_OVERHEAD) / PAGE_FILL
        # Secondary indexes fragment like the clustered index under random deletes.
        indexes = clustered * stats.index_length / stats.data_length
        needed = int(EMPTY_TABLESPACE + clustered + indexes)
        reclaimable = max(size - needed, min(stats.data_free, size), 0)
        reason = (
            f"{stats.rows:,} rows x {stats.row_bytes:.0f} B need ~{_mib(needed)} of {_mib(size)}"
        )
    ratio = reclaimable / size if size else 0.0
    return FragEstimate(
        schema=stats.schema,
        table=stats.table,
        size_bytes=size,
        est_needed_bytes=int(size - reclaimable),
        reclaimable_bytes=int(reclaimable),
        ratio=round(ratio, 4),
        reason=reason,
        engine=stats.engine,
        blocking_index_types=stats.blocking_index_types,
    )


def level_of(ratio: float, thresholds: FragThresholds) -> Level:
    """Return the fragmentation level of a reclaimable share."""
    if ratio >= thresholds.high:
        return "high"
    if ratio >= thresholds.low:
        return "low"
    return "none"


def classify(estimates: Iterable[FragEstimate], thresholds: FragThresholds) -> list[FragEstimate]:
    """Set each estimate's level and action from the thresholds, largest reclaim first."""
    out = []
    for est in estimates:
        if est.size_bytes < thresholds.min_size_bytes:
            out.append(
                replace(
                    est,
                    level="none",
                    action="skip",
                    reason=f"{_mib(est.size_bytes)} < minimum {_mib(thresholds.min_size_bytes)}",
                )
            )
            continue
        level = level_of(est.ratio, thresholds)
        action = thresholds.actions.get(level, "nothing")
        reason = f"{est.ratio:.0%} reclaimable ({level}): {est.reason}"
        out.append(replace(est, level=level, action=action, reason=reason))
    return sorted(out, key=lambda e: (-e.reclaimable_bytes, e.schema, e.table))


# --------------------------------------------------------------------------------------------
# Collecting
# --------------------------------------------------------------------------------------------


def stats_from_row(row: Mapping[str, Any], row_bytes: float | None = None) -> TableStats:
    """Build :class:`TableStats` from one row of ``fragmentation_tables.sql``."""
    kinds = row.get("blocking_index_types") or ""
    return TableStats(
        schema=row["schema_name"],
        table=row["table_name"],
        engine=row.get("engine"),
        rows=int(row["table_rows"] or 0),
        data_length=int(row["data_length"] or 0),
        index_length=int(row["index_length"] or 0),
        data_free=int(row["data_free"] or 0),
        file_size=int(row["file_size"]) if row.get("file_size") else None,
        row_bytes=row_bytes,
        blocking_index_types=tuple(k for k in str(kinds).split(",") if k),
    )


def row_width_sql(schema: str, table: str, columns: Sequence[tuple[str, str]]) -> str:
    """Return the query measuring the average stored row width on a sample (``LIMIT %s``)."""
    fixed = sum(FIXED_WIDTH[dtype] for _, dtype in columns if dtype in FIXED_WIDTH)
    measured = [
        f"COALESCE(LENGTH({quote_identifier(name)}), 0)"
        for name, dtype in columns
        if dtype not in FIXED_WIDTH
    ]
    cols = ", ".join(quote_identifier(name) for name, _ in columns)
    expr = " + ".join([str(fixed), *measured])
    return (
        f"SELECT AVG({expr}) AS row_bytes FROM "  # noqa: S608 - quoted identifiers only
        f"(SELECT {cols} FROM {qualified(schema, table)} LIMIT %s) AS sample"
    )


def sample_row_bytes(
    session: Any, schema: str, table: str, columns: Sequence[tuple[str, str]], sample: int
) -> float | None:
    """Measure a table's average stored row width on its first ``sample`` rows."""
    if not columns:
        return None
    row = session.query_one(row_width_sql(schema, table, columns), (sample,))
    return float(row["row_bytes"]) if row["row_bytes"] is not None else None


def _columns_by_table(session: Any, schema: str) -> dict[str, list[tuple[str, str]]]:
    columns: dict[str, list[tuple[str, str]]] = {}
    for row in session.query(load_sql("fragmentation_columns"), {"schema": schema}):
        columns.setdefault(row["table_name"], []).append(
            (row["column_name"], str(row["data_type"]).lower())
        )
    return columns


def collect(
    session: Any, schema: str, *, min_size_bytes: int = 0, sample_rows: int = 2000
) -> list[TableStats]:
    """Read one schema's table statistics; sample the row width of tables worth it."""
    sql = load_sql("fragmentation_tables", **session.dialect.catalog_names)
    rows = session.query(sql, {"schema": schema})
    columns = _columns_by_table(session, schema) if rows else {}
    stats = []
    for row in rows:
        base = stats_from_row(row)
        if base.size_bytes >= min_size_bytes and base.rows > 0:
            width = sample_row_bytes(
                session, schema, base.table, columns.get(base.table, []), sample_rows
            )
            base = replace(base, row_bytes=width)
        stats.append(base)
    log.info("fragmentation: %s: %s tables read", schema, len(stats))
    return stats


def analyze_schema(
    session: Any, schema: str, thresholds: FragThresholds, *, sample_rows: int = 2000
) -> list[FragEstimate]:
    """Collect, estimate and classify one schema's tables."""
    stats = collect(
        session, schema, min_size_bytes=thresholds.min_size_bytes, sample_rows=sample_rows
    )
    return classify((estimate(s) for s in stats), thresholds)

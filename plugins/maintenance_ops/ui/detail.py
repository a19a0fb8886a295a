"""The database page's data: one database's history over time and its audit log.

Four indexed reads on one connection to the database's history store: health samples over the
period (``by_database_time``), the newest sample's details, the audit log's newest rows with the
page's filter (``by_database_time``, newest first, limited), and restore tests and drills
(``by_database_kind_time``). A table not written yet reads as empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.identifiers import qualified
from maintenance_ops.ui.fleet import (
    LOG,
    MISSING_TABLE_ERRORS,
    RECOVERY,
    SAMPLES,
    Store,
    describe_error,
    error_code,
    open_store,
    store_of,
)

if TYPE_CHECKING:
    from maintenance_ops.core.config import Database

AUDIT_LIMIT = 200
RECOVERY_DAYS = 365
CHART_METRICS = (
    ("Connections", ("connections_pct", "max_used_connections_pct"), "%"),
    ("Replica lag", ("replica_lag_s",), "s"),
    ("Buffer pool hit ratio", ("buffer_pool_hit_pct",), "%"),
    ("InnoDB history list length", ("history_list_length",), ""),
    ("Disk", ("disk_pct",), "%"),
    ("Longest query", ("longest_query_s",), "s"),
)


@dataclass(frozen=True)
class AuditFilter:
    """What the audit table shows: an outcome, a DAG, and text in the command or object."""

    outcome: str | None = None
    dag_id: str | None = None
    text: str | None = None
    limit: int = AUDIT_LIMIT


def audit_sql(schema: str, database: str, flt: AuditFilter) -> tuple[str, list[Any]]:
    """Return the audit log query for one database, newest first (pure)."""
    where = ["database_name = %s"]
    args: list[Any] = [database]
    if flt.outcome:
        where.append("outcome = %s")
        args.append(flt.outcome)
    if flt.dag_id:
        where.append("dag_id = %s")
        args.append(flt.dag_id)
    if flt.text:
        # LOCATE, not LIKE: the user's text is matched as it is, '%' and '_' included.
        where.append("(LOCATE(%s, command) > 0 OR LOCATE(%s, COALESCE(object_name, '')) > 0)")
        args += [flt.text, flt.text]
    sql = (
        "SELECT id, started_at, ended_at, object_name, command, outcome, rows_affected, error, "  # noqa: S608 - quoted identifiers, bound values
        f"dag_id, run_id, task_id, map_index FROM {qualified(schema, LOG)} "
        f"WHERE {' AND '.join(where)} ORDER BY started_at DESC, id DESC LIMIT %s"
    )
    return sql, [*args, max(1, min(flt.limit, 1000))]


@dataclass
class DatabaseHistory:
    """What one database's history store holds for its page."""

    database: str
    history: str
    days: int
    samples: list[dict[str, Any]] = field(default_factory=list)
    latest: dict[str, Any] | None = None
    audit: list[dict[str, Any]] = field(default_factory=list)
    recovery: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def series(self, metric: str) -> list[tuple[datetime, float]]:
        """Return one metric's ``(time, value)`` points, oldest first."""
        if metric == "score":
            return [(s["sampled_at"], float(s["score"])) for s in self.samples]
        out = []
        for sample in self.samples:
            metrics = sample["metrics"]
            if metric == "replica_lag_s":
                lags = [r.get("seconds_behind") for r in sample.get("replicas") or []]
                known = [v for v in lags if isinstance(v, int | float)]
                value = max(known) if known else None
            else:
                value = metrics.get(metric)
            if isinstance(value, int | float):
                out.append((sample["sampled_at"], float(value)))
        return out


def _tolerant(conn: Any, sql: str, args: list[Any]) -> list[dict[str, Any]]:
    """Run a read; a history table not written yet reads as no rows."""
    from maintenance_ops.core import sqlexec

    try:
        return sqlexec.dicts(conn, sql, args)
    except Exception as exc:
        if error_code(exc) in MISSING_TABLE_ERRORS:
            return []
        raise


def _decoded(text: Any) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def read_database(db: Database, now: datetime, *, days: int, flt: AuditFilter) -> DatabaseHistory:
    """Read one database's page from its history store; an unreachable store is said so."""
    store: Store = store_of(db)
    out = DatabaseHistory(db.name, str(store), days)
    try:
        conn = open_store(store)
    except Exception as exc:  # noqa: BLE001 - shown on the page instead of an error page
        out.error = describe_error(exc)
        return out
    samples = qualified(store.schema, SAMPLES)
    try:
        rows = _tolerant(
            conn,
            "SELECT sampled_at, score, status, metrics, "  # noqa: S608
            f"JSON_EXTRACT(details, '$.replicas') AS replicas FROM {samples} "
            "WHERE database_name = %s AND sampled_at >= %s ORDER BY sampled_at",
            [db.name, now - timedelta(days=days)],
        )
        out.samples = [
            {**r, "metrics": _decoded(r["metrics"]) or {}, "replicas": _decoded(r["replicas"])}
            for r in rows
        ]
        latest = _tolerant(
            conn,
            f"SELECT sampled_at, score, status, breaches, details FROM {samples} "  # noqa: S608
            "WHERE database_name = %s ORDER BY sampled_at DESC, id DESC LIMIT 1",
            [db.name],
        )
        if latest:
            row = latest[0]
            out.latest = {
                **row,
                "breaches": _decoded(row["breaches"]) or [],
                "details": _decoded(row["details"]) or {},
            }
        out.audit = _tolerant(conn, *audit_sql(store.schema, db.name, flt))
        out.recovery = _tolerant(
            conn,
            "SELECT kind, tested_at, ok, rto_s, rpo_s, tool "  # noqa: S608
            f"FROM {qualified(store.schema, RECOVERY)} WHERE database_name = %s "
            "AND kind IN ('restore_test', 'dr_drill') AND tested_at >= %s ORDER BY tested_at",
            [db.name, now - timedelta(days=RECOVERY_DAYS)],
        )
    except Exception as exc:  # noqa: BLE001 - shown on the page instead of an error page
        out.error = describe_error(exc)
    finally:
        conn.close()
    return out


def run_audit_sql(schema: str, dag_id: str, run_id: str, names: list[str]) -> tuple[str, list[Any]]:
    """Return the audit rows of one run on some databases, in order (pure; ``by_run`` index)."""
    marks = ", ".join(["%s"] * len(names))
    sql = (
        "SELECT database_name, started_at, ended_at, object_name, command, outcome, "  # noqa: S608 - quoted identifiers, bound values
        f"rows_affected, error, map_index FROM {qualified(schema, LOG)} "
        f"WHERE dag_id = %s AND run_id = %s AND database_name IN ({marks}) ORDER BY id"
    )
    return sql, [dag_id, run_id, *names]


def read_run_audit(
    databases: list[Database], dag_id: str, run_id: str
) -> dict[str, list[dict[str, Any]] | str]:
    """Return each database's audit rows of one run (one read per store), or why not."""
    by_store: dict[Store, list[str]] = {}
    for db in databases:
        by_store.setdefault(store_of(db), []).append(db.name)
    out: dict[str, list[dict[str, Any]] | str] = {}
    for store, names in by_store.items():
        try:
            conn = open_store(store)
            try:
                rows = _tolerant(conn, *run_audit_sql(store.schema, dag_id, run_id, names))
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - shown on the page, the other stores go on
            for name in names:
                out[name] = describe_error(exc)
            continue
        for name in names:
            out[name] = [r for r in rows if r["database_name"] == name]
    return out

"""Recovery evidence over time: restore tests and drills, their RTO and RPO, kept for trends.

The backup-testing DAG records every restore test, the disaster-recovery drill every drill;
the weekly report reads the RTO trend back and the drill's "last successful drill" metric comes
from here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.identifiers import qualified
from maintenance_ops.core.sqlfiles import load_sql, split_statements

if TYPE_CHECKING:
    from maintenance_ops.core.session import MaintenanceSession

RESTORE_TEST = "restore_test"
DR_DRILL = "dr_drill"


@dataclass(frozen=True)
class RecoveryPoint:
    """One recorded restore test or drill."""

    tested_at: datetime
    ok: bool
    rto_s: float | None
    rpo_s: float | None
    tool: str | None


class RecoveryHistory:
    """The ``recovery_tests`` table in one database's history schema.

    :param session: an open session on the history store.
    :param history_schema: the schema holding history tables (created when missing).
    """

    def __init__(self, session: MaintenanceSession, history_schema: str) -> None:
        self.session = session
        for statement in split_statements(
            load_sql("create_recovery_history", history_schema=history_schema)
        ):
            session.execute(statement)
        self.table = qualified(history_schema, "recovery_tests")

    def record(
        self,
        database: str,
        kind: str,
        when: datetime,
        *,
        ok: bool,
        rto_s: float | None,
        rpo_s: float | None,
        tool: str | None = None,
        run_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Write one restore test or drill."""
        self.session.execute(
            f"INSERT INTO {self.table} (database_name, kind, tested_at, run_id, ok, rto_s, "  # noqa: S608
            "rpo_s, tool, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                database,
                kind,
                when,
                run_id,
                int(ok),
                rto_s,
                rpo_s,
                tool,
                json.dumps(details or {}, default=str),
            ),
        )

    def series(self, database: str, kind: str, since: datetime) -> list[RecoveryPoint]:
        """Return the tests of one kind since ``since``, oldest first."""
        rows = self.session.query(
            f"SELECT tested_at, ok, rto_s, rpo_s, tool FROM {self.table} "  # noqa: S608
            "WHERE database_name = %s AND kind = %s AND tested_at >= %s ORDER BY tested_at, id",
            (database, kind, since),
        )
        return [
            RecoveryPoint(r["tested_at"], bool(r["ok"]), r["rto_s"], r["rpo_s"], r["tool"])
            for r in rows
        ]

    def last_success(self, database: str, kind: str) -> datetime | None:
        """Return when the last successful test of this kind ran, or None."""
        row = self.session.query(
            f"SELECT MAX(tested_at) AS at FROM {self.table} "  # noqa: S608
            "WHERE database_name = %s AND kind = %s AND ok = 1",
            (database, kind),
        )
        return row[0]["at"] if row else None


def rto_trend_line(points: list[RecoveryPoint], rto_target_s: float) -> str:
    """Return one readable line on the RTO of recent restore tests (pure).

    E.g. ``RTO trend (4 restore tests): 41s -> 52s -> 60s -> 75s, +83% since the first;
    latest 75s of a 3600s target; 1 failed``.
    """
    timed = [p for p in points if p.rto_s is not None]
    failed = sum(1 for p in points if not p.ok)
    if not timed:
        suffix = f"; {failed} failed" if failed else ""
        return f"RTO trend: no timed restore test in the period{suffix}"
    values = [p.rto_s for p in timed if p.rto_s is not None]
    shown = " -> ".join(f"{v:.0f}s" for v in values[-6:])
    change = (values[-1] - values[0]) / values[0] * 100 if len(values) > 1 and values[0] else None
    parts = [f"RTO trend ({len(values)} restore test{'s' if len(values) != 1 else ''}): {shown}"]
    if change is not None:
        parts.append(f"{change:+.0f}% since the first")
    headroom = "over" if values[-1] > rto_target_s else "of"
    parts.append(f"latest {values[-1]:.0f}s {headroom} a {rto_target_s:.0f}s target")
    if failed:
        parts.append(f"{failed} failed")
    return "; ".join(parts)

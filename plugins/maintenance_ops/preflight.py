"""Preflight: is this database reachable and fit for this DAG, before anything is written?

The decisions (which privileges are missing, whether the window is open) are pure functions;
:func:`run_preflight` does the I/O around them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from maintenance_ops.sqlfiles import load_sql

if TYPE_CHECKING:
    from maintenance_ops.cadences import Cadence
    from maintenance_ops.config import Database, Window
    from maintenance_ops.dialect import Dialect
    from maintenance_ops.session import MaintenanceSession

# Privileges that exist only at the global level (ON *.*).
GLOBAL_ONLY = frozenset(
    {"PROCESS", "RELOAD", "REPLICATION CLIENT", "SUPER", "REPLICATION SLAVE", "SHUTDOWN"}
)
HISTORY_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE"})


def missing_privileges(
    granted: Iterable[tuple[str, str]],
    required: Iterable[str],
    schemas: Iterable[str],
    dialect: Dialect,
    history_schema: str,
) -> list[str]:
    """Return each required privilege the account lacks, as ``PRIV ON scope`` (sorted).

    :param granted: ``(scope, privilege)`` pairs; scope ``*`` means global (``ON *.*``).
    :param required: privileges the DAG needs on every maintained schema (or globally).
    :param schemas: the maintained schemas.
    """
    by_scope: dict[str, set[str]] = {}
    for scope, privilege in granted:
        by_scope.setdefault(scope, set()).add(privilege.upper())
    global_grants = by_scope.get("*", set())
    if "ALL PRIVILEGES" in global_grants:
        return []

    def has(privilege: str, scope: str) -> bool:
        names = dialect.privilege_names(privilege)
        return bool(names & global_grants) or bool(names & by_scope.get(scope, set()))

    missing: set[str] = set()
    for privilege in required:
        if privilege in GLOBAL_ONLY:
            if not has(privilege, "*"):
                missing.add(f"{privilege} ON *.*")
            continue
        missing.update(f"{privilege} ON `{s}`.*" for s in schemas if not has(privilege, s))
    missing.update(
        f"{p} ON `{history_schema}`.*" for p in HISTORY_PRIVILEGES if not has(p, history_schema)
    )
    return sorted(missing)


def window_is_open(now: datetime, window: Window | None) -> bool:
    """Return whether ``now`` falls in the daily maintenance window (no window: always)."""
    if window is None:
        return True
    local: dtime = now.astimezone(ZoneInfo(window.timezone)).time().replace(tzinfo=None)
    if window.start <= window.end:
        return window.start <= local < window.end
    return local >= window.start or local < window.end  # the window spans midnight


@dataclass
class PreflightResult:
    """What the preflight found for one database."""

    database: str
    dag_id: str
    server: str
    flavor: str
    version: str
    schemas: list[str]
    missing_privileges: list[str] = field(default_factory=list)
    window_open: bool = True
    dry_run: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.missing_privileges

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _grantee(current_user: str) -> str:
    """Turn ``user@host`` from CURRENT_USER() into the catalog's ``'user'@'host'``."""
    user, _, host = current_user.rpartition("@")
    return f"'{user}'@'{host}'"


def maintained_schemas(session: MaintenanceSession, db: Database) -> list[str]:
    """Return the schemas this database's maintenance covers (configured, or all user ones)."""
    if db.schemas:
        return list(db.schemas)
    rows = session.query(load_sql("user_schemas"), {"history_schema": db.history_schema})
    return [r["schema_name"] for r in rows]


def run_preflight(
    session: MaintenanceSession,
    cadence: Cadence,
    db: Database,
    *,
    window: Window | None,
    now: datetime,
    dry_run: bool,
) -> PreflightResult:
    """Check privileges and the window on an open session; return what was found."""
    started = time.monotonic()
    assert session.dialect is not None and session.endpoint is not None
    current = session.query_one("SELECT CURRENT_USER() AS u")["u"]
    granted = [
        (r["scope"], r["privilege"])
        for r in session.query(load_sql("current_privileges"), {"grantee": _grantee(current)})
    ]
    schemas = maintained_schemas(session, db)
    return PreflightResult(
        database=db.name,
        dag_id=cadence.dag_id,
        server=str(session.endpoint),
        flavor=session.dialect.version.flavor,
        version=session.dialect.version.raw,
        schemas=schemas,
        missing_privileges=missing_privileges(
            granted, cadence.privileges, schemas, session.dialect, db.history_schema
        ),
        window_open=window_is_open(now, window),
        dry_run=dry_run,
        duration_s=round(time.monotonic() - started, 3),
    )

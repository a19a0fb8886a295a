"""Preflight: is this database reachable and fit for this DAG, before anything is written?

The decisions (which privileges are missing, whether the window is open) are pure functions;
:func:`run_preflight` does the I/O around them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from maintenance_ops.core.grants import (
    Requirement,
    missing,
    parse_show_grants,
    requirements,
    tags_for,
)
from maintenance_ops.core.sqlfiles import load_sql

if TYPE_CHECKING:
    from maintenance_ops.core.cadences import Cadence
    from maintenance_ops.core.config import Database, Window
    from maintenance_ops.core.dialect import Dialect
    from maintenance_ops.core.session import MaintenanceSession


def missing_privileges(
    granted: Iterable[tuple[str, str]],
    cadence_key: str,
    schemas: Sequence[str],
    dialect: Dialect,
    history_schema: str | None,
    *,
    backups: bool = False,
    replicas: bool = False,
    cadence_grants: bool = True,
) -> list[Requirement]:
    """Return each grant of grants.sql that this run needs and the account lacks.

    :param granted: ``(scope, privilege)`` pairs: scope ``*.*``, ``schema.*`` or ``schema.table``.
    :param cadence_key: the cadence that runs (its ``needs`` tag in grants.sql).
    :param schemas: the maintained schemas.
    :param history_schema: the history schema on this server, or None when history lives on a
        central connection (checked there, not here).
    :param backups: this run takes a backup. :param replicas: this run reads replicas.
    :param cadence_grants: False for a step that needs only its features' grants (and those
        every run needs), not its cadence's: the replica checks need no drill grants.
    """
    tags = tags_for(cadence_key, backups=backups, replicas=replicas)
    if not cadence_grants:
        tags -= tags_for(cadence_key)
    needed = requirements(tags, dialect.version, schemas, history_schema)
    found = missing(granted, needed, dialect)
    return sorted(dict.fromkeys(found), key=str)


# The cadences that take a backup when ``backup.enabled``, and those that read replicas.
BACKUP_CADENCES = frozenset({"daily_maintenance", "backup_testing"})
REPLICA_CADENCES = frozenset({"health_check", "disaster_recovery_test"})


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
    """Each missing grant as ``PRIV ON scope``."""
    missing_reasons: list[str] = field(default_factory=list)
    """Why each missing grant is needed (same order), from grants.sql's ``needs`` lines."""
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


def role_privileges(session: MaintenanceSession) -> list[tuple[str, str]]:
    """Return ``(scope, privilege)`` pairs the session has through its enabled roles.

    MySQL 8: the enabled roles from ``information_schema.ENABLED_ROLES``, their privileges from
    ``SHOW GRANTS FOR CURRENT_USER() USING ...`` (the manual's way to see what a user can do
    with given roles; a role granted but not enabled gives nothing, as on the server). Where the
    dialect reads no roles, none.
    """
    assert session.dialect is not None
    sql = session.dialect.enabled_roles_sql()
    if sql is None:
        return []
    roles = [(str(r["role_name"]), str(r["role_host"])) for r in session.query(sql)]
    if not roles:
        return []
    rows = session.query(*session.dialect.grants_using_sql(roles))
    return parse_show_grants(str(next(iter(row.values()))) for row in rows)


def account_privileges(session: MaintenanceSession) -> tuple[str, list[tuple[str, str]]]:
    """Return the account (``'user'@'host'``) and its and its roles' ``(scope, privilege)``s."""
    grantee = _grantee(session.query_one("SELECT CURRENT_USER() AS u")["u"])
    rows = session.query(load_sql("current_privileges"), {"grantee": grantee})
    return grantee, [(r["scope"], r["privilege"]) for r in rows] + role_privileges(session)


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
    backups: bool | None = None,
    replicas: bool | None = None,
    cadence_grants: bool = True,
) -> PreflightResult:
    """Check privileges and the window on an open session; return what was found.

    :param backups: whether this run takes a backup (its grants are needed); None: whenever
        backups are enabled and the cadence is one that takes them.
    :param replicas: whether this run reads replicas; None: whenever the database has some
        and the cadence is one that reads them.
    :param cadence_grants: see :func:`missing_privileges`.
    """
    started = time.monotonic()
    assert session.dialect is not None and session.endpoint is not None
    _, granted = account_privileges(session)
    schemas = maintained_schemas(session, db)
    history = None if db.history_conn_id and db.history_conn_id != db.conn_id else db.history_schema
    lacking = missing_privileges(
        granted,
        cadence.key,
        schemas,
        session.dialect,
        history,
        backups=(db.backup.enabled and cadence.key in BACKUP_CADENCES)
        if backups is None
        else backups,
        replicas=(bool(db.replicas) and cadence.key in REPLICA_CADENCES)
        if replicas is None
        else replicas,
        cadence_grants=cadence_grants,
    )
    return PreflightResult(
        database=db.name,
        dag_id=cadence.dag_id,
        server=str(session.endpoint),
        flavor=session.dialect.version.flavor,
        version=session.dialect.version.raw,
        schemas=schemas,
        missing_privileges=[str(r) for r in lacking],
        missing_reasons=[r.reason for r in lacking],
        window_open=window_is_open(now, window),
        dry_run=dry_run,
        duration_s=round(time.monotonic() - started, 3),
    )

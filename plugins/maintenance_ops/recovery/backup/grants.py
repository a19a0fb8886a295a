"""Refuse a backup, before anything is written, when the account cannot see every object."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from maintenance_ops.core.grants import missing, requirements
from maintenance_ops.core.sqlfiles import load_sql
from maintenance_ops.recovery.backup.errors import BackupRefused

if TYPE_CHECKING:
    from maintenance_ops.core.dialect import Dialect, ServerVersion
    from maintenance_ops.core.session import MaintenanceSession

log = logging.getLogger(__name__)


def routine_grant_missing(
    version: ServerVersion,
    granted: Sequence[tuple[str, str]],
    schemas: Sequence[str],
    proc_readable: bool,
) -> str | None:
    """Return the grant without which the account misses other definers' routines, or None.

    information_schema.ROUTINES, ``SHOW PROCEDURE STATUS`` and the dump tools show an account
    only its own routines unless: MariaDB, MySQL 5.7: it reads ``mysql.proc`` (MariaDB 11.3+
    also ``SHOW CREATE ROUTINE``); MySQL 8.0.20+: ``SHOW_ROUTINE``; MySQL 8.0 before: global
    ``SELECT``. Global ``SELECT`` works everywhere.

    :param granted: ``(scope, privilege)`` pairs (scope ``*.*``, ``schema.*``, ``schema.table``).
    :param proc_readable: whether a ``SELECT`` on ``mysql.proc`` succeeded.
    """
    by_scope: dict[str, set[str]] = {}
    for scope, privilege in granted:
        by_scope.setdefault(scope, set()).add(privilege.upper())
    on_all = by_scope.get("*.*", set())
    if on_all & {"ALL PRIVILEGES", "SELECT"} or proc_readable:
        return None
    if version.flavor == "mariadb":
        show_create = {"SHOW CREATE ROUTINE", "ALL PRIVILEGES"}
        if version.at_least(11, 3) and all(
            (on_all | by_scope.get(f"{s}.*", set())) & show_create for s in schemas
        ):
            return None
        return "SELECT ON `mysql`.`proc`"
    if version.at_least(8, 0, 20):
        return None if "SHOW_ROUTINE" in on_all else "SHOW_ROUTINE ON *.*"
    return "SELECT ON *.*" if version.at_least(8) else "SELECT ON `mysql`.`proc`"


def backup_grant_problems(
    dialect: Dialect,
    granted: Sequence[tuple[str, str]],
    schemas: Sequence[str],
    history_schema: str,
    *,
    proc_readable: bool,
) -> list[str]:
    """Return each grant the account lacks to back up ``schemas`` completely, with its reason.

    The grants are grants.sql's ``backups`` lines (views, triggers, events, the history schema,
    the tools' locks), plus the routine grant of :func:`routine_grant_missing`, which is
    checked against the server's behaviour too (a grant file may lack it for this version).
    """
    needed = requirements({"backups"}, dialect.version, schemas, history_schema)
    lacking = {str(r): r.reason for r in missing(granted, needed, dialect)}
    routine = routine_grant_missing(dialect.version, granted, schemas, proc_readable)
    if routine is not None and routine not in lacking:
        lacking[routine] = "without it the account sees only its own routines"
    return [f"{grant} ({reason})" for grant, reason in sorted(lacking.items())]


def _proc_readable(session: MaintenanceSession) -> bool:
    try:
        session.query(load_sql("backup_proc_readable"))
    except Exception as exc:  # noqa: BLE001 - the answer to the question, not a failure
        log.info("mysql.proc is not readable by this account: %s", exc)
        return False
    return True


def check_backup_grants(
    session: MaintenanceSession, database_name: str, schemas: Sequence[str], history_schema: str
) -> None:
    """Refuse the backup, before anything is written, when the account cannot see everything.

    A dump made by an account that cannot see a routine (or view, trigger, event) silently
    lacks it, and a manifest read through the same eyes would not miss it either.
    """
    from maintenance_ops.core.preflight import account_privileges

    assert session.dialect is not None
    grantee, granted = account_privileges(session)
    data_schemas = [s for s in schemas if s != history_schema]
    proc = session.dialect.version.flavor == "mariadb" or not session.dialect.version.at_least(8)
    problems = backup_grant_problems(
        session.dialect,
        granted,
        data_schemas,
        history_schema,
        proc_readable=proc and _proc_readable(session),
    )
    if problems:
        fixes = "; ".join(f"GRANT {p.split(' (', 1)[0]} TO {grantee}" for p in problems)
        raise BackupRefused(
            f"backup of {database_name} refused, nothing written: the account {grantee} cannot "
            f"see every object of {', '.join(data_schemas)}, so the backup and its manifest "
            f"would silently miss them. Missing: {'; '.join(problems)}. Fix, as an "
            f"administrator: {fixes} (include/sql/grants.sql lists every grant)"
        )

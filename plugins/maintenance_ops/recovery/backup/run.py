"""Take one backup: the orchestration of :func:`take_backup`."""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from maintenance_ops.recovery.backup.catalog import (
    _resolve_schemas,
    catalog_objects,
    write_heartbeat,
)
from maintenance_ops.recovery.backup.commands import backup_tool, check_tool
from maintenance_ops.recovery.backup.errors import BackupError
from maintenance_ops.recovery.backup.grants import check_backup_grants
from maintenance_ops.recovery.backup.layout import (
    MANIFEST_FORMAT,
    STAMP_FORMAT,
    _file_table,
    _storage_path,
)
from maintenance_ops.recovery.backup.pipelines import (
    _coordinates_file,
    _effective_compression,
    _Job,
    _run_and_count,
)
from maintenance_ops.recovery.backup.snapshot import _binlog_enabled, counts_exact
from maintenance_ops.recovery.backup.transfer import _publish, _staging_dir
from maintenance_ops.recovery.definitions import DEFINITIONS_FORMAT
from maintenance_ops.recovery.encryption import backup_secret, encrypt_tree, sign_manifest

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from maintenance_ops.core.audit import AuditLog
    from maintenance_ops.core.config import BackupSettings
    from maintenance_ops.core.session import MaintenanceSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupResult:
    """One finished backup: where it is, its manifest, how long it took and its size."""

    path: ObjectStoragePath
    manifest: dict[str, Any]
    duration_s: float
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "tool": self.manifest["tool"],
            "started_at": self.manifest["started_at"],
            "duration_s": round(self.duration_s, 3),
            "bytes": self.bytes,
            "row_counts_exact": self.manifest["row_counts_exact"],
        }


def _build_manifest(job: _Job, **parts: Any) -> dict[str, Any]:
    version = job.session.dialect.version if job.session.dialect else None
    return {
        "format": MANIFEST_FORMAT,
        "database": job.database_name,
        "tool": job.tool,
        "tool_version": parts["tool_version"],
        "server": {
            "flavor": version.flavor if version else None,
            "version": version.raw if version else None,
        },
        "started_at": parts["started_at"].isoformat(),
        "ended_at": parts["ended_at"].isoformat(),
        "binlog": parts["binlog"].to_dict(),
        "schemas": job.schemas,
        "objects": parts["objects"],
        "definitions": parts["definitions"],
        "definitions_format": DEFINITIONS_FORMAT,
        "row_counts": parts["row_counts"],
        "row_counts_exact": parts["exact"],
        "heartbeat": parts["heartbeat"],
        "compression": job.compression,
        "files": parts["files"],
        "encrypted": False,
        **({"note": parts["note"]} if parts.get("note") else {}),
    }


def take_backup(
    session: MaintenanceSession,
    *,
    conn_id: str,
    database_name: str,
    schemas: Sequence[str],
    history_schema: str,
    settings: BackupSettings,
    audit: AuditLog | None = None,
    now: datetime | None = None,
) -> BackupResult:
    """Take one backup of ``schemas`` (plus the history schema) with its manifest.

    :param session: an open session on the source (reads the catalog, counts rows).
    :param conn_id: the source's Airflow connection; the tool reads its credentials from a
        private option file, never from the command line.
    :param database_name: the database's name in configuration (folder name).
    :param schemas: schemas to back up; empty means every user schema.
    :param history_schema: schema of the heartbeat table; always included in the backup.
    :param settings: the database's ``backup`` section (location, tool, compression).
    :param audit: when given, the backup is one audited action.
    :param now: the backup's time stamp (UTC); defaults to the current time.
    """
    tool = backup_tool(settings, session.dialect)
    context: Any = (
        audit.action(database_name, f"backup {tool}", ", ".join(schemas) or None)
        if audit is not None
        else contextlib.nullcontext()
    )
    with context as entry:
        result = _take_backup(
            session, conn_id, database_name, schemas, history_schema, settings, tool, now
        )
        if entry is not None:
            entry.details.update(result.to_dict())
        return result


def _take_backup(
    session: MaintenanceSession,
    conn_id: str,
    database_name: str,
    schemas: Sequence[str],
    history_schema: str,
    settings: BackupSettings,
    tool: str,
    now: datetime | None,
) -> BackupResult:
    # Read the key first: a backup that cannot be encrypted must not be written in the clear.
    secret = backup_secret(settings.encryption_conn_id) if settings.encryption_conn_id else None
    started = (now or datetime.now(UTC)).astimezone(UTC)
    final = (
        _storage_path(settings.location)
        / database_name
        / f"{started.strftime(STAMP_FORMAT)}-{tool}"
    )
    if final.exists():
        raise BackupError(f"backup folder {final} already exists; wait a second and run again")
    assert session.dialect is not None
    binlog = _binlog_enabled(session)
    version = check_tool(tool, session.dialect, binlog=binlog)
    clock = time.monotonic()
    chosen = _resolve_schemas(session, schemas, history_schema)
    check_backup_grants(session, database_name, chosen, history_schema)
    job = _Job(
        session,
        conn_id,
        database_name,
        chosen,
        settings,
        _staging_dir(final),
        tool,
        binlog,
        _effective_compression(tool, settings.compression),
    )
    try:
        heartbeat = write_heartbeat(session, history_schema, database_name)
        catalog = catalog_objects(session, job.schemas)
        snap, tool_binlog, counter_after = _run_and_count(job, catalog)
        if secret is not None:
            encrypt_tree(job.staging, secret)
        files = _file_table(job.staging)
        manifest = _build_manifest(
            job,
            tool_version=version,
            started_at=started,
            ended_at=datetime.now(UTC),
            binlog=tool_binlog,
            objects=catalog.objects,
            definitions=catalog.definitions,
            row_counts=snap.row_counts,
            exact=counts_exact(snap, tool_binlog, counter_after),
            heartbeat=heartbeat,
            files=files,
            note="raw mariabackup output: not prepared, not compressed"
            if job.tool == "mariabackup"
            else None,
        )
        if secret is not None:
            sign_manifest(manifest, secret)
        _publish(job.staging, final, manifest)
    finally:
        shutil.rmtree(job.staging, ignore_errors=True)
        shutil.rmtree(job.staging.parent / f"{job.staging.name}.stderr", ignore_errors=True)
        _coordinates_file(job).unlink(missing_ok=True)
    size = sum(f["bytes"] for f in files.values())
    duration = time.monotonic() - clock
    log.info(
        "Backup of %s with %s: %s (%s bytes, %s tables, counts %s) in %.1f s",
        database_name,
        job.tool,
        final,
        size,
        len(catalog.tables),
        "exact" if manifest["row_counts_exact"] else "approximate",
        duration,
    )
    return BackupResult(final, manifest, duration, size)

"""The backup folder layout: stamps, manifests, checksums, listing and retention.

The layout itself is documented in :mod:`maintenance_ops.recovery.backup`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.exceptions import ConfigError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath


log = logging.getLogger(__name__)


MANIFEST_NAME = "manifest.json"
INCOMPLETE_NAME = ".incomplete"
MANIFEST_FORMAT = 1
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
BACKUP_DIR = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<tool>[a-z][a-z0-9_-]*)$")
STAGING_PREFIX = ".staging-"
STALE_STAGING = timedelta(days=1)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BackupInfo:
    """A backup folder found at a location; ``manifest`` is None for a manifest-less one."""

    path: ObjectStoragePath
    stamp: datetime
    tool: str
    manifest: dict[str, Any] | None = None

    @property
    def complete(self) -> bool:
        """Return whether the manifest says the backup finished (checksums not re-read)."""
        return manifest_complete(self.manifest)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "stamp": self.stamp.isoformat(),
            "tool": self.tool,
            "has_manifest": self.manifest is not None,
            "complete": self.complete,
        }


HASH_WORKERS = max(2, min(8, os.cpu_count() or 2))


def sha256_file(path: Any) -> str:
    """Return the hex sha256 of a file (a ``Path``, ``ObjectStoragePath`` or path string)."""
    digest = hashlib.sha256()
    opener = path.open if hasattr(path, "open") else Path(path).open
    with opener("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_table(root: Path) -> dict[str, dict[str, Any]]:
    """Return ``{relative/path: {bytes, sha256}}`` for every file under ``root``."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative != MANIFEST_NAME:
            files[relative] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return files


def verify_files(backup_path: Any, manifest: dict[str, Any]) -> list[str]:
    """Return every problem with a backup's files: missing, wrong size, bad sha256, unlisted.

    An empty list means every listed file is present and intact and nothing else is there (a
    file added beside them, a plaintext ``*-schema-create.sql`` say, would be loaded by
    myloader). Sizes are compared first so a truncated file is named without reading it.
    """
    files = manifest.get("files") or {}
    if isinstance(backup_path, str | os.PathLike):
        backup_path = Path(backup_path)
    if not files:
        return [f"manifest of {backup_path} lists no files"]
    # hashlib releases the GIL on large buffers: files are hashed on every core at once.
    with ThreadPoolExecutor(max_workers=HASH_WORKERS) as pool:
        found = pool.map(
            lambda item: _file_problem(backup_path / item[0], item[0], item[1]),
            sorted(files.items()),
        )
        problems = [problem for problem in found if problem]
    if hasattr(backup_path, "rglob") and backup_path.is_dir():  # a folder, local or remote
        from maintenance_ops.recovery.encryption import unlisted_files

        problems += [
            f"{name} is not listed in the manifest (added after the backup?)"
            for name in unlisted_files(backup_path, manifest)
        ]
    return problems


def _file_problem(path: Any, relative: str, expected: dict[str, Any]) -> str | None:
    if not path.exists():
        return f"{relative} is missing"
    size = path.stat().st_size
    want = expected.get("bytes")
    if want is not None and size != want:
        kind = "truncated" if size < want else "grown"
        return f"{relative} is {kind}: {size} bytes, manifest says {want}"
    actual = sha256_file(path)
    if actual != expected.get("sha256"):
        return f"{relative} fails its checksum (sha256 {actual}, manifest {expected.get('sha256')})"
    return None


def manifest_complete(manifest: dict[str, Any] | None) -> bool:
    """Return whether a manifest describes a finished backup of this format with files."""
    return bool(
        manifest
        and manifest.get("format") == MANIFEST_FORMAT
        and manifest.get("ended_at")
        and manifest.get("files")
    )


def _storage_path(location: Any) -> ObjectStoragePath:
    from airflow.sdk import ObjectStoragePath

    if isinstance(location, ObjectStoragePath):
        return location
    path = ObjectStoragePath(location)
    if _is_remote(path) and path.conn_id:
        _require_connection(path.conn_id, path.protocol)
    return path


def _require_connection(conn_id: str, protocol: str) -> None:
    """Refuse a location naming a connection that does not exist.

    The Amazon provider would fall back to the worker's default AWS credentials (or anonymous
    access) and the backup would go out with whatever those are, or fail far from the cause.
    """
    from maintenance_ops.core.connections import ConnectionNotDefined, get_connection

    try:
        get_connection(conn_id, example="--conn-type aws --conn-login ACCESS_KEY")
    except ConnectionNotDefined as exc:
        raise ConfigError(
            f"backup.location names Airflow connection {conn_id!r}, which is not defined; "
            f"create it (for {protocol}://, an `aws` connection with the access key as login, "
            'the secret as password and, for a non-AWS endpoint, {"endpoint_url": ...} in '
            f"its extra). {exc}"
        ) from None


def parse_stamp(stamp: str) -> datetime:
    """Parse a folder stamp (``20260101T020000Z``) into an aware UTC datetime."""
    return datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC)


def _read_manifest(folder: Any) -> dict[str, Any] | None:
    path = folder / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        # An unreadable manifest is reported by the restore test; here it is just absent.
        log.warning("Backup %s: manifest.json is unreadable: %s", folder, exc)
        return None
    return data if isinstance(data, dict) else None


def list_backups(location: Any, database_name: str) -> list[BackupInfo]:
    """List the backups of one database at a location, newest first.

    Folders that do not follow the layout (and staging folders) are ignored; a folder that
    follows it but has no ``manifest.json`` is listed with ``manifest=None``.
    """
    root = _storage_path(location) / database_name
    if _is_remote(root):
        # fsspec keeps listings (with each object's ETag) for the life of the process: a second
        # look would see the first one's objects, and reading one changed since then fails
        # with FileExpired instead of its checksum. Each look at the location reads it anew.
        root.fs.invalidate_cache()
    if not root.exists():
        return []
    infos = []
    for child in root.iterdir():
        match = BACKUP_DIR.match(child.name)
        if match and child.is_dir():
            manifest = _read_manifest(child)
            if manifest is None and (child / INCOMPLETE_NAME).exists():
                continue  # an upload that a killed run left half done: not a backup
            stamp = parse_stamp(match["stamp"])
            infos.append(BackupInfo(child, stamp, match["tool"], manifest))
    return sorted(infos, key=lambda info: (info.stamp, info.tool), reverse=True)


def latest_backup(location: Any, database_name: str) -> BackupInfo | None:
    """Return the newest backup of a database at a location (with or without manifest)."""
    backups = list_backups(location, database_name)
    return backups[0] if backups else None


def retention_plan(
    infos: Sequence[BackupInfo], now: datetime, retention_days: int, keep_count: int
) -> tuple[list[BackupInfo], list[BackupInfo]]:
    """Split backups into (keep, remove), both newest first.

    A backup is removed only when all hold: it is older than ``retention_days``; it is not
    among the newest ``keep_count`` backups; it has a manifest (a manifest-less folder may
    belong to an external system, which keeps its own retention); and it is not the newest
    complete backup, which is kept whatever its age so there is always something to restore.
    """
    ordered = sorted(infos, key=lambda info: info.stamp, reverse=True)
    newest_good = next((info for info in ordered if info.complete), None)
    cutoff = now - timedelta(days=retention_days)
    keep: list[BackupInfo] = []
    remove: list[BackupInfo] = []
    for rank, info in enumerate(ordered):
        protected = rank < keep_count or info is newest_good or info.manifest is None
        (keep if protected or info.stamp >= cutoff else remove).append(info)
    return keep, remove


def _remove_stale_staging(root: Any, now: datetime) -> list[str]:
    """Remove what killed runs left at the location once it is a day old.

    On local storage that is a ``.staging-*`` folder; on object storage (where runs stage in a
    local temp folder) a backup folder whose upload never finished: no manifest, and the
    ``.incomplete`` marker :func:`_publish` writes first and removes last.
    """
    if not root.exists():
        return []
    removed = []
    for child in root.iterdir():
        match = BACKUP_DIR.match(child.name.removeprefix(STAGING_PREFIX))
        if not match or now - parse_stamp(match["stamp"]) <= STALE_STAGING:
            continue
        if _is_remote(child):
            if (child / MANIFEST_NAME).exists() or not (child / INCOMPLETE_NAME).exists():
                continue
        elif not child.name.startswith(STAGING_PREFIX):
            continue
        log.info("Retention: removing abandoned staging folder %s", child)
        _remove_tree(child)
        removed.append(str(child))
    return removed


def _remove_tree(path: Any) -> None:
    """Remove a folder and everything under it, on local or object storage."""
    if _is_remote(path):
        path.rmdir(recursive=True)
    else:
        shutil.rmtree(_local(path), ignore_errors=True)


def apply_retention(
    location: Any, database_name: str, *, retention_days: int, keep_count: int, now: datetime
) -> list[str]:
    """Delete the backups :func:`retention_plan` says to remove; return their paths.

    ``now`` may be naive (UTC, as operators hold the run's time) or aware.
    """
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    keep, remove = retention_plan(
        list_backups(location, database_name), now, retention_days, keep_count
    )
    removed = _remove_stale_staging(_storage_path(location) / database_name, now)
    for info in remove:
        age_days = (now - info.stamp).total_seconds() / 86400
        log.info("Retention: removing backup %s (%.1f days old)", info.path, age_days)
        _remove_tree(info.path)
        removed.append(str(info.path))
    log.info(
        "Retention for %s: kept %s, removed %s (retention_days=%s, keep_count=%s)",
        database_name,
        len(keep),
        len(removed),
        retention_days,
        keep_count,
    )
    return removed


def _is_remote(path: Any) -> bool:
    return getattr(path, "protocol", "file") not in ("file", "local")


def _local(path: Any) -> Path:
    return Path(path.path) if hasattr(path, "path") else Path(path)

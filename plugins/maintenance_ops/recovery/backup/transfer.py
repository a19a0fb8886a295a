"""Stage, publish and download backups, and remove what killed runs left behind."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maintenance_ops.recovery.backup.commands import CREDENTIALS_FILE_PREFIX
from maintenance_ops.recovery.backup.layout import (
    _CHUNK,
    INCOMPLETE_NAME,
    MANIFEST_NAME,
    STAGING_PREFIX,
    _is_remote,
    _local,
)

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath


log = logging.getLogger(__name__)


def _staging_dir(final: ObjectStoragePath) -> Path:
    """Stage beside the final folder on local storage (one rename at the end), else in /tmp."""
    if _is_remote(final):
        # pid-tagged: the next run's leftover cleanup removes it (and its .stderr/.coordinates
        # beside it) when a kill left it behind: it holds the dump in plaintext.
        return Path(tempfile.mkdtemp(prefix=f"{REMOTE_STAGING_PREFIX}{os.getpid()}-"))
    local = _local(final)
    staging = local.parent / f"{STAGING_PREFIX}{local.name}"
    local.parent.mkdir(parents=True, exist_ok=True)
    staging.mkdir(mode=0o700)  # plain files live here until encrypted and published
    return staging


FETCHED_PREFIX = "mmc-fetched-"
REMOTE_STAGING_PREFIX = "mmc-backup-staging-"


def remove_dead_pid_leftovers(parent: Path, prefix: str) -> list[str]:
    """Remove ``<parent>/<prefix><pid>-*`` files and folders whose process is gone; list them.

    Every private file or folder that can outlive a killed run (option files with a password,
    plaintext staging, decrypted and downloaded copies) carries its creator's pid this way.
    """
    removed = []
    for entry in parent.glob(f"{prefix}*"):
        pid = entry.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(str(entry))
    return removed


def cleanup_backup_leftovers() -> list[str]:
    """Remove the option files and remote-bound staging folders that killed backups left."""
    tmp = Path(tempfile.gettempdir())
    removed = []
    for prefix in (CREDENTIALS_FILE_PREFIX, REMOTE_STAGING_PREFIX):
        removed += remove_dead_pid_leftovers(tmp, prefix)
    for path in removed:
        log.warning("removed leftover of a killed backup %s", path)
    return removed


def download_tree(source: Any, dest: Path) -> int:
    """Copy every file under ``source`` (an ``ObjectStoragePath``) into ``dest``; return bytes."""
    copied = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        target = dest / path.relative_to(source).as_posix()
        target.parent.mkdir(parents=True, exist_ok=True)
        with path.open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        copied += target.stat().st_size
    return copied


@contextlib.contextmanager
def local_copy(path: Any, base_dir: Path | None = None) -> Iterator[Path]:
    """Yield a local folder with the backup's files: itself on local storage, else a download.

    Restoring needs local files; a backup on object storage is downloaded into a private
    folder (named with this process's id, so a killed run's copy is found and removed by
    ``cleanup_restore_leftovers``) and removed afterwards.
    """
    if not _is_remote(path):
        yield _local(path)
        return
    if base_dir is not None:
        base_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{FETCHED_PREFIX}{os.getpid()}-", dir=base_dir))
    try:
        started = time.monotonic()
        copy = folder / path.name
        size = download_tree(path, copy)
        log.info("Downloaded %s (%s bytes) in %.1f s", path, size, time.monotonic() - started)
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _publish(staging: Path, final: ObjectStoragePath, manifest: dict[str, Any]) -> None:
    """Move or upload the staged files, then write ``manifest.json`` last."""
    (staging / MANIFEST_NAME).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    if not _is_remote(final):
        staging.rename(_local(final))
        return
    # Object storage has no rename: files are uploaded one by one. The marker, written first
    # and removed last, tells a half upload (a killed or failed run) from an external backup
    # without a manifest: it is not listed, and retention removes it once a day old.
    marker = final / INCOMPLETE_NAME
    marker.write_bytes(b"")
    for path in sorted(p for p in staging.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
        target = final / path.relative_to(staging).as_posix()
        with path.open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
    (final / MANIFEST_NAME).write_text((staging / MANIFEST_NAME).read_text(encoding="utf-8"))
    marker.unlink()
    shutil.rmtree(staging, ignore_errors=True)

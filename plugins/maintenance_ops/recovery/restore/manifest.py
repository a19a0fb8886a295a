"""Read what a backup is: its manifest, the tool that made it, its flavor, age and signature."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Literal

from maintenance_ops.core.checks import Check
from maintenance_ops.core.config import BackupSettings
from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.exceptions import VerificationError
from maintenance_ops.recovery.encryption import backup_secret, signature_ok

Tool = Literal["mariadb-dump", "mysqldump", "mydumper", "mariabackup"]
TOOLS: tuple[Tool, ...] = ("mariadb-dump", "mysqldump", "mydumper", "mariabackup")
MANIFEST_NAME = "manifest.json"
DUMP_NAMES = ("dump.sql.zst", "dump.sql.gz", "dump.sql")


def load_manifest(backup_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return the backup's manifest, or None when the backup has none (external backups)."""
    path = Path(backup_path) / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VerificationError(
            f"manifest {path} is unreadable ({exc}); the backup cannot be trusted, take a new one"
        ) from None
    if not isinstance(data, dict):
        raise VerificationError(f"manifest {path} is not a JSON object; take a new backup")
    return data


def detect_tool(backup_path: str | os.PathLike[str], manifest: dict[str, Any] | None) -> Tool:
    """Return the tool that made the backup: from the manifest, else from the folder's content."""
    path = Path(backup_path)
    named = str((manifest or {}).get("tool") or path.name)
    for tool in TOOLS:
        if named == tool or named.endswith(f"-{tool}"):
            return tool
    if (path / "mydumper").is_dir():
        return "mydumper"
    if (path / "mariabackup").is_dir():
        return "mariabackup"
    if find_dump_file(path) is not None:
        return "mariadb-dump"
    raise VerificationError(
        f"cannot tell which tool made the backup in {path}: expected {', '.join(DUMP_NAMES)}, "
        "mydumper/ or mariabackup/ (see the backup layout in docs)"
    )


def find_dump_file(backup_path: Path) -> Path | None:
    """Return the logical dump file of a backup folder, if any."""
    for name in DUMP_NAMES:
        if (backup_path / name).is_file():
            return backup_path / name
    return None


def backup_dialect(manifest: dict[str, Any] | None) -> Dialect | None:
    """Return the dialect of the server a backup was taken from (None: the manifest lacks it)."""
    server = (manifest or {}).get("server") or {}
    raw = server.get("version")
    if not raw:
        return None
    return Dialect(parse_version(str(raw), "MariaDB" if server.get("flavor") == "mariadb" else ""))


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def rpo_check(manifest: dict[str, Any] | None, now: dt.datetime, rpo_hours: float) -> Check:
    """Judge the backup's age at test time against the RPO target."""
    if not manifest or not manifest.get("ended_at"):
        return Check("rpo", "skipped", "no manifest: backup end time unknown")
    age_s = (now - _parse_time(str(manifest["ended_at"]))).total_seconds()
    hours = age_s / 3600.0
    if hours > rpo_hours:
        return Check(
            "rpo",
            "fail",
            f"backup is {hours:.1f} h old, older than the RPO target {rpo_hours:g} h; "
            "check that backups still run",
        )
    return Check("rpo", "pass", f"backup is {hours:.1f} h old (RPO target {rpo_hours:g} h)")


def backup_age_s(manifest: dict[str, Any] | None, now: dt.datetime) -> float | None:
    """Return seconds between the backup's end and ``now``, or None without a manifest."""
    if not manifest or not manifest.get("ended_at"):
        return None
    return (now - _parse_time(str(manifest["ended_at"]))).total_seconds()


def decryption_secret(
    manifest: dict[str, Any] | None, settings: BackupSettings
) -> tuple[str | None, Check | None]:
    """Return the decryption secret of an encrypted backup and the check of its signature."""
    if not (manifest or {}).get("encrypted"):
        if settings.encryption_conn_id:
            # Backups here are written encrypted: a plain one was not written by this package.
            return None, Check(
                "encryption",
                "fail",
                "the backup is not encrypted although backup.encryption_conn_id is set: it was "
                "not written by this package's encrypted backups (replaced or external)",
            )
        return None, None
    assert manifest is not None
    if not settings.encryption_conn_id:
        return None, Check(
            "encryption",
            "fail",
            "the backup is encrypted but backup.encryption_conn_id is not set; name the "
            "connection holding its key",
        )
    secret = backup_secret(settings.encryption_conn_id)
    if not signature_ok(manifest, secret):
        return None, Check(
            "encryption",
            "fail",
            f"the manifest is not signed with the key of {settings.encryption_conn_id!r}: "
            "wrong key, or the manifest or its checksums were altered",
        )
    return secret, Check("encryption", "pass", "manifest signature matches the key")


def file_problems(
    listed: dict[str, dict[str, Any]], found: dict[str, tuple[int, str]]
) -> list[str]:
    """Return how the files found differ from the manifest's: missing, resized, changed, added.

    The same findings as :func:`maintenance_ops.recovery.backup.verify_files`, from sizes and sha256
    already taken (while the files were copied, say) instead of reading them again.

    :param listed: the manifest's ``files`` (``{relative/path: {bytes, sha256}}``).
    :param found: ``{relative/path: (bytes, sha256)}`` of every file present.
    """
    problems: list[str] = []
    for name, expected in sorted(listed.items()):
        if name not in found:
            problems.append(f"{name} is missing")
            continue
        size, sha256 = found[name]
        want = expected.get("bytes")
        if want is not None and size != want:
            kind = "truncated" if size < want else "grown"
            problems.append(f"{name} is {kind}: {size} bytes, manifest says {want}")
        elif sha256 != expected.get("sha256"):
            problems.append(
                f"{name} fails its checksum (sha256 {sha256}, manifest {expected.get('sha256')})"
            )
    problems += [
        f"{name} is not listed in the manifest (added after the backup?)"
        for name in sorted(set(found) - set(listed))
    ]
    return problems

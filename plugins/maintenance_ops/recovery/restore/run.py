"""Run a restore test: restore, verify, tear down, and measure RTO and RPO."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.checks import Check
from maintenance_ops.core.config import BackupSettings, RestoreTarget
from maintenance_ops.core.exceptions import InstanceError, VerificationError
from maintenance_ops.core.identity import SourceServer
from maintenance_ops.core.instance import cleanup_stale
from maintenance_ops.recovery.backup import (
    FETCHED_PREFIX,
    cleanup_backup_leftovers,
    remove_dead_pid_leftovers,
    sha256_file,
    verify_files,
)
from maintenance_ops.recovery.encryption import DECRYPTED_PREFIX, decrypted_copy, unlisted_files
from maintenance_ops.recovery.restore.loaders import (
    CREDENTIALS_PREFIX,
    PreparedInstance,
    restore_dump,
    restore_mydumper,
)
from maintenance_ops.recovery.restore.manifest import (
    DUMP_NAMES,
    Tool,
    backup_age_s,
    backup_dialect,
    decryption_secret,
    detect_tool,
    file_problems,
    find_dump_file,
    load_manifest,
    rpo_check,
)
from maintenance_ops.recovery.restore.targets import (
    EphemeralTarget,
    TargetHandle,
    open_target,
    restore_spec,
)
from maintenance_ops.recovery.restore.verify import LoadFollower, TableChecker, verify_restore

if TYPE_CHECKING:
    from maintenance_ops.core.audit import AuditEntry

log = logging.getLogger(__name__)


# Tables checked at once after a restore: the machines we target have two cores or more.
VERIFY_WORKERS = 2
# Where a mariabackup backup's raw files are, inside the backup folder.
MARIABACKUP_DIR = "mariabackup"


@dataclass
class RestoreTestResult:
    """What a restore test proved: checks, RTO and RPO against their targets."""

    ok: bool
    critical: list[str]
    checks: list[Check]
    rto_s: float | None = None
    restore_s: float | None = None
    verify_s: float | None = None
    throughput_mb_s: float | None = None
    rpo_s: float | None = None
    heartbeat_at: str | None = None
    target_desc: str = ""
    tool: str = ""
    backup_path: str = ""
    breaches: list[str] = field(default_factory=list)
    objects: dict[str, list[str]] = field(default_factory=dict)
    target_s: float | None = None
    teardown_s: float | None = None
    teardown_error: str | None = None
    decrypt_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for XCom, history and reports)."""
        data = asdict(self)
        data["checks"] = [c.to_dict() for c in self.checks]
        return data


def rto_breach(rto_s: float | None, rto_minutes: float) -> str | None:
    """Return a breach when restore plus verify took longer than the RTO target."""
    if rto_s is None or rto_s <= rto_minutes * 60:
        return None
    return f"RTO {rto_s / 60:.1f} min exceeds the target {rto_minutes:g} min"


def critical_from(checks: Sequence[Check]) -> list[str]:
    """Return one critical line per failed check."""
    return [f"{c.name}: {c.detail}" for c in checks if c.status == "fail"]


def _restore(
    tool: Tool,
    backup_path: Path,
    handle: TargetHandle,
    on_tick: Callable[[], None] | None = None,
    client_tool: str = "mariadb",
) -> int:
    """Restore with ``tool`` into an open target; return the uncompressed bytes restored."""
    if tool in ("mariadb-dump", "mysqldump"):
        dump = find_dump_file(backup_path)
        if dump is None:
            raise VerificationError(f"no dump file ({', '.join(DUMP_NAMES)}) in {backup_path}")
        return restore_dump(dump, handle.client, on_tick=on_tick, client_tool=client_tool)
    if tool == "mydumper":
        return restore_mydumper(backup_path / "mydumper", handle.client)
    # mariabackup restores by starting a server on the prepared copy (open_target did it).
    return sum(p.stat().st_size for p in (backup_path / "mariabackup").rglob("*") if p.is_file())


@dataclass
class _Run:
    """Mutable state of one restore test, turned into a result at the end."""

    checks: list[Check] = field(default_factory=list)
    restore_s: float | None = None
    verify_s: float | None = None
    restored_bytes: int = 0
    objects: dict[str, list[str]] = field(default_factory=dict)
    target_desc: str = ""
    target_s: float = 0.0
    teardown_s: float | None = None
    teardown_error: str | None = None
    decrypt_s: float = 0.0
    copy_check: _CopyCheck | None = None

    def set_check(self, check: Check) -> None:
        """Replace the check of the same name."""
        self.checks = [check if c.name == check.name else c for c in self.checks]

    def failed(self, name: str) -> bool:
        """Return whether the check ``name`` failed."""
        return any(c.name == name and c.status == "fail" for c in self.checks)


class _CopyCheck:
    """Check a mariabackup backup's files against the manifest while the copy is written.

    ``--prepare`` works on a copy: the files are hashed while the kernel copies them
    (:func:`~maintenance_ops.recovery.restore.loaders.copy_hashed`) instead of before, which hides
    most of the checksums' time. Nothing is prepared from files that fail, as nothing is restored
    from the other tools' files before they pass.
    """

    PENDING = Check("files", "skipped", "checked while copied for --prepare: copy not reached")

    def __init__(self, path: Path, manifest: dict[str, Any], run: _Run) -> None:
        self._listed: dict[str, dict[str, Any]] = manifest.get("files") or {}
        self._run = run
        # Files beside the mariabackup folder (none in this package's backups) are read now.
        self._found = {
            name: ((path / name).stat().st_size, sha256_file(path / name))
            for name in unlisted_files(path, {})
            if not name.startswith(f"{MARIABACKUP_DIR}/")
        }

    @classmethod
    def wanted(
        cls, tool: Tool, path: Path, manifest: dict[str, Any] | None, target: RestoreTarget
    ) -> bool:
        """Return whether the files are checked during the copy (a plain mariabackup backup)."""
        return (
            tool == "mariabackup"
            and target.type == "ephemeral"
            and bool((manifest or {}).get("files"))
            and not (manifest or {}).get("encrypted")  # its decryption checks them
            and (path / MARIABACKUP_DIR).is_dir()
        )

    def __call__(self, copied: dict[str, tuple[int, str]]) -> None:
        """Record the files check from the copy; raise when it failed, before ``--prepare``."""
        found = self._found | {f"{MARIABACKUP_DIR}/{name}": v for name, v in copied.items()}
        problems = file_problems(self._listed, found)
        self._run.set_check(_files_check(problems, len(self._listed)))
        if problems:
            raise VerificationError("the backup's files failed verification: nothing prepared")


def _open_for(
    tool: Tool,
    backup_path: Path,
    target: RestoreTarget,
    source: SourceServer,
    manifest: dict[str, Any] | None,
    base_dir: str | os.PathLike[str] | None,
    on_copied: Callable[[dict[str, tuple[int, str]]], None] | None = None,
) -> TargetHandle:
    instance = None
    if tool == "mariabackup":
        if target.type == "scratch":
            raise VerificationError(
                "a mariabackup backup restores as a whole server: use an ephemeral target"
            )
        instance = PreparedInstance(
            backup_path / MARIABACKUP_DIR,
            base_dir=base_dir,
            spec=restore_spec(target),
            on_copied=on_copied,
        )
    server = (manifest or {}).get("server") or {}
    return open_target(
        target,
        source=source,
        base_dir=base_dir,
        backup_schemas=(manifest or {}).get("schemas") or [],
        source_version=server.get("version"),
        instance=instance,
        dialect=backup_dialect(manifest),
    )


def _restore_and_verify(
    tool: Tool, backup_path: Path, manifest: dict[str, Any] | None, handle: TargetHandle, run: _Run
) -> None:
    handle.prepare((manifest or {}).get("schemas") or [])
    # Counting beside each CHECK TABLE doubles the statements at once: worth it when the checks
    # follow the restore, not while they overlap a dump's load (see _restore_then_check).
    apart = not (_follows_load(handle, manifest) and tool in ("mariadb-dump", "mysqldump"))
    checker = TableChecker(handle.new_connection, workers=VERIFY_WORKERS, apart=apart)
    try:
        _restore_then_check(tool, backup_path, manifest, handle, run, checker)
    finally:
        checker.close()


def _follows_load(handle: TargetHandle, manifest: dict[str, Any] | None) -> bool:
    """Return whether tables are checked as soon as loaded (a dump's load is followed).

    On an ephemeral server the restore is the only writer: tables it has finished loading
    are checked while it loads the next ones.
    """
    return isinstance(handle, EphemeralTarget) and manifest is not None


def _restore_then_check(
    tool: Tool,
    backup_path: Path,
    manifest: dict[str, Any] | None,
    handle: TargetHandle,
    run: _Run,
    checker: TableChecker,
) -> None:
    follow = _follows_load(handle, manifest)
    monitor = handle.new_connection() if follow else None
    tables = ((manifest or {}).get("objects") or {}).get("tables") or []
    started = time.monotonic()
    try:
        on_tick = LoadFollower(monitor, checker, tables) if monitor is not None else None
        dialect = backup_dialect(manifest)
        client_tool = dialect.client_tool if dialect else "mariadb"
        run.restored_bytes = _restore(tool, backup_path, handle, on_tick, client_tool)
    except (VerificationError, OSError) as exc:
        run.checks.append(Check("restore", "fail", str(exc)))
        return
    finally:
        if monitor is not None:
            monitor.close()
    run.restore_s = time.monotonic() - started
    if tool == "mariabackup":
        run.restore_s += run.target_s  # copy, --prepare and server start happened in open
    run.checks.append(Check("restore", "pass", f"{tool} restore in {run.restore_s:.1f}s"))
    started = time.monotonic()
    conn = handle.new_connection()
    try:
        report = verify_restore(conn, manifest, checker=checker)
    finally:
        conn.close()
    run.verify_s = time.monotonic() - started
    run.checks += report.checks
    run.objects = report.objects


def _file_checks(backup_path: Path, manifest: dict[str, Any] | None) -> Check:
    if manifest is None:
        return Check("files", "skipped", "backup has no manifest: no checksums to compare")
    return _files_check(verify_files(backup_path, manifest), len(manifest.get("files") or {}))


def _files_check(problems: list[str], listed: int) -> Check:
    if problems:
        return Check("files", "fail", "; ".join(problems))
    return Check("files", "pass", f"{listed} files match their sha256")


def restore_test(
    backup_path: str | os.PathLike[str],
    manifest: dict[str, Any] | None,
    *,
    target: RestoreTarget,
    source: SourceServer,
    settings: BackupSettings,
    now: dt.datetime,
    audit: Any = None,
    database_name: str,
    base_dir: str | os.PathLike[str] | None = None,
) -> RestoreTestResult:
    """Restore a backup to a safe target, verify it, tear it down, and measure RTO and RPO.

    :param backup_path: the backup folder (``<location>/<database>/<stamp>-<tool>``).
    :param manifest: its manifest; None reads ``manifest.json`` if present.
    :param target: the configured restore target.
    :param source: the backed-up server (:func:`identity.identify_source`, or
        :func:`identity.marked_source` around the call); a target that is it is refused.
    :param settings: backup settings holding the RPO and RTO targets.
    :param now: the test's logical time (the task's data interval end), for the backup's age.
    :param audit: an :class:`~maintenance_ops.core.audit.AuditLog` to record the restore in.
    :param database_name: the database's name in configuration, for messages and audit.
    :param base_dir: folder for ephemeral servers (default: the temp folder).
    """
    path = Path(backup_path)
    # One audit row for the whole test, from the checksums on: it says failed, and why,
    # whichever check failed.
    context = audit.action(database_name, "restore test", str(path)) if audit else None
    with context or contextlib.nullcontext() as entry:
        manifest = manifest if manifest is not None else load_manifest(path)
        tool = detect_tool(path, manifest)
        run = _Run()
        if manifest is not None and _CopyCheck.wanted(tool, path, manifest, target):
            run.copy_check = _CopyCheck(path, manifest, run)
            run.checks.append(_CopyCheck.PENDING)
        else:
            run.checks.append(_file_checks(path, manifest))
        run.checks.append(rpo_check(manifest, now, settings.rpo_hours))
        secret, problem = decryption_secret(manifest, settings)
        if problem is not None:
            run.checks.append(problem)
        if run.failed("files") or (problem is not None and problem.status == "fail"):
            run.checks.append(Check("restore", "skipped", "files failed verification"))
        else:
            started = time.monotonic()
            with _plain(path, secret, base_dir) as plain:
                run.decrypt_s = time.monotonic() - started  # a real recovery decrypts too: RTO
                _run_on_target(tool, plain, manifest, target, source, base_dir, run)
        result = _result(run, settings, manifest, now, tool, path)
        if entry is not None:
            audit_result(entry, result)
    return result


def audit_result(entry: AuditEntry, result: RestoreTestResult) -> None:
    """Fill a restore test's audit row: failed with every failed check's reason, or ok."""
    entry.details.update(
        tool=result.tool,
        checks={c.name: c.status for c in result.checks},
        rto_s=result.rto_s,
        rpo_s=result.rpo_s,
        teardown_error=result.teardown_error,
    )
    if result.critical:
        entry.fail("; ".join(result.critical))


@contextlib.contextmanager
def _plain(
    path: Path, secret: str | None, base_dir: str | os.PathLike[str] | None
) -> Iterator[Path]:
    """Yield the backup folder itself, or a decrypted private copy of an encrypted one."""
    if secret is None:
        yield path
        return
    started = time.monotonic()
    with decrypted_copy(path, secret, Path(base_dir) if base_dir else None) as copy:
        log.info("decrypted %s in %.1fs", path.name, time.monotonic() - started)
        yield copy


def _run_on_target(
    tool: Tool,
    path: Path,
    manifest: dict[str, Any] | None,
    target: RestoreTarget,
    source: SourceServer,
    base_dir: str | os.PathLike[str] | None,
    run: _Run,
) -> None:
    started = time.monotonic()
    try:
        handle = _open_for(tool, path, target, source, manifest, base_dir, run.copy_check)
    except (VerificationError, InstanceError) as exc:
        # A server that will not start on a prepared mariabackup copy is a failed restore;
        # for the other tools it means missing binaries, which is ours to fix, not the backup.
        if isinstance(exc, InstanceError) and tool != "mariabackup":
            raise
        if run.failed("files"):  # found while copying for --prepare
            run.checks.append(Check("restore", "skipped", "files failed verification"))
        else:
            run.checks.append(Check("restore", "fail", str(exc)))
        return
    run.target_s = time.monotonic() - started
    run.target_desc = handle.desc
    try:
        _restore_and_verify(tool, path, manifest, handle, run)
    finally:
        _teardown(handle, run)


def _teardown(handle: TargetHandle, run: _Run) -> None:
    started = time.monotonic()
    try:
        handle.teardown()
    except Exception as exc:  # noqa: BLE001 - recorded; must not hide the test's own outcome
        log.exception("teardown of %s failed; run cleanup_restore_leftovers", handle.desc)
        run.teardown_error = f"{type(exc).__name__}: {exc}"
    run.teardown_s = time.monotonic() - started


def _result(
    run: _Run,
    settings: BackupSettings,
    manifest: dict[str, Any] | None,
    now: dt.datetime,
    tool: str,
    path: Path,
) -> RestoreTestResult:
    # RTO counts what recovery would take: the target's start (except for mariabackup, where
    # it is the restore itself and already in restore_s), the restore and the checks.
    extra = (0.0 if tool == "mariabackup" else run.target_s) + run.decrypt_s
    rto_s = (
        extra + run.restore_s + run.verify_s
        if run.restore_s is not None and run.verify_s is not None
        else None
    )
    throughput = (
        run.restored_bytes / 1e6 / run.restore_s if run.restore_s and run.restored_bytes else None
    )
    critical = critical_from(run.checks)
    breaches = [c for c in critical if c.startswith("rpo:")]
    rto = rto_breach(rto_s, settings.rto_minutes)
    breaches += [rto] if rto else []
    beat = (manifest or {}).get("heartbeat") or {}
    result = RestoreTestResult(
        ok=not critical,
        critical=critical,
        checks=run.checks,
        rto_s=rto_s,
        restore_s=run.restore_s,
        verify_s=run.verify_s,
        throughput_mb_s=throughput,
        rpo_s=backup_age_s(manifest, now),
        heartbeat_at=beat.get("at"),
        target_desc=run.target_desc,
        tool=tool,
        backup_path=str(path),
        breaches=breaches,
        objects=run.objects,
        target_s=run.target_s,
        teardown_s=run.teardown_s,
        teardown_error=run.teardown_error,
    )
    log.info(
        "restore test %s: ok=%s rto=%s restore=%s throughput=%s MB/s rpo=%s critical=%s",
        path.name,
        result.ok,
        _fmt(rto_s),
        _fmt(run.restore_s),
        _fmt(throughput),
        _fmt(result.rpo_s),
        len(critical),
    )
    return result


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def cleanup_restore_leftovers(base: str | os.PathLike[str] | None = None) -> list[str]:
    """Stop ephemeral servers and remove what killed restore tests and backups left behind."""
    removed = cleanup_stale(base)
    # Credential folders live in the temp folder whatever ``base`` is; decrypted copies
    # live in ``base`` when given.
    folders = [(Path(tempfile.gettempdir()), CREDENTIALS_PREFIX)]
    for prefix in (DECRYPTED_PREFIX, FETCHED_PREFIX):
        folders.append((Path(base) if base else Path(tempfile.gettempdir()), prefix))
    for parent, prefix in folders:
        removed += remove_dead_pid_leftovers(parent, prefix)
    for path in removed:
        log.warning("removed leftover restore target %s", path)
    # A killed backup's option file (password inside) and plaintext staging, too.
    return removed + cleanup_backup_leftovers()

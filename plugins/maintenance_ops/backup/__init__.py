"""Take backups with a manifest, find the newest one, and keep only what retention allows.

Layout (a documented contract: external systems may follow it, the restore test relies on it)::

    <location>/<database_name>/<UTC %Y%m%dT%H%M%SZ>-<tool>/
        dump.sql.zst | dump.sql.gz | dump.sql      mariadb-dump / mysqldump
        mydumper/                                   mydumper --outputdir (own ``metadata``)
        mariabackup/                                mariabackup --backup --target-dir (raw)
        manifest.json                               written last: its presence means complete

A backup is staged first (beside the final folder for ``file://`` locations, in a local temp
folder otherwise), checksummed, then moved or uploaded; ``manifest.json`` is written last.

Row counts are *exact* only when provably equal to the backup's snapshot. The counts are read
in a ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` opened just before the tool starts; they
are marked exact when no write can have committed between that snapshot and the tool's:

* with a binary log on MariaDB, when the counting snapshot's ``Binlog_snapshot_file/position``
  equals the coordinates the tool recorded for its own snapshot;
* otherwise, when InnoDB's ``Trx id counter`` did not move from just before the counting
  snapshot until the tool finished and no other transaction had uncommitted changes when the
  counting snapshot opened (a transaction id is assigned at a transaction's first write).

Either rule also needs every counted table to be InnoDB (other engines ignore snapshots).
A busy server without a binary log therefore gets approximate counts; that is stated in the
manifest (``row_counts_exact``), never guessed.

The counts run while the tool runs only for mariadb-dump on MariaDB, which takes no global
lock (it reads its coordinates from ``Binlog_snapshot_*``). mysqldump, mydumper and
mariabackup take ``FLUSH TABLES WITH READ LOCK`` or backup-stage locks, which would wait for
a long ``COUNT(*)`` while every writer queues behind them, so their counts are taken first.

A run killed mid-way leaves a ``.staging-*`` folder, which :func:`list_backups` ignores and
:func:`apply_retention` removes once it is a day old.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maintenance_ops.definitions import DEFINITIONS_FORMAT, read_definitions, routine_key
from maintenance_ops.encryption import backup_secret, encrypt_tree, sign_manifest
from maintenance_ops.exceptions import ConfigError, MaintenanceError, PreflightError
from maintenance_ops.grants import missing, requirements
from maintenance_ops.identifiers import quote_identifier
from maintenance_ops.pipes import option_file, private_option_file
from maintenance_ops.processes import NEXT, PREVIOUS, Pipeline, Stage, after_options, checked_names
from maintenance_ops.session import Endpoint, endpoint
from maintenance_ops.sqlfiles import load_sql
from maintenance_ops.tools import require_flavor, supports, version_line

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from maintenance_ops.audit import AuditLog
    from maintenance_ops.config import BackupSettings
    from maintenance_ops.dialect import Dialect, ServerVersion
    from maintenance_ops.session import MaintenanceSession

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
INCOMPLETE_NAME = ".incomplete"
MANIFEST_FORMAT = 1
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
HEARTBEAT_TABLE = "backup_heartbeat"
BACKUP_DIR = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<tool>[a-z][a-z0-9_-]*)$")
STAGING_PREFIX = ".staging-"
STALE_STAGING = timedelta(days=1)
DUMP_TOOLS = ("mariadb-dump", "mysqldump")
_CHUNK = 1 << 20
_COMPRESSORS: dict[str, tuple[list[str], str]] = {
    "zstd": (["zstd", "-q", "-c", "-T0"], ".zst"),
    "gzip": (["gzip", "-c"], ".gz"),
}
# The dump tools write the snapshot's coordinates as comments: the binary log position near
# the top (mysqldump 8.0.26+: CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE=..., older tools and
# MariaDB: CHANGE MASTER TO MASTER_LOG_FILE=...), MySQL's GTID set as SET @@GLOBAL.GTID_PURGED
# (over several lines for several server UUIDs), and MariaDB's GTID position at the very end of
# the dump ("The deferred gtid setting ... follows": SET GLOBAL gtid_slave_pos).
_DUMP_BINLOG = re.compile(
    r"CHANGE\s+(?:MASTER|REPLICATION\s+SOURCE)\s+TO\s+(?:MASTER|SOURCE)_LOG_FILE\s*=\s*"
    r"'(?P<file>[^']+)'\s*,\s*(?:MASTER|SOURCE)_LOG_POS\s*=\s*(?P<pos>\d+)",
    re.IGNORECASE,
)
_DUMP_GTID = re.compile(
    r"(?:gtid_slave_pos\s*=\s*'|GTID_PURGED\s*=\s*(?:/\*!80000\s*'\+'\s*\*/)?\s*'\+?)"
    r"(?P<gtid>[^']*)'",
    re.IGNORECASE,
)
# grep -E for the lines holding coordinates anywhere in a dump stream, and for the lines that
# continue a GTID set over several lines (a server UUID with its intervals, nothing else).
COORDINATE_LINES = (
    r"^(-- )?CHANGE (MASTER|REPLICATION SOURCE) TO (MASTER|SOURCE)_LOG_FILE"
    r"|^(-- )?SET GLOBAL gtid_slave_pos="
    r"|^(/\* )?SET @@GLOBAL\.GTID_PURGED="
    r"|^[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}(:[0-9A-Za-z_-]+)+(,|';( ?\*/)?)$"
)
COORDINATES_NAME = "coordinates.txt"
_TRX_COUNTER = re.compile(r"Trx id counter\s+(\d+)")


class BackupError(MaintenanceError):
    """A backup tool failed or its output could not be stored."""


class ToolStalled(BackupError):
    """The backup tool wrote nothing for ``backup.stall_timeout_s``: killed."""


class BackupRefused(BackupError, PreflightError):
    """The account cannot see every object the backup must hold; nothing was written."""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BinlogCoordinates:
    """Where the backup's snapshot sits in the source's binary log (all None without one)."""

    file: str | None = None
    position: int | None = None
    gtid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "position": self.position, "gtid": self.gtid}


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


@dataclass
class SnapshotState:
    """What the counting snapshot saw: its counts and the inputs of the exactness rule."""

    row_counts: dict[str, int] = field(default_factory=dict)
    binlog: BinlogCoordinates = BinlogCoordinates()
    trx_counter_before: int | None = None
    others_writing: bool = False
    all_innodb: bool = True


# --------------------------------------------------------------------------------------------
# Files and checksums
# --------------------------------------------------------------------------------------------


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
        from maintenance_ops.encryption import unlisted_files

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


# --------------------------------------------------------------------------------------------
# Finding backups
# --------------------------------------------------------------------------------------------


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
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConfigError(
            f"backup.location names Airflow connection {conn_id!r}, which is not defined; "
            f"create it (for {protocol}://, an `aws` connection with the access key as login, "
            'the secret as password and, for a non-AWS endpoint, {"endpoint_url": ...} in '
            f"its extra), e.g. the env var AIRFLOW_CONN_{conn_id.upper()}"
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


# --------------------------------------------------------------------------------------------
# Retention
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Credentials and commands (pure command building, separate from running)
# --------------------------------------------------------------------------------------------


def tool_option_file(where: Endpoint, login: str | None, password: str | None) -> bytes:
    """Return the tools' option file (by :func:`pipes.option_file`), read by [client],
    [mydumper] and [mariabackup].

    :raises ConfigError: the user or password holds a line break or NUL (the value not shown).
    """
    options: dict[str, str | int | None] = {
        "host": where.host,
        "port": where.port,
        "socket": where.socket,
        "user": login or None,
        "password": password or None,
    }
    return option_file(options, ("client", "mydumper", "mariabackup"))


@contextlib.contextmanager
def credentials_file(conn_id: str) -> Iterator[str]:
    """Yield a private option file holding the connection's credentials; delete it afterwards.

    The password is never put on a command line (visible to every local user in ``ps``). A
    file, not a pipe: mydumper runs several times (per schema, once more after a stall) and
    the dump tools may read it more than once. Its pid-tagged name lets
    :func:`cleanup_backup_leftovers` remove it after a kill.
    """
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    text = tool_option_file(endpoint(conn_id), conn.login, conn.password)
    with private_option_file(text, CREDENTIALS_FILE_PREFIX) as path:
        yield str(path)


def dump_command(
    tool: str, defaults_file: str, schemas: Sequence[str], *, binlog_args: Sequence[str] = ()
) -> list[str]:
    """Return the mariadb-dump/mysqldump command for one consistent dump of ``schemas``.

    :param binlog_args: the options recording the binary log position, per flavor and tool
        version (:meth:`~maintenance_ops.dialect.Dialect.dump_binlog_args`); none without a
        binary log.
    """
    command = [
        tool,
        f"--defaults-extra-file={defaults_file}",  # must come first
        "--single-transaction",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--default-character-set=utf8mb4",
    ]
    # "--": a schema named like an option stays a name (checked_names refuses it anyway).
    return [*command, *binlog_args, "--databases", *after_options(schemas, "schema")]


def mydumper_regex(schemas: Sequence[str]) -> str:
    """Return mydumper's ``--regex`` matching exactly the tables of ``schemas``."""
    return "^(" + "|".join(re.escape(s) for s in schemas) + r")\."


def mydumper_command(
    defaults_file: str, outdir: Path, schemas: Sequence[str], *, compress: bool
) -> list[str]:
    """Return the mydumper command that dumps the tables, views and triggers of ``schemas``.

    One run, one snapshot for every schema. mydumper 0.10's ``--database`` takes one name, so
    several schemas are chosen with ``--regex``; it still visits every database the account
    can see, and its ``--routines``/``--events`` read them all (``SHOW EVENTS`` in ``mysql``
    is refused to a least-privilege account). Routines and events are therefore dumped per
    schema by :func:`mydumper_post_command`.
    """
    command = [
        "mydumper",
        f"--defaults-file={defaults_file}",
        f"--outputdir={outdir}",
        "--threads=2",
        "--trx-consistency-only",
        "--triggers",
        f"--regex={mydumper_regex(schemas)}",
    ]
    if len(schemas) == 1:
        command.append(f"--database={schemas[0]}")
    return [*command, "--compress"] if compress else command


def mydumper_post_command(
    defaults_file: str, outdir: Path, schema: str, *, compress: bool
) -> list[str]:
    """Return the mydumper command that dumps only the routines and events of one schema.

    It writes ``<schema>-schema-post.sql`` (no tables, no rows), the file myloader runs after
    the tables; it is moved beside the main run's files.
    """
    command = [
        "mydumper",
        f"--defaults-file={defaults_file}",
        f"--outputdir={outdir}",
        "--threads=1",
        "--trx-consistency-only",
        "--no-schemas",
        "--no-data",
        "--routines",
        "--events",
        f"--database={schema}",
    ]
    return [*command, "--compress"] if compress else command


def mariabackup_command(defaults_file: str, outdir: Path) -> list[str]:
    """Return the raw (unprepared) mariabackup command writing into ``outdir``."""
    return [
        "mariabackup",
        f"--defaults-extra-file={defaults_file}",
        "--backup",
        f"--target-dir={outdir}",
    ]


def backup_tool(settings: BackupSettings, dialect: Dialect | None) -> str:
    """Return the tool a backup runs: ``backup.tool``, else the server flavor's dump tool."""
    if settings.tool:
        return settings.tool
    return dialect.dump_tool if dialect is not None else "mariadb-dump"


def check_tool(tool: str, dialect: Dialect, *, binlog: bool) -> str:
    """Refuse a tool that cannot back this server up; return its version line.

    The dump tools must be the server's flavor's (:func:`maintenance_ops.tools.require_flavor`);
    mydumper reads both flavors.
    """
    problem = dialect.backup_tool_problem(tool, binlog=binlog)
    if problem is not None:
        raise ConfigError(f"backup refused, nothing written: {problem}")
    if tool in DUMP_TOOLS:
        return require_flavor(tool, dialect, "back up")
    return version_line(tool)


# --------------------------------------------------------------------------------------------
# Reading the source
# --------------------------------------------------------------------------------------------


def _resolve_schemas(
    session: MaintenanceSession, schemas: Sequence[str], history_schema: str
) -> list[str]:
    """Return the schemas to dump: the maintained ones plus the history schema (heartbeat)."""
    chosen = list(schemas) or [
        row["schema_name"]
        for row in session.query(load_sql("user_schemas"), {"history_schema": history_schema})
    ]
    # A schema named like an option (``--result-file=...``) is refused before anything runs.
    return checked_names(dict.fromkeys([*chosen, history_schema]), "schema")


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
    from maintenance_ops.preflight import account_privileges

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


def write_heartbeat(
    session: MaintenanceSession, history_schema: str, database_name: str
) -> dict[str, Any]:
    """Insert a heartbeat row (autocommit) and return ``{schema, table, id, at}``."""
    session.execute(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(history_schema)}")
    session.execute(load_sql("backup_create_heartbeat", schema=history_schema))
    session.execute(
        load_sql("backup_insert_heartbeat", schema=history_schema),
        {"database_name": database_name},
    )
    row = session.query_one(load_sql("backup_read_heartbeat", schema=history_schema))
    at = row["taken_at"].replace(tzinfo=UTC)
    return {
        "schema": history_schema,
        "table": HEARTBEAT_TABLE,
        "id": int(row["id"]),
        "at": at.isoformat(),
    }


@dataclass
class Catalog:
    """What the source's catalog holds for a backup: the manifest's objects and definitions."""

    objects: dict[str, list[str]]
    tables: list[tuple[str, str, str | None]]
    """(schema, table, engine) of every base table, to count."""
    definitions: dict[str, dict[str, str]]
    """sha256 of each view, routine, trigger and event (see :mod:`maintenance_ops.definitions`)."""
    post_schemas: set[str]
    """Schemas holding routines or events."""


def catalog_objects(session: MaintenanceSession, schemas: Sequence[str]) -> Catalog:
    """Read every object of ``schemas`` and the checksums of their definitions."""
    objects: dict[str, list[str]] = {
        "tables": [],
        "views": [],
        "routines": [],
        "triggers": [],
        "events": [],
    }
    tables: list[tuple[str, str, str | None]] = []
    post: set[str] = set()
    for row in session.query(load_sql("backup_objects"), {"schemas": tuple(schemas)}):
        name = f"{row['schema_name']}.{row['name']}"
        kind = row["kind"]
        if kind == "table":
            tables.append((row["schema_name"], row["name"], row["detail"]))
        if kind == "routine":
            name = routine_key(row["schema_name"], row["name"], row["detail"])
        if kind in ("routine", "event"):
            post.add(row["schema_name"])
        objects[f"{kind}s"].append(name)

    def query(sql: str, args: Any) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in session.query(sql, args)]

    return Catalog(objects, tables, read_definitions(query, schemas), post)


def count_rows(session: MaintenanceSession, schema: str, table: str) -> int:
    """Return ``COUNT(*)`` of a table (names from the catalog, quoted by the one guard)."""
    # The execution layer keeps a '%' inside the quoted names through the driver's step.
    sql = load_sql("backup_count_rows", schema=schema, table=table)
    return int(session.query_one(sql)["row_count"])


def trx_id_counter(session: MaintenanceSession) -> int | None:
    """Return InnoDB's ``Trx id counter`` (None without PROCESS privilege or InnoDB)."""
    try:
        rows = session.query("SHOW ENGINE INNODB STATUS")
    except Exception as exc:  # noqa: BLE001 - only decides exactness; approximate is safe
        log.info("Cannot read InnoDB status (%s): row counts will be marked approximate", exc)
        return None
    match = _TRX_COUNTER.search(str(rows[0].get("Status", ""))) if rows else None
    return int(match.group(1)) if match else None


def _others_writing(session: MaintenanceSession) -> bool:
    """Return whether another transaction holds uncommitted changes (True when unknown)."""
    try:
        rows = session.query(load_sql("backup_open_writers"))
    except Exception as exc:  # noqa: BLE001 - only decides exactness; approximate is safe
        log.info("Cannot read INNODB_TRX (%s): row counts will be marked approximate", exc)
        return True
    return bool(rows and rows[0]["writers"])


def _snapshot_binlog(session: MaintenanceSession) -> BinlogCoordinates:
    """Return the binlog coordinates of the current consistent snapshot (MariaDB only)."""
    rows = session.query("SHOW STATUS LIKE 'Binlog_snapshot_%%'")
    values = {row["Variable_name"].lower(): row["Value"] for row in rows}
    file = values.get("binlog_snapshot_file") or None
    position = values.get("binlog_snapshot_position")
    return BinlogCoordinates(file, int(position) if file and position else None)


@contextlib.contextmanager
def counting_snapshot(session: MaintenanceSession) -> Iterator[SnapshotState]:
    """Open a consistent snapshot, yield its state; counts are read in it by the caller."""
    snap = SnapshotState(trx_counter_before=trx_id_counter(session))
    session.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    try:
        snap.binlog = _snapshot_binlog(session)
        snap.others_writing = _others_writing(session)
        yield snap
    finally:
        session.execute("COMMIT")


def counts_exact(
    snap: SnapshotState, tool_binlog: BinlogCoordinates, trx_counter_after: int | None
) -> bool:
    """Decide whether the snapshot's counts equal the tool's snapshot (see module docstring)."""
    if not snap.all_innodb:
        return False
    if snap.binlog.file and tool_binlog.file:
        return (snap.binlog.file, snap.binlog.position) == (tool_binlog.file, tool_binlog.position)
    return (
        snap.trx_counter_before is not None
        and trx_counter_after == snap.trx_counter_before
        and not snap.others_writing
    )


def _binlog_enabled(session: MaintenanceSession) -> bool:
    return str(session.query_one("SELECT @@log_bin AS on_")["on_"]) in ("1", "ON")


# --------------------------------------------------------------------------------------------
# Running the tools
# --------------------------------------------------------------------------------------------


DUMP_STAGES = ("dump", "tee", "coordinates", "compressor")
# The longest a backup tool may run before the whole pipeline is killed.
TOOL_TIMEOUT_S = 12 * 3600.0


def dump_pipeline(
    command: list[str], out: Path, compression: str, *, coordinates: Path, stderr_dir: Path
) -> Pipeline:
    """Return ``command | tee >(grep coordinates > coordinates) | [compressor] > out``, unstarted.

    The coordinates are read from the stream as it is written, wherever they are in it
    (MariaDB writes its GTID position at the end), so the dump is never read back. Every
    hand-off is an OS pipe; the stages are named as in :data:`DUMP_STAGES` (the compressor
    only when compressing).
    """
    read_fd, write_fd = os.pipe()
    packing = compression != "none"
    stages = [
        Stage(command, "dump", stdout=NEXT),
        Stage(
            ["tee", f"/dev/fd/{write_fd}"],
            "tee",
            stdin=PREVIOUS,
            stdout=NEXT if packing else out,
            pass_fds=(write_fd,),
        ),
        # grep exits 1 when it finds no line (no binary log): not a failure.
        Stage(
            ["grep", "-a", "-E", COORDINATE_LINES],
            "coordinates",
            stdin=read_fd,
            stdout=coordinates,
            ok=frozenset({0, 1}),
        ),
    ]
    if packing:
        stages.append(Stage(_COMPRESSORS[compression][0], "compressor", stdin=PREVIOUS, stdout=out))
    return Pipeline(
        stages,
        f"backup with {Path(command[0]).name}",
        timeout_s=TOOL_TIMEOUT_S,
        error=BackupError,
        stderr_dir=stderr_dir,
        side_fds=(read_fd, write_fd),
    )


def _gtid_value(raw: str | None) -> str | None:
    """Return a GTID set or position without the line breaks and spaces tools put in it."""
    value = re.sub(r"\s+", "", raw or "").strip('"')
    return value or None


def parse_dump_binlog(text: str) -> BinlogCoordinates:
    """Read the snapshot's coordinates from a dump's comments (or the lines holding them).

    Reads mysqldump 8.0.26+'s ``CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE=...``, the older
    and MariaDB's ``CHANGE MASTER TO MASTER_LOG_FILE=...``, MySQL's ``SET
    @@GLOBAL.GTID_PURGED=...`` (plain or commented, over several lines) and MariaDB's ``SET
    GLOBAL gtid_slave_pos=...``. The first position found is the snapshot's (a replica's dump
    lists its source's position too, after its own).
    """
    coords = _DUMP_BINLOG.search(text)
    gtid = _DUMP_GTID.search(text)
    return BinlogCoordinates(
        coords["file"] if coords else None,
        int(coords["pos"]) if coords else None,
        _gtid_value(gtid["gtid"]) if gtid else None,
    )


def parse_mydumper_metadata(text: str) -> BinlogCoordinates:
    """Read the source's coordinates from mydumper's ``metadata`` file, in either format.

    mydumper before 0.11 writes ``SHOW MASTER STATUS:`` with tab-indented ``Log:``, ``Pos:``
    and ``GTID:`` lines (a MySQL GTID set continues on further lines); later versions write an
    ini file whose ``[master]`` (0.11-0.12) or ``[source]`` section holds ``File =``,
    ``Position =`` and ``Executed_Gtid_Set =``, or, with ``--source-data``, ``SOURCE_LOG_FILE =
    "..."``, ``SOURCE_LOG_POS =`` and ``executed_gtid_set = "..."``.
    """
    section = re.search(r"^\[(?:source|master)\][^\n]*\n(?P<body>.*?)(?=^\[|\Z)", text, re.M | re.S)
    if section is not None:
        return _mydumper_ini(section["body"])
    master = re.split(r"^SHOW (?:SLAVE|REPLICA) STATUS", text, flags=re.M)[0]
    file = re.search(r"^\s*Log:\s*(\S+)", master, re.M)
    pos = re.search(r"^\s*Pos:\s*(\d+)", master, re.M)
    # The GTID set runs until the blank line that ends the section.
    gtid = re.search(r"^\s*GTID:(?P<gtid>.*?)(?:\n\s*\n|\Z)", master, re.M | re.S)
    return BinlogCoordinates(
        file[1] if file else None,
        int(pos[1]) if pos else None,
        _gtid_value(gtid["gtid"]) if gtid else None,
    )


def _mydumper_ini(body: str) -> BinlogCoordinates:
    values: dict[str, str] = {}
    for line in body.splitlines():
        key, eq, value = line.partition("=")
        if eq and not key.lstrip().startswith("#"):
            values[key.strip().lower()] = value.strip().strip('"')
    file = values.get("file") or values.get("source_log_file")
    pos = values.get("position") or values.get("source_log_pos")
    return BinlogCoordinates(
        file or None,
        int(pos) if pos and pos.isdigit() else None,
        _gtid_value(values.get("executed_gtid_set")),
    )


def parse_mariabackup_binlog(text: str) -> BinlogCoordinates:
    """Read ``xtrabackup_binlog_info`` (``file<TAB>position[<TAB>gtid]``)."""
    parts = text.split()
    if len(parts) < 2:
        return BinlogCoordinates()
    return BinlogCoordinates(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else None)


# --------------------------------------------------------------------------------------------
# take_backup
# --------------------------------------------------------------------------------------------


@dataclass
class _Job:
    """Everything one backup run needs, passed between its steps."""

    session: MaintenanceSession
    conn_id: str
    database_name: str
    schemas: list[str]
    settings: BackupSettings
    staging: Path
    tool: str
    binlog: bool = False
    compression: str = "none"


def _tool_pipeline(job: _Job, defaults_file: str) -> Pipeline:
    stderr_dir = _stderr_dir(job)
    if job.tool in DUMP_TOOLS:
        assert job.session.dialect is not None
        suffix = _COMPRESSORS[job.compression][1] if job.compression != "none" else ""
        binlog_args = (
            job.session.dialect.dump_binlog_args(
                source_data=supports(job.tool, "--source-data"),
                gtid_purged=supports(job.tool, "--set-gtid-purged"),
            )
            if job.binlog
            else []
        )
        command = dump_command(job.tool, defaults_file, job.schemas, binlog_args=binlog_args)
        return dump_pipeline(
            command,
            job.staging / f"dump.sql{suffix}",
            job.compression,
            coordinates=_coordinates_file(job),
            stderr_dir=stderr_dir,
        )
    on_tick = None
    if job.tool == "mydumper":
        command = mydumper_command(
            defaults_file, job.staging / "mydumper", job.schemas, compress=job.compression != "none"
        )
        on_tick = stall_guard(job.staging / "mydumper", job.settings.stall_timeout_s, job.tool)
    else:
        command = mariabackup_command(defaults_file, job.staging / "mariabackup")
    return Pipeline(
        [Stage(command, job.tool)],
        f"backup with {job.tool}",
        timeout_s=TOOL_TIMEOUT_S,
        on_tick=on_tick,
        tick_s=1.0,
        error=BackupError,
        stderr_dir=stderr_dir,
    )


def stall_guard(folder: Path, stall_s: float, tool: str) -> Callable[[], None]:
    """A progress hook raising :class:`ToolStalled` when ``folder`` stops changing for ``stall_s``.

    Progress is any new file or any growth of the folder's files (a big table's file grows).
    """

    def state() -> tuple[int, int]:
        sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()]
        return len(sizes), sum(sizes)

    seen, since = (-1, -1), time.monotonic()

    def tick() -> None:
        nonlocal seen, since
        now, current = time.monotonic(), state()
        if current != seen:
            seen, since = current, now
        elif now - since > stall_s:
            raise ToolStalled(
                f"{tool} wrote nothing for {stall_s:g}s (backup.stall_timeout_s): killed"
            )

    return tick


def _stderr_dir(job: _Job) -> Path:
    """Where the tools' stderr files go: beside the staging folder (removed with it)."""
    folder = job.staging.parent / f"{job.staging.name}.stderr"
    folder.mkdir(exist_ok=True)
    return folder


def _coordinates_file(job: _Job) -> Path:
    """Where the dump's coordinate lines are collected: beside the staging folder, not in it."""
    return job.staging.parent / f"{job.staging.name}.{COORDINATES_NAME}"


def _tool_binlog(job: _Job) -> BinlogCoordinates:
    if job.tool in DUMP_TOOLS:
        return parse_dump_binlog(_coordinates_file(job).read_text(errors="replace"))
    if job.tool == "mydumper":
        metadata = job.staging / "mydumper" / "metadata"
        return (
            parse_mydumper_metadata(metadata.read_text(errors="replace"))
            if metadata.exists()
            else BinlogCoordinates()
        )
    info = job.staging / "mariabackup" / "xtrabackup_binlog_info"
    return parse_mariabackup_binlog(info.read_text()) if info.exists() else BinlogCoordinates()


def _effective_compression(tool: str, requested: str) -> str:
    """Return the compression actually applied (mydumper gzips; mariabackup stays raw)."""
    if tool == "mariabackup" or requested == "none":
        return "none"
    if tool == "mydumper":
        return "gzip"  # mydumper 0.10's --compress writes .gz files only
    if requested == "zstd" and not shutil.which("zstd"):
        log.warning("zstd is not installed: compressing the dump with gzip instead")
        return "gzip"
    return requested


def _run_and_count(
    job: _Job, catalog: Catalog
) -> tuple[SnapshotState, BinlogCoordinates, int | None]:
    """Open the counting snapshot and run the tool; count during it only when that is safe."""
    flavor = job.session.dialect.version.flavor if job.session.dialect else "mysql"
    parallel = job.tool in DUMP_TOOLS and flavor == "mariadb"  # no global lock to queue behind
    pipeline: Pipeline | None = None
    with credentials_file(job.conn_id) as defaults_file:
        try:
            with counting_snapshot(job.session) as snap:
                if parallel:
                    pipeline = _tool_pipeline(job, defaults_file).start()
                _count_tables(job.session, snap, catalog.tables)
            if not parallel:
                pipeline = _tool_pipeline(job, defaults_file).start()
            assert pipeline is not None
            try:
                pipeline.wait()
            except ToolStalled as exc:  # mydumper 0.10's random hang: once more, from scratch
                log.warning("%s; running it once more", exc)
                pipeline.close()
                shutil.rmtree(job.staging / job.tool, ignore_errors=True)
                pipeline = _tool_pipeline(job, defaults_file).start()
                pipeline.wait()
        finally:
            if pipeline is not None:
                pipeline.kill()  # no-op once it finished; on any error nothing keeps running
                pipeline.close()
        if job.tool == "mydumper":
            _mydumper_routines_and_events(job, defaults_file, catalog.post_schemas)
    return snap, _tool_binlog(job), trx_id_counter(job.session)


def _mydumper_routines_and_events(job: _Job, defaults_file: str, schemas: set[str]) -> None:
    """Dump the routines and events of each schema holding some, beside the main run's files."""
    for index, schema in enumerate(s for s in job.schemas if s in schemas):
        outdir = job.staging / f".post-{index}"
        command = mydumper_post_command(
            defaults_file, outdir, schema, compress=job.compression != "none"
        )
        stage = Stage(command, "mydumper (routines and events)")
        for attempt in (1, 2):  # mydumper 0.10's random hang: once more, from scratch
            with Pipeline(
                [stage],
                f"backup of the routines and events of {schema}",
                timeout_s=TOOL_TIMEOUT_S,
                on_tick=stall_guard(outdir, job.settings.stall_timeout_s, "mydumper"),
                tick_s=1.0,
                error=BackupError,
                stderr_dir=_stderr_dir(job),
            ) as pipeline:
                try:
                    pipeline.wait()
                    break
                except ToolStalled as exc:
                    if attempt == 2:
                        raise
                    log.warning("%s; running it once more", exc)
                    shutil.rmtree(outdir, ignore_errors=True)
        for post in outdir.glob("*-schema-post.sql*"):
            post.rename(job.staging / "mydumper" / post.name)
        shutil.rmtree(outdir)


def _count_tables(
    session: MaintenanceSession, snap: SnapshotState, tables: list[tuple[str, str, str | None]]
) -> None:
    started = time.monotonic()
    for schema, table, engine in tables:
        snap.all_innodb &= (engine or "").lower() == "innodb"
        snap.row_counts[f"{schema}.{table}"] = count_rows(session, schema, table)
    log.info("Counted rows of %s tables in %.1f s", len(tables), time.monotonic() - started)


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


def _is_remote(path: Any) -> bool:
    return getattr(path, "protocol", "file") not in ("file", "local")


def _local(path: Any) -> Path:
    return Path(path.path) if hasattr(path, "path") else Path(path)


FETCHED_PREFIX = "mmc-fetched-"
REMOTE_STAGING_PREFIX = "mmc-backup-staging-"
CREDENTIALS_FILE_PREFIX = "mmc-backup-cred-"


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

"""Restore a backup to a target that is not the source, verify it, and measure RTO and RPO.

A backup is a folder ``<location>/<database>/<stamp>-<tool>/`` holding the tool's output and,
when this package (or an external system following the layout) made it, ``manifest.json``.
The restore test:

1. checks the files against the manifest (sizes and sha256) and the backup's age (RPO);
2. opens a target: a private ephemeral server (default) or a connection marked scratch, which
   is refused when it is the source (by address, then by what the server says about itself:
   :mod:`maintenance_ops.identity`, before any statement is written) or holds databases this
   tool did not create;
3. restores with the tool that made the backup (the flavor's client, ``mariadb`` or
   ``mysql``; ``myloader``; or ``mariabackup``), logging progress for long restores. An
   ephemeral server is the backup's flavor (a MySQL 8 dump does not load into MariaDB: its
   ``utf8mb4_0900_ai_ci`` collation, for one, does not exist there), and is refused, naming
   what to install, when no server of that flavor is installed; a scratch server of another
   flavor is refused too;
4. verifies every object of the manifest, ``CHECK TABLE`` and row counts, and the heartbeat;
5. drops what it restored (scratch) or stops the server (ephemeral), also after a failure.

Deciding (which checks failed, which targets were breached) is pure and separate from running.
Passwords reach client tools through an option file read from a pipe, never argv or disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from maintenance_ops import processes, sqlexec
from maintenance_ops.backup import (
    FETCHED_PREFIX,
    cleanup_backup_leftovers,
    remove_dead_pid_leftovers,
    verify_files,
)
from maintenance_ops.checks import Check, Status
from maintenance_ops.config import BackupSettings, RestoreTarget
from maintenance_ops.definitions import DEFINITIONS_FORMAT, definition_problems, read_definitions
from maintenance_ops.dialect import Dialect, parse_version
from maintenance_ops.encryption import (
    DECRYPTED_PREFIX,
    backup_secret,
    decrypted_copy,
    signature_ok,
)
from maintenance_ops.exceptions import (
    ConfigError,
    InstanceError,
    SafetyAbort,
    VerificationError,
)
from maintenance_ops.identity import SourceServer, ensure_not_source
from maintenance_ops.instance import (
    DEFAULT_BASE_PREFIX,
    InstanceSpec,
    MySQLInstance,
    cleanup_stale,
    live_password,
)
from maintenance_ops.pipes import option_file, private_option_file, secret_pipe
from maintenance_ops.processes import NEXT, PREVIOUS, Pipeline, Stage
from maintenance_ops.session import Endpoint
from maintenance_ops.sqlfiles import load_sql, split_statements

if TYPE_CHECKING:
    from maintenance_ops.audit import AuditEntry

log = logging.getLogger(__name__)

Tool = Literal["mariadb-dump", "mysqldump", "mydumper", "mariabackup"]
TOOLS: tuple[Tool, ...] = ("mariadb-dump", "mysqldump", "mydumper", "mariabackup")

MANIFEST_NAME = "manifest.json"
DUMP_NAMES = ("dump.sql.zst", "dump.sql.gz", "dump.sql")
SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
# A scratch target remembers what it restored here, so leftovers of a killed run are ours.
MARKER_SCHEMA = "mmc_restore_scratch"
MARKER_TABLE = "restored_schemas"
# Approximate counts (information_schema estimates) drift; 10% catches a lost table's rows.
APPROX_COUNT_TOLERANCE = 0.10
PROGRESS_INTERVAL_S = 10.0
TICK_INTERVAL_S = 0.5
# The longest a restore tool may run before the whole pipeline is killed.
RESTORE_TIMEOUT_S = 12 * 3600.0
# Tables checked at once after a restore: the machines we target have two cores or more.
VERIFY_WORKERS = 2
CREDENTIALS_PREFIX = "mmc-restore-cred-"
_CHECK_OK = ("OK", "Table is already up to date")


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """The checks run against a restored copy."""

    checks: list[Check] = field(default_factory=list)
    objects: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed(self) -> list[Check]:
        """Return the checks that failed."""
        return [c for c in self.checks if c.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"checks": [c.to_dict() for c in self.checks], "objects": self.objects}


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


# --------------------------------------------------------------------------------------------
# The backup on disk
# --------------------------------------------------------------------------------------------


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


def server_flavor(conn: Any) -> str:
    """Return the flavor of the server behind a DB-API connection."""
    version, comment = _query(conn, "SELECT VERSION(), @@version_comment")[0]
    return parse_version(str(version), str(comment or "")).flavor


def check_target_flavor(flavor: str, dialect: Dialect, where: str) -> None:
    """Refuse to load a backup of ``dialect``'s server into a server of another flavor.

    :raises ConfigError: naming both flavors and what to install.
    """
    if flavor != dialect.version.flavor:
        raise ConfigError(
            f"cannot restore a backup of {dialect.version} onto {where}, a {flavor} server: "
            f"a {dialect.version.flavor} backup must be loaded into a {dialect.version.flavor} "
            f"server (a MySQL 8 dump's utf8mb4_0900_ai_ci tables, for one, do not load into "
            f"MariaDB); {dialect.server_install_hint}"
        )


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


def split_object(name: str) -> tuple[str, str]:
    """Split a manifest name ``schema.name`` or ``schema.name (PROCEDURE)`` into its parts."""
    schema, _, rest = name.partition(".")
    return schema, rest.split(" (", 1)[0]


def missing_objects(expected: dict[str, list[str]], found: dict[str, list[str]]) -> list[str]:
    """Return ``kind name`` for every manifest object absent from the restore."""
    missing: list[str] = []
    for kind, names in sorted(expected.items()):
        present = set(found.get(kind, []))
        missing += [f"{kind[:-1]} {name}" for name in names if name not in present]
    return missing


def count_mismatch(table: str, expected: int, actual: int, exact: bool) -> str | None:
    """Return a problem when ``actual`` differs from ``expected`` beyond the tolerance."""
    if exact:
        return None if actual == expected else f"{table}: {actual} rows, manifest {expected}"
    allowed = max(1, int(expected * APPROX_COUNT_TOLERANCE))
    if abs(actual - expected) <= allowed:
        return None
    return f"{table}: {actual} rows, manifest ~{expected} (tolerance {allowed})"


def check_table_ok(rows: Sequence[Sequence[Any]]) -> bool:
    """Return whether ``CHECK TABLE`` output says the table is sound."""
    statuses = [r for r in rows if str(r[2]).lower() == "status"]
    errors = [r for r in rows if str(r[2]).lower() == "error"]
    return not errors and bool(statuses) and all(str(r[3]) in _CHECK_OK for r in statuses)


def rto_breach(rto_s: float | None, rto_minutes: float) -> str | None:
    """Return a breach when restore plus verify took longer than the RTO target."""
    if rto_s is None or rto_s <= rto_minutes * 60:
        return None
    return f"RTO {rto_s / 60:.1f} min exceeds the target {rto_minutes:g} min"


def critical_from(checks: Sequence[Check]) -> list[str]:
    """Return one critical line per failed check."""
    return [f"{c.name}: {c.detail}" for c in checks if c.status == "fail"]


# --------------------------------------------------------------------------------------------
# Target safety
# --------------------------------------------------------------------------------------------


def _addresses(host: str, port: int) -> set[str]:
    """Return the IP addresses ``host`` resolves to; loopback names collapse to one token."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return {host.lower()}  # unresolvable: compare by name, never silently as "different"
    found: set[str] = set()
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        found.add("loopback" if addr.is_loopback else str(addr))
    return found


def same_server(a: Endpoint, b: Endpoint) -> bool:
    """Return whether two endpoints reach the same server (same socket, or address and port)."""
    if a.socket and b.socket:
        return os.path.realpath(a.socket) == os.path.realpath(b.socket)
    if a.port != b.port:
        return False
    return bool(_addresses(a.host, a.port) & _addresses(b.host, b.port))


def ensure_other_address(target: Endpoint, source: Endpoint) -> None:
    """Refuse a restore target whose address resolves to the source's (before connecting).

    Only the first, cheap refusal: one server has many addresses, so the target must also prove
    it is not the source by what it says about itself (:func:`identity.ensure_not_source`).
    """
    if same_server(target, source):
        raise SafetyAbort(
            f"restore target {target.conn_id!r} ({target}) resolves to the source "
            f"{source.conn_id!r} ({source}); a restore test must never write to the source: "
            "use the ephemeral target or a connection to a separate scratch server"
        )


def foreign_schemas(
    existing: Sequence[str], backup: Sequence[str], ours: Sequence[str]
) -> list[str]:
    """Return schemas on a scratch target that neither the backup nor this tool accounts for."""
    allowed = SYSTEM_SCHEMAS | set(backup) | set(ours) | {MARKER_SCHEMA}
    return sorted(s for s in existing if s not in allowed)


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


@dataclass
class ClientEndpoint:
    """How client tools reach a target; the password never leaves this object."""

    host: str = "127.0.0.1"
    port: int = 3306
    socket: str | None = None
    user: str = "root"
    password: str = field(default="", repr=False)  # never in a repr, log or exception

    def __post_init__(self) -> None:
        # A private server this process runs has a random root password: a client built from
        # its address alone (a runbook's) gets it here, never from a file or a command line.
        if not self.password and self.user == "root":
            self.password = live_password(self.port, self.socket) or ""

    def option_file(self, section: str = "client") -> bytes:
        """Return an option file holding the user and password (never argv), by :func:`option_file`.

        :raises ConfigError: the user or password holds a line break or NUL (not shown).
        """
        return option_file({"user": self.user, "password": self.password or None}, (section,))

    @classmethod
    def from_connection(cls, conn_id: str) -> ClientEndpoint:
        """Build from an Airflow connection (address via :func:`session.endpoint`, its errors)."""
        from airflow.sdk import BaseHook

        from maintenance_ops.session import endpoint

        where = endpoint(conn_id)  # raises ConfigError naming the fix when it is not defined
        conn = BaseHook.get_connection(conn_id)
        return cls(
            host=where.host,
            port=where.port,
            socket=where.socket,
            user=conn.login or "root",
            password=conn.password or "",
        )

    def connect(self, *, connect_timeout: int = 10, label: str | None = None) -> Any:
        """Open an autocommit connection by :func:`sqlexec.connect` (socket when set, else TCP).

        :raises ConnectionFailed: naming ``label`` (default: the address), never the password.
        """
        return sqlexec.connect(
            user=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            socket=self.socket,
            connect_timeout=connect_timeout,
            label=label,
        )

    def address_args(self, *, tcp: bool = False) -> list[str]:
        """Return where to connect as client arguments (no secrets).

        Explicit on argv so that a tool which fails to read its option file can never fall
        back to its compiled-in default (the local server's socket, possibly the source).
        """
        if self.socket and not tcp:
            return [f"--socket={self.socket}", f"--user={self.user}"]
        return [f"--host={self.host}", f"--port={self.port}", f"--user={self.user}"]


class TargetHandle:
    """An open restore target: connect, restore into it, tear it down."""

    kind = "target"
    client: ClientEndpoint
    desc: str = ""

    def connect(self) -> Any:
        """Return a DB-API connection (autocommit) to the target."""
        raise NotImplementedError

    def new_connection(self) -> Any:
        """Return a connection of the caller's own (autocommit), for it to close."""
        return self.connect()

    def prepare(self, schemas: Sequence[str]) -> None:
        """Get ready to restore ``schemas`` (record them, drop leftovers)."""

    def teardown(self) -> None:
        """Remove everything the restore created; safe to call twice."""


class EphemeralTarget(TargetHandle):
    """A private server started for this test and stopped afterwards."""

    kind = "ephemeral"

    def __init__(self, instance: MySQLInstance) -> None:
        self.instance = instance
        self.client = ClientEndpoint(
            socket=instance.socket or None, port=instance.port, password=instance.password
        )
        self.desc = f"ephemeral {instance.flavor} port={instance.port} dir={instance.dir}"

    def connect(self) -> Any:
        """Return a socket connection as root."""
        conn = self.instance.connect()
        conn.autocommit(True)
        return conn

    def teardown(self) -> None:
        """Kill the server and remove its folder (nothing on it is kept)."""
        self.instance.discard()


class ScratchTarget(TargetHandle):
    """A connection marked scratch: schemas restored here are recorded, then dropped."""

    kind = "scratch"

    def __init__(self, conn_id: str, client: ClientEndpoint, where: Endpoint) -> None:
        self.conn_id = conn_id
        self.client = client
        self.desc = f"scratch {conn_id} ({where})"
        self._conn: Any = None

    def connect(self) -> Any:
        """Return the connection's session (opened once)."""
        from maintenance_ops.session import connect

        if self._conn is None:
            self._conn = connect(self.conn_id)
        return self._conn

    def new_connection(self) -> Any:
        """Open another session on the scratch connection, for the caller to close."""
        from maintenance_ops.session import connect

        return connect(self.conn_id)

    def _run(self, name: str, args: Any = None, **identifiers: str) -> list[tuple[Any, ...]]:
        ids = {"marker_schema": MARKER_SCHEMA, "marker_table": MARKER_TABLE, **identifiers}
        rows: list[tuple[Any, ...]] = []
        for stmt in split_statements(load_sql(name, **ids)):
            rows = _query(self.connect(), stmt, () if args is None else args)
        return rows

    def recorded(self) -> list[str]:
        """Return schemas previous restore tests created here."""
        self._run("restore_marker_create")
        return [str(r[0]) for r in self._run("restore_marker_list")]

    def ensure_empty_of_foreign(self, backup_schemas: Sequence[str]) -> None:
        """Refuse the target when it holds databases this tool did not create."""
        existing = [str(r[0]) for r in _query(self.connect(), load_sql("restore_schemas"))]
        ours = self.recorded() if MARKER_SCHEMA in existing else []
        foreign = foreign_schemas(existing, backup_schemas, ours)
        if foreign:
            raise SafetyAbort(
                f"scratch target {self.desc} holds databases this tool did not create: "
                f"{', '.join(foreign)}; a scratch server must hold nothing else (drop them or "
                "point the restore target at an empty server)"
            )

    def prepare(self, schemas: Sequence[str]) -> None:
        """Drop leftovers of killed runs, then record ``schemas`` before restoring them."""
        self._drop_recorded()
        for schema in schemas:
            self._run("restore_drop_schema", schema=schema)
            self._run("restore_marker_add", {"schema": schema})

    def _drop_recorded(self) -> None:
        for schema in self.recorded():
            self._run("restore_drop_schema", schema=schema)
            self._run("restore_marker_remove", {"schema": schema})

    def teardown(self) -> None:
        """Drop every schema restored here and close the connection."""
        try:
            self._drop_recorded()
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection without dropping anything."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


# A restore writes gigabytes: a redo log this size keeps InnoDB from checkpointing every few
# seconds (the private servers' default is small, for fast test servers).
RESTORE_REDO_LOG = "256M"


def restore_spec(target: RestoreTarget | None = None) -> InstanceSpec:
    """Return how an ephemeral restore server is configured: sized for loading and checking."""
    pool_mb = (target or RestoreTarget()).buffer_pool_mb
    return InstanceSpec(
        innodb_buffer_pool_size=f"{pool_mb}M",
        extra_args=(f"--innodb-log-file-size={RESTORE_REDO_LOG}",),
    )


def _major(version: str) -> str:
    return ".".join(version.split("-", 1)[0].split(".")[:2])


def ephemeral_instance(
    target: RestoreTarget | None,
    dialect: Dialect | None,
    base_dir: str | os.PathLike[str] | None = None,
) -> MySQLInstance:
    """Return an unstarted private server of the backup's flavor, sized for restoring.

    :param dialect: the backed-up server's (:func:`backup_dialect`); None takes any server.
    :raises InstanceError: when no server of that flavor is installed, naming what to install.
    """
    return MySQLInstance(
        restore_spec(target),
        base_dir=base_dir,
        flavor=dialect.version.flavor if dialect else None,
        install_hint=dialect.server_install_hint if dialect else None,
    )


def open_target(
    target: RestoreTarget,
    *,
    source: SourceServer,
    base_dir: str | os.PathLike[str] | None = None,
    backup_schemas: Sequence[str] = (),
    source_version: str | None = None,
    instance: MySQLInstance | None = None,
    dialect: Dialect | None = None,
) -> TargetHandle:
    """Open a restore target, refusing one that could hurt data before anything is written.

    :param target: the configured restore target (ephemeral or scratch).
    :param source: the backed-up server (:func:`identity.identify_source`); the target must
        prove it is another server before anything is written to it.
    :param base_dir: folder for ephemeral servers (default: the temp folder).
    :param backup_schemas: schemas the backup holds (allowed to exist on a scratch target).
    :param source_version: the source's server version, to note a major-version difference.
    :param instance: an unstarted instance to use instead of a fresh ``MySQLInstance``.
    :param dialect: the backed-up server's; the target must be its flavor.
    """
    if target.type == "scratch":
        return _open_scratch(str(target.conn_id), source, backup_schemas, dialect)
    inst = instance or ephemeral_instance(target, dialect, base_dir)
    inst.start()
    handle = EphemeralTarget(inst)
    try:
        where = Endpoint("ephemeral", inst.host, inst.port, inst.socket)
        ensure_other_address(where, source.endpoint)
        ensure_not_source(handle.connect(), source, handle.desc)
    except SafetyAbort:
        handle.teardown()
        raise
    if source_version and _major(inst.version) != _major(source_version):
        log.warning(
            "ephemeral server %s differs in major version from the source %s; install the "
            "source's server binaries for a faithful test",
            inst.version,
            source_version,
        )
    handle.desc += f" version={inst.version}"
    return handle


def _open_scratch(
    conn_id: str, source: SourceServer, backup_schemas: Sequence[str], dialect: Dialect | None
) -> ScratchTarget:
    from maintenance_ops.session import endpoint

    where = endpoint(conn_id)
    ensure_other_address(where, source.endpoint)  # before the first connection
    handle = ScratchTarget(conn_id, ClientEndpoint.from_connection(conn_id), where)
    try:
        # Read-only: what the server says about itself, before the first write.
        ensure_not_source(handle.connect(), source, handle.desc)
        if dialect is not None:
            check_target_flavor(server_flavor(handle.connect()), dialect, handle.desc)
        handle.ensure_empty_of_foreign(backup_schemas)
    except BaseException:
        handle.close()
        raise
    return handle


# --------------------------------------------------------------------------------------------
# Streaming restore with progress
# --------------------------------------------------------------------------------------------


@dataclass
class Progress:
    """Bytes moved by a restore, shared between the pump threads and the logger."""

    total: int
    read: int = 0
    uncompressed: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        """Return a progress line: bytes read of total, rate and ETA."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.read / elapsed
        eta = (self.total - self.read) / rate if rate > 0 else float("inf")
        pct = 100.0 * self.read / self.total if self.total else 100.0
        return (
            f"{self.read / 1e6:.1f}/{self.total / 1e6:.1f} MB read ({pct:.0f}%), "
            f"{rate / 1e6:.1f} MB/s, ETA {eta:.0f}s"
        )


def decompress_command(path: Path) -> list[str] | None:
    """Return the command that decompresses ``path`` from stdin, or None for plain SQL."""
    if path.suffix == ".zst":
        return ["zstd", "-dc"]
    if path.suffix == ".gz":
        return ["gzip", "-dc"]
    return None


def mariadb_command(option_fd: int, client: ClientEndpoint, tool: str = "mariadb") -> list[str]:
    """Return the client command reading its credentials from the pipe ``option_fd``.

    ``--binary-mode`` passes binary strings and mariadb-binlog's BINLOG statements untouched.
    """
    # --defaults-file must come first and keeps /etc/mysql's client options out.
    return [
        tool,
        f"--defaults-file=/dev/fd/{option_fd}",
        *client.address_args(),
        "--default-character-set=utf8mb4",
        "--binary-mode",
        "--batch",
    ]


def myloader_command(
    directory: Path, client: ClientEndpoint, credentials: Path | None, threads: int = 2
) -> list[str]:
    """Return the ``myloader`` command for a mydumper folder (TCP, as its docs advise)."""
    defaults = [f"--defaults-file={credentials}"] if credentials else []
    return [
        "myloader",
        *defaults,
        *client.address_args(tcp=True),
        "-d",
        str(directory),
        "--threads",
        str(threads),
        "--overwrite-tables",
        "--verbose",
        "2",
    ]


@contextlib.contextmanager
def _credentials_file(client: ClientEndpoint, section: str) -> Iterator[Path | None]:
    """Yield a private option file holding the password, removed afterwards; None if no password.

    myloader re-reads its option file for every worker connection, so a pipe (read once)
    would leave the workers without credentials, or worse, on the default local socket.
    """
    if not client.password:
        yield None
        return
    with private_option_file(client.option_file(section), CREDENTIALS_PREFIX) as path:
        yield path


def proc_io(pid: int) -> dict[str, int]:
    """Return a process's ``/proc/<pid>/io`` counters (``rchar``, ``wchar``...); {} once gone."""
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return {}
    counters = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if value.strip().isdigit():
            counters[key] = int(value)
    return counters


_ZSTD_BYTES = re.compile(rb":\s*(\d+) bytes\s*$", re.MULTILINE)


def decompressed_bytes(stderr: bytes) -> int | None:
    """Return the byte count that ``zstd -v -dc`` prints when it finishes, if it did."""
    found = _ZSTD_BYTES.findall(stderr)
    return int(found[-1]) if found else None


class _Watch:
    """The restore pipeline's progress hook: bytes read and decompressed, a log line, the tick.

    Reads the kernel's per-process I/O counters of the stage reading the dump (only while it
    runs: a reaped process's pid may already belong to another one).
    """

    def __init__(self, progress: Progress, on_tick: Callable[[], None] | None, unzip: bool) -> None:
        self.progress = progress
        self.on_tick = on_tick
        self.unzip = unzip
        self.pipeline: Pipeline | None = None
        self.last_log = self.last_tick = time.monotonic()

    def __call__(self) -> None:
        assert self.pipeline is not None
        progress, now = self.progress, time.monotonic()
        if self.on_tick is not None and now - self.last_tick >= TICK_INTERVAL_S:
            self.last_tick = now
            self.on_tick = _tick(self.on_tick)
        reader = self.pipeline.procs[0]
        if reader.returncode is None:
            progress.read = min(proc_io(reader.pid).get("rchar", 0), progress.total)
            if self.unzip:
                written = proc_io(reader.pid).get("wchar", 0)
                progress.uncompressed = max(progress.uncompressed, written)
        if now - self.last_log >= PROGRESS_INTERVAL_S:
            self.last_log = now
            log.info("restore progress: %s", progress.line())


def _tick(on_tick: Callable[[], None]) -> Callable[[], None] | None:
    """Call ``on_tick``; a failing one is logged and dropped, never failing the restore."""
    try:
        on_tick()
    except Exception:  # noqa: BLE001 - a helper of the restore, not the restore
        log.warning(
            "restore follower failed; tables will be checked after the restore", exc_info=True
        )
        return None
    return on_tick


def restore_dump(
    dump: Path,
    client: ClientEndpoint,
    *,
    on_tick: Callable[[], None] | None = None,
    client_tool: str = "mariadb",
) -> int:
    """Stream a (compressed) dump into the client; return the uncompressed bytes restored.

    The decompressor reads the file itself and writes straight into the client's stdin: no
    byte passes through Python. Progress comes from the kernel's per-process I/O counters.

    :param on_tick: called about twice a second while the restore runs.
    :param client_tool: ``mariadb`` or ``mysql``: the target flavor's ``Dialect.client_tool``.
    """
    progress = Progress(total=dump.stat().st_size)
    decompress = decompress_command(dump)
    stages: list[Stage] = []
    if decompress is not None:
        verbose = ["-v"] if decompress[0] == "zstd" else []
        stages.append(Stage([*decompress, *verbose, "--", str(dump)], stdout=NEXT))
    watch = _Watch(progress, on_tick, unzip=decompress is not None)
    with secret_pipe(client.option_file()) as fd:
        stages.append(
            Stage(
                mariadb_command(fd, client, client_tool),
                stdin=PREVIOUS if decompress is not None else dump,
                pass_fds=(fd,),
            )
        )
        pipeline = Pipeline(
            stages,
            f"restore of {dump}",
            timeout_s=RESTORE_TIMEOUT_S,
            on_tick=watch,
            tick_s=0.1,
            error=VerificationError,
        )
        watch.pipeline = pipeline
        with pipeline:
            pipeline.wait()
            unzip_err = pipeline.stderr(stages[0].name) if decompress is not None else ""
    progress.read = progress.total
    if decompress is None:
        progress.uncompressed = progress.total
    else:
        found = decompressed_bytes(unzip_err.encode())
        progress.uncompressed = found or progress.uncompressed
    log.info("restored %s: %s", dump.name, progress.line())
    return progress.uncompressed


def restore_mydumper(directory: Path, client: ClientEndpoint, threads: int = 2) -> int:
    """Load a mydumper folder with ``myloader``; return the bytes of its files."""
    total = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    started = time.monotonic()
    last = [started]

    def progress() -> None:
        if time.monotonic() - last[0] >= PROGRESS_INTERVAL_S:
            last[0] = time.monotonic()
            log.info("myloader running for %.0fs (%s MB backup)", last[0] - started, total // 10**6)

    with _credentials_file(client, "myloader") as credentials:
        command = myloader_command(directory, client, credentials, threads)
        with Pipeline(
            [Stage(command)],
            f"restore of {directory}",
            timeout_s=RESTORE_TIMEOUT_S,
            on_tick=progress,
            error=VerificationError,
        ) as pipeline:
            pipeline.wait()
    log.info("myloader restored %s in %.1fs", directory, time.monotonic() - started)
    return total


_RESET_ROOT_SQL = """\
CREATE OR REPLACE USER 'root'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'localhost' WITH GRANT OPTION;
CREATE OR REPLACE USER 'root'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
"""


class PreparedInstance(MySQLInstance):
    """A private server whose datadir is a prepared ``mariabackup`` copy, not the template."""

    def __init__(
        self,
        backup_dir: Path,
        *,
        base_dir: str | os.PathLike[str] | None = None,
        spec: InstanceSpec | None = None,
    ) -> None:
        super().__init__(spec or restore_spec(), base_dir=base_dir)
        self.backup_dir = backup_dir

    def _init_sql(self) -> str:
        # The copied grant tables hold the source's root, maybe with a password. The init file
        # resets root on this throwaway copy (then gives it this instance's password);
        # --skip-grant-tables would also hide the events.
        return _RESET_ROOT_SQL + super()._init_sql()

    def _prepare_files(self) -> bool:
        if self.dir and (Path(self.datadir) / "mysql").is_dir():
            return False
        base = self._base_dir_arg
        if base is None:
            base = self._owned_base = Path(tempfile.mkdtemp(prefix=DEFAULT_BASE_PREFIX))
        base.mkdir(parents=True, exist_ok=True)
        self.dir = tempfile.mkdtemp(dir=base, prefix="server-")
        self.datadir = os.path.join(self.dir, "data")
        self._tmpdir.mkdir()
        self.socket = self._socket_path()
        self._write_marker(state="initializing")  # a kill while copying leaves a findable dir
        shutil.copytree(self.backup_dir, self.datadir, symlinks=True)
        processes.run(
            ["mariabackup", "--prepare", f"--target-dir={self.datadir}"],
            f"mariabackup --prepare of {self.backup_dir}",
            timeout_s=RESTORE_TIMEOUT_S,
            error=VerificationError,
        )
        return True


# --------------------------------------------------------------------------------------------
# Verify
# --------------------------------------------------------------------------------------------


def _query(conn: Any, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
    return sqlexec.rows(conn, sql, args)


def restored_objects(conn: Any, schemas: Sequence[str]) -> dict[str, list[str]]:
    """Return the objects of ``schemas`` on the target, keyed like the manifest's ``objects``."""
    found: dict[str, list[str]] = {
        k: [] for k in ("tables", "views", "routines", "triggers", "events")
    }
    if not schemas:
        return found
    for kind, name in _query(conn, load_sql("restore_objects"), {"schemas": tuple(schemas)}):
        found[str(kind)].append(str(name))
    return {k: sorted(v) for k, v in found.items()}


def _objects_check(conn: Any, manifest: dict[str, Any], report: VerifyReport) -> None:
    report.objects = restored_objects(conn, manifest.get("schemas") or [])
    expected = manifest.get("objects") or {}
    missing = missing_objects(expected, report.objects)
    total = sum(len(v) for v in expected.values())
    if missing:
        report.checks.append(
            Check("objects", "fail", f"missing from the restore: {', '.join(missing)}")
        )
    else:
        report.checks.append(Check("objects", "pass", f"all {total} manifest objects restored"))


def _definitions_check(conn: Any, manifest: dict[str, Any], report: VerifyReport) -> None:
    """Compare each view, routine, trigger and event's definition checksum with the manifest."""
    expected = manifest.get("definitions")
    if expected is None or manifest.get("definitions_format") != DEFINITIONS_FORMAT:
        why = "manifest has no definition checksums (taken before they were recorded)"
        report.checks.append(Check("definitions", "skipped", why))
        return
    found = read_definitions(lambda sql, args: _query(conn, sql, args), manifest["schemas"])
    problems = definition_problems(expected, found)
    total = sum(len(v) for v in expected.values())
    if problems:
        report.checks.append(Check("definitions", "fail", "; ".join(problems)))
    else:
        detail = f"all {total} views, routines, triggers and events match their checksums"
        report.checks.append(Check("definitions", "pass", detail))


@dataclass
class TableResult:
    """``CHECK TABLE`` and the exact row count of one restored table."""

    table: str
    ok: bool
    messages: str = ""
    rows: int | None = None


class TableChecker:
    """Check restored tables on worker threads, each with a connection of its own.

    Tables can be submitted while a restore is still loading others (see :class:`LoadFollower`),
    so checking overlaps the restore instead of following it.

    :param connect: returns a new autocommit connection to the target.
    :param workers: checks run at once; one when ``connect`` returns a shared connection.
    """

    def __init__(
        self, connect: Callable[[], Any], workers: int = 2, *, close_connections: bool = True
    ) -> None:
        self._connect = connect
        self._close_connections = close_connections
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify")
        self._futures: dict[str, Future[TableResult]] = {}

    def submit(self, table: str) -> None:
        """Queue ``table`` ("schema.name") for checking, once."""
        if table not in self._futures:
            log.info("checking %s", table)
            self._futures[table] = self._pool.submit(self._check, table)

    def results(self, tables: Sequence[str]) -> dict[str, TableResult]:
        """Check every table not yet submitted and return all results, waiting for them."""
        for table in tables:
            self.submit(table)
        return {table: self._futures[table].result() for table in tables}

    def close(self) -> None:
        """Stop the workers and close the connections they opened."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        for conn in self._opened if self._close_connections else ():
            with contextlib.suppress(Exception):
                conn.close()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._lock:
                self._opened.append(conn)
        return conn

    def _check(self, table: str) -> TableResult:
        schema, name = split_object(table)
        try:
            conn = self._conn()
            rows = _query(conn, load_sql("restore_check_table", schema=schema, table=name))
            count = _query(conn, load_sql("restore_count_rows", schema=schema, table=name))
        except Exception as exc:  # noqa: BLE001 - a table that cannot be read is a finding
            return TableResult(table, False, f"{type(exc).__name__}: {exc}")
        return TableResult(
            table, check_table_ok(rows), "; ".join(str(r[3]) for r in rows), int(count[0][0])
        )


_INSERT_TABLE = re.compile(r"^INSERT INTO `((?:[^`]|``)+)`")


def loading_table(db: str | None, head: str | None) -> str | None:
    """Return "schema.table" of an ``INSERT INTO `t` ...`` statement head, or None."""
    found = _INSERT_TABLE.match(head or "")
    if not db or not found:
        return None
    return f"{db}.{found[1].replace('``', '`')}"


class LoadFollower:
    """Submit each table for checking once a single-stream restore has moved past it.

    A dump holds each table's rows in one run of INSERTs, so when the loading connection's
    INSERTs name another table, the previous one is complete. Only for targets where the
    restore is the only writer (an ephemeral server).
    """

    def __init__(self, conn: Any, checker: TableChecker, tables: Sequence[str]) -> None:
        self._conn = conn
        self._checker = checker
        self._tables = set(tables)
        self._current: str | None = None

    def __call__(self) -> None:
        """Look at what is being loaded now and submit the table it left behind."""
        rows = _query(self._conn, load_sql("restore_loader_statement"))
        if len(rows) != 1:
            return  # between statements, or somebody else is writing: do not guess
        table = loading_table(rows[0][0], rows[0][1])
        if table is None or table == self._current:
            return
        if self._current in self._tables:
            self._checker.submit(self._current)
        self._current = table


def _check_tables(present: set[str], results: dict[str, TableResult], report: VerifyReport) -> None:
    bad = [f"{r.table} ({r.messages})" for r in results.values() if not r.ok]
    status: Status = "fail" if bad else "pass"
    detail = f"CHECK TABLE failed: {', '.join(bad)}" if bad else f"{len(present)} tables OK"
    report.checks.append(Check("check_table", status, detail))


def _row_counts(
    manifest: dict[str, Any], results: dict[str, TableResult], report: VerifyReport
) -> None:
    counts: dict[str, int] = manifest.get("row_counts") or {}
    if not counts:
        report.checks.append(Check("row_counts", "skipped", "manifest has no row counts"))
        return
    exact = bool(manifest.get("row_counts_exact", True))
    problems: list[str] = []
    for table, expected in sorted(counts.items()):
        result = results.get(table)
        if result is None:
            continue  # missing: reported by the objects check
        if result.rows is None:
            problems.append(f"{table}: not counted ({result.messages})")
            continue
        problem = count_mismatch(table, int(expected), result.rows, exact)
        if problem:
            problems.append(problem)
    if problems:
        report.checks.append(Check("row_counts", "fail", "count mismatch: " + "; ".join(problems)))
    else:
        how = "exactly" if exact else f"within {APPROX_COUNT_TOLERANCE:.0%}"
        report.checks.append(Check("row_counts", "pass", f"{len(counts)} tables match {how}"))


def _heartbeat(conn: Any, manifest: dict[str, Any], report: VerifyReport) -> None:
    beat = manifest.get("heartbeat")
    if not beat:
        report.checks.append(Check("heartbeat", "skipped", "backup has no heartbeat row"))
        return
    sql = load_sql("restore_heartbeat", schema=beat["schema"], table=beat["table"])
    try:
        found = int(_query(conn, sql, {"id": beat["id"]})[0][0])
    except Exception as exc:  # noqa: BLE001 - a missing table is a finding, not a crash
        found, why = 0, str(exc)
    else:
        why = f"row id={beat['id']} absent"
    if found:
        report.checks.append(Check("heartbeat", "pass", f"data point in time {beat['at']}"))
    else:
        report.checks.append(
            Check("heartbeat", "fail", f"heartbeat {beat['schema']}.{beat['table']}: {why}")
        )


def verify_restore(
    conn: Any, manifest: dict[str, Any] | None, *, checker: TableChecker | None = None
) -> VerifyReport:
    """Check a restored copy against its manifest: objects, definitions, tables, heartbeat.

    Without a manifest every check is reported as skipped (an external backup).

    :param conn: a connection to the restored copy.
    :param manifest: the backup's manifest, or None.
    :param checker: checks tables in parallel (and may hold results from during the restore);
        without one, tables are checked one by one on ``conn``.
    """
    report = VerifyReport()
    if manifest is None:
        for name in ("objects", "definitions", "check_table", "row_counts", "heartbeat"):
            report.checks.append(Check(name, "skipped", "backup has no manifest"))
        return report
    _objects_check(conn, manifest, report)
    _definitions_check(conn, manifest, report)
    present = set(report.objects.get("tables", []))
    tables = [t for t in (manifest.get("objects") or {}).get("tables") or [] if t in present]
    own = checker is None
    checker = checker or TableChecker(lambda: conn, workers=1, close_connections=False)
    try:
        results = checker.results(tables)
    finally:
        if own:
            checker.close()
    _check_tables(present, results, report)
    _row_counts(manifest, results, report)
    _heartbeat(conn, manifest, report)
    return report


# --------------------------------------------------------------------------------------------
# The restore test
# --------------------------------------------------------------------------------------------


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


def _open_for(
    tool: Tool,
    backup_path: Path,
    target: RestoreTarget,
    source: SourceServer,
    manifest: dict[str, Any] | None,
    base_dir: str | os.PathLike[str] | None,
) -> TargetHandle:
    instance = None
    if tool == "mariabackup":
        if target.type == "scratch":
            raise VerificationError(
                "a mariabackup backup restores as a whole server: use an ephemeral target"
            )
        instance = PreparedInstance(
            backup_path / "mariabackup", base_dir=base_dir, spec=restore_spec(target)
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
    checker = TableChecker(handle.new_connection, workers=VERIFY_WORKERS)
    try:
        _restore_then_check(tool, backup_path, manifest, handle, run, checker)
    finally:
        checker.close()


def _restore_then_check(
    tool: Tool,
    backup_path: Path,
    manifest: dict[str, Any] | None,
    handle: TargetHandle,
    run: _Run,
    checker: TableChecker,
) -> None:
    # On an ephemeral server the restore is the only writer: tables it has finished loading
    # are checked while it loads the next ones.
    follow = isinstance(handle, EphemeralTarget) and manifest is not None
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
    problems = verify_files(backup_path, manifest)
    if problems:
        return Check("files", "fail", "; ".join(problems))
    return Check("files", "pass", f"{len(manifest.get('files') or {})} files match their sha256")


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
    :param audit: an :class:`~maintenance_ops.audit.AuditLog` to record the restore in.
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
        run = _Run(
            checks=[_file_checks(path, manifest), rpo_check(manifest, now, settings.rpo_hours)]
        )
        secret, problem = decryption_secret(manifest, settings)
        if problem is not None:
            run.checks.append(problem)
        if run.checks[0].status == "fail" or (problem is not None and problem.status == "fail"):
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
        handle = _open_for(tool, path, target, source, manifest, base_dir)
    except (VerificationError, InstanceError) as exc:
        # A server that will not start on a prepared mariabackup copy is a failed restore;
        # for the other tools it means missing binaries, which is ours to fix, not the backup.
        if isinstance(exc, InstanceError) and tool != "mariabackup":
            raise
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

"""Open a restore target (ephemeral or scratch) and refuse one that could be the source."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from maintenance_ops.core import sqlexec
from maintenance_ops.core.config import RestoreTarget
from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.exceptions import ConfigError, SafetyAbort
from maintenance_ops.core.identity import SourceServer, ensure_not_source
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance, live_password
from maintenance_ops.core.pipes import option_file
from maintenance_ops.core.session import Endpoint
from maintenance_ops.core.sqlfiles import load_sql, split_statements

log = logging.getLogger(__name__)


SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
# A scratch target remembers what it restored here, so leftovers of a killed run are ours.
MARKER_SCHEMA = "mmc_restore_scratch"
MARKER_TABLE = "restored_schemas"


def server_flavor(conn: Any) -> str:
    """Return the flavor of the server behind a DB-API connection."""
    version, comment = sqlexec.rows(conn, "SELECT VERSION(), @@version_comment")[0]
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
        """Build from an Airflow connection, looked up as Airflow does where this runs.

        :raises ConnectionNotDefined: naming where it looked and how to define it.
        """
        from maintenance_ops.core.connections import get_connection
        from maintenance_ops.core.session import endpoint_of

        conn = get_connection(conn_id)
        where = endpoint_of(conn_id, conn)
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
        from maintenance_ops.core.session import connect

        if self._conn is None:
            self._conn = connect(self.conn_id)
        return self._conn

    def new_connection(self) -> Any:
        """Open another session on the scratch connection, for the caller to close."""
        from maintenance_ops.core.session import connect

        return connect(self.conn_id)

    def _run(self, name: str, args: Any = None, **identifiers: str) -> list[tuple[Any, ...]]:
        ids = {"marker_schema": MARKER_SCHEMA, "marker_table": MARKER_TABLE, **identifiers}
        rows: list[tuple[Any, ...]] = []
        for stmt in split_statements(load_sql(name, **ids)):
            rows = sqlexec.rows(self.connect(), stmt, () if args is None else args)
        return rows

    def recorded(self) -> list[str]:
        """Return schemas previous restore tests created here."""
        self._run("restore_marker_create")
        return [str(r[0]) for r in self._run("restore_marker_list")]

    def ensure_empty_of_foreign(self, backup_schemas: Sequence[str]) -> None:
        """Refuse the target when it holds databases this tool did not create."""
        existing = [str(r[0]) for r in sqlexec.rows(self.connect(), load_sql("restore_schemas"))]
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
    from maintenance_ops.core.session import endpoint

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

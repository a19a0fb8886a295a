"""Tell servers apart by what they say about themselves, never by the address that reached them.

One server has many addresses (a second DNS name, the host's own non-loopback address,
``0.0.0.0``, a VIP, a proxy such as ProxySQL or HAProxy on another port), so before anything
destructive is written to a restore or drill target, the target must prove it is not the
source:

* on MySQL, ``@@server_uuid`` (generated per data directory) differs;
* on MariaDB, which has no server UUID, a random nonce row written to the source's history
  schema just before the check is absent from the target;
* on both, the tuple ``@@server_id, @@hostname, @@port, @@datadir`` differs (what the server
  was started with: a forwarder on another port does not change ``@@port``).

Deciding (:func:`identity_problem`) is pure; reading and writing are separate. A target on
which the nonce cannot be looked for (the account may not read the history schema) cannot
prove anything and is refused: a scratch account must be able to read it, or use the
ephemeral target.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from maintenance_ops.core import sqlexec
from maintenance_ops.core.exceptions import SafetyAbort
from maintenance_ops.core.session import Endpoint
from maintenance_ops.core.sqlfiles import load_sql, split_statements

log = logging.getLogger(__name__)

DEFAULT_HISTORY_SCHEMA = "_maintenance"
# "Unknown database" and "no such table": the nonce cannot be there, the target is not the source.
_ABSENT = frozenset({1049, 1146})


@dataclass(frozen=True)
class ServerIdentity:
    """What one server reports about itself (no address involved)."""

    flavor: str
    version: str
    server_id: int
    hostname: str
    port: int
    datadir: str
    server_uuid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the identity for reports and XCom."""
        return asdict(self)

    def started_as(self) -> tuple[int, str, int, str]:
        """Return what the server was started with: equal tuples mean one server."""
        return (self.server_id, self.hostname.lower(), self.port, self.datadir.rstrip("/"))


@dataclass(frozen=True)
class SourceServer:
    """The backed-up server: where it is, who it is, and the nonce that marks it right now.

    :param endpoint: its address, for messages and the first (address) refusal.
    :param identity: what it says about itself.
    :param history_schema: the schema the nonce row lives in.
    :param nonce: the row written for this run (None on MySQL: its server UUID suffices).
    """

    endpoint: Endpoint
    identity: ServerIdentity
    history_schema: str
    nonce: str | None = None


def read_identity(conn: Any) -> ServerIdentity:
    """Return what the server behind ``conn`` says about itself."""
    version, server_id, hostname, port, datadir = sqlexec.rows(conn, load_sql("identity_server"))[0]
    version = str(version)
    flavor = "mariadb" if "mariadb" in version.lower() else "mysql"
    server_uuid = None
    if flavor == "mysql":
        server_uuid = str(sqlexec.rows(conn, "SELECT @@server_uuid")[0][0])
    return ServerIdentity(
        flavor, version, int(server_id), str(hostname), int(port), str(datadir), server_uuid
    )


def identify_source(conn: Any, endpoint: Endpoint, history_schema: str) -> SourceServer:
    """Read the source's identity and, on MariaDB, write a fresh nonce row to its history schema.

    :raises SafetyAbort: when the nonce cannot be written (nothing can then be proven).
    """
    identity = read_identity(conn)
    nonce = None
    if identity.flavor == "mariadb":
        nonce = uuid.uuid4().hex
        try:
            for stmt in split_statements(load_sql("identity_create", schema=history_schema)):
                sqlexec.execute(conn, stmt)
            sqlexec.execute(
                conn, load_sql("identity_insert", schema=history_schema), {"nonce": nonce}
            )
        except Exception as exc:  # noqa: BLE001 - any failure leaves the source unmarked
            raise SafetyAbort(
                f"cannot mark the source {endpoint.conn_id!r} ({endpoint}) with a nonce row in "
                f"{history_schema}.server_identity_nonce ({type(exc).__name__}: {exc}); grant "
                f"CREATE, INSERT, SELECT, DELETE on {history_schema}.* (include/sql/grants.sql) "
                "so a restore target can prove it is not the source"
            ) from None
    return SourceServer(endpoint, identity, history_schema, nonce)


def forget_source(conn: Any, source: SourceServer) -> None:
    """Delete the source's nonce row (best effort: a leftover row is harmless)."""
    if source.nonce is None:
        return
    with contextlib.suppress(Exception):
        sqlexec.execute(
            conn, load_sql("identity_delete", schema=source.history_schema), {"nonce": source.nonce}
        )


@contextlib.contextmanager
def marked_source(conn: Any, endpoint: Endpoint, history_schema: str) -> Iterator[SourceServer]:
    """Identify the source for the duration of a block, then delete its nonce row."""
    source = identify_source(conn, endpoint, history_schema)
    try:
        yield source
    finally:
        forget_source(conn, source)


def nonce_seen(conn: Any, source: SourceServer) -> bool | None:
    """Return whether the target shows the source's nonce; None when it cannot be looked for."""
    if source.nonce is None:
        return False
    import MySQLdb

    try:
        found = sqlexec.rows(
            conn, load_sql("identity_lookup", schema=source.history_schema), {"nonce": source.nonce}
        )
    except MySQLdb.Error as exc:
        if exc.args and exc.args[0] in _ABSENT:
            return False
        log.warning("cannot look for the source's nonce on the target: %s", exc)
        return None
    return bool(found and found[0][0])


def identity_problem(source: SourceServer, target: ServerIdentity, seen: bool | None) -> str | None:
    """Return why ``target`` is (or may be) the source, or None when it proved it is not.

    :param seen: whether the target shows the source's nonce (None: it could not be looked for).
    """
    mine = source.identity
    if mine.server_uuid and target.server_uuid and mine.server_uuid == target.server_uuid:
        return f"it reports the source's @@server_uuid {target.server_uuid}"
    if seen:
        return f"it holds the nonce row written to the source's {source.history_schema} just now"
    if mine.started_as() == target.started_as():
        return (
            "it reports the source's @@server_id/@@hostname/@@port/@@datadir "
            f"({target.server_id}/{target.hostname}/{target.port}/{target.datadir})"
        )
    if seen is None and not (mine.server_uuid and target.server_uuid):
        return (
            f"the source's nonce row cannot be looked for in {source.history_schema} on it "
            "(the account cannot read that schema), so it cannot prove it is another server; "
            f"grant SELECT on {source.history_schema}.* to its account or use the ephemeral target"
        )
    return None


def ensure_not_source(conn: Any, source: SourceServer, desc: str) -> ServerIdentity:
    """Refuse the target behind ``conn`` unless it proves it is not ``source``; read-only.

    :param desc: the target, for the message.
    :raises SafetyAbort: naming why the target is (or may be) the source.
    """
    target = read_identity(conn)
    problem = identity_problem(source, target, nonce_seen(conn, source))
    if problem is not None:
        raise SafetyAbort(
            f"restore target {desc} may be the source {source.endpoint.conn_id!r} "
            f"({source.endpoint}) under another address: {problem}; a restore must never "
            "write to the source: use the ephemeral target or a separate scratch server"
        )
    return target

"""Tests for maintenance_ops.core.identity: a server is told apart by what it says about itself."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from maintenance_ops.core.exceptions import SafetyAbort
from maintenance_ops.core.identity import (
    ServerIdentity,
    SourceServer,
    ensure_not_source,
    identify_source,
    identity_problem,
    nonce_seen,
    read_identity,
)
from maintenance_ops.core.instance import MySQLInstance
from maintenance_ops.core.session import Endpoint, connect
from maintenance_ops.recovery.pitr import ensure_target_is_not_source
from maintenance_ops.recovery.restore import ClientEndpoint
from tests.conftest import Target
from tests.support.forwarder import TcpForwarder
from tests.support.sources import SHARED, source_of

MARIADB = ServerIdentity("mariadb", "10.11.19-MariaDB-log", 1, "db1", 3306, "/var/lib/mysql/")
MYSQL = ServerIdentity("mysql", "8.4.3", 1, "db1", 3306, "/var/lib/mysql/", "uuid-a")


def _source(identity: ServerIdentity, nonce: str | None = "n" * 32) -> SourceServer:
    return SourceServer(Endpoint("src", "db1", 3306), identity, "_maintenance", nonce)


@pytest.mark.parametrize(
    ("source", "target", "seen", "reason"),
    [
        pytest.param(_source(MARIADB), dataclasses.replace(MARIADB, datadir="/srv/b"), True, "nonce row", id="mariadb-nonce-seen"),
        pytest.param(_source(MARIADB), dataclasses.replace(MARIADB, datadir="/var/lib/mysql"), False, "@@server_id/@@hostname", id="mariadb-same-variables"),
        pytest.param(_source(MARIADB), dataclasses.replace(MARIADB, port=3307), None, "cannot be looked for", id="mariadb-nonce-unreadable"),
        pytest.param(_source(MARIADB), dataclasses.replace(MARIADB, port=3307), False, None, id="mariadb-other-server"),
        pytest.param(_source(MYSQL, None), dataclasses.replace(MYSQL, port=3307), None, "@@server_uuid uuid-a", id="mysql-same-uuid"),
        pytest.param(_source(MYSQL, None), dataclasses.replace(MYSQL, server_uuid="uuid-b"), None, "@@server_id", id="mysql-cloned-uuid-same-variables"),
        pytest.param(_source(MYSQL, None), dataclasses.replace(MYSQL, server_uuid="uuid-b", hostname="db2"), None, None, id="mysql-other-server"),
        pytest.param(_source(MARIADB), dataclasses.replace(MYSQL, hostname="db2"), None, "cannot be looked for", id="flavors-differ-nonce-unreadable"),
    ],
)  # fmt: skip
def test_identity_problem(
    source: SourceServer, target: ServerIdentity, seen: bool | None, reason: str | None
) -> None:
    problem = identity_problem(source, target, seen)
    if reason is None:
        assert problem is None
    else:
        assert problem is not None and reason in problem


def test_the_shared_server_through_a_forwarder_is_the_source(target: Target) -> None:
    with source_of(target.conn_id, target.history_schema) as source:
        assert source.nonce and source.identity.flavor == "mariadb"
        assert target.account is not None
        with TcpForwarder("127.0.0.1", 3306) as port:
            other = ClientEndpoint(
                port=port, user=target.account.user, password=target.account.password
            )
            conn = other.connect()
            try:
                assert read_identity(conn) == source.identity  # @@port is the server's own
                assert nonce_seen(conn, source) is True
                with pytest.raises(SafetyAbort, match="may be the source"):
                    ensure_not_source(conn, source, f"127.0.0.1:{port}")
            finally:
                conn.close()
    # the nonce row is deleted once the block ends
    rows = target.sql(f"SELECT COUNT(*) FROM `{target.history_schema}`.server_identity_nonce")
    assert rows[0][0] == 0


def test_a_private_server_is_not_the_source(target: Target, tmp_path: Path) -> None:
    with (
        source_of(target.conn_id, target.history_schema) as source,
        MySQLInstance(base_dir=str(tmp_path)) as other,
    ):
        conn = other.connect()
        try:
            assert nonce_seen(conn, source) is False  # no such schema there
            identity = ensure_not_source(conn, source, repr(other))
        finally:
            conn.close()
        assert identity.datadir.rstrip("/") != source.identity.datadir.rstrip("/")


def test_pitr_refuses_a_replay_target_that_is_the_binlog_source(target: Target) -> None:
    """The drill's check: the binlog source reached through a proxy is refused as a target."""
    assert target.account is not None
    account = target.account
    src = ClientEndpoint(port=3306, user=account.user, password=account.password)
    with TcpForwarder("127.0.0.1", 3306) as port:
        dst = ClientEndpoint(port=port, user=account.user, password=account.password)
        with pytest.raises(SafetyAbort, match="may be the source .*nonce row"):
            ensure_target_is_not_source(dst, src, target.history_schema)


def test_a_source_that_cannot_be_marked_is_refused(target: Target) -> None:
    """The account may not write the nonce (here: a schema it has no grant on): refused."""
    conn = connect(target.conn_id)
    try:
        with pytest.raises(SafetyAbort, match="cannot mark the source .*grant CREATE, INSERT"):
            identify_source(conn, SHARED, "mysql")
    finally:
        conn.close()

"""A maintenance session: one guarded connection to a target, opened by ``sqlexec.connect``.

The guards keep maintenance from hurting the application: a short ``lock_wait_timeout`` so DDL
gives up instead of queueing everybody behind it, a short ``innodb_lock_wait_timeout`` so a
chunk never waits long on an application's row lock, and a statement time limit.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maintenance_ops.core import sqlexec
from maintenance_ops.core.connections import get_connection
from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.exceptions import MaintenanceError
from maintenance_ops.core.sqlexec import CONNECTION_ERRORS, dicts, execute, execute_many
from maintenance_ops.core.watchdog import StatementWatchdog

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from maintenance_ops.core.config import MaintenanceSettings

log = logging.getLogger(__name__)

__all__ = [
    "CONNECTION_ERRORS",
    "Endpoint",
    "MaintenanceSession",
    "connect",
    "endpoint",
    "endpoint_of",
]


@dataclass(frozen=True)
class Endpoint:
    """Where a connection points, without credentials: safe to log and to compare."""

    conn_id: str
    host: str
    port: int
    socket: str | None = None

    def __str__(self) -> str:
        return self.socket or f"{self.host}:{self.port}"


def endpoint(conn_id: str) -> Endpoint:
    """Read an Airflow connection's address, raising a clear error when it is not defined."""
    return endpoint_of(conn_id, get_connection(conn_id))


def endpoint_of(conn_id: str, conn: Connection) -> Endpoint:
    """Return where an already looked-up connection points (host, port, ``unix_socket``)."""
    socket = conn.extra_dejson.get("unix_socket") if conn.extra else None
    return Endpoint(conn_id, conn.host or "localhost", int(conn.port or 3306), socket)


def connect(
    conn_id: str,
    *,
    connect_timeout: float = 10,
    read_timeout: float = 3660,
    write_timeout: float = 60,
    database_name: str | None = None,
) -> Any:
    """Open the Airflow connection ``conn_id`` through :func:`sqlexec.connect`, autocommit on.

    Its host, port, login, password, schema and the ``unix_socket`` and ``ssl``/``ssl_mode``
    extras are used, as ``MySqlHook`` would.

    :param read_timeout: longest wait for an answer (outlast the statement time limit).
    """
    conn = get_connection(conn_id)  # raises ConfigError naming the fix when it is not defined
    where = endpoint_of(conn_id, conn)
    extras = conn.extra_dejson if conn.extra else {}
    tls = {key: extras[key] for key in ("ssl", "ssl_mode") if extras.get(key)}
    label = f"database {database_name!r} " if database_name else ""
    return sqlexec.connect(
        user=conn.login or "",
        password=conn.password,
        host=where.host,
        port=where.port,
        socket=where.socket,
        database=conn.schema or None,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        write_timeout=write_timeout,
        label=f"{label}(connection {conn_id!r}, {where})",
        **tls,
    )


def read_timeout(settings: MaintenanceSettings) -> float:
    """The longest wait for a server's answer: configured, or the statement limit plus 60 s."""
    if settings.read_timeout_s:
        return settings.read_timeout_s
    return (settings.statement_timeout_s or 3600.0) + 60.0


class MaintenanceSession:
    """A guarded connection to one target; use as a context manager.

    :param conn_id: Airflow connection id of the target.
    :param settings: the ``maintenance`` section of the configuration (timeouts).
    :param database_name: the database's name in configuration, for messages.
    """

    def __init__(
        self,
        conn_id: str,
        settings: MaintenanceSettings,
        *,
        database_name: str | None = None,
        read_timeout_s: float | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.read_timeout_s = read_timeout_s or read_timeout(settings)
        self.settings = settings
        self.database_name = database_name or conn_id
        self.conn: Any = None
        self.dialect: Dialect | None = None
        self.endpoint: Endpoint | None = None
        self.watchdog: StatementWatchdog | None = None

    def __enter__(self) -> MaintenanceSession:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect, detect flavor and version, and set the session guards."""
        self.endpoint = endpoint(self.conn_id)
        self.conn = connect(
            self.conn_id,
            connect_timeout=self.settings.connect_timeout_s,
            read_timeout=self.read_timeout_s,
            write_timeout=self.settings.write_timeout_s,
            database_name=self.database_name,
        )
        row = self.query_one("SELECT VERSION() AS version, @@version_comment AS comment")
        self.dialect = Dialect(parse_version(row["version"], row["comment"] or ""))
        for statement in self.dialect.session_setup_sql(
            self.settings.lock_wait_timeout_s,
            self.settings.innodb_lock_wait_timeout_s,
            self.settings.statement_timeout_s,
        ):
            self.execute(*statement)
        self.watchdog = self._watchdog(self.settings.statement_timeout_s)
        log.info(
            "Connected to %s (%s) at %s: %s",
            self.database_name,
            self.conn_id,
            self.endpoint,
            self.dialect.version,
        )

    def _watchdog(self, budget_s: float) -> StatementWatchdog | None:
        """A KILL QUERY time limit for what the server's own limit does not bound (MySQL)."""
        if not budget_s or self.dialect is None or self.dialect.is_mariadb:
            return None
        own_id = self.query_one("SELECT CONNECTION_ID() AS id")["id"]
        return StatementWatchdog(own_id, budget_s, self.connect_sibling)

    def connect_sibling(self) -> Any:
        """Open a second connection to the same target as the same account (autocommit).

        The watchers that stop this session's statements (``KILL QUERY``: an account may
        always kill its own) use it; it has a short read timeout of its own.
        """
        return connect(
            self.conn_id,
            connect_timeout=self.settings.connect_timeout_s,
            read_timeout=60,
            write_timeout=self.settings.write_timeout_s,
            database_name=self.database_name,
        )

    def _bounded(self, sql: str) -> AbstractContextManager[None]:
        """The watchdog's limit for ``sql`` when the server does not bound it, else nothing."""
        if self.watchdog is None or self.dialect is None:
            return nullcontext()
        if self.dialect.statement_limit_covers(sql):
            return nullcontext()
        return self.watchdog.bound(" ".join(sql.split()[:4])[:120])

    def close(self) -> None:
        """Close the connection; safe to call twice or after the server went away."""
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - a dead connection cannot be closed twice
                pass
            self.conn = None

    def query(self, sql: str, args: Any = ()) -> list[dict[str, Any]]:
        """Run a statement and return its rows as dicts (bound ``args``, never formatted).

        Goes through the one execution layer (:mod:`maintenance_ops.core.sqlexec`): a literal ``%``
        that we write in SQL is ``%%``; ``%`` in quoted catalog names needs nothing.
        """
        with self._bounded(sql):
            return dicts(self.conn, sql, args)

    def query_one(self, sql: str, args: Any = ()) -> dict[str, Any]:
        """Run a statement that returns exactly one row."""
        rows = self.query(sql, args)
        if len(rows) != 1:
            raise MaintenanceError(f"expected one row from {sql.split()[0]}, got {len(rows)}")
        return rows[0]

    def execute(self, sql: str, args: Any = ()) -> int:
        """Run a statement and return its affected row count."""
        with self._bounded(sql):
            return execute(self.conn, sql, args)

    def execute_many(self, sql: str, seq: Any) -> int:
        """Run one statement for each parameter tuple of ``seq``; return affected rows."""
        with self._bounded(sql):
            return execute_many(self.conn, sql, seq)

    def variable(self, name: str) -> Any:
        """Return a session variable's value (name checked, not bound: SHOW takes no args)."""
        rows = self.query("SHOW SESSION VARIABLES LIKE %s", (name,))
        return rows[0]["Value"] if rows else None

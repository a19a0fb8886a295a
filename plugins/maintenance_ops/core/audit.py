"""The audit mechanism: every maintenance action is one row in ``maintenance_log``.

A row is written (``running``) before the action and completed after it, on a connection of
its own, so the log survives a lost or rolled-back maintenance connection and a killed task
leaves its trace. Passwords are redacted before anything is stored or logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from maintenance_ops.core import sqlexec
from maintenance_ops.core.identifiers import qualified
from maintenance_ops.core.session import connect
from maintenance_ops.core.sqlfiles import load_sql, split_statements

log = logging.getLogger(__name__)

# A quoted SQL or option value: a backslash escapes the next character, and a doubled quote
# stands for itself, so 'it\'s' and 'it''s' are one value each.
_QUOTED = r"""(?:'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")"""
_VALUE = rf"(?:{_QUOTED}|\S+)"
_SECRETS = (
    re.compile(rf"(IDENTIFIED\s+(?:BY|WITH\s+\S+\s+(?:BY|AS))\s+)({_QUOTED})", re.I),
    re.compile(rf"(PASSWORD\s*\(\s*)({_QUOTED})", re.I),
    re.compile(rf"((?:MASTER|SOURCE)_PASSWORD\s*=\s*)({_VALUE})", re.I),
    re.compile(rf"(SET\s+PASSWORD\b[^=]*=\s*)({_VALUE})", re.I),
    # Option files, key=value lists and environments (password=..., MYSQL_PWD=...), and the
    # password key of a dict's or JSON object's text.
    re.compile(rf"(\b(?:password|passwd|pwd|mysql_pwd)\s*=\s*)({_VALUE})", re.I),
    re.compile(rf"""(['"](?:password|passwd|pwd)['"]\s*:\s*)({_QUOTED})""", re.I),
    # user:password@host: the password may hold '@' (the host follows the last one).
    re.compile(r"(://[^:/@\s]+:)(\S*)(@)"),
    # A command line's -pSECRET or --password=SECRET, only as an argument of its own: a name
    # such as t-price or `x-p1` is left alone.
    re.compile(rf"""((?<![^\s'"=\[(,])(?:--password=|-p(?=\S)(?!ass\b)))({_VALUE})"""),
    re.compile(r"(\bpass:)(\S+)"),  # openssl -pass pass:SECRET
    re.compile(r"(\bBearer\s+)(\S+)"),
    # Webhook URLs carry their secret in the path; API keys travel as query parameters.
    re.compile(r"(https?://hooks\.slack\.com/(?:services|workflows|triggers)/)([^\s'\"]+)"),
    re.compile(
        r"([?&](?:token|key|api_key|access_token|routing_key|integration_key)=)([^&\s'\"]+)"
    ),
)


def redact(text: str | None) -> str | None:
    """Replace passwords in SQL, URIs, option files and command lines with ``***``."""
    if text is None:
        return None
    for pattern in _SECRETS:
        text = pattern.sub(
            lambda m: m.group(1) + "***" + (m.group(3) if m.lastindex == 3 else ""), text
        )
    return text


@dataclass(frozen=True)
class RunContext:
    """Which Airflow task did an action: stored with every audit row."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None

    @classmethod
    def from_airflow(cls, context: Any) -> RunContext:
        """Build from an Airflow task context."""
        ti = context["ti"]
        return cls(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", None))


@dataclass
class AuditEntry:
    """One action in progress; set ``rows``, ``outcome`` or ``details`` before it ends.

    An action that finds a problem without raising (a failed check) calls :meth:`fail`, so its
    row says ``failed`` and why, never ``ok``.
    """

    database: str
    object_name: str | None
    command: str
    outcome: str = "ok"
    rows: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    started: float = field(default_factory=time.monotonic)
    error: str | None = None

    def fail(self, reason: str, outcome: str = "failed") -> None:
        """Record that the action failed (or was refused) and why."""
        self.outcome = outcome
        self.error = reason


class AuditLog:
    """Writes and reads ``<history_schema>.maintenance_log`` through its own connection.

    :param conn_id: connection of the history store (the target, or a central server).
    :param history_schema: the schema holding history tables.
    :param run: the Airflow task doing the work.
    :param connect_timeout: seconds to wait for the history store.
    :param read_timeout: longest wait for its answer (a frozen store must not hang a task).
    """

    def __init__(
        self,
        conn_id: str,
        history_schema: str,
        run: RunContext | None = None,
        *,
        connect_timeout: int = 10,
        read_timeout: float = 60,
        write_timeout: float = 60,
    ) -> None:
        self.conn_id = conn_id
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.history_schema = history_schema
        self.run = run or RunContext()
        self.connect_timeout = connect_timeout
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = connect(
                self.conn_id,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                write_timeout=self.write_timeout,
            )
            for statement in split_statements(
                load_sql("create_maintenance_log", history_schema=self.history_schema)
            ):
                sqlexec.execute(self._conn, statement)
        return self._conn

    def close(self) -> None:
        """Close the history connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _table(self) -> str:
        return qualified(self.history_schema, "maintenance_log")

    def start(self, entry: AuditEntry) -> AuditEntry:
        """Write the ``running`` row of an action."""
        conn = self._connection()
        sqlexec.execute(
            conn,
            f"INSERT INTO {self._table()} (database_name, object_name, command, started_at, "  # noqa: S608 - quoted identifier
            "outcome, dag_id, run_id, task_id, map_index) "
            "VALUES (%s, %s, %s, %s, 'running', %s, %s, %s, %s)",
            (
                entry.database,
                entry.object_name,
                redact(entry.command),
                _utcnow(),
                self.run.dag_id,
                self.run.run_id,
                self.run.task_id,
                self.run.map_index,
            ),
        )
        entry.id = int(conn.insert_id())
        return entry

    def finish(self, entry: AuditEntry, error: str | None = None) -> None:
        """Complete an action's row with its outcome, rows, details and error (or its reason)."""
        sqlexec.execute(
            self._connection(),
            f"UPDATE {self._table()} SET ended_at = %s, outcome = %s, rows_affected = %s, "  # noqa: S608 - quoted identifier
            "error = %s, details = %s WHERE id = %s",
            (
                _utcnow(),
                entry.outcome,
                entry.rows,
                redact(error or entry.error),
                redact(json.dumps(entry.details, default=str)) if entry.details else None,
                entry.id,
            ),
        )

    @contextmanager
    def action(
        self, database: str, command: str, object_name: str | None = None, *, dry_run: bool = False
    ) -> Iterator[AuditEntry]:
        """Record one action around the ``with`` block; an exception marks it ``failed``."""
        entry = self.start(
            AuditEntry(database, object_name, command, outcome="dry_run" if dry_run else "ok")
        )
        try:
            yield entry
        except BaseException as exc:
            entry.fail(f"{type(exc).__name__}: {exc}")
            self.finish(entry)
            raise
        self.finish(entry)
        log.log(
            logging.WARNING if entry.error else logging.INFO,
            "audit: %s %s %s outcome=%s rows=%s %.2fs%s",
            database,
            object_name or "-",
            redact(command),
            entry.outcome,
            entry.rows,
            time.monotonic() - entry.started,
            f" error={redact(entry.error)}" if entry.error else "",
        )

    def read(
        self, database: str | None = None, *, dag_id: str | None = None, run_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Return audit rows, oldest first, filtered by database, DAG and run."""
        return sqlexec.dicts(
            self._connection(),
            f"SELECT * FROM {self._table()} "  # noqa: S608 - quoted identifier
            "WHERE (%s IS NULL OR database_name = %s) AND (%s IS NULL OR dag_id = %s) "
            "AND (%s IS NULL OR run_id = %s) ORDER BY id",
            (database, database, dag_id, dag_id, run_id, run_id),
        )


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)

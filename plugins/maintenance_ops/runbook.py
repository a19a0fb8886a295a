"""What the recovery runbooks in ``include/recovery/`` share: server arguments, steps, exit codes.

A runbook is run by a person at a bad moment, so it must say what it will do before doing it,
refuse what is unsafe with a message naming the fix, and do nothing at all under ``--dry-run``.
Servers are named either by an Airflow connection id (``mysql_maintenance_default``) or by a URI
(``mysql://user:password@host:3306``, ``mysql://root@localhost?unix_socket=/run/mysqld.sock``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from maintenance_ops.exceptions import ConfigError, ConnectionFailed, MaintenanceError
from maintenance_ops.restore import ClientEndpoint
from maintenance_ops.session import Endpoint

# Exit codes: 0 done (or dry run printed), 1 a check refused to go on, 2 bad input or unreachable.
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_ERROR = 2


class Refused(MaintenanceError):
    """A runbook's safety check said no; ``--force`` may override where the runbook allows it."""


@dataclass(frozen=True)
class Server:
    """A server a runbook acts on: where it is and how to log in (the password stays here)."""

    label: str
    client: ClientEndpoint

    @property
    def endpoint(self) -> Endpoint:
        """Return the credential-free address, for messages and the source-target guard."""
        return Endpoint(self.label, self.client.host, self.client.port, self.client.socket)

    def __str__(self) -> str:
        where = str(self.endpoint)
        return where if self.label == where else f"{self.label} ({where})"

    def connect(self, *, connect_timeout: int = 10) -> Any:
        """Open an autocommit MySQLdb connection, or raise ConnectionFailed naming the server."""
        import MySQLdb

        try:
            return self.client.connect(connect_timeout=connect_timeout)
        except MySQLdb.OperationalError as exc:
            code, message = (exc.args + ("",))[:2]
            raise ConnectionFailed(
                f"{self}: cannot connect: [{code}] {message}; check that the server is running "
                "and the address, user and password"
            ) from None


def parse_server(value: str) -> Server:
    """Turn a ``--server`` value (a mysql:// URI or an Airflow connection id) into a Server."""
    if "://" in value:
        return _from_uri(value)
    return _from_connection(value)


def _from_uri(value: str) -> Server:
    parts = urlsplit(value)
    if parts.scheme not in ("mysql", "mariadb"):
        raise ConfigError(
            f"server URI scheme {parts.scheme!r} is not supported; use mysql://USER:PASSWORD@HOST:PORT"
        )
    try:
        port = parts.port or 3306
    except ValueError:
        raise ConfigError(
            f"server URI has a bad port: {parts.netloc.rsplit('@', 1)[-1]!r}"
        ) from None
    sockets = parse_qs(parts.query).get("unix_socket") or []
    socket = sockets[0] if sockets else None
    host = parts.hostname or "localhost"
    client = ClientEndpoint(
        host=host,
        port=port,
        socket=socket,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
    )
    label = f"{host}:{port}" if not socket else socket
    return Server(label, client)


def _from_connection(conn_id: str) -> Server:
    try:
        return Server(conn_id, ClientEndpoint.from_connection(conn_id))
    except ConfigError:
        raise ConfigError(
            f"{conn_id!r} is neither a mysql:// URI nor a defined Airflow connection; pass "
            f"mysql://USER:PASSWORD@HOST:3306 or define AIRFLOW_CONN_{conn_id.upper()}"
        ) from None


def server_argument(parser: argparse.ArgumentParser, name: str, help_text: str, **kw: Any) -> None:
    """Add ``--<name>`` taking a URI or connection id, parsed into a :class:`Server`."""
    parser.add_argument(
        f"--{name}",
        type=_server_type,
        metavar="URI|CONN_ID",
        help=f"{help_text} (mysql://USER:PASSWORD@HOST:PORT or an Airflow connection id)",
        **kw,
    )


def _server_type(value: str) -> Server:
    try:
        return parse_server(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def dry_run_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--dry-run``: print every step, change nothing."""
    parser.add_argument(
        "--dry-run", action="store_true", help="print every step and its checks; change nothing"
    )


@dataclass
class Step:
    """One numbered action of a runbook: what it does, and the function that does it."""

    title: str
    action: Callable[[], Any] | None = None


@dataclass
class Plan:
    """The steps of a runbook, printed before they run; under dry run only printed."""

    name: str
    dry_run: bool
    out: Any = field(default_factory=lambda: sys.stdout)
    steps: list[Step] = field(default_factory=list)

    def add(self, title: str, action: Callable[[], Any] | None = None) -> None:
        """Append a step; ``action`` None means a step that only informs."""
        self.steps.append(Step(title, action))

    def say(self, text: str) -> None:
        """Print a line to the operator."""
        print(text, file=self.out, flush=True)

    def run(self) -> list[Any]:
        """Print each step and, unless dry run, run it; return the actions' results."""
        mode = "DRY RUN: nothing will be changed" if self.dry_run else "running"
        self.say(f"{self.name}: {len(self.steps)} steps ({mode})")
        results = []
        for number, step in enumerate(self.steps, 1):
            self.say(f"[{number}/{len(self.steps)}] {step.title}")
            if step.action is not None and not self.dry_run:
                results.append(step.action())
        self.say(f"{self.name}: {'dry run complete' if self.dry_run else 'done'}")
        return results


def main(run: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a runbook's body, turning package errors into one ``error:`` line and an exit code."""
    try:
        return run(argv)
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except MaintenanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

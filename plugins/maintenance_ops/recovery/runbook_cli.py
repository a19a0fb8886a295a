"""What the recovery runbooks in ``include/recovery/`` share: server arguments, steps, exit codes.

A runbook is run by a person at a bad moment, so it must say what it will do before doing it,
refuse what is unsafe with a message naming the fix, and do nothing at all under ``--dry-run``.
Servers are named either by an Airflow connection id (``mysql_maintenance_default``, the
password stays in the connection) or by a URI without a password (``mysql://user@host:3306``,
``mysql://root@localhost?unix_socket=/run/mysqld.sock``); the password of a URI comes from
``$MMC_RUNBOOK_PASSWORD_<OPTION>`` (``MMC_RUNBOOK_PASSWORD_TARGET`` for ``--target``), else
``$MMC_RUNBOOK_PASSWORD``, else a prompt when stdin is a terminal (Enter: no password), or
from an option file named in the URI (``mysql://root@127.0.0.1:PORT?option_file=DIR/root.cnf``,
the kept restore server's: the password stays in the file). A
password inside the URI shows in ``ps`` and the shell history: it is refused unless
``--insecure-password-in-uri``.

Runbooks run as the on-call account of ``include/sql/grants.sql``'s second section. Before any
step, each checks that the account holds every grant its command needs there
(:func:`check_privileges`): ``--check-privileges`` does only that, ``--dry-run`` and real runs
do it first, and a missing grant is refused (exit 1) naming the grant, why, and the GRANT.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from maintenance_ops.core import sqlexec
from maintenance_ops.core.connections import ConnectionNotDefined
from maintenance_ops.core.exceptions import ConfigError, MaintenanceError
from maintenance_ops.core.grants import (
    Requirement,
    missing,
    oncall_grants_file,
    requirements,
    super_covers,
)
from maintenance_ops.core.pipes import read_option_password
from maintenance_ops.core.session import Endpoint
from maintenance_ops.core.wording import counted
from maintenance_ops.recovery.restore import ClientEndpoint

if TYPE_CHECKING:
    from maintenance_ops.core.dialect import Dialect

# Exit codes: 0 done (or dry run printed), 1 a check refused to go on, 2 bad input or unreachable.
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_ERROR = 2

PASSWORD_ENV = "MMC_RUNBOOK_PASSWORD"
INSECURE_URI_FLAG = "--insecure-password-in-uri"


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
        return self.client.connect(connect_timeout=connect_timeout, label=str(self))


@dataclass(frozen=True)
class ServerArgument:
    """A ``--<option>`` value as typed: checked for syntax, resolved after all options are read."""

    option: str
    value: str

    def __repr__(self) -> str:
        return f"ServerArgument({self.option!r}, {uri_without_password(self.value)!r})"


def parse_server(
    value: str,
    *,
    option: str = "server",
    allow_password_in_uri: bool = False,
    environ: Mapping[str, str] | None = None,
    ask: Callable[[str], str] | None = None,
) -> Server:
    """Turn a ``--<option>`` value (an Airflow connection id or a mysql:// URI) into a Server.

    :param option: the option's name, for messages and ``$MMC_RUNBOOK_PASSWORD_<OPTION>``.
    :param allow_password_in_uri: accept ``mysql://user:PASSWORD@host`` (``ps`` shows it).
    :param environ: where the password variables are read (default: the process environment).
    :param ask: prompts for a password (default: getpass when stdin is a terminal, else none).
    """
    if "://" not in value:
        return _from_connection(value)
    parts = _split_uri(value)
    if parts.password is not None and not allow_password_in_uri:
        raise ConfigError(
            f"--{option}: a password in the URI is visible to every local user (ps) and kept in "
            f"the shell history; give an Airflow connection id, or {uri_without_password(value)} "
            f"with the password in ${password_variable(option)} or ${PASSWORD_ENV} or typed at "
            f"the prompt ({INSECURE_URI_FLAG} accepts it anyway)"
        )
    if parts.password is not None:
        return _from_uri(parts, unquote(parts.password))
    option_files = parse_qs(parts.query).get("option_file") or []
    if option_files:  # the kept restore server's root.cnf: the password stays in the file
        password = read_option_password(option_files[0])
        if password is None:
            raise ConfigError(f"--{option}: {option_files[0]} sets no password in [client]")
        return _from_uri(parts, password)
    password = _password_from(option, os.environ if environ is None else environ)
    if password is None:
        who = f"{unquote(parts.username or 'root')}@{_from_uri(parts, '')}"
        password = (ask or _prompt)(f"Password for {who} (--{option}): ")
    return _from_uri(parts, password)


def password_variable(option: str) -> str:
    """Return the environment variable holding the password for ``--<option>``'s URI."""
    return f"{PASSWORD_ENV}_{option.upper().replace('-', '_')}"


def _password_from(option: str, environ: Mapping[str, str]) -> str | None:
    for name in (password_variable(option), PASSWORD_ENV):
        if name in environ:
            return environ[name]
    return None


def _prompt(text: str) -> str:
    """Ask on the terminal (never echoed); without one, no password (socket authentication)."""
    if not sys.stdin.isatty():
        return ""
    return getpass.getpass(text)


def uri_without_password(value: str) -> str:
    """Return a URI with its password left out, for messages."""
    if "://" not in value:
        return value
    scheme, _, rest = value.partition("://")
    userinfo, at, host = rest.rpartition("@")
    return f"{scheme}://{userinfo.partition(':')[0]}{at}{host}" if at else value


def _split_uri(value: str) -> Any:
    parts = urlsplit(value)
    if parts.scheme not in ("mysql", "mariadb"):
        raise ConfigError(
            f"server URI scheme {parts.scheme!r} is not supported; use mysql://USER@HOST:PORT"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(
            f"server URI has a bad port: {parts.netloc.rsplit('@', 1)[-1]!r}"
        ) from None
    return parts


def _from_uri(parts: Any, password: str) -> Server:
    sockets = parse_qs(parts.query).get("unix_socket") or []
    socket = sockets[0] if sockets else None
    host = parts.hostname or "localhost"
    port = parts.port or 3306
    client = ClientEndpoint(
        host=host,
        port=port,
        socket=socket,
        user=unquote(parts.username or "root"),
        password=password,
    )
    label = f"{host}:{port}" if not socket else socket
    return Server(label, client)


def _from_connection(conn_id: str) -> Server:
    """Resolve a connection id as Airflow does here (:func:`connections.get_connection`)."""
    try:
        return Server(conn_id, ClientEndpoint.from_connection(conn_id))
    except ConnectionNotDefined as exc:
        raise ConfigError(
            f"{conn_id!r} is not a mysql:// URI, so it names an Airflow connection. {exc}; or "
            f"pass mysql://USER@HOST:3306 with the password in ${PASSWORD_ENV}"
        ) from None


def server_argument(parser: argparse.ArgumentParser, name: str, help_text: str, **kw: Any) -> None:
    """Add ``--<name>`` taking a connection id or URI (and ``--insecure-password-in-uri``).

    The value is checked when read and becomes a :class:`Server` in :func:`parse_arguments`,
    once every option is known.
    """
    parser.add_argument(
        f"--{name}",
        type=lambda value: _server_argument(name, value),
        metavar="URI|CONN_ID",
        help=f"{help_text}: an Airflow connection id, or mysql://USER@HOST:PORT with the "
        f"password in ${password_variable(name)} or ${PASSWORD_ENV} or typed at the prompt",
        **kw,
    )
    if INSECURE_URI_FLAG not in parser._option_string_actions:
        parser.add_argument(
            INSECURE_URI_FLAG,
            action="store_true",
            help="accept mysql://USER:PASSWORD@HOST (the password shows in ps and the shell "
            "history; prefer a connection id or the environment variable)",
        )


def _server_argument(option: str, value: str) -> ServerArgument:
    try:
        if "://" in value:
            _split_uri(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return ServerArgument(option, value)


def parse_arguments(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    *,
    environ: Mapping[str, str] | None = None,
    ask: Callable[[str], str] | None = None,
) -> argparse.Namespace:
    """Parse ``argv`` and turn every server option into a :class:`Server` (see the module doc)."""
    args = parser.parse_args(argv)
    insecure = bool(getattr(args, INSECURE_URI_FLAG.lstrip("-").replace("-", "_"), False))
    for key, value in vars(args).items():
        if isinstance(value, ServerArgument):
            server = parse_server(
                value.value,
                option=value.option,
                allow_password_in_uri=insecure,
                environ=environ,
                ask=ask,
            )
            setattr(args, key, server)
    return args


def dry_run_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--dry-run`` (print every step, change nothing) and ``--check-privileges``."""
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the account's privileges, print every step and its checks; change nothing",
    )
    privileges_argument(parser)


def privileges_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--check-privileges``: check the account's grants for the command, do nothing else."""
    parser.add_argument(
        "--check-privileges",
        action="store_true",
        help="only check that the account holds every grant this command needs (grants.sql's "
        "on-call section) and name each missing one; exit 0 if all are there, 1 if not",
    )


# ------------------------------------------------------------------------------------------
# The on-call account's privileges
# ------------------------------------------------------------------------------------------

HISTORY_SCHEMA = "_maintenance"


class _Queries:
    """The two queries :func:`preflight.account_privileges` asks of a session, on a connection."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect

    def query(self, sql: str, args: Any = ()) -> list[dict[str, Any]]:
        return sqlexec.dicts(self.conn, sql, args)

    def query_one(self, sql: str, args: Any = ()) -> dict[str, Any]:
        return self.query(sql, args)[0]


def account_grants(conn: Any, dialect: Dialect) -> tuple[str, list[tuple[str, str]]]:
    """Return the connected account (``'user'@'host'``) and its ``(scope, privilege)`` grants."""
    from maintenance_ops.core.preflight import account_privileges
    from maintenance_ops.core.session import MaintenanceSession

    return account_privileges(cast(MaintenanceSession, _Queries(conn, dialect)))


def missing_grants(
    conn: Any,
    dialect: Dialect,
    commands: Sequence[str],
    *,
    schemas: Sequence[str] = (),
    history_schema: str = HISTORY_SCHEMA,
) -> tuple[str, list[Requirement]]:
    """Return the account (``'user'@'host'``) and the on-call grants ``commands`` need it lacks.

    :param commands: the runbook commands (grants.sql's on-call ``needs`` tags) about to run.
    :param schemas: the schemas the commands touch (for grants on ``app``).
    """
    grantee, granted = account_grants(conn, dialect)
    needed = requirements(
        commands, dialect.version, list(schemas), history_schema, oncall_grants_file()
    )
    lacking = missing(granted, needed, dialect)
    if ("*.*", "SUPER") in granted:  # an older account: SUPER still stands for some of them
        lacking = [r for r in lacking if not super_covers(r.privilege, dialect.version)]
    return grantee, sorted(dict.fromkeys(lacking), key=str)


def privileges_message(
    server: Server, grantee: str, commands: Sequence[str], lacking: Sequence[Requirement]
) -> str:
    """Say which grants ``grantee`` lacks on ``server`` for ``commands``, why, and the fix."""
    lines = [
        f"{server}: the account {grantee} lacks what {' and '.join(commands)} needs "
        "(include/sql/grants.sql, the on-call section):"
    ]
    for req in lacking:
        lines.append(f"  {req}: {req.reason}; fix: GRANT {req} TO {grantee}")
    return "\n".join(lines)


def check_privileges(
    server: Server,
    conn: Any,
    dialect: Dialect,
    commands: Sequence[str],
    *,
    schemas: Sequence[str] = (),
    out: Any = None,
) -> None:
    """Refuse (:class:`Refused`) unless the account holds every grant ``commands`` need.

    Runs before any step of a runbook, dry run included, so a real run never fails half-way
    for a missing grant; prints one line when all are there.
    """
    grantee, lacking = missing_grants(conn, dialect, commands, schemas=schemas)
    if lacking:
        raise Refused(privileges_message(server, grantee, commands, lacking))
    print(
        f"privileges: {server} as {grantee} holds every grant {' and '.join(commands)} needs",
        file=out or sys.stdout,
        flush=True,
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
        self.say(f"{self.name}: {counted(len(self.steps), 'step')} ({mode})")
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

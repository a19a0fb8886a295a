#!/usr/bin/env python3
"""Emergency maintenance: kill runaway queries, switch read-only, show a server summary.

Run it when a server is in trouble now and neither a failover nor a restore is the answer:

* ``status`` first, always: one screen with the version, uptime, threads, the longest running
  query, the read-only state and, on a replica, replication health.
* ``runaway`` when load comes from queries that will not finish: list queries running for at
  least ``--max-seconds`` (optionally of one ``--user``); ``--kill`` ends them (``KILL QUERY``,
  or the whole session with ``--connection``). Run it with ``--dry-run`` first.
* ``read-only on`` when writes must stop at once (a bad deploy writing garbage, a failover about
  to start); ``read-only off`` to give writes back. Before and after states are printed.

Examples::

    emergency_maintenance.py status --server mysql_maintenance_default
    emergency_maintenance.py runaway --server mysql://root@db1 --max-seconds 300 --kill --dry-run
    emergency_maintenance.py read-only on --server mysql_maintenance_default --dry-run

Exit codes: 0 done (or dry run printed), 1 refused by a safety check, 2 bad input, an
unreachable server or a step that failed.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

try:
    import maintenance_ops  # noqa: F401 - installed in the project's virtualenv
except ImportError:  # run from a checkout with another interpreter: use the checkout's plugins/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from maintenance_ops.core import sqlexec  # noqa: E402
from maintenance_ops.core.audit import redact  # noqa: E402
from maintenance_ops.core.dialect import Dialect, parse_version  # noqa: E402
from maintenance_ops.core.exceptions import MaintenanceError, VerificationError  # noqa: E402
from maintenance_ops.recovery.runbook_cli import (  # noqa: E402
    EXIT_OK,
    EXIT_REFUSED,
    Plan,
    Server,
    check_privileges,
    counted,
    dry_run_argument,
    main,
    missing_grants,
    parse_arguments,
    privileges_argument,
    privileges_message,
    server_argument,
)

STATEMENT_CHARS = 100
# Threads the server runs for itself: replication appliers, the event scheduler, handshakes.
SYSTEM_USERS = ("system user", "event_scheduler", "unauthenticated user")
# A global read-only switch waits for running statements; never let it hang the operator.
READ_ONLY_LOCK_WAIT_S = 30
_ER_NO_SUCH_THREAD = 1094
_ER_SPECIFIC_ACCESS_DENIED = 1227
_ER_LOCK_WAIT_TIMEOUT = 1205
_STATUS_VARIABLES = ("Uptime", "Threads_connected", "Threads_running")


# ------------------------------------------------------------------------------------------
# Pure parts: statements and formatting
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningQuery:
    """One statement from the process list."""

    id: int
    user: str
    host: str
    db: str | None
    seconds: int
    statement: str

    def describe(self) -> str:
        """Return one line naming the thread, its owner, its age and the statement's start.

        Passwords in the statement (``IDENTIFIED BY '...'``) are masked.
        """
        statement = redact(" ".join(self.statement.split()))
        return (
            f"#{self.id} {self.user}@{self.host} db={self.db or '-'} {self.seconds} s: {statement}"
        )


def runaway_sql(max_seconds: int, user: str | None = None) -> tuple[str, tuple[object, ...]]:
    """Return the process-list query for statements running at least ``max_seconds``."""
    sql = (
        "SELECT ID, USER, HOST, DB, TIME, LEFT(INFO, %s) FROM information_schema.PROCESSLIST"
        " WHERE COMMAND = 'Query' AND ID <> CONNECTION_ID() AND TIME >= %s"
        " AND USER NOT IN (%s, %s, %s)"
    )
    args: tuple[object, ...] = (STATEMENT_CHARS, max_seconds, *SYSTEM_USERS)
    if user is not None:
        sql += " AND USER = %s"
        args += (user,)
    return sql + " ORDER BY TIME DESC, ID", args


def still_running_sql(query: RunningQuery) -> tuple[str, tuple[object, ...]]:
    """Return a query that finds ``query`` only if the same statement is still running.

    A thread id names a session, not a statement: checking age and text just before the kill
    keeps a statement that started after the listing safe.
    """
    return (
        "SELECT ID FROM information_schema.PROCESSLIST WHERE ID = %s AND COMMAND = 'Query'"
        " AND TIME >= %s AND LEFT(INFO, %s) = %s",
        (query.id, query.seconds, STATEMENT_CHARS, query.statement),
    )


def kill_sql(thread_id: int, *, connection: bool) -> tuple[str, tuple[object, ...]]:
    """Return the KILL statement for a thread's running statement or its whole connection."""
    return ("KILL CONNECTION %s" if connection else "KILL QUERY %s"), (int(thread_id),)


def format_uptime(seconds: int) -> str:
    """Return ``seconds`` as ``<days>d HH:MM:SS``."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours:02d}:{minutes:02d}:{secs:02d}"


def format_flags(state: dict[str, bool]) -> str:
    """Return ``read_only=ON super_read_only=ON`` from a variable → bool mapping."""
    return " ".join(f"{name}={'ON' if on else 'OFF'}" for name, on in state.items())


# ------------------------------------------------------------------------------------------
# Talking to the server
# ------------------------------------------------------------------------------------------


def _rows(conn: Any, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    return sqlexec.rows(conn, sql, tuple(args))


def server_dialect(conn: Any) -> Dialect:
    """Return the dialect of the connected server."""
    version, comment = _rows(conn, "SELECT VERSION(), @@version_comment")[0]
    return Dialect(parse_version(str(version), str(comment or "")))


def list_runaway(conn: Any, max_seconds: int, user: str | None = None) -> list[RunningQuery]:
    """Return the statements running at least ``max_seconds``, oldest first."""
    sql, args = runaway_sql(max_seconds, user)
    return [
        RunningQuery(int(r[0]), str(r[1]), str(r[2]), r[3], int(r[4]), str(r[5] or ""))
        for r in _rows(conn, sql, args)
    ]


def kill_query(conn: Any, query: RunningQuery, *, connection: bool) -> bool:
    """Kill ``query`` if it is still the same statement; return whether a KILL was sent."""
    import MySQLdb

    sql, args = still_running_sql(query)
    if not _rows(conn, sql, args):
        return False
    sql, args = kill_sql(query.id, connection=connection)
    try:
        _rows(conn, sql, args)
    except MySQLdb.OperationalError as exc:
        if exc.args and exc.args[0] == _ER_NO_SUCH_THREAD:
            return False  # It finished between the check and the kill.
        raise MaintenanceError(
            f"cannot kill thread {query.id}: {exc.args[-1]}; the account needs "
            "CONNECTION ADMIN (MariaDB 10.5.2+) or CONNECTION_ADMIN (MySQL 8), or must own "
            "the thread (include/sql/grants.sql, the on-call section)"
        ) from None
    return True


def read_only_state(conn: Any, dialect: Dialect) -> dict[str, bool]:
    """Return each read-only variable of the server and whether it is on."""
    names = dialect.read_only_variables()
    values = _rows(conn, "SELECT " + ", ".join(f"@@global.{name}" for name in names))[0]
    return {name: bool(int(value)) for name, value in zip(names, values, strict=True)}


def replica_summary(conn: Any, dialect: Dialect) -> str:
    """Return one line on replication health, or say the server is not a replica.

    An account that may not read the replica status gets a line saying so, not a traceback.
    """
    import MySQLdb

    try:
        found = sqlexec.dicts(conn, dialect.replica_status_sql())
    except MySQLdb.OperationalError as exc:
        if not exc.args or exc.args[0] != _ER_SPECIFIC_ACCESS_DENIED:
            raise
        return f"unknown: {dialect.replica_status_sql()} was refused ({exc.args[-1]})"
    row = found[0] if found else None
    if not row:
        return "not a replica"
    f = dialect.replica_fields()
    lag = row.get(f.seconds_behind)
    error = row.get(f.last_error) or ""
    text = (
        f"replica of {row.get(f.source_host)}: IO {row.get(f.io_running)}, "
        f"SQL {row.get(f.sql_running)}, lag {'unknown' if lag is None else f'{lag} s'}"
    )
    return text + (f", last error: {error[:200]}" if error else "")


# ------------------------------------------------------------------------------------------
# Subcommands
# ------------------------------------------------------------------------------------------


def cmd_runaway(args: argparse.Namespace, out: TextIO) -> int:
    """List statements running too long; with ``--kill`` kill them (not under dry run)."""
    server: Server = args.server
    conn = server.connect(connect_timeout=args.connect_timeout)
    try:
        commands = ["runaway", "kill"] if args.kill else ["runaway"]
        check_privileges(server, conn, server_dialect(conn), commands, out=out)
        if args.check_privileges:
            return EXIT_OK
        found = list_runaway(conn, args.max_seconds, args.user)
        who = f" by {args.user}" if args.user else ""
        print(
            f"{server}: {counted(len(found), 'query', 'queries')}{who} running for at least "
            f"{args.max_seconds} s",
            file=out,
        )
        for query in found:
            print(f"  {query.describe()}", file=out)
        if not args.kill or not found:
            return EXIT_OK
        what = "connection" if args.connection else "query"
        plural = "connections" if args.connection else "queries"
        plan = Plan(f"kill runaway {plural} on {server}", args.dry_run, out=out)
        for query in found:
            plan.add(
                f"KILL {what.upper()} {query.id} ({query.user}@{query.host}, {query.seconds} s)",
                functools.partial(_kill_and_say, conn, query, args.connection, out),
            )
        plan.run()
    finally:
        conn.close()
    return EXIT_OK


def _kill_and_say(conn: Any, query: RunningQuery, connection: bool, out: TextIO) -> bool:
    killed = kill_query(conn, query, connection=connection)
    print(f"      {'killed' if killed else 'already finished, not killed'}: #{query.id}", file=out)
    return killed


def cmd_read_only(args: argparse.Namespace, out: TextIO) -> int:
    """Switch the server's read-only state, printing it before and after."""
    server: Server = args.server
    on = args.state == "on"
    conn = server.connect(connect_timeout=args.connect_timeout)
    try:
        dialect = server_dialect(conn)
        check_privileges(server, conn, dialect, ["read-only"], out=out)
        if args.check_privileges:
            return EXIT_OK
        before = read_only_state(conn, dialect)
        print(f"{server}: before: {format_flags(before)}", file=out)
        if all(value == on for value in before.values()):
            print(f"{server}: already read-only {args.state.upper()}; nothing to do", file=out)
            return EXIT_OK
        plan = Plan(f"read-only {args.state.upper()} for {server}", args.dry_run, out=out)
        plan.add(
            f"SET SESSION lock_wait_timeout = {READ_ONLY_LOCK_WAIT_S} (never hang behind a lock)",
            lambda: _rows(conn, "SET SESSION lock_wait_timeout = %s", (READ_ONLY_LOCK_WAIT_S,)),
        )
        for sql, values in dialect.set_read_only_sql(on):
            plan.add(
                sql.replace("%s", "ON" if values[0] else "OFF"),
                functools.partial(_set_global, conn, sql, values),
            )
        plan.run()
        after = read_only_state(conn, dialect)
        note = " (unchanged: dry run)" if args.dry_run else ""
        print(f"{server}: after: {format_flags(after)}{note}", file=out)
        if not args.dry_run and not all(value == on for value in after.values()):
            raise VerificationError(
                f"{server}: read-only is {format_flags(after)} after the switch; check the "
                "server's error log and retry"
            )
        if on and not args.dry_run and "super_read_only" not in after:
            print(
                "note: accounts with the READ_ONLY ADMIN privilege (SUPER before MariaDB 10.11) "
                "can still write; replication keeps applying",
                file=out,
            )
    finally:
        conn.close()
    return EXIT_OK


def _set_global(conn: Any, sql: str, values: tuple[object, ...]) -> None:
    import MySQLdb

    try:
        _rows(conn, sql, values)
    except MySQLdb.OperationalError as exc:
        if exc.args and exc.args[0] == _ER_LOCK_WAIT_TIMEOUT:
            raise MaintenanceError(
                f"{sql % values} waited {READ_ONLY_LOCK_WAIT_S} s for running statements; list "
                "them with `runaway --max-seconds 1`, kill the writers and retry"
            ) from None
        raise MaintenanceError(
            f"{sql % values} failed: {exc.args[-1]}; the account needs READ_ONLY ADMIN "
            "(MariaDB 10.5.2+) or SYSTEM_VARIABLES_ADMIN (MySQL 8)"
        ) from None


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    """Print a one-screen summary of the server.

    An account lacking a grant ``status`` needs still gets every line it can read; the lines
    it cannot are marked, the missing grants named on stderr, and the exit code is 1.
    """
    server: Server = args.server
    conn = server.connect(connect_timeout=args.connect_timeout)
    try:
        dialect = server_dialect(conn)
        if args.check_privileges:
            check_privileges(server, conn, dialect, ["status"], out=out)
            return EXIT_OK
        grantee, lacking = missing_grants(conn, dialect, ["status"])
        own_only = any(req.privilege == "PROCESS" for req in lacking)
        placeholders = ", ".join(["%s"] * len(_STATUS_VARIABLES))
        status = {
            str(name): str(value)
            for name, value in _rows(
                conn,
                f"SHOW GLOBAL STATUS WHERE Variable_name IN ({placeholders})",
                _STATUS_VARIABLES,
            )
        }
        longest = list_runaway(conn, 0)
        lines = [
            ("server", str(server)),
            ("version", f"{dialect.version.raw} ({dialect.version})"),
            ("uptime", format_uptime(int(status.get("Uptime", 0)))),
            (
                "threads",
                f"connected {status.get('Threads_connected', '?')}, "
                f"running {status.get('Threads_running', '?')}",
            ),
            (
                "longest query",
                (longest[0].describe() if longest else "none running")
                + (" (the account's own sessions only: it lacks PROCESS)" if own_only else ""),
            ),
            ("read-only", format_flags(read_only_state(conn, dialect))),
            ("replication", replica_summary(conn, dialect)),
        ]
    finally:
        conn.close()
    for label, value in lines:
        print(f"{label + ':':<15}{value}", file=out)
    if lacking:
        print(
            "status incomplete: " + privileges_message(server, grantee, ["status"], lacking),
            file=sys.stderr,
        )
        return EXIT_REFUSED
    return EXIT_OK


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1")
    return number


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser with its three subcommands."""
    parser = argparse.ArgumentParser(
        prog="emergency_maintenance.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Exit codes: 0 done or dry run printed, 1 refused, 2 bad input or failure.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--connect-timeout",
        type=_positive_int,
        default=10,
        help="seconds to wait for a connection (default 10)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    runaway = sub.add_parser(
        "runaway", parents=[common], help="list (and with --kill, kill) queries running too long"
    )
    server_argument(runaway, "server", "the server to inspect", required=True)
    runaway.add_argument(
        "--max-seconds",
        type=_positive_int,
        required=True,
        help="list queries running for at least this many seconds",
    )
    runaway.add_argument("--user", help="only queries of this account's user name")
    runaway.add_argument("--kill", action="store_true", help="kill the queries listed")
    runaway.add_argument(
        "--connection",
        action="store_true",
        help="with --kill, end the whole connection (KILL CONNECTION), not only its statement",
    )
    dry_run_argument(runaway)
    runaway.set_defaults(handler=cmd_runaway)

    read_only = sub.add_parser(
        "read-only", parents=[common], help="switch the server read-only on or off"
    )
    read_only.add_argument("state", choices=("on", "off"), help="on: stop writes; off: allow")
    server_argument(read_only, "server", "the server to switch", required=True)
    dry_run_argument(read_only)
    read_only.set_defaults(handler=cmd_read_only)

    status = sub.add_parser(
        "status", parents=[common], help="print a one-screen summary of the server"
    )
    server_argument(status, "server", "the server to summarize", required=True)
    privileges_argument(status)
    status.set_defaults(handler=cmd_status)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand."""
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if getattr(args, "connection", False) and not args.kill:
        parser.error("--connection only applies with --kill")
    return int(args.handler(args, sys.stdout))


if __name__ == "__main__":
    sys.exit(main(run))

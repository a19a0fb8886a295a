#!/usr/bin/env python3
"""Failover: promote a replica to be the new primary when the primary is lost or must go.

Use it when the primary is down for longer than clients can wait (a dead host, a corrupted
datadir) or must be taken out of service, and a replica is to take over. It:

1. checks that the account holds what the failover needs on the replica (and, to fence it,
   on the primary): grants.sql's on-call section; a missing grant is refused (exit 1);
2. checks the replica has everything: with ``--primary`` reachable, that it applied the
   primary's current GTID position; otherwise that it applied all it received. A replica
   behind is refused (exit 1), naming how far behind, unless ``--force``; ``--max-lag-s N``
   first gives it up to N seconds to catch up. A stopped SQL thread is refused at once:
   waiting does not help;
3. fences a reachable primary: ``read_only`` ON (and ``super_read_only`` on MySQL), then ends
   every client session on it (``KILL CONNECTION``; its own threads and the replicas reading
   its binary log are left alone), so no write lands there after this point; a primary that
   cannot be fenced (unreachable, or the account lacks the grants) is refused unless
   ``--force`` (then stop it or cut it off yourself);
4. reads the fenced primary's final GTID position and waits up to ``--max-lag-s`` (at least
   10 s) for the replica to apply it; otherwise refused (the primary stays fenced; the message
   says how to give writes back);
5. stops replication and removes its configuration (``RESET SLAVE ALL`` / ``RESET REPLICA
   ALL``), so the new primary can never reconnect to the old one;
6. turns ``read_only`` (and on MySQL ``super_read_only``) OFF;
7. verifies it accepts a write (a heartbeat row in ``_maintenance.replication_heartbeat``);
8. prints what clients must change: the old address, the new one, the Airflow connection.

Run with ``--dry-run`` first: it checks the account, that the servers are reachable and the
replica caught up, prints every step (and the sessions the fence would end), and changes
nothing. With a primary taking writes, give ``--max-lag-s`` a few seconds.

Examples::

    failover_to_replica.py --replica mysql://oncall@db2:3306 --primary mysql_primary --dry-run
    failover_to_replica.py --replica mysql://oncall@db2:3306 --primary mysql_primary
    failover_to_replica.py --replica mysql_replica_1 --force   # primary gone, accept the loss

Exit codes: 0 done (or dry run printed), 1 refused by a safety check, 2 bad input, an
unreachable server or a step that failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import maintenance_ops  # noqa: F401 - installed in the project's virtualenv
except ImportError:  # run from a checkout with another interpreter: use the checkout's plugins/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

import MySQLdb  # noqa: E402

from maintenance_ops.core import sqlexec  # noqa: E402
from maintenance_ops.core.dialect import Dialect  # noqa: E402
from maintenance_ops.core.exceptions import (  # noqa: E402
    ConnectionFailed,
    MaintenanceError,
    VerificationError,
)
from maintenance_ops.recovery.replication import (  # noqa: E402
    DEFAULT_SCHEMA,
    HEARTBEAT_TABLE,
    CatchUp,
    ReplicaStatus,
    client_sessions,
    end_sessions,
    read_gtid_position,
    read_read_only,
    read_replica_status,
    replica_caught_up,
    server_dialect,
    wait_until_caught_up,
    write_heartbeat,
)
from maintenance_ops.recovery.runbook_cli import (  # noqa: E402
    EXIT_OK,
    Plan,
    Refused,
    Server,
    check_privileges,
    counted,
    dry_run_argument,
    main,
    missing_grants,
    parse_arguments,
    privileges_message,
    server_argument,
)

# The fence's SET GLOBAL read_only waits at most this long for running writes, then ends them.
FENCE_LOCK_WAIT_S = 10
# After the fence, the replica gets at least this long to apply the primary's last writes.
FENCE_CATCH_UP_S = 10.0
_ER_LOCK_WAIT_TIMEOUT = 1205


def _non_negative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds >= 0")
    return number


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="failover_to_replica.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Exit codes: 0 done or dry run printed, 1 refused, 2 bad input or failure.",
    )
    server_argument(parser, "replica", "the replica to promote", required=True)
    server_argument(
        parser,
        "primary",
        "the current primary; when reachable, the replica must have applied its current position",
    )
    parser.add_argument(
        "--max-lag-s",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="give a replica that is behind up to this long to catch up (default 0: it must "
        "be caught up already)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="promote even when the replica is behind (what it has not applied is lost)",
    )
    dry_run_argument(parser)
    return parser


# ------------------------------------------------------------------------------------------
# Checking
# ------------------------------------------------------------------------------------------


@dataclass
class Primary:
    """The old primary as the failover found it: reachable or not, fenceable or not."""

    server: Server | None
    conn: Any = None
    dialect: Dialect | None = None
    cannot_fence: str | None = None
    """Why the fence cannot be done (None: it can, or there is no primary to fence)."""

    def position(self) -> str | None:
        """Return the primary's GTID position now, or None when it is not reachable."""
        if self.conn is None or self.dialect is None:
            return None
        return read_gtid_position(self.conn, self.dialect, "primary") or None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def open_primary(server: Server | None, plan: Plan) -> Primary:
    """Connect to the old primary and find whether the account can fence it."""
    if server is None:
        plan.say(
            "primary: not given; checking only that the replica applied all it received "
            "(nothing fences the old primary: make sure it is down)"
        )
        return Primary(None)
    try:
        conn = server.connect(connect_timeout=5)
    except ConnectionFailed as exc:
        plan.say(f"primary: unreachable ({exc}); checking only what the replica received")
        return Primary(
            server,
            cannot_fence=f"the old primary {server} is unreachable, so it cannot be fenced: "
            "it may still take writes (a network partition looks the same)",
        )
    primary = Primary(server, conn, server_dialect(conn))
    assert primary.dialect is not None
    grantee, lacking = missing_grants(conn, primary.dialect, ["fence"])
    if lacking:
        primary.cannot_fence = privileges_message(server, grantee, ["fence"], lacking)
    position = primary.position()
    plan.say(f"primary: {server} reachable, GTID position {position or '(empty)'}")
    return primary


def require_fence(primary: Primary, force: bool, plan: Plan) -> bool:
    """Return whether the failover fences the primary; refuse one it cannot fence."""
    if primary.cannot_fence is None:
        return primary.conn is not None
    if not force:
        raise Refused(
            f"{primary.cannot_fence}. Fix that and rerun, or stop the old primary (or cut it "
            "off from its clients) yourself and rerun with --force"
        )
    plan.say(f"warning: not fencing the old primary (--force): {primary.cannot_fence}")
    return False


def check_caught_up(
    replica: Any, dialect: Dialect, position: str | None, max_lag_s: float, plan: Plan
) -> tuple[CatchUp, ReplicaStatus]:
    """Decide whether the replica is caught up, first waiting up to ``max_lag_s`` if not."""
    status = read_replica_status(replica, dialect)
    decision = replica_caught_up(
        dialect, status, read_gtid_position(replica, dialect, "replica"), position
    )
    if decision.caught_up or max_lag_s <= 0 or status.sql_running != "Yes":
        return _stopped_sql_thread(decision, status), status
    plan.say(f"replica is {decision.reason}; waiting up to {max_lag_s:g}s (--max-lag-s)")
    wait_until_caught_up(replica, dialect, position, max_lag_s)
    status = read_replica_status(replica, dialect)
    decision = replica_caught_up(
        dialect, status, read_gtid_position(replica, dialect, "replica"), position
    )
    return _stopped_sql_thread(decision, status), status


def _stopped_sql_thread(decision: CatchUp, status: ReplicaStatus) -> CatchUp:
    """Say so when the replica is behind because its SQL thread is stopped: waiting won't help."""
    if decision.caught_up or not status.configured or status.sql_running == "Yes":
        return decision
    return CatchUp(
        False,
        f"{decision.reason}, and its SQL thread is stopped ({status.sql_running or '-'}; "
        f"last error: {status.last_sql_error or 'none'}): waiting will not help; start it "
        "(START REPLICA SQL_THREAD) or fix the error, then rerun",
        decision.transactions_behind,
    )


def fence(primary: Primary, plan: Plan) -> None:
    """Make the old primary read-only, then end every client session on it."""
    conn, dialect, server = primary.conn, primary.dialect, primary.server
    assert conn is not None and dialect is not None and server is not None
    _execute(conn, "SET SESSION lock_wait_timeout = %s", (FENCE_LOCK_WAIT_S,))
    try:
        for sql, args in dialect.set_read_only_sql(True):
            sqlexec.execute(conn, sql, args)
    except MySQLdb.OperationalError as exc:
        if not exc.args or exc.args[0] != _ER_LOCK_WAIT_TIMEOUT:
            raise MaintenanceError(f"{server}: fencing failed: {exc.args[-1]}") from None
        # A write held the switch past the wait: end the sessions first, then switch.
        end_sessions(conn, client_sessions(conn))
        _statements(conn, dialect.set_read_only_sql(True))()
    ended = end_sessions(conn, client_sessions(conn))
    flags = read_read_only(conn, dialect)
    if not all(flags.values()):
        raise MaintenanceError(f"{server}: still {flags} after the fence; fence it by hand")
    shown = ", ".join(str(s) for s in ended[:10]) + (" ..." if len(ended) > 10 else "")
    sessions = counted(len(ended), "client session")
    plan.say(f"      fenced: {flags}; ended {sessions} {shown}".rstrip())


def final_catch_up(
    replica: Any, dialect: Dialect, primary: Primary, args: argparse.Namespace, plan: Plan
) -> None:
    """Wait for the replica to apply the fenced primary's final position; refuse if it cannot."""
    position = primary.position()
    wait_s = max(args.max_lag_s, FENCE_CATCH_UP_S)
    decision, _ = check_caught_up(replica, dialect, position, wait_s, plan)
    plan.say(f"      final position {position or '(empty)'}: {decision.reason}")
    if decision.caught_up:
        return
    if args.force:
        plan.say(f"warning: promoting although the replica is {decision.reason} (--force)")
        return
    assert primary.server is not None
    raise Refused(
        f"replica {args.replica} is {decision.reason} after the fence. The old primary "
        f"{primary.server} stays fenced (read-only): wait and rerun, pass --force to lose what "
        "the replica lacks, or give the primary its writes back with `emergency_maintenance.py "
        f"read-only off --server {primary.server.label}`"
    )


# ------------------------------------------------------------------------------------------
# Acting
# ------------------------------------------------------------------------------------------


def _execute(conn: Any, sql: str, args: Sequence[object] | None = None) -> None:
    import MySQLdb

    try:
        sqlexec.execute(conn, sql, () if args is None else args)
    except MySQLdb.Error as exc:
        shown = sql % tuple(args) if args else sql
        raise MaintenanceError(
            f"{shown} failed: {exc.args[-1]}; fix the cause and rerun (the steps before it "
            "are done, and rerunning them is harmless)"
        ) from None


def _statements(conn: Any, statements: list[tuple[str, tuple[object, ...]]]) -> Callable[[], None]:
    def run() -> None:
        for sql, args in statements:
            _execute(conn, sql, args)

    return run


def verify_promoted(conn: Any, dialect: Dialect, server: Server) -> None:
    """Raise VerificationError unless the server is writable, replicates nothing, takes a write."""
    flags = read_read_only(conn, dialect)
    status = read_replica_status(conn, dialect)
    if any(flags.values()) or status.running:
        raise VerificationError(
            f"{server} is not promoted: {flags}, replication threads "
            f"IO={status.io_running or '-'} SQL={status.sql_running or '-'}; rerun the runbook"
        )
    import MySQLdb

    try:
        write_heartbeat(conn, DEFAULT_SCHEMA)
    except MySQLdb.Error as exc:
        raise VerificationError(f"{server} refused a test write: {exc}") from None


def client_changes(replica: Server, primary: Server | None, status: ReplicaStatus) -> list[str]:
    """Return the lines telling people what to repoint at the new primary."""
    if primary is not None:
        old = str(primary.endpoint)
    elif status.source_host:
        old = f"{status.source_host}:{status.source_port}"
    else:
        old = "(the old primary)"
    client = replica.client
    new = client.socket or f"{client.host}:{client.port}"
    lines = [f"clients: change the database address {old} -> {new}"]
    # Only the address changes: the login and password stay where they are (never typed here).
    if primary is not None and primary.label != str(primary.endpoint):
        conn_id = primary.label
        lines.append(
            f"Airflow: point connection {conn_id!r} at {client.host}:{client.port} (edit its "
            "host and port in the UI under Admin > Connections, in your secrets backend, or in "
            f"AIRFLOW_CONN_{conn_id.upper()}; login and password stay)"
        )
    else:
        lines.append(
            f"Airflow: point every connection that names {old} (the conn_id of this database "
            f"in maintenance.yaml) at {client.host}:{client.port}; login and password stay"
        )
    if replica.label != str(replica.endpoint):
        lines.append(
            f"Airflow: connection {replica.label!r} now names the primary; drop it from the "
            "database's replicas in maintenance.yaml"
        )
    lines.append(
        f"old primary {old}: keep it fenced (stopped or read-only); it must not take writes "
        "again, and can only return as a replica of the new primary after a rebuild"
    )
    return lines


# ------------------------------------------------------------------------------------------
# The runbook
# ------------------------------------------------------------------------------------------


def run(argv: Sequence[str] | None = None) -> int:
    """Check, fence the old primary, then promote the replica; return the exit code."""
    args = parse_arguments(build_parser(), argv)
    replica: Server = args.replica
    plan = Plan("failover to replica", dry_run=args.dry_run)
    conn = replica.connect()
    primary = Primary(None)
    try:
        dialect = server_dialect(conn)
        plan.say(f"replica: {replica} reachable ({dialect.version.raw})")
        check_privileges(replica, conn, dialect, ["failover"], out=plan.out)
        primary = open_primary(args.primary, plan)
        fencing = require_fence(primary, args.force, plan)
        if fencing and args.check_privileges:
            assert primary.dialect is not None
            check_privileges(args.primary, primary.conn, primary.dialect, ["fence"], out=plan.out)
        if args.check_privileges:
            return EXIT_OK
        status = plan_failover(conn, dialect, primary, fencing, args, plan)
        plan.run()
    finally:
        conn.close()
        primary.close()
    prefix = "would change" if args.dry_run else "change now"
    plan.say(f"{prefix}:")
    for line in client_changes(replica, args.primary, status):
        plan.say(f"  {line}")
    return EXIT_OK


def plan_failover(
    conn: Any,
    dialect: Dialect,
    primary: Primary,
    fencing: bool,
    args: argparse.Namespace,
    plan: Plan,
) -> ReplicaStatus:
    """Check the replica is caught up, then add the fence and promotion steps to ``plan``."""
    replica: Server = args.replica
    decision, status = check_caught_up(conn, dialect, primary.position(), args.max_lag_s, plan)
    if not decision.caught_up:
        if not args.force:
            raise Refused(
                f"replica {replica} is {decision.reason}; promoting it now loses what it "
                "has not applied. Wait for it to catch up (--max-lag-s N waits up to N "
                "seconds), or pass --force to promote it anyway"
            )
        plan.say(f"warning: promoting although the replica is {decision.reason} (--force)")
    forced = "" if decision.caught_up else " (--force)"
    plan.add(f"check {replica} is caught up: {decision.reason}{forced}")
    if fencing:
        assert primary.conn is not None and primary.dialect is not None
        sessions = client_sessions(primary.conn)
        read_only = "; ".join(sql % v for sql, v in primary.dialect.set_read_only_sql(True))
        plan.add(
            f"fence the old primary {primary.server}: {read_only}; end its client sessions "
            f"(KILL CONNECTION; {len(sessions)} now, replicas reading its binlog spared)",
            lambda: fence(primary, plan),
        )
        plan.add(
            f"read its final GTID position; wait up to "
            f"{max(args.max_lag_s, FENCE_CATCH_UP_S):g}s for {replica} to apply it",
            lambda: final_catch_up(conn, dialect, primary, args, plan),
        )
    plan.add(
        f"stop replication on {replica}: {dialect.stop_replica_sql()}",
        _statements(conn, [(dialect.stop_replica_sql(), ())]),
    )
    plan.add(
        f"forget the old primary so replication cannot restart: {dialect.reset_replica_all_sql()}",
        _statements(conn, [(dialect.reset_replica_all_sql(), ())]),
    )
    writable = dialect.set_read_only_sql(False)
    plan.add(
        f"make {replica} writable: " + "; ".join(sql % values for sql, values in writable),
        _statements(conn, writable),
    )
    plan.add(
        f"verify {replica} takes writes: a row in {DEFAULT_SCHEMA}.{HEARTBEAT_TABLE}",
        lambda: verify_promoted(conn, dialect, replica),
    )
    plan.add("tell clients to use the new primary (listed below)")
    return status


if __name__ == "__main__":
    sys.exit(main(run))

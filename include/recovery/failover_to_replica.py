#!/usr/bin/env python3
"""Failover: promote a replica to be the new primary when the primary is lost or must go.

Use it when the primary is down for longer than clients can wait (a dead host, a corrupted
datadir) or must be taken out of service, and a replica is to take over. It:

1. checks the replica has everything: with ``--primary`` reachable, that it applied the
   primary's current GTID position; otherwise that it applied all it received. A replica
   behind is refused (exit 1), naming how far behind, unless ``--force``; ``--max-lag-s N``
   first gives it up to N seconds to catch up;
2. stops replication and removes its configuration (``RESET SLAVE ALL`` / ``RESET REPLICA
   ALL``), so the new primary can never reconnect to the old one;
3. turns ``read_only`` (and on MySQL ``super_read_only``) OFF;
4. verifies it accepts a write (a heartbeat row in ``_maintenance.replication_heartbeat``);
5. prints what clients must change: the old address, the new one, the Airflow connection.

Before running it for real, fence the old primary (stop it, or make it read-only) so that no
client keeps writing there, and run with ``--dry-run`` first: it prints every step and checks
that the servers are reachable and the replica caught up, and changes nothing.

Examples::

    failover_to_replica.py --replica mysql://root@db2:3306 --primary mysql_primary --dry-run
    failover_to_replica.py --replica mysql://root@db2:3306 --primary mysql_primary
    failover_to_replica.py --replica mysql_replica_1 --force   # primary gone, accept the loss

Exit codes: 0 done (or dry run printed), 1 refused by a safety check, 2 bad input, an
unreachable server or a step that failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

try:
    import maintenance_ops  # noqa: F401 - installed in the project's virtualenv
except ImportError:  # run from a checkout with another interpreter: use the checkout's plugins/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from maintenance_ops import sqlexec  # noqa: E402
from maintenance_ops.dialect import Dialect  # noqa: E402
from maintenance_ops.exceptions import (  # noqa: E402
    ConnectionFailed,
    MaintenanceError,
    VerificationError,
)
from maintenance_ops.replication import (  # noqa: E402
    DEFAULT_SCHEMA,
    HEARTBEAT_TABLE,
    CatchUp,
    ReplicaStatus,
    read_gtid_position,
    read_read_only,
    read_replica_status,
    replica_caught_up,
    server_dialect,
    wait_until_caught_up,
    write_heartbeat,
)
from maintenance_ops.runbook import (  # noqa: E402
    EXIT_OK,
    Plan,
    Refused,
    Server,
    dry_run_argument,
    main,
    parse_arguments,
    server_argument,
)


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


def primary_position(primary: Server | None, plan: Plan) -> str | None:
    """Return the primary's GTID position, or None (saying why) when it cannot be read."""
    if primary is None:
        plan.say("primary: not given; checking only that the replica applied all it received")
        return None
    try:
        conn = primary.connect(connect_timeout=5)
    except ConnectionFailed as exc:
        plan.say(f"primary: unreachable ({exc}); checking only what the replica received")
        return None
    try:
        position = read_gtid_position(conn, server_dialect(conn), "primary")
    finally:
        conn.close()
    plan.say(f"primary: {primary} reachable, GTID position {position or '(empty)'}")
    return position or None


def check_caught_up(
    replica: Any, dialect: Dialect, position: str | None, max_lag_s: float, plan: Plan
) -> tuple[CatchUp, ReplicaStatus]:
    """Decide whether the replica is caught up, first waiting up to ``max_lag_s`` if not."""
    status = read_replica_status(replica, dialect)
    decision = replica_caught_up(
        dialect, status, read_gtid_position(replica, dialect, "replica"), position
    )
    if decision.caught_up or max_lag_s <= 0 or status.sql_running != "Yes":
        return decision, status
    plan.say(f"replica is {decision.reason}; waiting up to {max_lag_s:g}s (--max-lag-s)")
    wait_until_caught_up(replica, dialect, position, max_lag_s)
    status = read_replica_status(replica, dialect)
    decision = replica_caught_up(
        dialect, status, read_gtid_position(replica, dialect, "replica"), position
    )
    return decision, status


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
    """Check, then promote, the replica; return the exit code."""
    args = parse_arguments(build_parser(), argv)
    replica: Server = args.replica
    plan = Plan("failover to replica", dry_run=args.dry_run)
    conn = replica.connect()
    try:
        dialect = server_dialect(conn)
        plan.say(f"replica: {replica} reachable ({dialect.version.raw})")
        position = primary_position(args.primary, plan)
        decision, status = check_caught_up(conn, dialect, position, args.max_lag_s, plan)
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
        plan.add(
            f"stop replication on {replica}: {dialect.stop_replica_sql()}",
            _statements(conn, [(dialect.stop_replica_sql(), ())]),
        )
        plan.add(
            f"forget the old primary so replication cannot restart: "
            f"{dialect.reset_replica_all_sql()}",
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
        plan.run()
    finally:
        conn.close()
    prefix = "would change" if args.dry_run else "change now"
    plan.say(f"{prefix}:")
    for line in client_changes(replica, args.primary, status):
        plan.say(f"  {line}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(run))

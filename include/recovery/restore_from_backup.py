#!/usr/bin/env python3
"""Restore a backup onto a server, optionally rolled forward to a point in time.

Use it when data is lost and no replica holds a good copy: the primary's datadir is gone,
or someone dropped a table or ran a bad DELETE (then restore to just before it with
``--until``, onto a separate server, and copy the rows back). It:

1. finds the backup (``--backup PATH``, or the newest one at ``--location`` for
   ``--database``) and checks every file against the manifest's sha256; a damaged backup is
   refused (exit 1) before anything is written;
2. checks the target: a server holding non-system schemas is refused unless ``--force``
   (tables in the backup are then replaced, other tables stay); a target that is the same
   server as ``--binlog-source`` is always refused;
3. with ``--ephemeral``, starts a private server on this machine to restore into and prints
   its address; ``--keep`` keeps it running until you press Ctrl-C, otherwise it is stopped
   at the end;
4. restores the backup with the tool that made it (mariadb-dump/mysqldump or mydumper);
5. with ``--until 'YYYY-MM-DD HH:MM:SS'`` (UTC), replays the binary logs of
   ``--binlog-source`` (read only, never written) from the backup's coordinates up to that
   time: every transaction committed before it is applied, none after it (or, with
   ``--stop-position FILE:POS`` from ``find``, every event before that one, exactly). Account
   statements in the range (``CREATE USER``, ``GRANT``, ``ALTER USER``...) are left out, as
   the backup holds no accounts, and listed at the end (never their text) to redo by hand;
6. prints the recovery point reached and the time taken.

Two more commands help around it:

* ``find --binlog-source X --table SCHEMA.TABLE --since TIME [--until TIME]`` lists the
  transactions and statements of the binary logs that touched the table, with their time
  (UTC, whole seconds), file, start and end positions and GTID: the damaging one shows, and
  ``--until`` can be set to the second before it, or ``--stop-position FILE:START`` to it;
* ``copy-back --from RESTORED --to PRODUCTION --table SCHEMA.TABLE [--where COND]`` inserts the
  rows of the restored copy that production lacks (by primary key); rows on both sides are
  left alone and listed when they differ; ``--dry-run`` prints the counts. Neither server
  flavor can switch triggers off for one session: a table with INSERT triggers is refused
  unless ``--triggers-fire`` (the rows a trigger changed are then listed).

Run with ``--dry-run`` first: it runs the read-only checks, prints every step, changes
nothing and starts no server.

Examples::

    restore_from_backup.py find --binlog-source mysql_primary --table shop.orders \\
        --since '2026-05-01 13:00:00'
    restore_from_backup.py --location file:///var/backups/mysql-maintenance --database primary \\
        --ephemeral --keep --until '2026-05-01 14:03:00' --binlog-source mysql_primary
    restore_from_backup.py copy-back --from mysql://root@127.0.0.1:PORT --to mysql_primary \\
        --table shop.orders --dry-run
    MMC_RUNBOOK_PASSWORD_TARGET=... restore_from_backup.py --target mysql://root@10.0.0.9:3306 \\
        --dry-run --backup /var/backups/mysql-maintenance/primary/20260501T020000Z-mariadb-dump

A URI names no password: it comes from ``$MMC_RUNBOOK_PASSWORD_TARGET`` (``..._BINLOG_SOURCE``
for ``--binlog-source``), else ``$MMC_RUNBOOK_PASSWORD``, else a prompt on the terminal; an
Airflow connection id keeps it in the connection.

Exit codes: 0 done (or dry run printed), 1 refused by a safety check, 2 bad input, an
unreachable server or a step that failed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import maintenance_ops  # noqa: F401 - installed in the project's virtualenv
except ImportError:  # run from a checkout with another interpreter: use the checkout's plugins/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from maintenance_ops.core import sqlexec  # noqa: E402
from maintenance_ops.core.exceptions import ConfigError  # noqa: E402
from maintenance_ops.core.grants import Condition, Requirement, missing  # noqa: E402
from maintenance_ops.recovery.backup import verify_files  # noqa: E402
from maintenance_ops.recovery.binlogs import (  # noqa: E402
    binlog_enabled_check,
    binlog_gap_check,
    read_binlog_state,
)
from maintenance_ops.recovery.encryption import decrypted_copy  # noqa: E402
from maintenance_ops.recovery.pitr import (  # noqa: E402
    check_position_after_backup,
    check_stop_after_backup,
    recovery_summary,
    restore_full,
    restore_to_point,
    to_utc,
)
from maintenance_ops.recovery.replication import server_dialect  # noqa: E402
from maintenance_ops.recovery.restore import (  # noqa: E402
    SYSTEM_SCHEMAS,
    ClientEndpoint,
    detect_tool,
    load_manifest,
    same_server,
)

if TYPE_CHECKING:
    from maintenance_ops.core.dialect import ServerVersion

from maintenance_ops.recovery.runbook_cli import (  # noqa: E402
    EXIT_OK,
    Plan,
    Refused,
    Server,
    account_grants,
    check_privileges,
    dry_run_argument,
    main,
    parse_arguments,
    privileges_argument,
    server_argument,
)

UNTIL_FORMAT = "%Y-%m-%d %H:%M:%S"


def _until(value: str) -> dt.datetime:
    """Parse ``--until``: ``YYYY-MM-DD HH:MM:SS`` in UTC, or ISO 8601 with an offset."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time: use 'YYYY-MM-DD HH:MM:SS' (UTC)"
        ) from None
    return to_utc(parsed)


def _position(value: str) -> tuple[str, int]:
    """Parse ``--stop-position``: ``FILE:POS``, a binary log and an event's position in it."""
    from maintenance_ops.recovery.binlogs import parse_binlog_name

    file, colon, position = value.strip().rpartition(":")
    try:
        parse_binlog_name(file)
        if not colon or not position.isdigit() or int(position) < 4:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a binary log position: use FILE:POS, e.g. binlog.000042:1234 "
            "(the start position `restore_from_backup.py find` lists)"
        ) from None
    return file, int(position)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="restore_from_backup.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Exit codes: 0 done or dry run printed, 1 refused, 2 bad input or failure.",
    )
    where = parser.add_argument_group("backup (one of)")
    where.add_argument("--backup", type=Path, metavar="PATH", help="a backup folder")
    where.add_argument(
        "--location", metavar="URL", help="backup location (file:///...); with --database"
    )
    where.add_argument("--database", metavar="NAME", help="database name: its newest backup")
    onto = parser.add_argument_group("target (one of)")
    server_argument(onto, "target", "the server to restore onto")  # type: ignore[arg-type]
    onto.add_argument(
        "--ephemeral", action="store_true", help="restore onto a private server started here"
    )
    onto.add_argument(
        "--keep",
        action="store_true",
        help="with --ephemeral: leave the server running after the restore (the command "
        "returns and prints how to stop it later)",
    )
    parser.add_argument(
        "--until",
        type=_until,
        metavar="'YYYY-MM-DD HH:MM:SS'",
        help="roll forward with binary logs to this time (UTC); needs --binlog-source",
    )
    parser.add_argument(
        "--stop-position",
        type=_position,
        metavar="FILE:POS",
        help="instead of --until: roll forward up to this binary log event, not applying it "
        "nor anything after it (FILE and the start position `find` lists); needs "
        "--binlog-source",
    )
    server_argument(
        parser, "binlog-source", "the backed-up server whose binary logs to read (read only)"
    )
    parser.add_argument(
        "--key-conn",
        metavar="CONN_ID",
        help="for an encrypted backup: the Airflow connection whose password is the key "
        "(backup.encryption_conn_id)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="restore onto a target that already holds schemas (backup tables are replaced)",
    )
    dry_run_argument(parser)
    return parser


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if (args.backup is None) == (args.location is None):
        parser.error("give either --backup PATH or --location URL --database NAME")
    if args.location is not None and not args.database:
        parser.error("--location needs --database NAME")
    if (args.target is None) == (not args.ephemeral):
        parser.error("give either --target URI|CONN_ID or --ephemeral")
    if args.keep and not args.ephemeral:
        parser.error("--keep applies to --ephemeral only")
    if args.until is not None and args.stop_position is not None:
        parser.error("give either --until or --stop-position, not both")
    for given, option in ((args.until, "--until"), (args.stop_position, "--stop-position")):
        if given is not None and args.binlog_source is None:
            parser.error(f"{option} needs --binlog-source URI|CONN_ID (where the binary logs are)")
    if args.binlog_source is not None and args.until is None and args.stop_position is None:
        parser.error(
            "--binlog-source rolls forward: give --until TIME or --stop-position FILE:POS (or "
            "leave --binlog-source out to restore the backup's snapshot only)"
        )


# ------------------------------------------------------------------------------------------
# Checks (read only: they run under --dry-run too)
# ------------------------------------------------------------------------------------------


def find_backup(args: argparse.Namespace) -> Path:
    """Return the backup folder to restore: ``--backup``, or the newest at ``--location``."""
    if args.backup is not None:
        if not args.backup.is_dir():
            raise ConfigError(f"backup folder {args.backup} does not exist")
        return Path(args.backup)
    from maintenance_ops.recovery.backup import latest_backup

    info = latest_backup(args.location, args.database)
    if info is None:
        raise ConfigError(f"no backup of {args.database!r} at {args.location}")
    if getattr(info.path, "protocol", "file") not in ("file", "local"):
        raise ConfigError(
            f"newest backup {info.path} is on remote storage: download the folder, then pass "
            "--backup PATH"
        )
    if not info.complete:
        raise Refused(
            f"the newest backup {info.path} is incomplete (no finished manifest); pass "
            "--backup PATH with an older, complete one"
        )
    return Path(info.path.path)


def check_files(backup: Path, manifest: dict[str, Any] | None, plan: Plan) -> None:
    """Refuse a backup whose files do not match its manifest's sizes and sha256."""
    if manifest is None:
        raise Refused(
            f"{backup} has no manifest.json: its files cannot be verified; restore it by hand"
        )
    problems = verify_files(backup, manifest)
    if problems:
        raise Refused(
            f"backup {backup} is damaged: {'; '.join(problems)}; nothing was written. Use an "
            "older backup (--backup PATH)"
        )
    plan.say(f"check: {len(manifest['files'])} backup files match their sha256")


def encryption_secret(args: argparse.Namespace, manifest: dict[str, Any], plan: Plan) -> str | None:
    """Return the key of an encrypted backup after checking the manifest's signature with it."""
    from maintenance_ops.recovery.encryption import backup_secret, signature_ok

    if not manifest.get("encrypted"):
        return None
    if not args.key_conn:
        raise ConfigError(
            "the backup is encrypted: pass --key-conn CONN_ID, the Airflow connection whose "
            "password is its key (backup.encryption_conn_id in the configuration)"
        )
    secret = backup_secret(args.key_conn)
    if not signature_ok(manifest, secret):
        raise Refused(
            f"the backup's manifest is not signed with the key in {args.key_conn!r}: wrong key, "
            "or the backup was altered; nothing was written"
        )
    plan.say(f"check: the manifest is signed with the key in {args.key_conn!r}")
    return secret


def user_schemas(server: Server) -> list[str]:
    """Return the target's non-system schemas."""
    conn = server.connect()
    try:
        found = sqlexec.rows(
            conn, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME"
        )
        return [str(row[0]) for row in found if str(row[0]) not in SYSTEM_SCHEMAS]
    finally:
        conn.close()


def check_target(args: argparse.Namespace, plan: Plan) -> None:
    """Refuse a target that is the binlog source, or that holds schemas without --force."""
    target: Server = args.target
    source: Server | None = args.binlog_source
    if source is not None and same_server(target.endpoint, source.endpoint):
        raise Refused(
            f"target {target} is the same server as the binlog source {source}: restoring "
            "there would overwrite the live data the binary logs come from; restore onto "
            "another server or --ephemeral (--force does not override this)"
        )
    schemas = user_schemas(target)
    if schemas and not args.force:
        raise Refused(
            f"target {target} is not empty: it holds {', '.join(schemas)}; restoring over it "
            "mixes the backup with that data. Point --target at an empty server, use "
            "--ephemeral, or pass --force to restore anyway (backup tables are replaced)"
        )
    held = f"holds {', '.join(schemas)} (--force)" if schemas else "holds no user schemas"
    plan.say(f"check: target {target} is reachable and {held}")


@dataclass(frozen=True)
class TargetGrant:
    """A privilege the restore's account needs on the target (on ``*.*``: it creates schemas)."""

    privilege: str
    reason: str
    condition: Condition = Condition()
    replay_only: bool = False


# What loading a dump (mariadb-dump, mysqldump, mydumper) and piping the binary logs through the
# client ask of the target's account. grants.sql gives the on-call account nothing there: the
# target is a new or scratch server, restored into as its administrator; this list is what an
# account other than root must hold there, named before the restore starts.
_MARIADB = Condition("mariadb", (10, 5, 2))
_MYSQL = Condition("mysql", (8, 0, 14))
TARGET_GRANTS = (
    TargetGrant("SELECT", "read the restored tables; the check that the target is not the source"),
    TargetGrant("INSERT", "load the dump's rows and the replayed ones"),
    TargetGrant("UPDATE", "replayed UPDATEs", replay_only=True),
    TargetGrant("DELETE", "replayed DELETEs", replay_only=True),
    TargetGrant("CREATE", "CREATE DATABASE and CREATE TABLE of the dump"),
    TargetGrant("DROP", "the dump's DROP TABLE IF EXISTS (and DROP VIEW, DROP TRIGGER)"),
    TargetGrant("ALTER", "the dump's ALTER TABLE ... DISABLE/ENABLE KEYS; replayed ALTERs"),
    TargetGrant("INDEX", "replayed CREATE INDEX / DROP INDEX", replay_only=True),
    TargetGrant("LOCK TABLES", "the dump's LOCK TABLES ... WRITE around each table's rows"),
    TargetGrant("CREATE VIEW", "the dump's views"),
    TargetGrant("TRIGGER", "the dump's triggers"),
    TargetGrant("CREATE ROUTINE", "the dump's stored procedures and functions"),
    TargetGrant("ALTER ROUTINE", "the dump's DROP PROCEDURE/FUNCTION IF EXISTS"),
    TargetGrant("EVENT", "the dump's events"),
    TargetGrant("SET USER", "views, triggers and routines keep their DEFINER", _MARIADB),
    TargetGrant(
        "BINLOG REPLAY",
        "the BINLOG statements mariadb-binlog prints for row events, and their session "
        "gtid_domain_id/server_id/gtid_seq_no",
        _MARIADB,
        replay_only=True,
    ),
    TargetGrant("SET_USER_ID", "views, triggers and routines keep their DEFINER", _MYSQL),
    TargetGrant(
        "SESSION_VARIABLES_ADMIN",
        "the session variables mysqlbinlog and mysqldump set (pseudo_thread_id, sql_log_bin)",
        _MYSQL,
    ),
    TargetGrant(
        "BINLOG_ADMIN",
        "the BINLOG statements mysqlbinlog prints for row events",
        _MYSQL,
        replay_only=True,
    ),
)


def target_requirements(version: ServerVersion, *, replay: bool) -> list[Requirement]:
    """Return what the target's account needs to restore (and, with ``replay``, roll forward)."""
    return [
        Requirement(grant.privilege, "*.*", grant.reason)
        for grant in TARGET_GRANTS
        if grant.condition.applies(version) and (replay or not grant.replay_only)
    ]


def _super_covers_on_target(privilege: str, version: ServerVersion) -> bool:
    """SUPER still stands for these on MySQL 8 and on MariaDB before 11.0 (MDEV-29668)."""
    if version.flavor == "mariadb":
        return not version.at_least(11, 0, 1) and privilege in ("SET USER", "BINLOG REPLAY")
    return privilege in ("SET_USER_ID", "SESSION_VARIABLES_ADMIN", "BINLOG_ADMIN")


def check_target_privileges(target: Server, *, replay: bool, plan: Plan) -> None:
    """Refuse before anything when the target's account cannot restore (or replay) there."""
    conn = target.connect()
    try:
        dialect = server_dialect(conn)
        grantee, granted = account_grants(conn, dialect)
    finally:
        conn.close()
    lacking = missing(granted, target_requirements(dialect.version, replay=replay), dialect)
    if ("*.*", "SUPER") in granted:
        lacking = [r for r in lacking if not _super_covers_on_target(r.privilege, dialect.version)]
    work = "restore and replay binary logs" if replay else "restore"
    if lacking:
        lines = [
            f"target {target}: the account {grantee} lacks what it needs to {work} there "
            "(restore into a new or scratch server as its administrator, or grant these):"
        ]
        lines += [f"  {r}: {r.reason}; fix: GRANT {r} TO {grantee}" for r in lacking]
        raise Refused("\n".join(lines))
    plan.say(f"check: target {target} as {grantee} holds every grant needed to {work}")


def check_binlog_chain(
    source: Server, backup: Path, manifest: dict[str, Any], stop: str, plan: Plan
) -> None:
    """Refuse unless every binary log from the backup's position on is still on the source.

    The same check and message as the drill's: a purged file is named, before anything is
    written (mariadb-binlog would otherwise fail after the whole restore).
    """
    conn = source.connect()
    try:
        state = read_binlog_state(conn)
    finally:
        conn.close()
    checks = [binlog_enabled_check(state, str(source)), binlog_gap_check(manifest["binlog"], state)]
    failed = next((c for c in checks if c.status != "pass"), None)
    if failed is not None:
        raise Refused(
            f"the binary logs of {source} cannot roll backup {backup.name} forward to "
            f"{stop}: {failed.detail}. Nothing was written: restore a newer "
            "backup whose binary log is still there, or restore without --until (the backup's "
            "snapshot only)"
        )
    plan.say(f"check: binary log chain on {source}: {checks[-1].detail}")


# ------------------------------------------------------------------------------------------
# Steps
# ------------------------------------------------------------------------------------------


@dataclass
class Restore:
    """What the steps share: the backup, where it goes, and what came out."""

    backup: Path
    tool: str
    args: argparse.Namespace
    instance: Any = None
    lines: list[str] = field(default_factory=list)

    @property
    def client(self) -> ClientEndpoint:
        if self.instance is not None:
            return ClientEndpoint(
                host="127.0.0.1", port=self.instance.port, socket=self.instance.socket
            )
        target: Server = self.args.target
        return target.client

    def start_ephemeral(self) -> None:
        from maintenance_ops.core.instance import MySQLInstance
        from maintenance_ops.recovery.restore import restore_spec

        self.instance = MySQLInstance(restore_spec()).start()
        print(
            f"private server: 127.0.0.1:{self.instance.port} (socket {self.instance.socket})",
            flush=True,
        )

    def restore(self) -> None:
        started = time.monotonic()
        if self.args.until is None and self.args.stop_position is None:
            restored = restore_full(self.tool, self.backup, self.client)
            self.lines = [
                "achieved recovery point: the backup's snapshot (no --until, nothing replayed)",
                f"time taken: restore {time.monotonic() - started:.1f} s ({restored / 1e6:.1f} MB)",
            ]
            return
        source: Server = self.args.binlog_source
        result = restore_to_point(
            self.backup,
            target=self.client,
            binlog_source=source.client,
            stop_at=self.args.until,
            stop_position=self.args.stop_position,
            verify=False,  # checked before the first step
        )
        self.lines = [*recovery_summary(result), *result.notes]

    def stop_ephemeral(self) -> None:
        if self.instance is not None:
            self.instance.stop()
            self.instance = None


def plan_steps(job: Restore, manifest: dict[str, Any], plan: Plan) -> None:
    """Add the steps that change something: start, restore (and replay), stop."""
    args = job.args
    if args.ephemeral:
        plan.add("start a private server on this machine to restore into", job.start_ephemeral)
    onto = "the private server" if args.ephemeral else str(args.target)
    title = f"restore {job.backup.name} ({job.tool}) onto {onto}"
    binlog = manifest.get("binlog") or {}
    if args.stop_position is not None:
        if not binlog.get("file"):
            raise Refused(
                f"backup {job.backup.name} records no binary log coordinates: it cannot be "
                "rolled forward; restore without --stop-position"
            )
        check_position_after_backup(binlog, args.stop_position)
        stop = "before {}:{}".format(*args.stop_position)
    elif args.until is not None:
        stop = f"until {args.until:{UNTIL_FORMAT}} UTC"
    if args.until is not None or args.stop_position is not None:
        title += (
            f", then replay binary logs of {args.binlog_source} from "
            f"{binlog.get('file')}:{binlog.get('position')} {stop}, leaving out account "
            "statements (the backup holds no accounts; they are listed at the end)"
        )
    plan.add(title, job.restore)
    if args.ephemeral and not args.keep:
        plan.add("stop the private server and remove its files", job.stop_ephemeral)
    elif args.ephemeral:
        plan.add("leave the private server running (--keep): how to stop it is printed")


def leave_running(job: Restore) -> None:
    """Leave the private server running after this command returns; say how to stop it."""
    server = job.instance.detach()
    tool = "mariadb" if server.flavor == "mariadb" else "mysql"
    job.instance = None
    print(
        f"private server left running: 127.0.0.1:{server.port}, socket {server.socket}, "
        f"datadir {server.datadir} (root's password: {server.dir}/root.cnf)\n"
        f"  connect: {tool} --defaults-extra-file={server.dir}/root.cnf --socket={server.socket}\n"
        f"  as --from of copy-back: mysql://root@127.0.0.1:{server.port}"
        f"?option_file={server.dir}/root.cnf\n"
        f"  stop it and remove its files when done: {tool}-admin "
        f"--defaults-extra-file={server.dir}/root.cnf --socket={server.socket} shutdown "
        f"&& rm -rf {server.dir}",
        flush=True,
    )


def _root_option_file(job: Restore) -> None:
    """Write root's login into a 0600 file in the server's own 0700 folder (not on argv)."""
    import os

    from maintenance_ops.core.pipes import option_file

    path = Path(job.instance.dir) / "root.cnf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        password = getattr(job.instance, "password", None)
        out.write(option_file({"user": "root", "password": password}))


def check_binlog_source(source: Server, commands: list[str], plan: Plan) -> None:
    """Refuse before anything when the account cannot read the binlog source's binary logs."""
    conn = source.connect()
    try:
        check_privileges(source, conn, server_dialect(conn), commands, out=plan.out)
    finally:
        conn.close()


def check_accounts(args: argparse.Namespace, plan: Plan) -> None:
    """Refuse when an account lacks a grant: on the binlog source, then on the target."""
    if args.binlog_source is not None:
        check_binlog_source(args.binlog_source, ["restore"], plan)
    if args.target is not None:
        check_target_privileges(args.target, replay=args.binlog_source is not None, plan=plan)


def check_backup(args: argparse.Namespace, plan: Plan) -> tuple[Path, dict[str, Any], str]:
    """Find the backup, check its files and that it restores into a running server."""
    backup = find_backup(args)
    manifest = load_manifest(backup)
    tool = detect_tool(backup, manifest)
    taken = (manifest or {}).get("started_at", "at an unknown time")
    plan.say(f"backup: {backup} ({tool}, taken {taken})")
    check_files(backup, manifest, plan)
    assert manifest is not None
    if tool == "mariabackup":
        raise ConfigError(
            f"{backup.name} is a mariabackup backup: it restores as a whole datadir, not into "
            "a running server; copy it, run mariabackup --prepare and start a server on it "
            "(maintenance_ops.recovery.restore.PreparedInstance shows how)"
        )
    return backup, manifest, tool


def check_roll_forward(
    args: argparse.Namespace, backup: Path, manifest: dict[str, Any], plan: Plan
) -> None:
    """With ``--until`` or ``--stop-position``: refuse a backup without coordinates, a stop
    before the backup, a broken binary log chain."""
    if args.binlog_source is None:
        return
    coordinates = manifest.get("binlog") or {}
    if not coordinates.get("file"):
        raise Refused(
            f"backup {backup.name} records no binary log coordinates: it cannot be rolled "
            "forward; restore its snapshot only (without --binlog-source)"
        )
    if args.until is not None:
        check_stop_after_backup(manifest, args.until)
        stop = f"{args.until:{UNTIL_FORMAT}} UTC"
    else:
        check_position_after_backup(coordinates, args.stop_position)
        stop = "{}:{}".format(*args.stop_position)
    check_binlog_chain(args.binlog_source, backup, manifest, stop, plan)


def run(argv: Any = None) -> int:
    """Check every precondition, then restore (and roll forward) the backup; return the exit code.

    Every check runs before the first step, under ``--dry-run`` too: the accounts' grants, the
    backup's files, the key, the binary log chain, the target.
    """
    parser = build_parser()
    args = parse_arguments(parser, argv)
    _validate(parser, args)
    plan = Plan("restore from backup", dry_run=args.dry_run)
    check_accounts(args, plan)
    if args.check_privileges:
        return EXIT_OK
    backup, manifest, tool = check_backup(args, plan)
    secret = encryption_secret(args, manifest, plan)
    check_roll_forward(args, backup, manifest, plan)
    if args.target is not None:
        check_target(args, plan)
    job = Restore(backup, tool, args)
    if secret is not None:
        plan.add("decrypt the backup into a private folder (removed at the end)")
    plan_steps(job, manifest, plan)
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            if secret is not None and not args.dry_run:
                job.backup = stack.enter_context(decrypted_copy(backup, secret))
            plan.run()
        if not args.dry_run:
            for line in job.lines:
                plan.say(line)
            plan.say(f"total time: {time.monotonic() - started:.1f} s")
            if args.keep and job.instance is not None:
                _root_option_file(job)
                leave_running(job)
    finally:
        job.stop_ephemeral()
    return EXIT_OK


# ------------------------------------------------------------------------------------------
# find: when did it happen?
# ------------------------------------------------------------------------------------------


def _table(value: str) -> tuple[str, str]:
    from maintenance_ops.core.identifiers import validate_identifier

    schema, dot, table = value.partition(".")
    if not dot:
        raise argparse.ArgumentTypeError(f"{value!r}: give the table as SCHEMA.TABLE")
    try:
        return validate_identifier(schema, "schema"), validate_identifier(table, "table")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_find_parser() -> argparse.ArgumentParser:
    """Return the parser of ``find``."""
    parser = argparse.ArgumentParser(
        prog="restore_from_backup.py find",
        description="List the binary log transactions and statements that touched a table, "
        "with their time (UTC), file, positions and GTID, to choose --until or --stop-position.",
        epilog="Each event is listed as 'TIME UTC  FILE START-END ...'. To restore up to just "
        "before one (it and everything after it not applied), pass its FILE and START to the "
        "restore: --stop-position FILE:START (exact); or --until TIME, which also leaves out "
        "whatever else was committed in that whole second. "
        "Exit codes: 0 listed, 1 refused, 2 bad input or failure.",
    )
    server_argument(
        parser, "binlog-source", "the server whose binary logs to read (read only)", required=True
    )
    parser.add_argument("--table", type=_table, required=True, metavar="SCHEMA.TABLE")
    parser.add_argument(
        "--since", type=_until, required=True, metavar="'YYYY-MM-DD HH:MM:SS'",
        help="read events from this time on (UTC)",
    )  # fmt: skip
    parser.add_argument(
        "--until", type=_until, metavar="'YYYY-MM-DD HH:MM:SS'", help="up to this time (UTC)"
    )
    privileges_argument(parser)
    return parser


def cmd_find(argv: list[str]) -> int:
    """List the events that touched the table; return the exit code."""
    from maintenance_ops.recovery.binlog_find import find_events
    from maintenance_ops.recovery.binlogs import read_binlog_state

    args = parse_arguments(build_find_parser(), argv)
    source: Server = args.binlog_source
    schema, table = args.table
    conn = source.connect()
    try:
        dialect = server_dialect(conn)
        check_privileges(source, conn, dialect, ["find"])
        if args.check_privileges:
            return EXIT_OK
        state = read_binlog_state(conn)
    finally:
        conn.close()
    if not state.enabled or not state.names:
        raise Refused(f"{source} keeps no binary logs: there is nothing to search")
    events = find_events(
        source.client, state.names[0], schema, table, args.since, args.until,
        tool=dialect.binlog_tool,
    )  # fmt: skip
    span = f"from {args.since:{UNTIL_FORMAT}}" + (
        f" to {args.until:{UNTIL_FORMAT}}" if args.until else ""
    )
    print(f"{len(events)} transactions or statements touched {schema}.{table} ({span} UTC):")
    for event in events:
        print(f"  {event.line()}")
        print(
            f"      before it: --until '{event.at:{UNTIL_FORMAT}}' (binary log times are "
            "whole seconds: whatever else was committed in that second is left out too)"
        )
        print(f"      exactly before it: --stop-position {event.file}:{event.start}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------
# copy-back: the lost rows, from the restored copy to production
# ------------------------------------------------------------------------------------------


def build_copy_back_parser() -> argparse.ArgumentParser:
    """Return the parser of ``copy-back``."""
    parser = argparse.ArgumentParser(
        prog="restore_from_backup.py copy-back",
        description="Insert the rows of a restored copy that production lacks, by primary "
        "key; rows on both sides are left alone (and listed when they differ).",
        epilog="Exit codes: 0 done or dry run printed, 1 refused, 2 bad input or failure.",
    )
    server_argument(parser, "from", "the restored copy to read the rows from", required=True)
    server_argument(parser, "to", "production, where the missing rows go", required=True)
    parser.add_argument("--table", type=_table, required=True, metavar="SCHEMA.TABLE")
    parser.add_argument(
        "--where", metavar="CONDITION",
        help="only rows matching this condition over the table's columns (both sides)",
    )  # fmt: skip
    parser.add_argument(
        "--triggers-fire", action="store_true",
        help="copy into a table with INSERT triggers anyway: they run on every row copied "
        "(no server can switch them off for one session); the rows they change are listed",
    )  # fmt: skip
    dry_run_argument(parser)
    return parser


def cmd_copy_back(argv: list[str]) -> int:
    """Copy the missing rows back; return the exit code."""
    from maintenance_ops.recovery.copy_back import copy_back, insert_triggers

    args = parse_arguments(build_copy_back_parser(), argv)
    source: Server = getattr(args, "from")
    target: Server = args.to
    schema, table = args.table
    if same_server(source.endpoint, target.endpoint):
        raise Refused(f"--from {source} and --to {target} are the same server")
    plan = Plan(f"copy back {schema}.{table}", dry_run=args.dry_run)
    dst = target.connect()
    try:
        check_privileges(target, dst, server_dialect(dst), ["copy-back"], schemas=[schema])
        if args.check_privileges:
            return EXIT_OK
        triggers = insert_triggers(dst, schema, table)
        if triggers and not args.triggers_fire:
            raise Refused(
                f"{schema}.{table} has INSERT triggers on {target}: {', '.join(triggers)}; they "
                "would run on every row copied back (neither MySQL nor MariaDB can switch "
                "triggers off for one session). Pass --triggers-fire to accept what they do "
                "(the rows they change are listed), or copy in a maintenance window with them "
                "dropped"
            )
        src = source.connect()
        try:
            plan.add(
                f"compare {schema}.{table} of {source} with {target} by primary key"
                + (f" where {args.where}" if args.where else "")
                + "; insert the rows missing on production (INSERT IGNORE, in chunks)",
                None,
            )
            plan.run()
            result = copy_back(
                src, dst, schema, table, where=args.where, dry_run=args.dry_run,
                triggers_fire=True,
            )  # fmt: skip
        finally:
            src.close()
    finally:
        dst.close()
    for line in result.lines():
        plan.say(line)
    return EXIT_OK


COMMANDS = {"find": cmd_find, "copy-back": cmd_copy_back}


def dispatch(argv: Any = None) -> int:
    """Run ``find`` or ``copy-back`` when named first, else the restore."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        return COMMANDS[args[0]](args[1:])
    return run(args)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sys.exit(main(dispatch))

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
   time: every transaction committed before it is applied, none after it;
6. prints the recovery point reached and the time taken.

Run with ``--dry-run`` first: it runs the read-only checks, prints every step, changes
nothing and starts no server.

Examples::

    restore_from_backup.py --location file:///var/backups/mysql-maintenance --database primary \\
        --ephemeral --keep --until '2026-05-01 14:03:00' --binlog-source mysql_primary
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
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import maintenance_ops  # noqa: F401 - installed in the project's virtualenv
except ImportError:  # run from a checkout with another interpreter: use the checkout's plugins/
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from maintenance_ops import sqlexec  # noqa: E402
from maintenance_ops.backup import verify_files  # noqa: E402
from maintenance_ops.encryption import decrypted_copy  # noqa: E402
from maintenance_ops.exceptions import ConfigError  # noqa: E402
from maintenance_ops.pitr import (  # noqa: E402
    check_stop_after_backup,
    recovery_summary,
    restore_full,
    restore_to_point,
    to_utc,
)
from maintenance_ops.restore import (  # noqa: E402
    SYSTEM_SCHEMAS,
    ClientEndpoint,
    detect_tool,
    load_manifest,
    same_server,
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
        help="with --ephemeral: keep the server running after the restore until Ctrl-C",
    )
    parser.add_argument(
        "--until",
        type=_until,
        metavar="'YYYY-MM-DD HH:MM:SS'",
        help="roll forward with binary logs to this time (UTC); needs --binlog-source",
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
    if args.until is not None and args.binlog_source is None:
        parser.error("--until needs --binlog-source URI|CONN_ID (where the binary logs are)")


# ------------------------------------------------------------------------------------------
# Checks (read only: they run under --dry-run too)
# ------------------------------------------------------------------------------------------


def find_backup(args: argparse.Namespace) -> Path:
    """Return the backup folder to restore: ``--backup``, or the newest at ``--location``."""
    if args.backup is not None:
        if not args.backup.is_dir():
            raise ConfigError(f"backup folder {args.backup} does not exist")
        return Path(args.backup)
    from maintenance_ops.backup import latest_backup

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
    from maintenance_ops.encryption import backup_secret, signature_ok

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
        from maintenance_ops.instance import MySQLInstance
        from maintenance_ops.restore import restore_spec

        self.instance = MySQLInstance(restore_spec()).start()
        print(f"private server: {self.instance.url()} (socket {self.instance.socket})", flush=True)

    def restore(self) -> None:
        started = time.monotonic()
        if self.args.until is None:
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
    if args.until is not None:
        binlog = manifest.get("binlog") or {}
        title += (
            f", then replay binary logs of {args.binlog_source} from "
            f"{binlog.get('file')}:{binlog.get('position')} until {args.until:{UNTIL_FORMAT}} UTC"
        )
    plan.add(title, job.restore)
    if args.ephemeral and not args.keep:
        plan.add("stop the private server and remove its files", job.stop_ephemeral)
    elif args.ephemeral:
        plan.add("keep the private server running until Ctrl-C (--keep)")


def _wait_for_ctrl_c(job: Restore) -> None:
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    print(
        f"private server kept at {job.instance.url()} (socket {job.instance.socket}); "
        "press Ctrl-C to stop it and remove its files",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping the private server", flush=True)


def run(argv: Any = None) -> int:
    """Check, then restore (and roll forward) the backup; return the exit code."""
    parser = build_parser()
    args = parse_arguments(parser, argv)
    _validate(parser, args)
    plan = Plan("restore from backup", dry_run=args.dry_run)
    backup = find_backup(args)
    manifest = load_manifest(backup)
    tool = detect_tool(backup, manifest)
    taken = (manifest or {}).get("started_at", "at an unknown time")
    plan.say(f"backup: {backup} ({tool}, taken {taken})")
    check_files(backup, manifest, plan)
    assert manifest is not None
    secret = encryption_secret(args, manifest, plan)
    if tool == "mariabackup":
        raise ConfigError(
            f"{backup.name} is a mariabackup backup: it restores as a whole datadir, not into "
            "a running server; copy it, run mariabackup --prepare and start a server on it "
            "(maintenance_ops.restore.PreparedInstance shows how)"
        )
    if args.until is not None:
        if not (manifest.get("binlog") or {}).get("file"):
            raise Refused(
                f"backup {backup.name} records no binary log coordinates: it cannot be rolled "
                "forward; restore without --until"
            )
        check_stop_after_backup(manifest, args.until)
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
                _wait_for_ctrl_c(job)
    finally:
        job.stop_ephemeral()
    return EXIT_OK


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sys.exit(main(run))

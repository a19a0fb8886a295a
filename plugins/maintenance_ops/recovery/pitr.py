"""Recover to a point in time: restore the newest full backup, then replay binary logs.

The replay streams the source flavor's binlog tool (``mariadb-binlog`` or ``mysqlbinlog``,
``--read-from-remote-server``) straight into its client (``mariadb`` or ``mysql``) through OS
pipes; Python never copies the stream. A ``tee`` hands a copy
to ``grep``, which passes only the event header lines (``#YYMMDD HH:MM:SS server id ...``)
back to Python, to report the last event applied and to log progress::

    <binlog tool> | tee >(grep headers -> Python) | [grep -v GTID lines] | <client>

Safety:

* the binlog source is only read (``mariadb-binlog`` sends no statement to it) and a target
  that resolves to the source is refused before anything runs;
* credentials reach both tools through option files read from pipes; host, port and user
  are explicit on argv so a tool can never fall back to a default local server;
* ``--stop-datetime`` and the event headers are read in UTC (the tool uses its local time
  zone), and the stop time is truncated to whole seconds, the binary log's resolution, so
  nothing committed after ``stop_at`` is applied.

GTIDs (the flavor rules live in :meth:`~maintenance_ops.core.dialect.Dialect.replay_gtid_conflict`):

* MariaDB: ``mariadb-binlog`` 10.11 keeps each transaction's source GTID (``SET
  @@session.gtid_domain_id/server_id/gtid_seq_no`` lines) and has no ``--skip-gtids``. Kept
  GTIDs are harmless on a target without a binary log and keep a logging target's GTIDs in
  step with the source's; but a target logging with ``gtid_strict_mode`` whose own sequence in
  the domain is already ahead (the restore itself wrote GTIDs there) fails ``SET gtid_seq_no``
  with error 1950, even under ``sql_log_bin=0`` (tested). Dropping them is a ``grep -v`` stage
  that removes those three lines, so the target numbers the replayed transactions itself.
* MySQL: ``mysqlbinlog`` prints ``SET @@SESSION.GTID_NEXT='uuid:n'`` for a source with
  ``gtid_mode=ON`` and ``'ANONYMOUS'`` without; a ``gtid_mode=OFF`` target refuses the first
  (error 1781), a ``gtid_mode=ON`` one the second (1782). Dropping them is ``--skip-gtids``.

By default the GTIDs are kept unless the target would refuse them, then dropped (with a note);
``keep_gtids=True`` refuses instead, naming why.

Account statements (a backup holds no ``mysql.*`` accounts, so ``GRANT ... TO u`` or ``ALTER
USER u`` fails on the restored server with ERROR 1133 and would abort the replay):

* a first, read-only pass over the same range (:func:`scan_account_changes`, the binlog tool's
  output without row images read by :mod:`maintenance_ops.recovery.binlog_accounts`) finds each
  account statement's event group, its start and end positions;
* the replay then runs as segments (:func:`plan_segments`): ``--start-position=P1
  --stop-position=P2 file1 ... fileK`` between two such groups (``--start-position`` applies to
  the first file named, ``--stop-position`` to the last: tested on mariadb-binlog 10.11), the
  last one with ``--stop-datetime --to-last-log`` (or the requested ``--stop-position``). A
  segment starting mid-file prints its first GTID's domain and server again, so kept GTIDs
  stay right;
* what was skipped is reported (:attr:`ReplayResult.skipped`: kind, accounts, file:position,
  time; never the statement, which may hold a password or its hash), for the operator to
  recreate those accounts by hand. Each segment is its own client session: a temporary table
  of statement-format logging does not live across a skipped statement.

The recovery point is a time (``stop_at``: events before it) or a position (``stop_position=
(file, pos)``: events starting before it, as the tool's ``--stop-position``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from maintenance_ops.core import sqlexec
from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.exceptions import ConfigError, SafetyAbort, VerificationError
from maintenance_ops.core.identifiers import quote_identifier, validate_identifier
from maintenance_ops.core.identity import (
    DEFAULT_HISTORY_SCHEMA,
    ensure_not_source,
    marked_source,
)
from maintenance_ops.core.instance import MySQLInstance
from maintenance_ops.core.pipes import secret_pipe
from maintenance_ops.core.processes import (
    BYTE_LOCALE,
    CALLER,
    NEXT,
    PREVIOUS,
    Pipeline,
    Stage,
    checked_names,
)
from maintenance_ops.core.session import Endpoint
from maintenance_ops.core.tools import require_flavor
from maintenance_ops.recovery.backup import verify_files
from maintenance_ops.recovery.binlog_accounts import AccountChange, AccountScan
from maintenance_ops.recovery.restore import (
    ClientEndpoint,
    backup_dialect,
    check_target_flavor,
    detect_tool,
    ensure_other_address,
    find_dump_file,
    load_manifest,
    mariadb_command,
    restore_dump,
    restore_mydumper,
    server_flavor,
)

log = logging.getLogger(__name__)

MARKER_TABLE = "dr_markers"
PROGRESS_INTERVAL_S = 10.0
# The longest a binlog replay may run before the whole pipeline is killed.
REPLAY_TIMEOUT_S = 12 * 3600.0
STOP_FORMAT = "%Y-%m-%d %H:%M:%S"
# "#261129  0:51:46 server id 1  end_log_pos 1048 CRC32 0xb709e1a9 \tXid = 65"
_HEADER = re.compile(
    r"^#(?P<date>\d{6})\s+(?P<time>\d{1,2}:\d{2}:\d{2})\s+server id\s+(?P<server>\d+)"
    r"\s+end_log_pos\s+(?P<pos>\d+)(?:\s+CRC32\s+\S+)?\s+(?P<event>.*)$"
)
# Event headers, and MySQL's GTID assignment: its GTID event header does not hold the GTID.
_GREP_HEADERS = r"^#[0-9]{6} +[0-9]{1,2}:[0-9]{2}:[0-9]{2} server id |^SET @@SESSION\.GTID_NEXT= *'"
# MariaDB: "GTID 0-1-5 trans"; MySQL: "GTID\tlast_committed=..." or "Anonymous_GTID".
_GTID_EVENT = re.compile(r"^(?:Anonymous_)?GTID\b\s*(?P<gtid>\d+-\d+-\d+)?")
_GTID_NEXT = re.compile(r"^SET @@SESSION\.GTID_NEXT=\s*'(?P<gtid>[^']+)'")
_ROTATE_EVENT = re.compile(r"^Rotate to (?P<file>\S+)")
# A manifest without a server flavor was written before MySQL was supported: MariaDB's tools.
_LEGACY = Dialect(parse_version("10.11.0-MariaDB"))
_STAGES = ("mariadb-binlog", "tee", "headers", "filter", "client")


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class ReplayResult:
    """What a binary log replay applied: how many transactions, up to which event and when."""

    start_file: str
    start_position: int
    stop_at: str
    transactions: int = 0
    last_event_at: str | None = None
    last_gtid: str | None = None
    end_file: str | None = None
    end_position: int | None = None
    duration_s: float = 0.0
    keep_gtids: bool = True
    skipped: list[AccountChange] = field(default_factory=list)
    """The account statements left out of the replay (see the module docs)."""
    segments: int = 1

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        data = asdict(self)
        data["skipped"] = [change.to_dict() for change in self.skipped]
        return data


@dataclass
class PitrResult:
    """A point-in-time recovery: the backup restored, the replay, the point reached, timings."""

    backup_path: str
    tool: str
    target: str
    stop_at: str
    backup_binlog: dict[str, Any]
    recovery_point: str | None
    restore_s: float
    replay_s: float
    total_s: float
    restored_bytes: int = 0
    replay: ReplayResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> list[AccountChange]:
        """The account statements the replay left out (to recreate by hand)."""
        return self.replay.skipped if self.replay else []

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for XCom and the drill's report)."""
        data = asdict(self)
        data["replay"] = self.replay.to_dict() if self.replay else None
        data["skipped"] = [change.to_dict() for change in self.skipped]
        return data


# --------------------------------------------------------------------------------------------
# Pure parts: times, commands, header parsing, GTID conflicts
# --------------------------------------------------------------------------------------------


def to_utc(value: dt.datetime) -> dt.datetime:
    """Return ``value`` as aware UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def stop_datetime_arg(stop_at: dt.datetime) -> str:
    """Return ``--stop-datetime``'s value: UTC, truncated to the binary log's whole seconds."""
    return to_utc(stop_at).strftime(STOP_FORMAT)


def binlog_command(
    option_fd: int,
    source: ClientEndpoint,
    start_file: str,
    start_position: int,
    stop_at: dt.datetime | None,
    tool: str = "mariadb-binlog",
    extra_args: Sequence[str] = (),
    *,
    more_files: Sequence[str] = (),
    stop_position: int | None = None,
) -> list[str]:
    """Return the command that prints the source's binary logs from a position until a time.

    Run it with ``TZ=UTC`` in its environment: ``--stop-datetime`` is read in local time.

    :param stop_at: the time to stop at (with ``--to-last-log``); None with ``stop_position``.
    :param extra_args: more options, e.g. mysqlbinlog's ``--skip-gtids``.
    :param more_files: the files after ``start_file``, up to the one ``stop_position`` is in.
    :param stop_position: stop before the event at this position of the last file named
        (``start_file`` or the last of ``more_files``); no ``--to-last-log`` then (with it the
        tool applies the position to the first file).
    """
    if stop_position is not None:
        stop = [f"--stop-position={int(stop_position)}"]
    elif stop_at is not None:
        stop = [f"--stop-datetime={stop_datetime_arg(stop_at)}", "--to-last-log"]
    else:
        raise ConfigError("a binlog range needs a stop: a time or a position")
    return [
        tool,
        f"--defaults-file=/dev/fd/{option_fd}",  # must come first; keeps /etc/mysql out
        "--read-from-remote-server",
        *source.address_args(tcp=not source.socket),
        f"--start-position={int(start_position)}",
        *stop,
        *extra_args,
        *checked_names([start_file, *more_files], "binary log file"),
    ]


@dataclass(frozen=True)
class Segment:
    """One run of the binlog tool: from a position of ``files[0]`` to one of ``files[-1]``."""

    files: tuple[str, ...]
    start_position: int
    stop_position: int | None = None
    """None: the last segment, up to the recovery point (a time, or the requested position)."""

    @property
    def label(self) -> str:
        return f"{self.files[0]}:{self.start_position}"


def files_between(names: Sequence[str], first: str, last: str) -> tuple[str, ...]:
    """Return the binary logs from ``first`` to ``last`` in the source's order.

    :raises VerificationError: when either is not among ``names`` (purged, or a typo).
    """
    for name in (first, last):
        if name not in names:
            raise VerificationError(
                f"binary log {name} is not on the binlog source (it has "
                f"{', '.join(names) or 'none'}): purged, or not this server's; choose a point "
                "in the logs it still has"
            )
    i, j = names.index(first), names.index(last)
    if j < i:
        raise ConfigError(f"binary log {last} comes before {first}: the range is empty")
    return tuple(names[i : j + 1])


def plan_segments(
    start_file: str,
    start_position: int,
    skips: Sequence[AccountChange],
    files: Sequence[str],
    stop_position: int | None = None,
) -> list[Segment]:
    """Return the binlog tool runs that replay the range without the ``skips`` groups.

    :param files: the binary logs of the range, in order (the last one holds ``stop_position``).
    :param stop_position: the requested stop position (in ``files[-1]``), the last segment's;
        None: the stop is a time, and the last segment runs ``--to-last-log`` from its file.
    """
    segments = []
    file, position = start_file, int(start_position)
    for skip in sorted(skips, key=lambda c: (files.index(c.file), c.start)):
        if (skip.file, skip.start) != (file, position):
            segments.append(Segment(files_between(files, file, skip.file), position, skip.start))
        file, position = skip.file, skip.end
    if stop_position is None:
        segments.append(Segment((file,), position))
    elif not (file == files[-1] and position >= stop_position):
        segments.append(Segment(files_between(files, file, files[-1]), position, stop_position))
    return segments


def check_position_after_backup(
    coordinates: Mapping[str, Any], stop_position: tuple[str, int]
) -> None:
    """Refuse a stop position before the backup's binary log coordinates (or unreadable)."""
    from maintenance_ops.recovery.binlogs import parse_binlog_name

    file, position = stop_position
    try:
        base, number = parse_binlog_name(file)
        backup_base, backup_number = parse_binlog_name(str(coordinates["file"]))
    except ValueError as exc:
        raise ConfigError(f"stop position {file}:{position}: {exc}") from None
    if base != backup_base:
        raise ConfigError(
            f"stop position {file}:{position} is not in this server's binary logs (the backup's "
            f"are {backup_base}.NNNNNN); take the position from `restore_from_backup.py find`"
        )
    if (number, int(position)) < (backup_number, int(coordinates["position"])):
        raise ConfigError(
            f"stop position {file}:{position} is before this backup's coordinates "
            f"{coordinates['file']}:{coordinates['position']}, so the backup already holds later "
            "changes; choose an older backup"
        )


@dataclass
class HeaderScan:
    """Running state read from the replay's event headers (updated by the reader thread)."""

    file: str
    transactions: int = 0
    last_event_at: dt.datetime | None = None
    last_gtid: str | None = None
    position: int | None = None
    _gtid: str | None = None
    _open: bool = False

    def feed(self, line: str) -> None:
        """Take one header line; a transaction counts once its Xid or final query is seen.

        MySQL's GTID comes on the ``SET @@SESSION.GTID_NEXT`` line after its event's header.
        """
        next_gtid = _GTID_NEXT.match(line)
        if next_gtid:
            if next_gtid["gtid"] not in ("ANONYMOUS", "AUTOMATIC"):
                self._gtid = next_gtid["gtid"]
            return
        match = _HEADER.match(line.rstrip("\n"))
        if not match:
            return
        event = match["event"].strip()
        rotate = _ROTATE_EVENT.match(event)
        if rotate:
            self.file = rotate["file"]
            return
        gtid = _GTID_EVENT.match(event)
        if gtid:
            self._open = True
            self._gtid = gtid["gtid"]
            return
        if event.startswith(("Xid", "Query")):
            if self._open:  # one transaction per GTID group, however many statements
                self.transactions += 1
                self.last_gtid = self._gtid or self.last_gtid
                self._open = False
            self.last_event_at = header_time(match["date"], match["time"])
            self.position = int(match["pos"])

    def line(self) -> str:
        """Return a progress line."""
        at = self.last_event_at.isoformat() if self.last_event_at else "-"
        return f"{self.transactions} transactions applied, last event at {at} ({self.file})"


def header_time(date: str, clock: str) -> dt.datetime:
    """Parse an event header's ``YYMMDD`` and ``H:MM:SS`` (printed in UTC) into aware UTC."""
    return dt.datetime.strptime(f"{date} {clock}", "%y%m%d %H:%M:%S").replace(tzinfo=dt.UTC)


def check_stop_after_backup(manifest: Mapping[str, Any], stop_at: dt.datetime) -> None:
    """Refuse a recovery point before the backup ended: the backup may hold later data.

    The snapshot is taken somewhere between ``started_at`` and ``ended_at``; only a point
    after ``ended_at`` is sure to be after it.
    """
    ended = manifest.get("ended_at") or manifest.get("started_at")
    if not ended:
        return
    done = to_utc(dt.datetime.fromisoformat(str(ended).replace("Z", "+00:00")))
    if to_utc(stop_at) < done:
        raise ConfigError(
            f"the point in time {to_utc(stop_at).isoformat()} is before this backup finished "
            f"({done.isoformat()}), so the backup may already hold later changes; choose an "
            "older backup"
        )


# --------------------------------------------------------------------------------------------
# Running the replay
# --------------------------------------------------------------------------------------------


def _read_headers(stream: IO[bytes], scan: HeaderScan, lock: threading.Lock) -> None:
    for raw in stream:
        with lock:
            scan.feed(raw.decode("utf-8", errors="replace"))


@dataclass(frozen=True)
class BinlogRange:
    """Where a replay starts and stops: a time, or a position (``files`` then lists the logs)."""

    start_file: str
    start_position: int
    stop_at: dt.datetime | None = None
    stop_position: int | None = None
    """In ``files[-1]``: stop before the event at this position."""
    files: tuple[str, ...] = ()

    @property
    def stop_label(self) -> str:
        """The stop as a person reads it: ``... UTC`` or ``before file:position``."""
        if self.stop_position is not None:
            return f"before {self.files[-1]}:{self.stop_position}"
        assert self.stop_at is not None
        return f"{stop_datetime_arg(self.stop_at)} UTC"

    def command(
        self, option_fd: int, source: ClientEndpoint, tool: str, extra_args: Sequence[str] = ()
    ) -> list[str]:
        """Return the binlog tool command printing the whole range."""
        return binlog_command(
            option_fd, source, self.start_file, self.start_position,
            None if self.stop_position is not None else self.stop_at, tool, extra_args,
            more_files=self.files[1:], stop_position=self.stop_position,
        )  # fmt: skip


def binlog_range(
    source: ClientEndpoint,
    start_file: str,
    start_position: int,
    stop_at: dt.datetime | None,
    stop_position: tuple[str, int] | None,
) -> BinlogRange:
    """Return the range to replay; a position stop lists the source's logs up to its file."""
    if (stop_at is None) == (stop_position is None):
        raise ConfigError("give the recovery point as a time (stop_at) or a position, not both")
    if stop_position is None:
        return BinlogRange(start_file, int(start_position), stop_at=stop_at)
    from maintenance_ops.recovery.binlogs import read_binlog_state

    conn = source.connect()
    try:
        names = read_binlog_state(conn).names
    finally:
        conn.close()
    file, position = stop_position
    files = files_between(names, start_file, file)
    if files == (start_file,) and int(position) < int(start_position):
        raise ConfigError(
            f"stop position {file}:{position} is before the start {start_file}:{start_position}"
        )
    return BinlogRange(start_file, int(start_position), stop_position=int(position), files=files)


def scan_account_changes(
    source: ClientEndpoint, span: BinlogRange, tool: str = "mariadb-binlog"
) -> AccountScan:
    """Read the range once (read only, no row images) and find its account statements."""
    scan = AccountScan(span.start_file)
    what = f"reading binlogs for account statements from {span.start_file}:{span.start_position}"
    with secret_pipe(source.option_file()) as fd:
        stage = Stage(
            span.command(fd, source, tool, ["--base64-output=decode-rows"]),
            tool,
            stdout=CALLER,
            pass_fds=(fd,),
            env={"TZ": "UTC"},  # --stop-datetime and the headers in UTC
        )
        with Pipeline([stage], what, REPLAY_TIMEOUT_S, error=VerificationError) as run:
            for raw in run.stdout(tool):
                scan.feed(raw.decode("utf-8", errors="replace"))
            run.wait()
    scan.close()
    for change in scan.found:
        log.warning("binlog range holds an account statement, to skip: %s", change.line())
    return scan


def replay_binlogs(
    source: ClientEndpoint,
    target: ClientEndpoint,
    start_file: str,
    start_position: int,
    stop_datetime: dt.datetime | None = None,
    *,
    stop_position: tuple[str, int] | None = None,
    keep_gtids: bool = True,
    dialect: Dialect | None = None,
    binlog_tool: str | None = None,
    history_schema: str = DEFAULT_HISTORY_SCHEMA,
    skip_accounts: bool = True,
    accounts: AccountScan | None = None,
) -> ReplayResult:
    """Replay the source's binary logs from a position until a time (or a position) into the target.

    :param source: the server whose binary logs are read (never written to).
    :param target: the server the events are applied to.
    :param start_file: binary log to start in (the backup's ``binlog.file``).
    :param start_position: position in it (the backup's ``binlog.position``).
    :param stop_datetime: apply only events before this time (naive means UTC).
    :param stop_position: ``(file, position)``: apply only events starting before it (instead
        of ``stop_datetime``).
    :param keep_gtids: apply the source's GTIDs; False lets the target assign its own.
    :param dialect: the source's (and target's) flavor: it names the binlog and client tools
        and how GTIDs are dropped; None means MariaDB.
    :param binlog_tool: another binlog tool than the flavor's (a path, say).
    :param history_schema: the source's history schema, where the identity nonce is written.
    :param skip_accounts: find the account statements of the range first and leave them out
        (reported in :attr:`ReplayResult.skipped`); False replays them (they fail on a target
        without those accounts).
    :param accounts: a scan of this range made earlier (:func:`scan_account_changes`); None
        scans now when ``skip_accounts``.
    """
    dialect = dialect or _LEGACY
    binlog_tool = binlog_tool or dialect.binlog_tool
    client_tool = dialect.client_tool
    for tool in (binlog_tool, client_tool, "tee", "grep"):
        if shutil.which(tool) is None:
            raise ConfigError(
                f"{tool} is not installed: install the MariaDB (or MySQL) client tools and "
                "coreutils on this machine to replay binary logs"
            )
    ensure_target_is_not_source(target, source, history_schema)
    span = binlog_range(source, start_file, start_position, stop_datetime, stop_position)
    src = Endpoint("binlog source", source.host, source.port, source.socket)
    dst = Endpoint("replay target", target.host, target.port, target.socket)
    if accounts is None and skip_accounts:
        accounts = scan_account_changes(source, span, binlog_tool)
    skipped = list(accounts.found) if accounts else []
    segments = plan_segments(
        start_file, start_position, skipped, span.files or (accounts.files if accounts else
        [start_file]), span.stop_position,
    )  # fmt: skip
    result = ReplayResult(
        start_file,
        int(start_position),
        to_utc(span.stop_at).isoformat() if span.stop_at else span.stop_label,
        keep_gtids=keep_gtids,
        skipped=skipped,
        segments=len(segments),
    )
    scan = HeaderScan(start_file)
    lock = threading.Lock()
    started = time.monotonic()
    log.info(
        "replaying binlogs of %s from %s:%s until %s into %s (%d account statements skipped, "
        "%d segments)",
        src, start_file, start_position, span.stop_label, dst, len(skipped), len(segments),
    )  # fmt: skip

    def progress() -> None:
        with lock:
            log.info("binlog replay progress: %s", scan.line())

    extra = [] if keep_gtids else dialect.replay_skip_gtids_args
    for segment in segments:
        part = BinlogRange(
            segment.files[0], segment.start_position, stop_datetime,
            segment.stop_position, segment.files,
        )  # fmt: skip
        with lock:
            scan.file = segment.files[0]
        with (
            secret_pipe(source.option_file()) as src_fd,
            secret_pipe(target.option_file()) as dst_fd,
        ):
            pipeline = replay_pipeline(
                part.command(src_fd, source, binlog_tool, extra),
                mariadb_command(dst_fd, target, client_tool),
                (src_fd, dst_fd),
                None if keep_gtids else dialect.replay_gtid_filter(),
                f"binlog replay from {segment.label}",
            )
            pipeline.on_tick = progress
            with pipeline:
                headers = pipeline.stdout("headers")
                reader = threading.Thread(
                    target=_read_headers, args=(headers, scan, lock), daemon=True
                )
                reader.start()
                try:
                    pipeline.wait()  # Ctrl-C, a failure or the timeout: no tool left writing
                finally:
                    reader.join(timeout=30)
    result.duration_s = time.monotonic() - started
    result.transactions = scan.transactions
    result.last_event_at = scan.last_event_at.isoformat() if scan.last_event_at else None
    result.last_gtid = scan.last_gtid
    result.end_file = scan.file
    result.end_position = scan.position
    log.info("binlog replay done in %.1f s: %s", result.duration_s, scan.line())
    return result


def replay_pipeline(
    binlog_cmd: list[str],
    client_cmd: list[str],
    fds: tuple[int, int],
    filter_cmd: list[str] | None,
    what: str,
) -> Pipeline:
    """Return ``binlog | tee >(grep headers) | [filter] | client``, unstarted; OS pipes only.

    The stages are named as in :data:`_STAGES`; without a filter its slot runs ``cat`` so the
    shape stays the same (the cost is one more pipe copy in the kernel). grep exits 1 when it
    selects no line (no headers, or nothing to keep): not a failure.
    """
    src_fd, dst_fd = fds
    header_r, header_w = os.pipe()
    grep_ok = frozenset({0, 1})
    stages = [
        # --stop-datetime and the event headers in UTC
        Stage(binlog_cmd, _STAGES[0], stdout=NEXT, pass_fds=(src_fd,), env={"TZ": "UTC"}),
        Stage(["tee", f"/dev/fd/{header_w}"], "tee", stdin=PREVIOUS, stdout=NEXT,
              pass_fds=(header_w,)),
        Stage(["grep", "-a", "-E", _GREP_HEADERS], "headers", stdin=header_r, stdout=CALLER,
              ok=grep_ok, env=BYTE_LOCALE),
        Stage(filter_cmd or ["cat"], "filter", stdin=PREVIOUS, stdout=NEXT, ok=grep_ok,
              env=BYTE_LOCALE),
        Stage(client_cmd, "client", stdin=PREVIOUS, pass_fds=(dst_fd,)),
    ]  # fmt: skip
    return Pipeline(
        stages,
        what,
        timeout_s=REPLAY_TIMEOUT_S,
        tick_s=PROGRESS_INTERVAL_S,
        error=VerificationError,
        side_fds=(header_r, header_w),
    )


# --------------------------------------------------------------------------------------------
# Restore, then replay
# --------------------------------------------------------------------------------------------


def ensure_target_is_not_source(
    target: ClientEndpoint, source: ClientEndpoint, history_schema: str
) -> None:
    """Refuse a replay target that is the binlog source: by address, then by what it says.

    Read-only on the target; on the source it writes (then deletes) one nonce row in the
    history schema (:mod:`maintenance_ops.core.identity`).
    """
    src = Endpoint("binlog source", source.host, source.port, source.socket)
    dst = Endpoint("replay target", target.host, target.port, target.socket)
    ensure_other_address(dst, src)
    source_conn = source.connect()
    try:
        with marked_source(source_conn, src, history_schema) as proof:
            target_conn = target.connect()
            try:
                ensure_not_source(target_conn, proof, str(dst))
            finally:
                target_conn.close()
    finally:
        source_conn.close()


def client_for(target: MySQLInstance | ClientEndpoint) -> ClientEndpoint:
    """Return how the client tools reach ``target`` (a running private server or an endpoint)."""
    if isinstance(target, ClientEndpoint):
        return target
    if not target.running:
        raise ConfigError(f"{target!r} is not running; start it before restoring into it")
    return ClientEndpoint(
        host=target.host, port=target.port, socket=target.socket or None, password=target.password
    )


def target_replay_state(conn: Any, dialect: Dialect) -> dict[str, str]:
    """Return the target's variables that decide whether a replay may keep the source's GTIDs."""
    found = sqlexec.rows(conn, dialect.replay_state_sql())
    return {str(k).lower(): str(v) for k, v, *_ in found}


def restore_full(
    tool: str, path: Path, client: ClientEndpoint, client_tool: str = "mariadb"
) -> int:
    """Restore a logical backup folder onto ``client`` with its tool; return the bytes restored.

    A mariabackup backup is refused with the way to recover from it by hand.

    :param client_tool: the client loading a dump (``Dialect.client_tool`` of the target).
    """
    if tool in ("mariadb-dump", "mysqldump"):
        dump = find_dump_file(path)
        if dump is None:
            raise VerificationError(f"no dump file in {path}")
        return restore_dump(dump, client, client_tool=client_tool)
    if tool == "mydumper":
        return restore_mydumper(path / "mydumper", client)
    raise ConfigError(
        f"a {tool} backup cannot be restored into a running server and is not supported for "
        "point-in-time recovery yet: start a server on the prepared copy (see "
        "restore.PreparedInstance), then call replay_binlogs with the coordinates in "
        "mariabackup/xtrabackup_binlog_info"
    )


def _decide_gtids(
    client: ClientEndpoint,
    dialect: Dialect,
    coordinates: Mapping[str, Any],
    keep_gtids: bool | None,
) -> tuple[bool, str | None]:
    """Return whether to apply the source's GTIDs, and a note when that was decided here."""
    conn = client.connect()
    try:
        state = target_replay_state(conn, dialect)
    finally:
        conn.close()
    conflict = dialect.replay_gtid_conflict(state, coordinates.get("gtid"))
    if conflict is None:
        return (True if keep_gtids is None else keep_gtids), None
    if keep_gtids:
        raise SafetyAbort(
            f"{conflict}; replay with keep_gtids=False (the target numbers the transactions "
            "itself) or change the target's GTID settings"
        )
    return False, "source GTIDs dropped, the target numbered the replay: " + conflict.split(":", 1)[
        0
    ]


def _check_flavors(
    manifest: Mapping[str, Any], target: MySQLInstance | ClientEndpoint, client: ClientEndpoint
) -> Dialect:
    """Return the backed-up server's dialect once the target and the binlog tool match it.

    The target must be the backup's flavor (a restore test's rule too), and the binlog tool
    the source's: each flavor's tool decodes only its own binary logs. A manifest without a
    server flavor predates MySQL support: MariaDB's tools, as then.
    """
    dialect = backup_dialect(dict(manifest))
    if dialect is None:
        return _LEGACY
    if isinstance(target, MySQLInstance):
        check_target_flavor(target.flavor, dialect, repr(target))
    else:
        conn = client.connect()
        try:
            check_target_flavor(server_flavor(conn), dialect, f"{client.host}:{client.port}")
        finally:
            conn.close()
    require_flavor(dialect.binlog_tool, dialect, "replay the binary logs of")
    return dialect


def restore_to_point(
    backup_path: str | os.PathLike[str],
    *,
    target: MySQLInstance | ClientEndpoint,
    binlog_source: ClientEndpoint,
    stop_at: dt.datetime | None = None,
    stop_position: tuple[str, int] | None = None,
    verify: bool = True,
    keep_gtids: bool | None = None,
    history_schema: str = DEFAULT_HISTORY_SCHEMA,
    skip_accounts: bool = True,
) -> PitrResult:
    """Restore a full backup onto ``target``, then replay binary logs up to ``stop_at``.

    The binary logs are read once before the restore (a purged one fails then, and the
    account statements of the range are found, to be skipped: see the module docs).

    :param backup_path: the backup folder (``<location>/<database>/<stamp>-<tool>``).
    :param target: a running private server or the endpoint of the server to restore onto.
    :param binlog_source: the backed-up server, whose binary logs are read (never written).
    :param stop_at: the point to recover to (naive means UTC); events before it are applied.
    :param stop_position: instead of ``stop_at``, ``(file, position)``: events starting before
        it are applied (the position of an event ``restore_from_backup.py find`` lists).
    :param verify: check the files against the manifest's checksums first.
    :param keep_gtids: apply the source's GTIDs; None keeps them unless the target's GTID
        state would refuse them, then lets the target number them (see the module docs).
    :param history_schema: the source's history schema, where the identity nonce is written.
    :param skip_accounts: leave the range's account statements out and list them (the backup
        holds no accounts, so they would fail); False replays them.
    """
    clock = time.monotonic()
    path = Path(backup_path)
    manifest = load_manifest(path)
    if manifest is None:
        raise VerificationError(
            f"{path} has no manifest.json: its binary log coordinates are unknown, so it "
            "cannot be rolled forward"
        )
    coordinates = manifest.get("binlog") or {}
    if not coordinates.get("file") or not coordinates.get("position"):
        raise VerificationError(
            f"backup {path.name} records no binary log coordinates (taken with log_bin off): "
            "it can be restored but not rolled forward"
        )
    if (stop_at is None) == (stop_position is None):
        raise ConfigError("give the recovery point as stop_at (a time) or stop_position, not both")
    if stop_at is not None:
        check_stop_after_backup(manifest, stop_at)
    else:
        assert stop_position is not None
        check_position_after_backup(coordinates, stop_position)
    tool = detect_tool(path, manifest)
    client = client_for(target)
    if tool == "mariabackup":
        restore_full(tool, path, client)  # raises: not supported
    ensure_target_is_not_source(client, binlog_source, history_schema)
    dialect = _check_flavors(manifest, target, client)
    if verify and (problems := verify_files(path, manifest)):
        raise VerificationError(f"backup {path} fails verification: {'; '.join(problems)}")
    start = (str(coordinates["file"]), int(coordinates["position"]))
    span = binlog_range(binlog_source, *start, stop_at, stop_position)
    accounts = (
        scan_account_changes(binlog_source, span, dialect.binlog_tool) if skip_accounts else None
    )
    where = Endpoint("target", client.host, client.port, client.socket)
    log.info("PITR: restoring %s (%s) onto %s", path.name, tool, where)
    started = time.monotonic()
    restored = restore_full(tool, path, client, dialect.client_tool)
    restore_s = time.monotonic() - started
    log.info("PITR: full restore done in %.1f s; replaying binary logs", restore_s)
    keep, note = _decide_gtids(client, dialect, coordinates, keep_gtids)
    replay = replay_binlogs(
        binlog_source,
        client,
        *start,
        stop_at,
        stop_position=stop_position,
        keep_gtids=keep,
        dialect=dialect,
        history_schema=history_schema,
        skip_accounts=skip_accounts,
        accounts=accounts,
    )
    result = PitrResult(
        backup_path=str(path),
        tool=tool,
        target=str(where),
        stop_at=replay.stop_at,
        backup_binlog=dict(coordinates),
        recovery_point=replay.last_event_at,
        restore_s=restore_s,
        replay_s=replay.duration_s,
        total_s=time.monotonic() - clock,
        restored_bytes=restored,
        replay=replay,
        notes=[note] if note else [],
    )
    log.info(
        "PITR of %s to %s: recovery point %s, %s transactions replayed, restore %.1f s, "
        "replay %.1f s, total %.1f s",
        path.name,
        result.stop_at,
        result.recovery_point or "the backup itself (no later transaction)",
        replay.transactions,
        restore_s,
        replay.duration_s,
        result.total_s,
    )
    return result


# --------------------------------------------------------------------------------------------
# Drill markers
# --------------------------------------------------------------------------------------------


def _marker_table(schema: str) -> str:
    return f"{quote_identifier(validate_identifier(schema, 'marker schema'))}.{MARKER_TABLE}"


def write_marker(conn: Any, schema: str, label: str) -> tuple[int, dt.datetime]:
    """Insert a drill marker row into ``<schema>.dr_markers`` (created if missing).

    Return the row's id and its server time (UTC). A marker written before and one written
    after a chosen point in time tell whether a recovery stopped where it should.
    """
    table = _marker_table(schema)
    sqlexec.execute(conn, f"CREATE DATABASE IF NOT EXISTS {quote_identifier(schema)}")
    sqlexec.execute(
        conn,
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
        "label VARCHAR(191) NOT NULL, "
        "at DATETIME(6) NOT NULL, "
        "KEY label (label)) ENGINE=InnoDB",
    )
    sql = f"INSERT INTO {table} (label, at) VALUES (%s, UTC_TIMESTAMP(6))"  # noqa: S608
    sqlexec.execute(conn, sql, (label,))
    conn.commit()
    select = f"SELECT id, at FROM {table} WHERE id = LAST_INSERT_ID()"  # noqa: S608
    marker_id, at = sqlexec.rows(conn, select)[0]
    return int(marker_id), at.replace(tzinfo=dt.UTC)


def marker_present(conn: Any, schema: str, label: str) -> bool:
    """Return whether ``<schema>.dr_markers`` holds a marker ``label`` (False without the table)."""
    found = sqlexec.rows(
        conn,
        "SELECT COUNT(*) FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (schema, MARKER_TABLE),
    )
    if not found[0][0]:
        return False
    count = f"SELECT COUNT(*) FROM {_marker_table(schema)} WHERE label = %s"  # noqa: S608
    return bool(sqlexec.rows(conn, count, (label,))[0][0])


def recovery_summary(result: PitrResult) -> Sequence[str]:
    """Return the lines a runbook prints at the end: the point reached, what was skipped, time."""
    replay = result.replay
    point = result.recovery_point or "the backup's snapshot (no transaction after it)"
    lines = [
        f"requested point: {result.stop_at}",
        f"achieved recovery point: {point}",
        f"transactions replayed: {replay.transactions if replay else 0}"
        + (f" (last GTID {replay.last_gtid})" if replay and replay.last_gtid else ""),
    ]
    if result.skipped:
        lines.append(
            f"{len(result.skipped)} account statements skipped (the backup holds no accounts, "
            "so they would have failed): recreate these accounts by hand, as they are on the "
            "source (SHOW CREATE USER / SHOW GRANTS there):"
        )
        lines.extend(f"  {change.line()}" for change in result.skipped)
    lines.append(
        f"time taken: restore {result.restore_s:.1f} s, replay {result.replay_s:.1f} s, "
        f"total {result.total_s:.1f} s"
    )
    return lines

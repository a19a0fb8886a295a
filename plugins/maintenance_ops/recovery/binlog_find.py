"""Find the moment of the damage: the binary log transactions that touched one table.

A point-in-time restore stops at a time, and binary log times are whole seconds: to choose
``--until`` (or the exact position) the operator needs the damaging transaction's time,
file and position. :func:`find_events` reads the source's binary logs from a time on, as a
replica would (``mariadb-binlog``/``mysqlbinlog --read-from-remote-server
--base64-output=decode-rows --verbose``), and :func:`parse_events` (pure) turns the output into
one :class:`TableEvent` per transaction that changed the table (row events, with MariaDB's
annotated statement when there is one) or per statement naming it (DDL, statement-format DML).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from maintenance_ops.core.pipes import secret_pipe
from maintenance_ops.core.processes import CALLER, Pipeline, Stage, checked_names
from maintenance_ops.recovery.binlog_accounts import AT_LINE as _AT
from maintenance_ops.recovery.binlog_accounts import EVENT_HEADER as _HEADER
from maintenance_ops.recovery.binlog_accounts import ROTATE_EVENT as _ROTATE
from maintenance_ops.recovery.pitr import STOP_FORMAT, header_time, to_utc
from maintenance_ops.recovery.restore import ClientEndpoint

FIND_TIMEOUT_S = 3600.0
STATEMENT_CHARS = 200

_GTID = re.compile(r"^GTID\s+(?P<gtid>\d+-\d+-\d+)")
_TABLE_MAP = re.compile(r"^Table_map:\s+`(?P<schema>(?:[^`]|``)+)`\.`(?P<table>(?:[^`]|``)+)`")
_ROW = re.compile(
    r"^### (?P<kind>INSERT INTO|UPDATE|DELETE FROM) `(?P<schema>(?:[^`]|``)+)`\."
    r"`(?P<table>(?:[^`]|``)+)`"
)
_ANNOTATE = re.compile(r"^#Q> ?(?P<sql>.*)$")
_USE = re.compile(r"^use `(?P<schema>(?:[^`]|``)+)`/\*!\*/;$")
_KINDS = {"INSERT INTO": "INSERT", "UPDATE": "UPDATE", "DELETE FROM": "DELETE"}


@dataclass
class TableEvent:
    """One transaction (or statement) that touched the table."""

    file: str
    start: int
    """Position of its first event (``--start-position``/``--stop-position`` take this)."""
    end: int
    at: dt.datetime
    gtid: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    """Rows changed per kind (INSERT/UPDATE/DELETE); empty for a statement event."""
    statement: str = ""

    def line(self) -> str:
        """One line for the operator."""
        rows = ", ".join(f"{kind} {n} rows" for kind, n in self.rows.items()) or "statement"
        gtid = f" GTID {self.gtid}" if self.gtid else ""
        text = f": {self.statement}" if self.statement else ""
        return (
            f"{self.at:%Y-%m-%d %H:%M:%S} UTC  {self.file} {self.start}-{self.end}{gtid}  "
            f"{rows}{text}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}


@dataclass
class _Scan:
    schema: str
    table: str
    file: str
    at_pos: int = 0
    prev_end: int | None = None
    rotated: bool = False
    trx_start: int = 0
    gtid: str | None = None
    annotate: str = ""
    use: str | None = None
    current: TableEvent | None = None
    in_query: TableEvent | None = None
    found: list[TableEvent] = field(default_factory=list)

    def ours(self, schema: str, table: str) -> bool:
        return (schema.replace("``", "`"), table.replace("``", "`")) == (self.schema, self.table)

    def names_table(self, sql: str) -> bool:
        """Whether a statement's text names the table (qualified, or in its USE schema)."""
        name = re.escape(self.table)
        qualified = rf"`?{re.escape(self.schema)}`?\s*\.\s*`?{name}`?(?![\w$])"
        if re.search(qualified, sql, re.I):
            return True
        return self.use == self.schema and bool(re.search(rf"(?<![\w$.`])`?{name}`?(?![\w$])", sql))


def _statement(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= STATEMENT_CHARS else text[: STATEMENT_CHARS - 3] + "..."


def parse_events(
    lines: Iterable[str], schema: str, table: str, first_file: str = ""
) -> list[TableEvent]:
    """Return the transactions and statements in binlog tool output that touched the table."""
    scan = _Scan(schema, table, first_file)
    for raw in lines:
        _feed(scan, raw.rstrip("\n"))
    return scan.found


def _feed(scan: _Scan, line: str) -> None:
    at = _AT.match(line)
    if at:
        scan.at_pos = int(at["pos"])
        _end_query(scan)
        return
    header = _HEADER.match(line)
    if header:
        _event(scan, header)
        return
    annotate = _ANNOTATE.match(line)
    if annotate:
        scan.annotate = (scan.annotate + " " + annotate["sql"]).strip()
        return
    row = _ROW.match(line)
    if row and scan.current is not None and scan.ours(row["schema"], row["table"]):
        kind = _KINDS[row["kind"]]
        scan.current.rows[kind] = scan.current.rows.get(kind, 0) + 1
        return
    if scan.in_query is not None and not line.startswith("#"):
        use = _USE.match(line)
        if use:
            scan.use = use["schema"].replace("``", "`")
        elif not line.startswith(("SET ", "/*!")):
            scan.in_query.statement += " " + line.removesuffix("/*!*/;")


def _event(scan: _Scan, header: re.Match[str]) -> None:
    event = header["event"].strip()
    when = header_time(header["date"], header["time"])
    end = int(header["end"])
    # After a rotation under --to-last-log, "# at N" is wrong (mariadb-binlog 10.11 keeps
    # counting from the first file): an event starts where the one before it ended.
    here = scan.prev_end if scan.rotated and scan.prev_end is not None else scan.at_pos
    if end:  # 0: the tool's own Format_description at a mid-file start
        scan.prev_end = end
    rotate = _ROTATE.match(event)
    if rotate:
        scan.file, scan.prev_end, scan.rotated = rotate["file"], 4, True
        return
    gtid = _GTID.match(event)
    if gtid:
        scan.gtid, scan.trx_start, scan.annotate, scan.current = gtid["gtid"], here, "", None
        return
    if event.startswith("Annotate_rows"):
        scan.annotate = ""
        return
    table_map = _TABLE_MAP.match(event)
    if table_map and scan.ours(table_map["schema"], table_map["table"]) and scan.current is None:
        start = scan.trx_start or here
        scan.current = TableEvent(scan.file, start, end, when, scan.gtid)
        return
    if event.startswith("Xid") or (event.startswith("Query") and scan.current is not None):
        if scan.current is not None:
            scan.current.end = end
            scan.current.statement = _statement(scan.annotate)
            scan.found.append(scan.current)
        scan.current, scan.gtid, scan.trx_start, scan.annotate = None, None, 0, ""
        return
    if event.startswith("Query"):
        start = scan.trx_start or here
        scan.in_query = TableEvent(scan.file, start, end, when, scan.gtid)


def _end_query(scan: _Scan) -> None:
    query, scan.in_query = scan.in_query, None
    if query is None:
        return
    text = query.statement.strip()
    if text.upper() in ("BEGIN", "COMMIT", "") or not scan.names_table(text):
        return
    query.statement = _statement(text)
    scan.found.append(query)
    scan.gtid, scan.trx_start = None, 0


def find_command(
    option_fd: int,
    source: ClientEndpoint,
    first_file: str,
    since: dt.datetime,
    until: dt.datetime | None = None,
    tool: str = "mariadb-binlog",
) -> list[str]:
    """Return the command printing the source's row events from ``since`` on (run with TZ=UTC)."""
    stop = [f"--stop-datetime={to_utc(until):{STOP_FORMAT}}"] if until is not None else []
    return [
        tool,
        f"--defaults-file=/dev/fd/{option_fd}",  # must come first; keeps /etc/mysql out
        "--read-from-remote-server",
        *source.address_args(tcp=not source.socket),
        "--base64-output=decode-rows",
        "--verbose",
        f"--start-datetime={to_utc(since):{STOP_FORMAT}}",
        *stop,
        "--to-last-log",
        "--",
        *checked_names([first_file], "binary log file"),
    ]


def find_events(
    source: ClientEndpoint,
    first_file: str,
    schema: str,
    table: str,
    since: dt.datetime,
    until: dt.datetime | None = None,
    tool: str = "mariadb-binlog",
) -> list[TableEvent]:
    """Read the source's binary logs from ``first_file`` and ``since`` on; see the module doc."""
    with secret_pipe(source.option_file()) as fd:
        stage = Stage(
            find_command(fd, source, first_file, since, until, tool),
            tool,
            stdout=CALLER,
            pass_fds=(fd,),
            env={"TZ": "UTC"},
        )
        with Pipeline([stage], f"reading the binary logs of {source.host}", FIND_TIMEOUT_S) as run:
            found = parse_events(_lines(run.stdout(tool)), schema, table, first_file)
            run.wait()
    return found


def _lines(stream: Any) -> Iterator[str]:
    for raw in stream:
        yield raw.decode("utf-8", errors="replace")

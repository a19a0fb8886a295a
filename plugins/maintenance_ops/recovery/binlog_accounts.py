"""Find the account statements in a binary log range, so a replay can step around them.

A backup holds the backed-up schemas, not the ``mysql.*`` accounts, so a ``GRANT ... TO u``,
``CREATE USER``, ``ALTER USER``, ``DROP USER``, ``SET PASSWORD`` ... replayed onto the restored
server fails (ERROR 1133: ``u`` is not there) and aborts the replay. :class:`AccountScan`
(pure) reads the binlog tool's output of the range (``--base64-output=decode-rows``, so no row
image is printed) and returns one :class:`AccountChange` per account statement: its kind, the
accounts it names, the event group's start and end positions (``--stop-position`` before it,
``--start-position`` after it) and its time. The replay then runs the range in segments that
leave these groups out (:func:`maintenance_ops.recovery.pitr.plan_segments`).

The statement text is never kept: ``CREATE USER``/``ALTER USER``/``SET PASSWORD``/``GRANT ...
IDENTIFIED BY`` may hold a password or its hash. Only the kind and the account names, which
must match a strict name pattern, come out.

The parser is flavor-neutral: MariaDB's ``GTID 0-1-5 ddl`` event header and MySQL's ``GTID`` /
``Anonymous_GTID`` header followed by ``SET @@SESSION.GTID_NEXT= '...'`` both start a group.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

# Longest statement prefix kept while reading one Query event: enough to classify it and read
# its account names (a statement-format INSERT may be megabytes).
TEXT_LIMIT = 4096

# The lines of mariadb-binlog/mysqlbinlog output every reader here needs (binlog_find too).
AT_LINE = re.compile(r"^# at (?P<pos>\d+)\s*$")
EVENT_HEADER = re.compile(
    r"^#(?P<date>\d{6})\s+(?P<time>\d{1,2}:\d{2}:\d{2})\s+server id\s+\d+"
    r"\s+end_log_pos\s+(?P<end>\d+)(?:\s+CRC32\s+\S+)?\s+(?P<event>.*)$"
)
_GTID_EVENT = re.compile(r"^(?:Anonymous_)?GTID\b\s*(?P<gtid>\d+-\d+-\d+)?")
_GTID_NEXT = re.compile(r"^SET @@SESSION\.GTID_NEXT=\s*'(?P<gtid>[^']+)'")
ROTATE_EVENT = re.compile(r"^Rotate to (?P<file>\S+)")
# The session lines the tools print before a statement, not part of it.
_SESSION_LINE = re.compile(
    r"^(?:/\*|#|use `|DELIMITER |SET (?:TIMESTAMP|INSERT_ID|LAST_INSERT_ID)=|SET @@session\.)",
    re.I,
)
_END = "/*!*/;"
_LEADING_COMMENTS = re.compile(r"^(?:\s+|/\*.*?\*/|#[^\n]*\n|--\s[^\n]*\n)+", re.S)
_KIND = re.compile(
    r"^(?:(?P<create>CREATE)\s+(?:OR\s+REPLACE\s+)?(?P<cobj>USER|ROLE)"
    r"|(?P<alter>ALTER)\s+USER|(?P<drop>DROP)\s+(?P<dobj>USER|ROLE)|(?P<rename>RENAME)\s+USER"
    r"|(?P<grant>GRANT|REVOKE)|SET\s+(?P<setobj>PASSWORD|DEFAULT\s+ROLE))\b",
    re.I,
)
# Where the account names end: a password, a hash, or options follow.
_NAMES_END = re.compile(
    r"\bIDENTIFIED\b|=|\bPASSWORD\b|\bREQUIRE\b|\bWITH\b|\bACCOUNT\b|\bDEFAULT\b|\bAS\b"
    r"|\bCOMMENT\b|\bATTRIBUTE\b|\bRESOURCE\b|\bMAX_\w+",
    re.I,
)
_IF_EXISTS = re.compile(r"^\s*IF\s+(?:NOT\s+)?EXISTS\b", re.I)
_NAME = r"(?:'(?:[^'\\]|\\.|'')*'|`(?:[^`]|``)*`|\"(?:[^\"\\]|\\.)*\"|[\w$.-]+)"
_HOST = r"(?:'(?:[^'\\]|\\.|'')*'|`(?:[^`]|``)*`|\"(?:[^\"\\]|\\.)*\"|[\w$.%:-]+)"
_ACCOUNT = re.compile(rf"{_NAME}(?:\s*@\s*{_HOST})?")
_NAME_LIMIT = 200


@dataclass
class AccountChange:
    """One account statement in the binary logs, without its text."""

    kind: str
    """``CREATE USER``, ``ALTER USER``, ``DROP USER``, ``RENAME USER``, ``CREATE ROLE``,
    ``DROP ROLE``, ``GRANT``, ``REVOKE``, ``SET PASSWORD`` or ``SET DEFAULT ROLE``."""
    accounts: list[str]
    file: str
    start: int
    """Position of its event group's first event (a ``--stop-position`` before it)."""
    end: int
    """Position after its group (a ``--start-position`` after it)."""
    at: dt.datetime
    gtid: str | None = None

    def line(self) -> str:
        """One line for the operator: kind, accounts, where and when; never the statement."""
        gtid = f" GTID {self.gtid}" if self.gtid else ""
        return (
            f"{self.kind} {', '.join(self.accounts) or '(accounts not read)'} at "
            f"{self.file}:{self.start} ({self.at:%Y-%m-%d %H:%M:%S} UTC{gtid})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {**asdict(self), "at": self.at.isoformat()}


def account_kind(statement: str) -> str | None:
    """Return the kind of an account statement (``GRANT``, ``CREATE USER``...), else None."""
    match = _KIND.match(_LEADING_COMMENTS.sub("", statement, count=1))
    if not match:
        return None
    if match["create"] or match["drop"]:
        verb = match["create"] or match["drop"]
        return f"{verb.upper()} {(match['cobj'] or match['dobj']).upper()}"
    if match["alter"] or match["rename"]:
        return f"{(match['alter'] or match['rename']).upper()} USER"
    if match["grant"]:
        return match["grant"].upper()
    return "SET " + " ".join(match["setobj"].upper().split())


def statement_accounts(statement: str) -> list[str]:
    """Return the account names an account statement acts on; never any other part of it.

    Only the text before a password, hash or option clause is read, and only names matching
    a strict pattern are returned (``'u'@'%'``, ``role``); ``SET PASSWORD`` without ``FOR``
    is the session's own account.
    """
    text = _LEADING_COMMENTS.sub("", statement, count=1)
    match = _KIND.match(text)
    if not match:
        return []
    rest = text[match.end() :]
    if match["setobj"] and match["setobj"].upper() == "PASSWORD":
        names = rest.split("=", 1)[0]
        if not re.match(r"^\s*FOR\b", names, re.I):
            return ["(its own session's account)"]
        names = re.sub(r"^\s*FOR\b", "", names, count=1, flags=re.I)
    else:
        names = _NAMES_END.split(rest, maxsplit=1)[0]
        if match["grant"] or match["setobj"]:
            names = re.split(r"\b(?:TO|FROM|FOR)\b", names, flags=re.I)[-1]
        names = _IF_EXISTS.sub("", names, count=1)
    found = []
    for part in re.split(r",|\bTO\b", names, flags=re.I):
        part = part.strip()
        if part and _ACCOUNT.fullmatch(part) and len(part) <= _NAME_LIMIT:
            found.append(re.sub(r"\s*@\s*", "@", part))
        elif part:
            found.append("(a name not read)")
    return found


@dataclass
class AccountScan:
    """Running state over binlog tool output; :attr:`found` holds the account statements."""

    file: str
    files: list[str] = field(default_factory=list)
    """Every binary log seen, in order (the first one, then each rotation's)."""
    found: list[AccountChange] = field(default_factory=list)
    _at: int = 0
    _prev_end: int | None = None
    _rotated: bool = False
    _group_start: int | None = None
    _gtid: str | None = None
    _query: AccountChange | None = None
    _text: list[str] = field(default_factory=list)
    _chars: int = 0
    _ended: bool = False

    def __post_init__(self) -> None:
        self.files = [self.file]

    def feed(self, line: str) -> None:
        """Take one line of the binlog tool's output."""
        line = line.rstrip("\n")
        at = AT_LINE.match(line)
        if at:
            self._finish()
            self._at = int(at["pos"])
            return
        header = EVENT_HEADER.match(line)
        if header:
            self._finish()
            self._event(header)
            return
        gtid_next = _GTID_NEXT.match(line)
        if gtid_next:
            value = gtid_next["gtid"]
            self._gtid = None if value in ("ANONYMOUS", "AUTOMATIC") else value
            return
        if self._query is not None and not self._ended:
            self._statement_line(line)

    def close(self) -> list[AccountChange]:
        """Finish the last event and return what was found."""
        self._finish()
        return self.found

    def _event(self, header: re.Match[str]) -> None:
        event = header["event"].strip()
        # After a rotation under --to-last-log, "# at N" is wrong (mariadb-binlog 10.11 keeps
        # counting from the first file): an event starts where the one before it ended.
        at = self._prev_end if self._rotated and self._prev_end is not None else self._at
        end = int(header["end"])
        if end:  # 0: the tool's own Format_description at a mid-file start
            self._prev_end = end
        rotate = ROTATE_EVENT.match(event)
        if rotate:
            self.file = rotate["file"]
            if self.file not in self.files:
                self.files.append(self.file)
            self._group_start, self._prev_end, self._rotated = None, 4, True
            return
        gtid = _GTID_EVENT.match(event)
        if gtid:
            self._group_start, self._gtid = at, gtid["gtid"]
            return
        if event.startswith("Query"):
            # A statement alone in its group (DDL) starts where its GTID event does.
            start = self._group_start if self._group_start is not None else at
            when = dt.datetime.strptime(
                f"{header['date']} {header['time']}", "%y%m%d %H:%M:%S"
            ).replace(tzinfo=dt.UTC)
            self._query = AccountChange("", [], self.file, start, end, when, self._gtid)
        # Any other event: the group holds more than this statement.
        self._group_start, self._gtid = None, None

    def _statement_line(self, line: str) -> None:
        if not self._text and _SESSION_LINE.match(line):
            return
        if line.endswith(_END):
            line, self._ended = line.removesuffix(_END), True
        if self._chars < TEXT_LIMIT:
            self._text.append(line)
            self._chars += len(line) + 1

    def _finish(self) -> None:
        query, self._query = self._query, None
        text = "\n".join(self._text)[:TEXT_LIMIT]
        self._text, self._chars, self._ended = [], 0, False
        if query is None:
            return
        kind = account_kind(text)
        if kind is None:
            return
        query.kind, query.accounts = kind, statement_accounts(text)
        self.found.append(query)


def scan_accounts(lines: Iterable[str], first_file: str) -> AccountScan:
    """Return the scan of binlog tool output (``found``: the account statements, in order)."""
    scan = AccountScan(first_file)
    for line in lines:
        scan.feed(line)
    scan.close()
    return scan

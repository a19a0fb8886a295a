"""Read the binary log coordinates each backup tool records for its snapshot."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# The dump tools write the snapshot's coordinates as comments: the binary log position near
# the top (mysqldump 8.0.26+: CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE=..., older tools and
# MariaDB: CHANGE MASTER TO MASTER_LOG_FILE=...), MySQL's GTID set as SET @@GLOBAL.GTID_PURGED
# (over several lines for several server UUIDs), and MariaDB's GTID position at the very end of
# the dump ("The deferred gtid setting ... follows": SET GLOBAL gtid_slave_pos).
_DUMP_BINLOG = re.compile(
    r"CHANGE\s+(?:MASTER|REPLICATION\s+SOURCE)\s+TO\s+(?:MASTER|SOURCE)_LOG_FILE\s*=\s*"
    r"'(?P<file>[^']+)'\s*,\s*(?:MASTER|SOURCE)_LOG_POS\s*=\s*(?P<pos>\d+)",
    re.IGNORECASE,
)
_DUMP_GTID = re.compile(
    r"(?:gtid_slave_pos\s*=\s*'|GTID_PURGED\s*=\s*(?:/\*!80000\s*'\+'\s*\*/)?\s*'\+?)"
    r"(?P<gtid>[^']*)'",
    re.IGNORECASE,
)
# grep -E for the lines holding coordinates anywhere in a dump stream, and for the lines that
# continue a GTID set over several lines (a server UUID with its intervals, nothing else).
COORDINATE_LINES = (
    r"^(-- )?CHANGE (MASTER|REPLICATION SOURCE) TO (MASTER|SOURCE)_LOG_FILE"
    r"|^(-- )?SET GLOBAL gtid_slave_pos="
    r"|^(/\* )?SET @@GLOBAL\.GTID_PURGED="
    r"|^[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}(:[0-9A-Za-z_-]+)+(,|';( ?\*/)?)$"
)
COORDINATES_NAME = "coordinates.txt"


@dataclass(frozen=True)
class BinlogCoordinates:
    """Where the backup's snapshot sits in the source's binary log (all None without one)."""

    file: str | None = None
    position: int | None = None
    gtid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "position": self.position, "gtid": self.gtid}


def _gtid_value(raw: str | None) -> str | None:
    """Return a GTID set or position without the line breaks and spaces tools put in it."""
    value = re.sub(r"\s+", "", raw or "").strip('"')
    return value or None


def parse_dump_binlog(text: str) -> BinlogCoordinates:
    """Read the snapshot's coordinates from a dump's comments (or the lines holding them).

    Reads mysqldump 8.0.26+'s ``CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE=...``, the older
    and MariaDB's ``CHANGE MASTER TO MASTER_LOG_FILE=...``, MySQL's ``SET
    @@GLOBAL.GTID_PURGED=...`` (plain or commented, over several lines) and MariaDB's ``SET
    GLOBAL gtid_slave_pos=...``. The first position found is the snapshot's (a replica's dump
    lists its source's position too, after its own).
    """
    coords = _DUMP_BINLOG.search(text)
    gtid = _DUMP_GTID.search(text)
    return BinlogCoordinates(
        coords["file"] if coords else None,
        int(coords["pos"]) if coords else None,
        _gtid_value(gtid["gtid"]) if gtid else None,
    )


def parse_mydumper_metadata(text: str) -> BinlogCoordinates:
    """Read the source's coordinates from mydumper's ``metadata`` file, in either format.

    mydumper before 0.11 writes ``SHOW MASTER STATUS:`` with tab-indented ``Log:``, ``Pos:``
    and ``GTID:`` lines (a MySQL GTID set continues on further lines); later versions write an
    ini file whose ``[master]`` (0.11-0.12) or ``[source]`` section holds ``File =``,
    ``Position =`` and ``Executed_Gtid_Set =``, or, with ``--source-data``, ``SOURCE_LOG_FILE =
    "..."``, ``SOURCE_LOG_POS =`` and ``executed_gtid_set = "..."``.
    """
    section = re.search(r"^\[(?:source|master)\][^\n]*\n(?P<body>.*?)(?=^\[|\Z)", text, re.M | re.S)
    if section is not None:
        return _mydumper_ini(section["body"])
    master = re.split(r"^SHOW (?:SLAVE|REPLICA) STATUS", text, flags=re.M)[0]
    file = re.search(r"^\s*Log:\s*(\S+)", master, re.M)
    pos = re.search(r"^\s*Pos:\s*(\d+)", master, re.M)
    # The GTID set runs until the blank line that ends the section.
    gtid = re.search(r"^\s*GTID:(?P<gtid>.*?)(?:\n\s*\n|\Z)", master, re.M | re.S)
    return BinlogCoordinates(
        file[1] if file else None,
        int(pos[1]) if pos else None,
        _gtid_value(gtid["gtid"]) if gtid else None,
    )


def _mydumper_ini(body: str) -> BinlogCoordinates:
    values: dict[str, str] = {}
    for line in body.splitlines():
        key, eq, value = line.partition("=")
        if eq and not key.lstrip().startswith("#"):
            values[key.strip().lower()] = value.strip().strip('"')
    file = values.get("file") or values.get("source_log_file")
    pos = values.get("position") or values.get("source_log_pos")
    return BinlogCoordinates(
        file or None,
        int(pos) if pos and pos.isdigit() else None,
        _gtid_value(values.get("executed_gtid_set")),
    )


def parse_mariabackup_binlog(text: str) -> BinlogCoordinates:
    """Read ``xtrabackup_binlog_info`` (``file<TAB>position[<TAB>gtid]``)."""
    parts = text.split()
    if len(parts) < 2:
        return BinlogCoordinates()
    return BinlogCoordinates(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else None)

"""The backup and replay parsers on published output of the tools they read.

Fixtures in ``golden/`` cite where each comes from in their header (which ends at the first
blank line). Each dump fixture is parsed twice: whole, and as the lines ``grep`` selects from
the stream while a backup is written (:data:`maintenance_ops.recovery.backup.COORDINATE_LINES`), so the
pattern is proven on real formats too. The binary log fixtures go through the replay's own
``grep`` of event headers into :class:`maintenance_ops.recovery.pitr.HeaderScan`.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from maintenance_ops.core.tools import line_flavor
from maintenance_ops.recovery.backup import (
    COORDINATE_LINES,
    BinlogCoordinates,
    parse_dump_binlog,
    parse_mydumper_metadata,
)
from maintenance_ops.recovery.pitr import _GREP_HEADERS, HeaderScan

GOLDEN = Path(__file__).parent / "golden"
TWO_UUIDS = "9113f6b1-0751-11eb-9e7d-0242dc638c6c:1-385,910c760a-0751-11eb-9da8-0242dc638c6c:1-12"


def body(name: str) -> str:
    """Return a fixture without its citing header (everything up to the first blank line)."""
    return (GOLDEN / name).read_text(encoding="utf-8").split("\n\n", 1)[1]


def grep(pattern: str, text: str) -> str:
    """Return the lines ``grep -a -E pattern`` selects from ``text`` (the real tool)."""
    done = subprocess.run(
        ["grep", "-a", "-E", pattern], input=text.encode(), capture_output=True, check=False
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.decode()


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        pytest.param(
            "mysql-8.4_mysqldump_source_data_header.sql",
            BinlogCoordinates("binlog.000002", 1610, None),
            id="mysqldump-8.4-source-data",
        ),
        pytest.param(
            "mysql-8.0_mysqldump_gtid_purged_header.sql",
            BinlogCoordinates(None, None, "e7e77cbc-16f8-11ed-a055-c4bde5be8098:1-390"),
            id="mysqldump-8.0-gtid-purged",
        ),
        pytest.param(
            "mysql-8.0_mysqldump_commented_gtid_multiline.sql",
            BinlogCoordinates("gbichot2-bin.000007", 4, TWO_UUIDS),
            id="mysqldump-8.0-commented-multiline-gtid",
        ),
        pytest.param(
            "mysql-5.7_mysqldump_master_data_header.sql",
            BinlogCoordinates("gbichot2-bin.000007", 4, None),
            id="mysqldump-5.7-master-data",
        ),
        pytest.param(
            "mariadb-10.11_mariadb_dump_deferred_gtid.sql",
            BinlogCoordinates("binlog.000001", 824, "0-1-3"),
            id="mariadb-dump-10.11-deferred-gtid",
        ),
    ],
)
def test_dump_coordinates(fixture: str, expected: BinlogCoordinates) -> None:
    text = body(fixture)
    assert parse_dump_binlog(text) == expected
    assert parse_dump_binlog(grep(COORDINATE_LINES, text)) == expected


def test_coordinate_pattern_skips_data() -> None:
    """Rows that merely mention the statements are not coordinates."""
    rows = (
        "INSERT INTO `notes` VALUES (1,'-- CHANGE MASTER TO MASTER_LOG_FILE=\\'x\\', ...');\n"
        "INSERT INTO `t` VALUES ('e21c02f3-5d10-11f1-bb22-080027adf695:44');\n"
    )
    assert grep(COORDINATE_LINES, rows) == ""


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        pytest.param(
            "mydumper-0.9_metadata_show_master_status.txt",
            BinlogCoordinates(
                "mysql-bin.000017",
                472216733,
                "5cf5609c-c0f8-11e6-bd2e-70106fac1402:1-191147546,"
                "63725071-cc2c-11e6-863d-90e2bac76424:1-1926619023,"
                "6af9ad69-c0f8-11e6-bd2f-246e9606bc20:1-2333629",
            ),
            id="mydumper-0.9-show-master-status-multiline-gtid",
        ),
        pytest.param(
            "mydumper-0.12_metadata_master_section.txt",
            BinlogCoordinates("mariadb-bin.000042", 7311, "0-1-3905"),
            id="mydumper-0.12-master-section",
        ),
        pytest.param(
            "mydumper-0.16_metadata_source_section.txt",
            BinlogCoordinates("binlog.000017", 2386, "4d22b3e5-a54f-11e9-8bdb-ace2d35785be:1-603"),
            id="mydumper-0.16-source-section-source-data",
        ),
    ],
)
def test_mydumper_metadata(fixture: str, expected: BinlogCoordinates) -> None:
    assert parse_mydumper_metadata(body(fixture)) == expected


def test_mydumper_without_binary_log_has_no_coordinates() -> None:
    text = "[config]\nquote_character = BACKTICK\n\n[`app`.`t`]\nrows = 3\n"
    assert parse_mydumper_metadata(text) == BinlogCoordinates()


def _scan(fixture: str, start_file: str) -> HeaderScan:
    scan = HeaderScan(start_file)
    for line in grep(_GREP_HEADERS, body(fixture)).splitlines():
        scan.feed(line)
    return scan


def test_mysqlbinlog_gtid_events() -> None:
    scan = _scan("mysql-8.0_mysqlbinlog_gtid_events.txt", "binlog.000017")
    assert scan.transactions == 2  # one per GTID, however many events it holds
    assert scan.last_gtid == "e21c02f3-5d10-11f1-bb22-080027adf695:45"
    assert scan.last_event_at == dt.datetime(2026, 5, 31, 17, 24, 5, tzinfo=dt.UTC)
    assert (scan.file, scan.position) == ("binlog.000018", 711)


def test_mysqlbinlog_anonymous_events() -> None:
    scan = _scan("mysql-8.0_mysqlbinlog_anonymous_events.txt", "binlog.000001")
    assert scan.transactions == 2
    assert scan.last_gtid is None  # ANONYMOUS is no GTID
    assert scan.last_event_at == dt.datetime(2023, 3, 17, 2, 22, 11, tzinfo=dt.UTC)
    assert scan.position == 818143


@pytest.mark.parametrize(
    ("line", "flavor"),
    [
        # This machine's Debian 12 packages (mysqldump is a link to mariadb-dump).
        pytest.param(
            "mysqldump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)",
            "mariadb",
            id="debian-mysqldump-link",
        ),
        # MariaDB 11's tools print "from <version>" (written from memory, not run here).
        pytest.param(
            "mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux (x86_64)",
            "mariadb",
            id="mariadb-11.4",
        ),
        # MySQL's tools print "Ver <version> for <os> on <arch> (<edition>)"; written in that
        # format, not run here (no MySQL tool is installed on this machine).
        pytest.param(
            "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)",
            "mysql",
            id="mysql-8.0",
        ),
        pytest.param(
            "mysqlbinlog  Ver 8.4.0 for Linux on x86_64 (MySQL Community Server - GPL)",
            "mysql",
            id="mysql-8.4",
        ),
    ],
)
def test_tool_flavor_from_version_line(line: str, flavor: str) -> None:
    assert line_flavor(line) == flavor

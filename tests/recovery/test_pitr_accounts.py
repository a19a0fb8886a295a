"""Point-in-time recovery survives account changes in the replay range, and stops at a position.

A backup holds no ``mysql.*`` accounts, so a ``GRANT ... TO u`` or ``ALTER USER u`` after it
fails on the restored server (ERROR 1133) and used to abort the replay after the whole restore.
The replay now finds the account statements in a first read-only pass, runs around them in
segments, and lists them (never their text: it may hold a password or its hash).

Pure parts (the parser on MariaDB 10.11 output and on MySQL's published ``mysqlbinlog`` format,
the segment planner, the commands) need no server. The real ones use a private binlog-enabled
source with a backup of ``app``; after it: rows, account statements across two binary logs,
more rows, then the bad DELETE. The runbook runs as grants.sql's on-call account.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.exceptions import ConfigError, VerificationError
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.recovery.binlog_accounts import (
    AccountChange,
    account_kind,
    scan_accounts,
    statement_accounts,
)
from maintenance_ops.recovery.pitr import (
    Segment,
    binlog_command,
    check_position_after_backup,
    files_between,
    plan_segments,
    recovery_summary,
    restore_to_point,
)
from maintenance_ops.recovery.restore import ClientEndpoint
from tests.recovery.oncall import OnCall, create_oncall, run_runbook
from tests.support.pitr_source import backed_up

SCRIPT = "restore_from_backup.py"
GOLDEN = Path(__file__).resolve().parents[1] / "contract" / "golden"
PASSWORD_WORD = "secret"
NEW_PASSWORD = f"{PASSWORD_WORD}-Zq7x-pw"
T0 = dt.datetime(2026, 12, 3, 12, 18, 35, tzinfo=dt.UTC)

# ------------------------------------------------------------------------------------------
# Pure: the parser
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "kind", "accounts"),
    [
        pytest.param("CREATE USER 'u1'@'%' IDENTIFIED BY 'secret'", "CREATE USER", ["'u1'@'%'"],
                     id="create-user"),
        pytest.param("create or replace user if not exists `u`@`h` identified via ed25519 "
                     "using PASSWORD('secret')", "CREATE USER", ["`u`@`h`"], id="create-or-replace"),
        pytest.param("ALTER USER 'u1'@'%' IDENTIFIED BY 'secret'", "ALTER USER", ["'u1'@'%'"],
                     id="alter-user"),
        pytest.param("SET PASSWORD FOR 'u1'@'%'='*FD30D7429029211F62884F5111B62E63F459F653'",
                     "SET PASSWORD", ["'u1'@'%'"], id="set-password-hash"),
        pytest.param("SET PASSWORD = PASSWORD('secret')", "SET PASSWORD",
                     ["(its own session's account)"], id="set-own-password"),
        pytest.param("GRANT SELECT, INSERT ON app.* TO 'u1'@'%', u2 IDENTIFIED BY 'secret'",
                     "GRANT", ["'u1'@'%'", "u2"], id="grant-identified"),
        pytest.param("GRANT r1 TO 'u1'@'%'", "GRANT", ["'u1'@'%'"], id="grant-role"),
        pytest.param("REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'u1' @ 'localhost'", "REVOKE",
                     ["'u1'@'localhost'"], id="revoke"),
        pytest.param("RENAME USER 'a'@'%' TO 'b'@'%'", "RENAME USER", ["'a'@'%'", "'b'@'%'"],
                     id="rename"),
        pytest.param("DROP USER IF EXISTS 'u1'@'%', u2", "DROP USER", ["'u1'@'%'", "u2"],
                     id="drop-user"),
        pytest.param("CREATE ROLE r1", "CREATE ROLE", ["r1"], id="create-role"),
        pytest.param("DROP ROLE r1", "DROP ROLE", ["r1"], id="drop-role"),
        pytest.param("SET DEFAULT ROLE r1 FOR 'u1'@'%'", "SET DEFAULT ROLE", ["'u1'@'%'"],
                     id="default-role"),
        pytest.param("CREATE USER 'u'@'%' IDENTIFIED WITH 'caching_sha2_password' AS "
                     "'$A$005$secret-hash'", "CREATE USER", ["'u'@'%'"], id="mysql-hash"),
        pytest.param("/* app */ GRANT SELECT ON t TO u", "GRANT", ["u"], id="leading-comment"),
        pytest.param("CREATE TABLE users (id INT)", None, [], id="not-accounts-create-table"),
        pytest.param("INSERT INTO grants VALUES (1)", None, [], id="not-accounts-insert"),
        pytest.param("SET @x = 'GRANT'", None, [], id="not-accounts-set"),
    ],
)  # fmt: skip
def test_account_statements_are_classified_without_their_secrets(
    statement: str, kind: str | None, accounts: list[str]
) -> None:
    assert account_kind(statement) == kind
    assert statement_accounts(statement) == accounts
    assert not any(PASSWORD_WORD in name or "FD30D" in name for name in accounts)


# mariadb-binlog 10.11 --read-from-remote-server --base64-output=decode-rows --to-last-log
# (session SET lines shortened), from a run of this test's scenario: note "# at" after the
# rotation keeps counting from the first file (1457, 1500, ...) while end_log_pos is right.
MARIADB_OUTPUT = """\
DELIMITER /*!*/;
# at 339
#261203 12:18:35 server id 1  end_log_pos 0 CRC32 0x1058222c 	Start: binlog v 4, server v 10.11.19-MariaDB-0+deb12u1-log created 261203 12:18:35
# at 339
#261203 12:18:35 server id 1  end_log_pos 381 CRC32 0x178fce58 	GTID 0-1-4 trans
/*M!100001 SET @@session.gtid_domain_id=0*//*!*/;
/*M!100001 SET @@session.gtid_seq_no=4*//*!*/;
START TRANSACTION
/*!*/;
# at 381
# at 432
#261203 12:18:35 server id 1  end_log_pos 432 CRC32 0x165ea776 	Annotate_rows:
#Q> INSERT INTO app.t VALUES (2)
#261203 12:18:35 server id 1  end_log_pos 475 CRC32 0x1fcca8d7 	Table_map: `app`.`t` mapped to number 18
# at 475
#261203 12:18:35 server id 1  end_log_pos 513 CRC32 0x477c847f 	Write_rows: table id 18 flags: STMT_END_F
# at 513
#261203 12:18:35 server id 1  end_log_pos 544 CRC32 0x58c71c28 	Xid = 31
COMMIT/*!*/;
# at 544
#261203 12:18:35 server id 1  end_log_pos 584 CRC32 0x67cb1e49 	Binlog checkpoint binlog.000002
# at 584
#261203 12:18:35 server id 1  end_log_pos 626 CRC32 0xe7ad9e0c 	GTID 0-1-5 ddl
/*M!100001 SET @@session.gtid_seq_no=5*//*!*/;
# at 626
#261203 12:18:35 server id 1  end_log_pos 732 CRC32 0x7b2551a7 	Query	thread_id=11	exec_time=0	error_code=0	xid=0
SET TIMESTAMP=1796300315/*!*/;
SET @@session.pseudo_thread_id=11/*!*/;
SET @@session.sql_mode=1411383296/*!*/;
/*!\\C utf8mb4 *//*!*/;
CREATE USER 'u1'@'%' IDENTIFIED BY 'secret'
/*!*/;
# at 732
#261203 12:18:35 server id 1  end_log_pos 776 CRC32 0x48522164 	Rotate to binlog.000003  pos: 4
# at 776
# at 776
#261203 12:18:35 server id 1  end_log_pos 256 CRC32 0x1616ea91 	Start: binlog v 4, server v 10.11.19-MariaDB-0+deb12u1-log created 261203 12:18:35
# at 776
#261203 12:18:35 server id 1  end_log_pos 299 CRC32 0x548118bb 	Gtid list [0-1-5]
# at 819
#261203 12:18:35 server id 1  end_log_pos 339 CRC32 0x299d4f5e 	Binlog checkpoint binlog.000003
# at 859
#261203 12:18:35 server id 1  end_log_pos 381 CRC32 0xcc4a56a3 	GTID 0-1-6 ddl
/*M!100001 SET @@session.gtid_seq_no=6*//*!*/;
# at 901
#261203 12:18:35 server id 1  end_log_pos 493 CRC32 0x844823ec 	Query	thread_id=12	exec_time=0	error_code=0	xid=0
SET TIMESTAMP=1796300315/*!*/;
SET PASSWORD FOR 'u1'@'%'='*FD30D7429029211F62884F5111B62E63F459F653'
/*!*/;
# at 1013
#261203 12:18:35 server id 1  end_log_pos 535 CRC32 0x6d77c532 	GTID 0-1-7 ddl
/*M!100001 SET @@session.gtid_seq_no=7*//*!*/;
# at 1055
#261203 12:18:35 server id 1  end_log_pos 650 CRC32 0x7b2551a8 	Query	thread_id=11	exec_time=0	error_code=0	xid=0
SET TIMESTAMP=1796300315/*!*/;
use `app`/*!*/;
CREATE TABLE users (
  id INT PRIMARY KEY, grants INT)
/*!*/;
DELIMITER ;
# End of log file
"""  # noqa: E501


def test_mariadb_output_gives_groups_by_end_positions_across_a_rotation() -> None:
    scan = scan_accounts(MARIADB_OUTPUT.splitlines(keepends=True), "binlog.000002")
    assert scan.files == ["binlog.000002", "binlog.000003"]
    assert [(c.kind, c.accounts, c.file, c.start, c.end, c.gtid) for c in scan.found] == [
        ("CREATE USER", ["'u1'@'%'"], "binlog.000002", 584, 732, "0-1-5"),
        ("SET PASSWORD", ["'u1'@'%'"], "binlog.000003", 339, 493, "0-1-6"),
    ]
    assert scan.found[0].at == T0
    dumped = json.dumps([c.to_dict() for c in scan.found]) + "".join(c.line() for c in scan.found)
    assert PASSWORD_WORD not in dumped and "FD30D" not in dumped


def _golden(name: str) -> list[str]:
    text = (GOLDEN / name).read_text()
    return text.split("\n\n", 1)[1].splitlines(keepends=True)  # the header ends at a blank line


def test_mysql_published_output_has_no_account_statements() -> None:
    for name in (
        "mysql-8.0_mysqlbinlog_gtid_events.txt",
        "mysql-8.0_mysqlbinlog_anonymous_events.txt",
    ):
        assert scan_accounts(_golden(name), "binlog.000017").found == []


def test_mysql_gtid_next_groups() -> None:
    """MySQL's GTID is on the SET @@SESSION.GTID_NEXT line after its event's header."""
    lines = [
        line.replace("CREATE TABLE app.u (id INT PRIMARY KEY)",
                     "CREATE USER 'u'@'%' IDENTIFIED WITH 'caching_sha2_password' AS "
                     "'$A$005$secret'")
        for line in _golden("mysql-8.0_mysqlbinlog_gtid_events.txt")
    ]  # fmt: skip
    scan = scan_accounts(lines, "binlog.000017")
    assert [(c.kind, c.accounts, c.file, c.start, c.end, c.gtid) for c in scan.found] == [
        ("CREATE USER", ["'u'@'%'"], "binlog.000017", 521, 711,
         "e21c02f3-5d10-11f1-bb22-080027adf695:45"),
    ]  # fmt: skip
    assert scan.files == ["binlog.000017", "binlog.000018"]
    anonymous = [
        line.replace("DROP DATABASE flarum_hnxc", "GRANT SELECT ON *.* TO 'ro'@'%'")
        for line in _golden("mysql-8.0_mysqlbinlog_anonymous_events.txt")
    ]
    found = scan_accounts(anonymous, "binlog.000001").found
    assert [(c.kind, c.start, c.end, c.gtid) for c in found] == [("GRANT", 817941, 818143, None)]


# ------------------------------------------------------------------------------------------
# Pure: segments and commands
# ------------------------------------------------------------------------------------------

FILES = ("binlog.000002", "binlog.000003", "binlog.000004")


def _skip(file: str, start: int, end: int) -> AccountChange:
    return AccountChange("GRANT", ["u"], file, start, end, T0)


@pytest.mark.parametrize(
    ("skips", "stop", "expected"),
    [
        pytest.param([], None, [Segment(("binlog.000002",), 339)], id="nothing-skipped"),
        pytest.param(
            [_skip("binlog.000002", 584, 732), _skip("binlog.000003", 339, 493)], None,
            [Segment(("binlog.000002",), 339, 584),
             Segment(("binlog.000002", "binlog.000003"), 732, 339),
             Segment(("binlog.000003",), 493)],
            id="across-a-rotation",
        ),
        pytest.param(
            [_skip("binlog.000002", 339, 400), _skip("binlog.000002", 400, 500)], None,
            [Segment(("binlog.000002",), 500)], id="adjacent-at-the-start",
        ),
        pytest.param(
            [_skip("binlog.000002", 584, 732)], 900,
            [Segment(("binlog.000002",), 339, 584), Segment(FILES, 732, 900)],
            id="stop-position-in-a-later-file",
        ),
        pytest.param(
            [_skip("binlog.000004", 600, 900)], 600,
            [Segment(FILES, 339, 600)], id="skip-right-at-the-stop",
        ),
    ],
)  # fmt: skip
def test_segments_step_around_the_skipped_groups(
    skips: list[AccountChange], stop: int | None, expected: list[Segment]
) -> None:
    assert plan_segments("binlog.000002", 339, skips, FILES, stop) == expected


def test_files_between_names_a_purged_log() -> None:
    assert files_between(FILES, "binlog.000003", "binlog.000004") == FILES[1:]
    with pytest.raises(VerificationError, match=r"binlog\.000009 is not on the binlog source"):
        files_between(FILES, "binlog.000002", "binlog.000009")


def test_segment_command_names_the_files_and_stops_at_a_position() -> None:
    source = ClientEndpoint(host="db", password="pw")
    command = binlog_command(
        7, source, "binlog.000002", 732, None, more_files=["binlog.000003"], stop_position=339
    )
    assert command[-4:] == [
        "--start-position=732", "--stop-position=339", "binlog.000002", "binlog.000003",
    ]  # fmt: skip
    assert "--to-last-log" not in command and not any("--stop-datetime" in a for a in command)
    with pytest.raises(ConfigError, match="binary log file"):
        binlog_command(7, source, "--exec=x", 4, None, stop_position=5)


@pytest.mark.parametrize(
    ("stop", "message"),
    [
        pytest.param(("binlog.000002", 400), None, id="after"),
        pytest.param(("binlog.000003", 4), None, id="later-file"),
        pytest.param(("binlog.000002", 100), "before this backup's coordinates", id="before"),
        pytest.param(("binlog.000001", 900), "before this backup's coordinates", id="older-file"),
        pytest.param(("mysql-bin.000009", 4), "not in this server's binary logs", id="other-base"),
    ],
)
def test_stop_position_must_follow_the_backup(stop: tuple[str, int], message: str | None) -> None:
    coordinates = {"file": "binlog.000002", "position": 339}
    if message is None:
        check_position_after_backup(coordinates, stop)
    else:
        with pytest.raises(ConfigError, match=message):
            check_position_after_backup(coordinates, stop)


# ------------------------------------------------------------------------------------------
# Real: a source with account changes after its backup
# ------------------------------------------------------------------------------------------


@dataclass
class AccountSource:
    """The source, its backup, what happened after it, and the on-call account on it."""

    source: MySQLInstance
    backup: Path
    client: ClientEndpoint
    point: dt.datetime  # after the last good row, before the DELETE
    oncall: OnCall
    hash: str  # the stored hash of NEW_PASSWORD: must not show either


ACCOUNT_STATEMENTS = [
    ("GRANT SELECT ON app.* TO 'legacy'@'%'", "GRANT"),  # made before the backup: ERROR 1133
    ("CREATE USER 'app_ro'@'%' IDENTIFIED BY 'first-pw'", "CREATE USER"),
    ("GRANT SELECT ON app.* TO 'app_ro'@'%'", "GRANT"),
    ("FLUSH BINARY LOGS", None),  # the next ones in a later binary log
    (f"ALTER USER 'app_ro'@'%' IDENTIFIED BY '{NEW_PASSWORD}'", "ALTER USER"),
    (f"GRANT INSERT ON app.* TO 'app_rw'@'%' IDENTIFIED BY '{NEW_PASSWORD}'", "GRANT"),
    (f"SET PASSWORD FOR 'app_rw'@'%' = PASSWORD('{NEW_PASSWORD}')", "SET PASSWORD"),
    ("CREATE ROLE app_reader", "CREATE ROLE"),
    ("GRANT app_reader TO 'app_ro'@'%'", "GRANT"),
    ("REVOKE INSERT ON app.* FROM 'app_rw'@'%'", "REVOKE"),
    ("RENAME USER 'app_rw'@'%' TO 'app_writer'@'%'", "RENAME USER"),
    ("DROP USER 'app_writer'@'%'", "DROP USER"),
]
SKIPPED_KINDS = [kind for _, kind in ACCOUNT_STATEMENTS if kind]


@pytest.fixture(scope="module")
def accounts_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccountSource]:
    base = tmp_path_factory.mktemp("pitr-accounts")
    with MySQLInstance(InstanceSpec(binlog=True), base_dir=base / "srv") as source:
        source.execute("CREATE DATABASE app")
        source.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB")
        source.execute("INSERT INTO app.t VALUES (1, 'x'), (2, 'y')")
        source.execute("CREATE USER 'legacy'@'%'")  # in the source's accounts, not the backup
        account, _, backup = backed_up(source, base, "mmc_test_pitr_accounts", "primary")
        source.execute("INSERT INTO app.t VALUES (3, 'before')")
        for statement, _ in ACCOUNT_STATEMENTS:
            source.execute(statement)
        source.execute("INSERT INTO app.t VALUES (4, 'after'), (5, 'after')")
        source.execute("UPDATE app.t SET v = 'changed' WHERE id = 2")
        time.sleep(1.2)
        point = dt.datetime.now(dt.UTC)
        time.sleep(1.2)
        source.execute("DELETE FROM app.t WHERE id < 5")  # the damage
        source.execute("INSERT INTO app.t VALUES (6, 'late')")
        hashed = str(source.execute(f"SELECT PASSWORD('{NEW_PASSWORD}')")[0][0])
        client = ClientEndpoint(
            host=account.host, port=account.port, user=account.user, password=account.password
        )
        oncall = create_oncall(source.execute, source.port)  # after the damage: not replayed
        yield AccountSource(source, Path(backup.path.path), client, point, oncall, hashed)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[MySQLInstance]:
    with MySQLInstance(base_dir=tmp_path / "target") as inst:
        yield inst


RECOVERED = [(1, "x"), (2, "changed"), (3, "before"), (4, "after"), (5, "after")]


def _rows(target: MySQLInstance) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in target.execute("SELECT id, v FROM app.t ORDER BY id")]


def _no_secret(text: str, src: AccountSource) -> None:
    assert PASSWORD_WORD not in text and "first-pw" not in text
    assert src.hash not in text and src.hash.lstrip("*") not in text


def test_restore_to_point_skips_and_lists_the_account_statements(
    accounts_source: AccountSource, target: MySQLInstance, caplog: pytest.LogCaptureFixture
) -> None:
    src = accounts_source
    caplog.set_level(logging.DEBUG)
    result = restore_to_point(
        src.backup, target=target, binlog_source=src.client, stop_at=src.point
    )
    assert _rows(target) == RECOVERED  # every later row, the DELETE not applied
    assert [c.kind for c in result.skipped] == SKIPPED_KINDS
    assert result.skipped[1].accounts == ["'app_ro'@'%'"]
    # Before the first GRANT; from CREATE USER's GRANT to ALTER USER, across a rotation; after
    # DROP USER (the groups between are adjacent: no empty run). A Binlog checkpoint event the
    # server writes some time after the rotation may land between two of them: one more run.
    assert result.replay is not None and result.replay.segments in (3, 4)
    assert len({c.file for c in result.skipped}) == 2
    users = target.execute("SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'app\\_%'")
    assert users[0][0] == 0  # nothing of the accounts reached the target
    summary = "\n".join(recovery_summary(result))
    assert f"{len(SKIPPED_KINDS)} account statements skipped" in summary
    assert "recreate these accounts by hand" in summary and "ALTER USER 'app_ro'@'%' at" in summary
    _no_secret(summary + json.dumps(result.to_dict()) + caplog.text, src)


def test_segments_with_the_gtids_dropped(accounts_source: AccountSource, tmp_path: Path) -> None:
    """Each segment's GTID lines go through the filter: the logging target numbers them all."""
    src = accounts_source
    spec = InstanceSpec(binlog=True, gtid_strict=True, server_id=2)
    with MySQLInstance(spec, base_dir=tmp_path / "logging") as target:
        result = restore_to_point(
            src.backup, target=target, binlog_source=src.client, stop_at=src.point,
            keep_gtids=False,
        )  # fmt: skip
        assert _rows(target) == RECOVERED
        assert result.replay is not None and result.replay.segments in (3, 4)
        assert result.replay.keep_gtids is False
        positions = str(target.execute("SELECT @@gtid_binlog_pos")[0][0])
        assert positions.startswith("0-2-") and "0-1-" not in positions


def test_without_skipping_the_replay_fails_on_the_missing_account(
    accounts_source: AccountSource, target: MySQLInstance
) -> None:
    """What the skipping prevents (issue 15): the GRANT to an account made before the backup."""
    src = accounts_source
    with pytest.raises(VerificationError, match="1133"):
        restore_to_point(
            src.backup, target=target, binlog_source=src.client, stop_at=src.point,
            skip_accounts=False,
        )  # fmt: skip


def test_stop_position_from_find_stops_exactly_there(
    accounts_source: AccountSource, target: MySQLInstance
) -> None:
    """The runbook as on call: find the DELETE, restore to its position, rows before it kept."""
    src, oncall = accounts_source, accounts_source.oncall
    since = f"{src.point - dt.timedelta(minutes=5):%Y-%m-%d %H:%M:%S}"
    found = run_runbook(
        SCRIPT, "find", "--binlog-source", oncall.url(), "--table", "app.t", "--since", since,
        account=oncall,
    )  # fmt: skip
    assert found.returncode == 0, found.stdout + found.stderr
    delete = re.search(
        r"DELETE 4 rows: DELETE FROM app\.t WHERE id < 5\n.*\n\s+exactly before it: "
        r"--stop-position (\S+)\n", found.stdout,
    )  # fmt: skip
    assert delete, found.stdout
    done = run_runbook(
        SCRIPT, "--backup", str(src.backup), "--target", f"mysql://root@127.0.0.1:{target.port}",
        "--stop-position", delete[1], "--binlog-source", oncall.url(),
        account=oncall, env={"MMC_RUNBOOK_PASSWORD_TARGET": target.password}, timeout=240,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert _rows(target) == RECOVERED  # the UPDATE just before it applied, the DELETE not
    assert f"{len(SKIPPED_KINDS)} account statements skipped" in done.stdout
    assert f"requested point: before {delete[1]}" in done.stdout
    _no_secret(out + found.stdout, src)


def test_stop_position_at_an_insert_leaves_that_row_out(
    accounts_source: AccountSource, target: MySQLInstance
) -> None:
    src = accounts_source
    last = str(src.source.execute("SHOW BINARY LOGS")[-1][0])
    # The INSERT of rows 4 and 5 is in the last binary log: stop at its GTID event.
    listed = src.source.execute(f"SHOW BINLOG EVENTS IN '{last}'")
    gtids = [int(row[1]) for row in listed if row[2] == "Gtid"]
    inserts = [i for i, row in enumerate(listed) if "VALUES (4, 'after')" in str(row[5])]
    assert inserts, listed
    stop = max(p for p in gtids if p < int(listed[inserts[0]][1]))
    result = restore_to_point(
        src.backup, target=target, binlog_source=src.client, stop_position=(last, stop)
    )
    assert _rows(target) == [(1, "x"), (2, "y"), (3, "before")]
    assert [c.kind for c in result.skipped] == SKIPPED_KINDS
    assert result.stop_at == f"before {last}:{stop}"


def test_bad_stop_positions_are_refused(accounts_source: AccountSource, tmp_path: Path) -> None:
    src = accounts_source
    done = run_runbook(
        SCRIPT, "--backup", str(src.backup), "--ephemeral",
        "--stop-position", "binlog.000001:4", "--until", "2026-01-01 00:00:00",
    )  # fmt: skip
    assert done.returncode == 2 and "either --until or --stop-position" in done.stderr
    done = run_runbook(SCRIPT, "--backup", "/x", "--ephemeral", "--stop-position", "binlog:12")
    assert done.returncode == 2 and "is not a binary log position: use FILE:POS" in done.stderr
    with MySQLInstance(base_dir=tmp_path / "target") as target:
        with pytest.raises(ConfigError, match="before this backup's coordinates"):
            restore_to_point(
                src.backup, target=target, binlog_source=src.client,
                stop_position=("binlog.000001", 4),
            )  # fmt: skip
        assert "app" not in {str(r[0]) for r in target.execute("SHOW DATABASES")}

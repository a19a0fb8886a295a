"""Point-in-time recovery: pure decisions, and a real restore-then-replay between two markers."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.exceptions import ConfigError, SafetyAbort, VerificationError
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.recovery.pitr import (
    HeaderScan,
    binlog_command,
    check_stop_after_backup,
    marker_present,
    replay_binlogs,
    restore_to_point,
    stop_datetime_arg,
    write_marker,
)
from maintenance_ops.recovery.restore import ClientEndpoint, mariadb_command
from tests.support.pitr_source import MarkedSource, marked_source

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))
SECRET = "S3cret-pitr-pw"

# ------------------------------------------------------------------------------------------
# Pure
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        pytest.param(
            dt.datetime(2026, 5, 1, 12, 0, 0, 999999), "2026-05-01 12:00:00", id="truncated"
        ),
        pytest.param(
            dt.datetime(2026, 5, 1, 14, 30, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2026-05-01 12:30:05",
            id="aware-to-utc",
        ),
    ],
)
def test_stop_datetime_is_utc_whole_seconds(stop: dt.datetime, expected: str) -> None:
    assert stop_datetime_arg(stop) == expected


def test_commands_carry_address_but_never_the_password() -> None:
    source = ClientEndpoint(host="10.0.0.5", port=3307, user="repl", password=SECRET)
    command = binlog_command(7, source, "bin.000003", 1234, dt.datetime(2026, 1, 1, 3, 4, 5))
    assert command[:2] == ["mariadb-binlog", "--defaults-file=/dev/fd/7"]
    assert {"--host=10.0.0.5", "--port=3307", "--user=repl", "--read-from-remote-server"} <= set(
        command
    )
    assert "--start-position=1234" in command and command[-1] == "bin.000003"
    assert "--stop-datetime=2026-01-01 03:04:05" in command
    target = ClientEndpoint(host="10.0.0.9", port=3306, user="root", password=SECRET)
    client = mariadb_command(8, target)
    assert client[:2] == ["mariadb", "--defaults-file=/dev/fd/8"] and "--binary-mode" in client
    assert {"--host=10.0.0.9", "--port=3306", "--user=root"} <= set(client)
    assert all(SECRET not in arg for arg in [*command, *client])
    assert SECRET.encode() in source.option_file()


HEADERS = """\
#261129  0:51:45 server id 1  end_log_pos 256 CRC32 0xaaa6005f \tStart: binlog v 4
#261129  0:51:46 server id 1  end_log_pos 876 CRC32 0xf438deb7 \tGTID 0-1-4 trans
#261129  0:51:46 server id 1  end_log_pos 977 CRC32 0x193a6aa8 \tTable_map: `app`.`t` mapped to number 18
#261129  0:51:46 server id 1  end_log_pos 1048 CRC32 0xb709e1a9 \tXid = 65
#261129  0:51:46 server id 1  end_log_pos 1092 CRC32 0xe86e266b \tRotate to binlog.000002  pos: 4
#700101  0:00:00 server id 1  end_log_pos 0 CRC32 0xf7c38353 \tRotate to binlog.000002  pos: 4
#261129  0:51:47 server id 1  end_log_pos 421 CRC32 0x65663b13 \tGTID 0-1-5 ddl
#261129  0:51:48 server id 1  end_log_pos 500 CRC32 0x00a6917d \tQuery\tthread_id=6\texec_time=0
"""


def test_header_scan_counts_transactions_and_follows_rotations() -> None:
    scan = HeaderScan("binlog.000001")
    for line in HEADERS.splitlines():
        scan.feed(line)
    assert scan.transactions == 2
    assert scan.last_gtid == "0-1-5"
    assert scan.last_event_at == dt.datetime(2026, 11, 29, 0, 51, 48, tzinfo=UTC)
    assert (scan.file, scan.position) == ("binlog.000002", 500)


MARIADB = Dialect(parse_version("10.11.19-MariaDB"))
MYSQL = Dialect(parse_version("8.0.36"))
UUID_SET = "e21c02f3-5d10-11f1-bb22-080027adf695:1-44"


@pytest.mark.parametrize(
    ("dialect", "backup_gtid", "state", "conflict"),
    [
        pytest.param(
            MARIADB,
            "0-1-5",
            {"log_bin": "ON", "gtid_strict_mode": "ON", "gtid_binlog_pos": "0-2-11"},
            "1950",
            id="strict-target-ahead",
        ),
        pytest.param(
            MARIADB,
            "0-1-50",
            {"log_bin": "ON", "gtid_strict_mode": "ON", "gtid_binlog_pos": "0-2-11"},
            None,
            id="strict-target-behind",
        ),
        pytest.param(
            MARIADB,
            "0-1-5",
            {"log_bin": "ON", "gtid_strict_mode": "OFF", "gtid_binlog_pos": "0-2-11"},
            None,
            id="not-strict",
        ),
        pytest.param(
            MARIADB,
            "0-1-5",
            {"log_bin": "OFF", "gtid_strict_mode": "ON", "gtid_binlog_pos": "0-2-11"},
            None,
            id="no-binlog-on-target",
        ),
        pytest.param(
            MARIADB,
            "0-1-5",
            {"log_bin": "ON", "gtid_strict_mode": "ON", "gtid_binlog_pos": ""},
            None,
            id="empty-target-binlog",
        ),
        pytest.param(
            MARIADB,
            "0-1-5",
            {"log_bin": "ON", "gtid_strict_mode": "ON", "gtid_binlog_pos": "1-2-99"},
            None,
            id="other-domain",
        ),
        pytest.param(
            MYSQL, UUID_SET, {"gtid_mode": "OFF"}, "1781", id="mysql-gtids-into-gtid-mode-off"
        ),
        pytest.param(
            MYSQL, UUID_SET, {"gtid_mode": "ON"}, None, id="mysql-gtids-into-gtid-mode-on"
        ),
        pytest.param(
            MYSQL, UUID_SET, {"gtid_mode": "OFF_PERMISSIVE"}, None, id="mysql-gtids-permissive"
        ),
        pytest.param(
            MYSQL, "", {"gtid_mode": "ON"}, "1782", id="mysql-anonymous-into-gtid-mode-on"
        ),
        pytest.param(MYSQL, None, {"gtid_mode": "OFF"}, None, id="mysql-anonymous-into-off"),
        pytest.param(
            MYSQL, None, {"gtid_mode": "ON_PERMISSIVE"}, None, id="mysql-anonymous-permissive"
        ),
    ],
)
def test_gtid_conflict_per_flavor(
    dialect: Dialect, backup_gtid: str | None, state: dict[str, str], conflict: str | None
) -> None:
    reason = dialect.replay_gtid_conflict(state, backup_gtid)
    assert (reason is None) is (conflict is None)
    if conflict is not None:
        assert conflict in str(reason)


def test_gtids_are_dropped_the_flavors_way() -> None:
    """mysqlbinlog has --skip-gtids; mariadb-binlog's GTID lines go through a grep -v."""
    assert MYSQL.replay_skip_gtids_args == ["--skip-gtids"] and MYSQL.replay_gtid_filter() is None
    assert MARIADB.replay_skip_gtids_args == []
    assert MARIADB.replay_gtid_filter()[:5] == ["grep", "-a", "-v", "-x", "-E"]  # type: ignore[index]
    command = binlog_command(
        7,
        ClientEndpoint(host="db"),
        "binlog.000003",
        4,
        dt.datetime(2026, 1, 1),
        "mysqlbinlog",
        MYSQL.replay_skip_gtids_args,
    )
    assert command[0] == "mysqlbinlog" and command[-2:] == ["--skip-gtids", "binlog.000003"]


@pytest.mark.parametrize(
    ("stop", "refused"),
    [
        pytest.param(dt.datetime(2026, 5, 1, 1, 59, 59), True, id="before-start"),
        pytest.param(dt.datetime(2026, 5, 1, 2, 0, 30), True, id="during-backup"),
        pytest.param(dt.datetime(2026, 5, 1, 2, 1, 0), False, id="at-end"),
        pytest.param(dt.datetime(2026, 5, 1, 4, 1, 0, tzinfo=PLUS2), False, id="aware-at-end"),
        pytest.param(dt.datetime(2026, 5, 1, 3, 59, 0, tzinfo=PLUS2), True, id="aware-before"),
    ],
)
def test_stop_before_backup_end_is_refused(stop: dt.datetime, refused: bool) -> None:
    manifest = {"started_at": "2026-05-01T02:00:00+00:00", "ended_at": "2026-05-01T02:01:00+00:00"}
    if refused:
        with pytest.raises(ConfigError, match="older backup"):
            check_stop_after_backup(manifest, stop)
    else:
        check_stop_after_backup(manifest, stop)


# ------------------------------------------------------------------------------------------
# Real: a binlog source, a backup, markers around a point in time
# ------------------------------------------------------------------------------------------

SOURCE_CONN_ID = "mmc_test_pitr_source"


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MarkedSource]:
    with marked_source(
        tmp_path_factory.mktemp("pitr"), conn_id=SOURCE_CONN_ID, database_name="pitr"
    ) as source:
        yield source


def _rows(inst: MySQLInstance, sql: str) -> list[tuple[Any, ...]]:
    return inst.execute(sql)


def test_markers_on_the_source(drill: MarkedSource) -> None:
    import MySQLdb.cursors

    conn = drill.source.connect(cursorclass=MySQLdb.cursors.DictCursor)  # as some hooks return
    try:
        assert marker_present(conn, "app", "before") and marker_present(conn, "app", "after")
        assert not marker_present(conn, "app", "never-written")
        assert not marker_present(conn, "_maintenance", "before")  # no dr_markers table there
    finally:
        conn.close()
    assert drill.before_at < drill.point < drill.after_at


def test_restore_to_point_stops_between_the_markers(
    drill: MarkedSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert drill.manifest["binlog"]["file"] and drill.manifest["binlog"]["gtid"]
    # mariadb-binlog reads --stop-datetime in its local zone: the replay must pin it to UTC.
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    with MySQLInstance(base_dir=tmp_path / "target") as target:
        result = restore_to_point(
            drill.backup, target=target, binlog_source=drill.client, stop_at=drill.point
        )
        conn = target.connect()
        try:
            assert marker_present(conn, "app", "before")
            assert not marker_present(conn, "app", "after")
        finally:
            conn.close()
        # Row 3 came from the binlog, row 1's delete came after the point.
        assert _rows(target, "SELECT id FROM app.t ORDER BY id") == [(1,), (2,), (3,)]
    assert result.recovery_point is not None
    achieved = dt.datetime.fromisoformat(result.recovery_point)
    assert drill.before_at.replace(microsecond=0) <= achieved <= drill.point
    assert result.replay is not None and result.replay.transactions >= 3  # insert, DDL, marker
    assert result.replay.keep_gtids is True and result.notes == []
    assert 0 < result.restore_s < result.total_s and result.replay_s > 0
    assert result.tool == "mariadb-dump"
    json.dumps(result.to_dict())


def test_strict_gtid_target_gets_its_own_gtids(drill: MarkedSource, tmp_path: Path) -> None:
    """The restore's own GTIDs put a strict target ahead of the source (error 1950 if kept)."""
    spec = InstanceSpec(binlog=True, gtid_strict=True, server_id=2)
    with MySQLInstance(spec, base_dir=tmp_path / "strict") as target:
        for n in range(20):  # make sure the target's sequence is ahead of the source's
            target.execute(f"CREATE DATABASE scratch_{n}")
        with pytest.raises(SafetyAbort, match="gtid_strict_mode"):
            restore_to_point(
                drill.backup,
                target=target,
                binlog_source=drill.client,
                stop_at=drill.point,
                keep_gtids=True,
            )
        result = restore_to_point(
            drill.backup, target=target, binlog_source=drill.client, stop_at=drill.point
        )
        conn = target.connect()
        try:
            assert marker_present(conn, "app", "before")
            assert not marker_present(conn, "app", "after")
        finally:
            conn.close()
        # The replay went into the target's binary log under the target's own numbering.
        assert str(target.execute("SELECT @@gtid_binlog_pos")[0][0]).startswith("0-2-")
        logged = target.execute("SHOW BINLOG EVENTS")
        assert any("dr_markers" in str(row[-1]) for row in logged)
    assert result.replay is not None and result.replay.keep_gtids is False
    assert result.notes and "GTIDs dropped" in result.notes[0]


def test_replay_onto_the_source_is_refused(drill: MarkedSource) -> None:
    coords = drill.manifest["binlog"]
    with pytest.raises(SafetyAbort, match="never write to the source"):
        replay_binlogs(
            drill.client,
            ClientEndpoint(host="localhost", port=drill.source.port),
            coords["file"],
            coords["position"],
            drill.point,
        )


def test_replay_from_a_missing_binlog_fails_with_the_tool_error(
    drill: MarkedSource, tmp_path: Path
) -> None:
    with MySQLInstance(base_dir=tmp_path / "target") as target:
        client = ClientEndpoint(socket=target.socket, port=target.port)
        with pytest.raises(
            VerificationError,
            match=r"binlog\.999999:4 failed: mariadb-binlog exited.*Could not find first log",
        ):
            replay_binlogs(drill.client, client, "binlog.999999", 4, drill.point)


def test_mariabackup_backup_is_refused_clearly(drill: MarkedSource, tmp_path: Path) -> None:
    backup = tmp_path / "20260101T000000Z-mariabackup"
    (backup / "mariabackup").mkdir(parents=True)
    manifest = {**drill.manifest, "tool": "mariabackup"}
    (backup / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="not supported"):
        restore_to_point(
            backup,
            target=ClientEndpoint(host="127.0.0.1", port=1),
            binlog_source=drill.client,
            stop_at=drill.point,
        )


def test_mydumper_backup_rolls_forward_too(drill: MarkedSource, tmp_path: Path) -> None:
    from maintenance_ops.core.config import BackupSettings, MaintenanceSettings
    from maintenance_ops.core.session import MaintenanceSession
    from maintenance_ops.recovery.backup import take_backup

    settings = BackupSettings(enabled=True, location=(tmp_path / "b").as_uri(), tool="mydumper")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"AIRFLOW_CONN_{SOURCE_CONN_ID.upper()}", drill.account.conn_json())
        with MaintenanceSession(SOURCE_CONN_ID, MaintenanceSettings()) as session:
            backup = take_backup(
                session,
                conn_id=SOURCE_CONN_ID,
                database_name="pitr",
                schemas=["app"],
                history_schema="_maintenance",
                settings=settings,
            )
    assert backup.manifest["binlog"]["file"]
    conn = drill.source.connect()
    conn.autocommit(True)
    try:
        write_marker(conn, "app", "mydumper-before")
        time.sleep(1.2)
        point = dt.datetime.now(UTC)
        time.sleep(1.2)
        write_marker(conn, "app", "mydumper-after")
    finally:
        conn.close()
    with MySQLInstance(base_dir=tmp_path / "target") as target:
        result = restore_to_point(
            Path(backup.path.path), target=target, binlog_source=drill.client, stop_at=point
        )
        conn = target.connect()
        try:
            assert marker_present(conn, "app", "before")  # in the backup itself
            assert marker_present(conn, "app", "mydumper-before")
            assert not marker_present(conn, "app", "mydumper-after")
        finally:
            conn.close()
    assert result.tool == "mydumper" and result.replay is not None
    assert result.replay.transactions >= 1


def test_missing_binlog_tool_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no-such-binlog-tool is not installed"):
        replay_binlogs(
            ClientEndpoint(host="192.0.2.1"),
            ClientEndpoint(host="192.0.2.2"),
            "binlog.000001",
            4,
            dt.datetime(2026, 1, 1),
            binlog_tool="no-such-binlog-tool",
        )


def test_mysql_backup_is_refused_without_a_mysql_server(
    drill: MarkedSource, tmp_path: Path
) -> None:
    """A MySQL backup is not loaded into the MariaDB drill server, nor replayed with MariaDB's tool."""
    backup = tmp_path / "20260101T000000Z-mysqldump"
    backup.mkdir()
    manifest = {
        **drill.manifest,
        "tool": "mysqldump",
        "server": {"flavor": "mysql", "version": "8.4.3"},
    }
    (backup / "manifest.json").write_text(json.dumps(manifest))
    with MySQLInstance(base_dir=tmp_path / "target") as target:
        with pytest.raises(
            ConfigError, match=r"onto .* a mariadb server.*install MySQL Server 8\.4"
        ):
            restore_to_point(backup, target=target, binlog_source=drill.client, stop_at=drill.point)
        assert not target.execute("SHOW DATABASES LIKE 'app'")  # nothing was written

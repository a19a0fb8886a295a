"""Binary log availability: pure gap and retention decisions, and a real purged binlog."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.recovery.binlogs import (
    BinlogFile,
    BinlogState,
    binlog_availability,
    binlog_enabled_check,
    binlog_gap_check,
    check_binlog_availability,
    missing_binlogs,
    parse_binlog_name,
    read_binlog_state,
    retention_check,
    retention_seconds,
)
from tests.support.accounts import Account, create_account

HOUR = 3600.0


def _state(*names: str, size: int = 1000) -> BinlogState:
    return BinlogState(True, tuple(BinlogFile(n, size) for n in names))


# ------------------------------------------------------------------------------------------
# Pure
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("mysql-bin.000042", ("mysql-bin", 42), id="mysql-bin"),
        pytest.param(
            "host.example-bin.1000000", ("host.example-bin", 1000000), id="dotted-7-digits"
        ),
    ],
)
def test_parse_binlog_name(name: str, expected: tuple[str, int]) -> None:
    assert parse_binlog_name(name) == expected


def test_parse_binlog_name_rejects_other_names() -> None:
    with pytest.raises(ValueError, match="not a binary log name"):
        parse_binlog_name("binlog.index")


@pytest.mark.parametrize(
    ("backup_file", "server", "missing"),
    [
        pytest.param("b.000002", ["b.000002", "b.000003"], [], id="complete"),
        pytest.param("b.000003", ["b.000003"], [], id="backup-in-current-file"),
        pytest.param("b.000002", ["b.000003", "b.000004"], ["b.000002"], id="backup-file-purged"),
        pytest.param(
            "b.000001", ["b.000004"], ["b.000001", "b.000002", "b.000003"], id="several-purged"
        ),
        pytest.param("b.000002", ["b.000002", "b.000004"], ["b.000003"], id="hole-in-middle"),
        pytest.param(
            "b.000002", ["b.000002", "other.000003", "b.000003"], [], id="other-base-ignored"
        ),
    ],
)
def test_missing_binlogs(backup_file: str, server: list[str], missing: list[str]) -> None:
    assert missing_binlogs(backup_file, server) == missing


@pytest.mark.parametrize(
    ("coordinates", "state", "status", "words"),
    [
        pytest.param(
            {"file": "mysql-bin.000002", "position": 400},
            _state("mysql-bin.000002", "mysql-bin.000003"),
            "pass",
            ["2 binlog(s)", "mysql-bin.000002:400", "mysql-bin.000003"],
            id="chain-complete",
        ),
        pytest.param(
            {"file": "mysql-bin.000002", "position": 400},
            _state("mysql-bin.000003", "mysql-bin.000004"),
            "fail",
            [
                "binlog mysql-bin.000002 needed",
                "gone (purged)",
                "mysql-bin.000003, mysql-bin.000004",
            ],
            id="backup-file-purged",
        ),
        pytest.param(
            {"file": "mysql-bin.000002", "position": 400},
            _state("mysql-bin.000002", "mysql-bin.000004"),
            "fail",
            ["mysql-bin.000003"],
            id="hole-in-middle",
        ),
        pytest.param(
            {"file": "mysql-bin.000009", "position": 400},
            _state("mysql-bin.000001", "mysql-bin.000002"),
            "fail",
            ["RESET MASTER"],
            id="binlogs-reset",
        ),
        pytest.param(
            {"file": "mysql-bin.000001", "position": 5000},
            _state("mysql-bin.000001", "mysql-bin.000002", size=1000),
            "fail",
            ["beyond the file's end"],
            id="position-beyond-end",
        ),
        pytest.param(
            {"file": "mysql-bin.000002", "position": 5000},
            _state("mysql-bin.000002", size=300),
            "fail",
            ["beyond the file's end"],
            id="position-beyond-current-file",
        ),
        pytest.param(
            {"file": "old-name.000001", "position": 4},
            _state("mysql-bin.000001"),
            "fail",
            ["no old-name.* binary logs", "basename changed"],
            id="base-name-changed",
        ),
        pytest.param(
            {"file": None, "position": None, "gtid": None},
            _state("mysql-bin.000001"),
            "fail",
            ["records no binary log coordinates"],
            id="backup-without-coordinates",
        ),
        pytest.param(
            {"file": "mysql-bin.000001", "position": 4},
            BinlogState(False),
            "skipped",
            ["binary log is off"],
            id="binlog-off",
        ),
    ],
)
def test_binlog_gap_check(
    coordinates: dict[str, Any], state: BinlogState, status: str, words: list[str]
) -> None:
    check = binlog_gap_check(coordinates, state)
    assert (check.name, check.status) == ("binlog_chain", status)
    for word in words:
        assert word in check.detail


def test_long_listing_is_abbreviated() -> None:
    names = [f"b.{n:06d}" for n in range(20, 40)]
    check = binlog_gap_check({"file": "b.000001", "position": 4}, _state(*names))
    assert check.status == "fail"
    assert "(19 files)" in check.detail and "(20 files)" in check.detail


@pytest.mark.parametrize(
    ("settings", "seconds"),
    [
        pytest.param(
            {"binlog_expire_logs_seconds": "86400", "expire_logs_days": "1"}, 86400.0, id="seconds"
        ),
        pytest.param(
            {"binlog_expire_logs_seconds": "0", "expire_logs_days": "3"}, 3 * 86400.0, id="days"
        ),
        pytest.param({"expire_logs_days": "0.5"}, 43200.0, id="mariadb-fractional-days"),
        pytest.param(
            {"binlog_expire_logs_seconds": "0", "expire_logs_days": "0"}, None, id="never"
        ),
        pytest.param({}, None, id="unknown"),
    ],
)
def test_retention_seconds(settings: dict[str, str], seconds: float | None) -> None:
    assert retention_seconds(settings) == seconds


@pytest.mark.parametrize(
    ("retention_s", "status", "words"),
    [
        pytest.param(7 * 24 * HOUR, "pass", ["168.0 h", "26.0 h needed"], id="week-covers"),
        pytest.param(26 * HOUR, "pass", ["26.0 h"], id="exactly-rpo"),
        pytest.param(
            12 * HOUR,
            "fail",
            ["expire after 12.0 h", "26.0 h needed", "backup interval 24.0 h", "93600"],
            id="shorter-than-rpo",
        ),
        pytest.param(None, "pass", ["never expire"], id="never-expires"),
    ],
)
def test_retention_check(retention_s: float | None, status: str, words: list[str]) -> None:
    check = retention_check(retention_s, backup_interval_s=24 * HOUR, rpo_s=26 * HOUR)
    assert check.status == status
    for word in words:
        assert word in check.detail


def test_disabled_binlog_says_pitr_is_impossible_and_how_to_enable() -> None:
    checks = binlog_availability(
        BinlogState(False, (), {"log_bin": "OFF"}),
        {"binlog": {"file": None}},
        backup_interval_s=24 * HOUR,
        rpo_s=26 * HOUR,
        server="primary",
    )
    assert [(c.name, c.status) for c in checks] == [
        ("binlog_enabled", "fail"),
        ("binlog_chain", "skipped"),
        ("binlog_retention", "skipped"),
    ]
    assert "point-in-time recovery is impossible" in checks[0].detail
    assert "log_bin=" in checks[0].detail and "primary" in checks[0].detail


def test_no_manifest_skips_the_chain() -> None:
    checks = binlog_availability(_state("b.000001"), None, backup_interval_s=HOUR, rpo_s=HOUR)
    assert checks[1].status == "skipped" and checks[0].status == "pass"


# ------------------------------------------------------------------------------------------
# Real servers
# ------------------------------------------------------------------------------------------

CONN_ID = "mmc_test_binlogs_source"
ACCOUNT = Account("mmc_binlogs")  # the grants.sql account on binlog_server (port set per use)


@pytest.fixture(scope="module")
def binlog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MySQLInstance]:
    with MySQLInstance(
        InstanceSpec(binlog=True), base_dir=tmp_path_factory.mktemp("binlogs")
    ) as inst:
        inst.execute("CREATE DATABASE app")
        inst.execute("CREATE TABLE app.t (id INT PRIMARY KEY) ENGINE=InnoDB")
        inst.execute("INSERT INTO app.t VALUES (1)")
        create_account(inst.execute, ["app"], "_maintenance", port=inst.port, user=ACCOUNT.user)
        yield inst


def _take_backup(inst: MySQLInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from maintenance_ops.core.config import BackupSettings, MaintenanceSettings
    from maintenance_ops.core.session import MaintenanceSession
    from maintenance_ops.recovery.backup import take_backup

    account = replace(ACCOUNT, port=inst.port)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", account.conn_json())
    settings = BackupSettings(enabled=True, location=(tmp_path / "backups").as_uri())
    with MaintenanceSession(CONN_ID, MaintenanceSettings()) as session:
        return take_backup(
            session,
            conn_id=CONN_ID,
            database_name="binlogs",
            schemas=["app"],
            history_schema="_maintenance",
            settings=settings,
        )


def _checks(inst: MySQLInstance, manifest: dict[str, Any]) -> dict[str, Any]:
    conn = inst.connect(tcp=True, user=ACCOUNT.user, password=ACCOUNT.password)  # as the drill
    try:
        checks = check_binlog_availability(
            conn, manifest, backup_interval_s=24 * HOUR, rpo_s=26 * HOUR
        )
    finally:
        conn.close()
    return {c.name: c for c in checks}


def test_purged_binlog_after_backup_fails_naming_the_file(
    binlog_server: MySQLInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = _take_backup(binlog_server, tmp_path, monkeypatch).manifest
    backup_file = manifest["binlog"]["file"]
    binlog_server.execute("INSERT INTO app.t VALUES (2)")
    binlog_server.execute("FLUSH BINARY LOGS")
    binlog_server.execute("INSERT INTO app.t VALUES (3)")
    binlog_server.execute("FLUSH BINARY LOGS")

    healthy = _checks(binlog_server, manifest)
    assert {name: c.status for name, c in healthy.items()} == {
        "binlog_enabled": "pass",
        "binlog_chain": "pass",
        "binlog_retention": "pass",  # MariaDB's default: binary logs never expire
    }
    assert backup_file in healthy["binlog_chain"].detail

    remaining = _purge_up_to_newest(binlog_server, backup_file)
    purged = _checks(binlog_server, manifest)["binlog_chain"]
    assert purged.status == "fail"
    assert f"binlog {backup_file}" in purged.detail and "gone (purged)" in purged.detail
    assert f"binlogs on server: {', '.join(remaining)}" in purged.detail


def _purge_up_to_newest(inst: MySQLInstance, backup_file: str) -> list[str]:
    """Purge the older binlogs; the server keeps one InnoDB has not checkpointed yet, so retry."""
    deadline = time.monotonic() + 10
    while True:
        names = [str(row[0]) for row in inst.execute("SHOW BINARY LOGS")]
        if backup_file not in names or time.monotonic() > deadline:
            return names
        inst.execute("PURGE BINARY LOGS TO %s", (names[-1],))
        time.sleep(0.1)


def test_short_expiry_on_a_real_server_fails_with_numbers(binlog_server: MySQLInstance) -> None:
    # A private server: changing its global settings touches nothing shared.
    binlog_server.execute("SET GLOBAL binlog_expire_logs_seconds = 7200")
    try:
        conn = binlog_server.connect()
        try:
            state = read_binlog_state(conn)
        finally:
            conn.close()
    finally:
        binlog_server.execute("SET GLOBAL binlog_expire_logs_seconds = 0")
    assert state.enabled and state.names and state.retention_s == 7200.0
    check = retention_check(state.retention_s, backup_interval_s=24 * HOUR, rpo_s=26 * HOUR)
    assert check.status == "fail" and "expire after 2.0 h" in check.detail


def test_shared_server_without_binlog(mysql_server: str) -> None:
    from tests.conftest import mysql_connect

    conn = mysql_connect()  # only read: SHOW GLOBAL VARIABLES
    try:
        state = read_binlog_state(conn)
    finally:
        conn.close()
    assert state.enabled is False and state.files == ()
    check = binlog_enabled_check(state, "shared")
    assert check.status == "fail" and "point-in-time recovery is impossible" in check.detail


def test_dict_cursor_connection_reads_the_same(binlog_server: MySQLInstance) -> None:
    import MySQLdb.cursors

    plain = binlog_server.connect()
    dicts = binlog_server.connect(cursorclass=MySQLdb.cursors.DictCursor)
    try:
        assert read_binlog_state(dicts) == read_binlog_state(plain)
        assert read_binlog_state(dicts).names
    finally:
        plain.close()
        dicts.close()

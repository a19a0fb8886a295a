"""Backups with manifests on the real server; finding backups; retention decisions."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.config import BackupSettings, MaintenanceSettings, RestoreTarget
from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.exceptions import ConfigError
from maintenance_ops.core.session import Endpoint, MaintenanceSession
from maintenance_ops.recovery.backup import (
    BackupInfo,
    BackupRefused,
    BinlogCoordinates,
    SnapshotState,
    apply_retention,
    backup_tool,
    check_tool,
    counts_exact,
    dump_command,
    latest_backup,
    list_backups,
    mydumper_command,
    mydumper_post_command,
    mydumper_regex,
    parse_dump_binlog,
    parse_mydumper_metadata,
    retention_plan,
    routine_grant_missing,
    sha256_file,
    take_backup,
    tool_option_file,
    verify_files,
)
from tests.conftest import Target, run_sql
from tests.support.accounts import create_account
from tests.support.sources import source_of

NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
SCHEMA_SQL = [
    "CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40), qty INT) ENGINE=InnoDB",
    "INSERT INTO items (name, qty) VALUES ('a', 1), ('b', 2), ('c', 3)",
    "CREATE TABLE `order` (id INT PRIMARY KEY, total DECIMAL(10,2)) ENGINE=InnoDB",
    "INSERT INTO `order` VALUES (1, 9.50), (2, 12.00)",
    "CREATE TABLE `Überweisung` (id INT PRIMARY KEY, betrag INT) ENGINE=InnoDB",
    "INSERT INTO `Überweisung` VALUES (1, 100)",
    "CREATE TABLE audit_trail (id INT PRIMARY KEY AUTO_INCREMENT, item_id INT) ENGINE=InnoDB",
    "CREATE VIEW item_names AS SELECT id, name FROM items",
    "CREATE TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW"
    " INSERT INTO audit_trail (item_id) VALUES (NEW.id)",
    "CREATE PROCEDURE add_item(IN n VARCHAR(40)) INSERT INTO items (name, qty) VALUES (n, 0)",
    "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit_trail",
]


def _populate(target: Target) -> None:
    for statement in SCHEMA_SQL:
        target.sql(statement)


def _settings(tmp_path: Path, **kw: Any) -> BackupSettings:
    return BackupSettings(enabled=True, location=(tmp_path / "backups").as_uri(), **kw)


def _backup(target: Target, settings: BackupSettings, now: datetime | None = None) -> Any:
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        return take_backup(
            session,
            conn_id=target.conn_id,
            database_name="primary",
            schemas=[target.schema],
            history_schema=target.history_schema,
            settings=settings,
            now=now,
        )


def _folder(tmp_path: Path, stamp: str, tool: str, manifest: dict[str, Any] | None) -> Path:
    folder = tmp_path / "backups" / "primary" / f"{stamp}-{tool}"
    folder.mkdir(parents=True)
    (folder / "dump.sql").write_text("-- dump\n")
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _complete_manifest() -> dict[str, Any]:
    return {"format": 1, "ended_at": "2026-01-01T00:00:00+00:00", "files": {"dump.sql": {}}}


# ------------------------------------------------------------------------------------------
# Real server
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "compression",
    [
        pytest.param("zstd", id="zstd"),
        pytest.param("gzip", id="gzip"),
        pytest.param("none", id="none"),
    ],
)
def test_mariadb_dump_backup_lists_every_object(
    target: Target, tmp_path: Path, compression: str
) -> None:
    _populate(target)
    result = _backup(target, _settings(tmp_path, compression=compression))
    manifest = result.manifest
    s = target.schema
    assert manifest["tool"] == "mariadb-dump" and manifest["format"] == 1
    assert manifest["tool_version"].startswith("mariadb-dump")
    assert manifest["server"]["flavor"] == "mariadb"
    assert manifest["schemas"] == [s, target.history_schema]
    objects = manifest["objects"]
    assert {f"{s}.items", f"{s}.order", f"{s}.Überweisung", f"{s}.audit_trail"} <= set(
        objects["tables"]
    )
    assert f"{target.history_schema}.backup_heartbeat" in objects["tables"]
    assert objects["views"] == [f"{s}.item_names"]
    assert objects["routines"] == [f"{s}.add_item (PROCEDURE)"]
    assert objects["triggers"] == [f"{s}.items_ai"]
    assert objects["events"] == [f"{s}.nightly"]
    assert manifest["row_counts"][f"{s}.items"] == 3
    assert manifest["row_counts"][f"{s}.order"] == 2
    assert manifest["row_counts"][f"{s}.Überweisung"] == 1
    assert manifest["row_counts"][f"{target.history_schema}.backup_heartbeat"] == 1
    # Exactness on the shared server depends on other test workers' writes (the rule reads
    # a server-wide counter); the private-server tests below assert it.
    assert isinstance(manifest["row_counts_exact"], bool)
    assert manifest["binlog"] == {"file": None, "position": None, "gtid": None}
    assert manifest["compression"] == compression
    suffix = {"zstd": ".zst", "gzip": ".gz", "none": ""}[compression]
    assert list(manifest["files"]) == [f"dump.sql{suffix}"]
    assert verify_files(result.path, manifest) == []
    assert result.bytes == manifest["files"][f"dump.sql{suffix}"]["bytes"] > 0
    heartbeat = manifest["heartbeat"]
    assert heartbeat["schema"] == target.history_schema and heartbeat["table"] == "backup_heartbeat"
    rows = target.sql(
        f"SELECT id FROM `{target.history_schema}`.backup_heartbeat WHERE id = %s",
        (heartbeat["id"],),
    )
    assert rows == [(heartbeat["id"],)]
    on_disk = json.loads((result.path / "manifest.json").read_text())
    assert on_disk == manifest
    # No staging leftovers beside the backup.
    assert [p.name for p in (tmp_path / "backups" / "primary").iterdir()] == [result.path.name]


# Objects of another definer (root builds them; the backup runs as the maintenance account), with
# what tools and restores are known to bend: a multi-statement body (mydumper rewrites its
# ";\n"), a '%' in a literal, a function with parameters, a one-time event, a view with its own
# definer, security and check option.
OTHER_DEFINER_SQL = [
    "CREATE FUNCTION net(gross INT, rate DECIMAL(4,2)) RETURNS INT DETERMINISTIC"
    " RETURN gross - ROUND(gross * rate)",
    "CREATE PROCEDURE restock(IN n INT, OUT note VARCHAR(40)) COMMENT 'weekly'\nBEGIN\n"
    "  UPDATE items SET qty = qty + n;\n  SET note = CONCAT(n, '% more');\nEND",
    "CREATE DEFINER='nobody'@'localhost' SQL SECURITY INVOKER VIEW big_items AS"
    " SELECT id, qty FROM items WHERE qty > 1 WITH CHECK OPTION",
    "CREATE EVENT once ON SCHEDULE AT '2030-01-01 00:00:00' DO DELETE FROM audit_trail",
]


def _restore_verified(result: Any, tmp_path: Path, target: Target) -> Any:
    from maintenance_ops.recovery.restore import restore_test

    assert result.path.exists()
    with source_of(target.conn_id, target.history_schema) as source:
        return restore_test(
            Path(result.path.path),
            None,
            target=RestoreTarget(buffer_pool_mb=128),
            source=source,
            settings=BackupSettings(rpo_hours=26, rto_minutes=60),
            now=datetime.now(UTC),
            database_name="primary",
            base_dir=tmp_path / "servers",
        )


def _account_sees(target: Target, sql: str) -> list[dict[str, Any]]:
    """Run a statement as the maintenance account (what the tools see)."""
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        return session.query(sql)


@pytest.mark.parametrize("tool", ["mariadb-dump", "mydumper"])
def test_another_definers_objects_are_backed_up_and_verified(
    target: Target, tmp_path: Path, tool: str
) -> None:
    _populate(target)
    for statement in OTHER_DEFINER_SQL:
        target.sql(statement)
    result = _backup(target, _settings(tmp_path, tool=tool))
    manifest = result.manifest
    s = target.schema
    objects = manifest["objects"]
    assert objects["routines"] == [
        f"{s}.add_item (PROCEDURE)",
        f"{s}.net (FUNCTION)",
        f"{s}.restock (PROCEDURE)",
    ]
    assert objects["views"] == [f"{s}.big_items", f"{s}.item_names"]
    assert objects["triggers"] == [f"{s}.items_ai"]
    assert objects["events"] == [f"{s}.nightly", f"{s}.once"]
    definitions = manifest["definitions"]
    for kind in ("views", "routines", "triggers", "events"):
        assert sorted(definitions[kind]) == sorted(objects[kind]), kind
    assert manifest["definitions_format"] == 1
    # Every object came back, with the same definition.
    restored = _restore_verified(result, tmp_path, target)
    assert restored.ok, restored.critical
    statuses = {c.name: c.status for c in restored.checks}
    assert statuses["objects"] == statuses["definitions"] == "pass", restored.checks
    for kind, names in objects.items():
        assert set(names) <= set(restored.objects[kind]), kind


@pytest.mark.parametrize(
    ("revoke", "named"),
    [
        pytest.param(
            "REVOKE SELECT ON `mysql`.`proc` FROM {account}",
            "SELECT ON `mysql`.`proc`",
            id="mysql.proc",
        ),
        pytest.param(
            "REVOKE EVENT ON `{schema}`.* FROM {account}", "EVENT ON `{schema}`.*", id="event"
        ),
        pytest.param(
            "REVOKE SHOW VIEW ON `{schema}`.* FROM {account}",
            "SHOW VIEW ON `{schema}`.*",
            id="show-view",
        ),
        pytest.param(
            "REVOKE EVENT ON `{history}`.* FROM {account}", "EVENT ON `{history}`.*", id="history"
        ),
    ],
)
def test_a_revoked_grant_makes_the_backup_refuse_naming_it(
    target: Target, tmp_path: Path, revoke: str, named: str
) -> None:
    _populate(target)
    assert target.account is not None
    names = {
        "account": f"'{target.account.user}'@'%'",
        "schema": target.schema,
        "history": target.history_schema,
    }
    run_sql(revoke.format(**names))
    if "proc" in revoke:
        # The silent failure this refusal replaces: the account sees none of root's routines.
        assert _account_sees(target, "SELECT ROUTINE_NAME FROM information_schema.ROUTINES") == []
    with pytest.raises(BackupRefused) as refused:
        _backup(target, _settings(tmp_path))
    message = str(refused.value)
    missing = named.format(**names)
    assert f"Missing: {missing} (" in message
    assert f"GRANT {missing} TO {names['account']}" in message
    assert "nothing written" in message
    # Nothing written: no backup folder, no staging folder, no heartbeat.
    assert not (tmp_path / "backups").exists()
    assert not run_sql(
        "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
        (target.history_schema,),
    )


@pytest.mark.parametrize(
    ("version", "granted", "proc_readable", "missing"),
    [
        pytest.param("10.11.19-MariaDB-0+deb12u1", [], True, None, id="mariadb-proc"),
        pytest.param(
            "10.11.19-MariaDB-0+deb12u1", [], False, "SELECT ON `mysql`.`proc`", id="mariadb-none"
        ),
        pytest.param(
            "11.4.8-MariaDB-ubu2404-log",
            [("app.*", "SHOW CREATE ROUTINE")],
            False,
            None,
            id="mariadb-11.4-show-create-routine",
        ),
        pytest.param(
            "10.11.19-MariaDB-0+deb12u1",
            [("app.*", "SHOW CREATE ROUTINE")],
            False,
            "SELECT ON `mysql`.`proc`",
            id="mariadb-10.11-has-no-show-create-routine",
        ),
        pytest.param("8.0.36", [("*.*", "SHOW_ROUTINE")], False, None, id="mysql-8.0-show-routine"),
        pytest.param("8.4.3", [], False, "SHOW_ROUTINE ON *.*", id="mysql-8.4-none"),
        pytest.param("8.0.19", [], False, "SELECT ON *.*", id="mysql-8.0.19"),
        pytest.param("8.0.19", [("*.*", "SELECT")], False, None, id="mysql-8.0.19-global-select"),
        pytest.param("5.7.44-log", [], True, None, id="mysql-5.7-proc"),
        pytest.param("5.7.44-log", [], False, "SELECT ON `mysql`.`proc`", id="mysql-5.7-none"),
    ],
)
def test_routine_grant_missing(
    version: str, granted: list[tuple[str, str]], proc_readable: bool, missing: str | None
) -> None:
    parsed = parse_version(version)
    assert routine_grant_missing(parsed, granted, ["app"], proc_readable) == missing


def test_dump_holds_objects_and_heartbeat(target: Target, tmp_path: Path) -> None:
    _populate(target)
    result = _backup(target, _settings(tmp_path, compression="zstd"))
    dump = Path(result.path.path) / "dump.sql.zst"
    text = subprocess.run(["zstd", "-dc", str(dump)], capture_output=True, check=True).stdout
    sql = text.decode()
    for needle in (
        "CREATE TABLE `order`",
        "CREATE TABLE `Überweisung`",
        "TRIGGER items_ai AFTER INSERT",
        "PROCEDURE `add_item`",
        "EVENT `nightly`",
        "VIEW `item_names`",
        "INSERT INTO `backup_heartbeat`",
        f"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{target.history_schema}`",
    ):
        assert needle in sql, needle


def test_flipped_byte_is_a_checksum_mismatch(target: Target, tmp_path: Path) -> None:
    _populate(target)
    result = _backup(target, _settings(tmp_path, compression="none"))
    dump = Path(result.path.path) / "dump.sql"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))
    problems = verify_files(result.path, result.manifest)
    assert len(problems) == 1
    assert problems[0].startswith("dump.sql fails its checksum")


def test_truncated_and_missing_files_are_reported(target: Target, tmp_path: Path) -> None:
    result = _backup(target, _settings(tmp_path, compression="gzip"))
    dump = Path(result.path.path) / "dump.sql.gz"
    dump.write_bytes(dump.read_bytes()[:10])
    assert verify_files(result.path, result.manifest)[0].startswith(
        "dump.sql.gz is truncated: 10 bytes"
    )
    dump.unlink()
    assert verify_files(result.path, result.manifest) == ["dump.sql.gz is missing"]


def test_counts_are_approximate_when_a_write_lands_during_the_backup(
    target: Target, tmp_path: Path
) -> None:
    """A write between the counting snapshot and the end of the dump makes counts approximate."""
    target.sql("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT) ENGINE=InnoDB")
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            target.sql("INSERT INTO t VALUES ()")
            time.sleep(0.005)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = _backup(target, _settings(tmp_path, compression="none"))
    finally:
        stop.set()
        thread.join()
    assert result.manifest["row_counts_exact"] is False


def test_backup_is_listed_newest_first_with_external_folder(target: Target, tmp_path: Path) -> None:
    first = _backup(target, _settings(tmp_path), now=NOW - timedelta(days=1))
    external = _folder(tmp_path, "20260615T010000Z", "mydumper", None)
    infos = list_backups(_settings(tmp_path).location, "primary")
    assert [i.path.name for i in infos] == [external.name, first.path.name]
    assert infos[0].manifest is None and not infos[0].complete
    assert infos[1].complete and infos[1].tool == "mariadb-dump"
    latest = latest_backup(_settings(tmp_path).location, "primary")
    assert latest is not None and latest.path.name == external.name
    assert infos[0].to_dict()["has_manifest"] is False


def test_mydumper_backup(target: Target, tmp_path: Path) -> None:
    _populate(target)
    result = _backup(target, _settings(tmp_path, tool="mydumper"))
    manifest = result.manifest
    assert manifest["tool"] == "mydumper" and manifest["compression"] == "gzip"
    assert "mydumper/metadata" in manifest["files"]
    names = " ".join(manifest["files"])
    assert "order" in names and "Überweisung" in names
    assert any("schema-post" in name or "triggers" in name for name in manifest["files"])
    assert manifest["row_counts"][f"{target.schema}.items"] == 3
    assert verify_files(result.path, manifest) == []
    latest = latest_backup(_settings(tmp_path).location, "primary")
    assert latest is not None and latest.tool == "mydumper" and latest.complete


@pytest.fixture
def password_account(target: Target, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    password = "S3cret-pw-do-not-leak"
    user = f"bk_{target.schema[-8:]}"
    target.sql(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    target.sql(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'")
    for host in ("%", "localhost"):
        target.sql(f"GRANT ALL ON *.* TO '{user}'@'{host}'")
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{target.conn_id.upper()}", f"mysql://{user}:{password}@127.0.0.1:3306"
    )
    try:
        yield password
    finally:
        for host in ("%", "localhost"):
            target.sql(f"DROP USER IF EXISTS '{user}'@'{host}'")


def test_password_never_appears_in_process_args(
    target: Target, tmp_path: Path, password_account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _populate(target)
    seen: list[list[str]] = []
    real_popen = subprocess.Popen

    class SpyPopen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args: Any, *a: Any, **kw: Any) -> None:
            seen.append([str(arg) for arg in args])
            super().__init__(args, *a, **kw)

    monkeypatch.setattr("maintenance_ops.core.processes.subprocess.Popen", SpyPopen)
    result = _backup(target, _settings(tmp_path))
    assert result.manifest["row_counts"][f"{target.schema}.items"] == 3
    assert seen and any(args[0] == "mariadb-dump" for args in seen)
    assert all(password_account not in arg for args in seen for arg in args)
    defaults = [a for args in seen for a in args if a.startswith("--defaults-extra-file=")]
    assert defaults and not os.path.exists(defaults[0].split("=", 1)[1])  # removed afterwards
    assert password_account not in json.dumps(result.manifest)


# ------------------------------------------------------------------------------------------
# Pure functions
# ------------------------------------------------------------------------------------------


def _info(
    days_old: float, *, manifest: dict[str, Any] | None = None, complete: bool = True
) -> BackupInfo:
    from airflow.sdk import ObjectStoragePath

    stamp = NOW - timedelta(days=days_old)
    if manifest is None and complete:
        manifest = _complete_manifest()
    return BackupInfo(ObjectStoragePath(f"file:///b/{days_old}"), stamp, "mariadb-dump", manifest)


def _ages(infos: list[BackupInfo]) -> list[float]:
    return [round((NOW - i.stamp).total_seconds() / 86400, 1) for i in infos]


@pytest.mark.parametrize(
    ("backups", "retention_days", "keep_count", "kept", "removed"),
    [
        pytest.param([0, 1, 2, 20, 30], 14, 2, [0, 1, 2], [20, 30], id="age-beyond-count"),
        pytest.param([0, 1, 2, 20, 30], 14, 4, [0, 1, 2, 20], [30], id="count-protects-old"),
        pytest.param([20, 30, 40], 14, 1, [20], [30, 40], id="all-old-keep-newest"),
        pytest.param([], 14, 3, [], [], id="empty"),
        pytest.param([1, 2, 3, 4], 14, 1, [1, 2, 3, 4], [], id="all-young"),
    ],
)
def test_retention_plan(
    backups: list[float],
    retention_days: int,
    keep_count: int,
    kept: list[float],
    removed: list[float],
) -> None:
    keep, remove = retention_plan([_info(d) for d in backups], NOW, retention_days, keep_count)
    assert (_ages(keep), _ages(remove)) == (kept, removed)


def test_retention_never_removes_newest_good_backup() -> None:
    infos = [
        _info(20, manifest={"format": 1}),  # incomplete: no ended_at, no files
        _info(25, complete=False),  # no manifest: external, never deleted
        _info(30),  # newest complete backup: kept although old and beyond keep_count
        _info(40),
    ]
    keep, remove = retention_plan(infos, NOW, 14, 1)
    assert _ages(keep) == [20, 25, 30]
    assert _ages(remove) == [40]


def test_apply_retention_deletes_folders(tmp_path: Path) -> None:
    old = _folder(tmp_path, "20260501T020000Z", "mariadb-dump", _complete_manifest())
    older = _folder(tmp_path, "20260401T020000Z", "mariadb-dump", _complete_manifest())
    newest = _folder(tmp_path, "20260614T020000Z", "mariadb-dump", _complete_manifest())
    removed = apply_retention(
        (tmp_path / "backups").as_uri(), "primary", retention_days=14, keep_count=1, now=NOW
    )
    assert sorted(Path(p.removeprefix("file://")).name for p in removed) == sorted(
        [old.name, older.name]
    )
    assert newest.exists() and not old.exists() and not older.exists()


def test_list_backups_of_empty_location(tmp_path: Path) -> None:
    assert list_backups((tmp_path / "nothing").as_uri(), "primary") == []
    assert latest_backup((tmp_path / "nothing").as_uri(), "primary") is None


def test_list_ignores_foreign_and_staging_folders(tmp_path: Path) -> None:
    _folder(tmp_path, "20260614T020000Z", "mariadb-dump", _complete_manifest())
    (tmp_path / "backups" / "primary" / ".staging-20260615T020000Z-mariadb-dump").mkdir()
    (tmp_path / "backups" / "primary" / "notes").mkdir()
    (tmp_path / "backups" / "primary" / "readme.txt").write_text("x")
    infos = list_backups((tmp_path / "backups").as_uri(), "primary")
    assert [i.path.name for i in infos] == ["20260614T020000Z-mariadb-dump"]
    assert infos[0].stamp == datetime(2026, 6, 14, 2, tzinfo=UTC)


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(path) == expected == sha256_file(str(path))


def test_dump_command_with_and_without_binlog() -> None:
    base = dump_command("mariadb-dump", "/x.cnf", ["a", "b"])
    assert base == [
        "mariadb-dump",
        "--defaults-extra-file=/x.cnf",
        "--single-transaction",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--default-character-set=utf8mb4",
        "--databases",
        "--",
        "a",
        "b",
    ]
    args = ["--source-data=2", "--set-gtid-purged=COMMENTED"]
    mysql = dump_command("mysqldump", "/x.cnf", ["a"], binlog_args=args)
    assert mysql[-5:] == [*args, "--databases", "--", "a"]


@pytest.mark.parametrize(
    ("version", "tool", "expected"),
    [
        pytest.param("10.11.19-MariaDB", None, "mariadb-dump", id="mariadb-default"),
        pytest.param("8.0.36", None, "mysqldump", id="mysql-8.0-default"),
        pytest.param("8.4.3", None, "mysqldump", id="mysql-8.4-default"),
        pytest.param("8.4.3", "mydumper", "mydumper", id="configured"),
    ],
)
def test_default_tool_is_the_flavors_dump_tool(
    tmp_path: Path, version: str, tool: str | None, expected: str
) -> None:
    settings = _settings(tmp_path, **({"tool": tool} if tool else {}))
    assert backup_tool(settings, Dialect(parse_version(version))) == expected


@pytest.mark.parametrize(
    ("version", "tool", "binlog", "refused"),
    [
        pytest.param(
            "8.0.36",
            "mariabackup",
            False,
            "mariabackup cannot back up mysql 8.0.36",
            id="mariabackup-mysql-8.0",
        ),
        pytest.param(
            "8.4.3",
            "mariabackup",
            True,
            r"mysqldump \(the default on MySQL\) or mydumper",
            id="mariabackup-mysql-8.4",
        ),
        pytest.param(
            "8.4.3",
            "mariadb-dump",
            True,
            "SHOW MASTER STATUS, removed in MySQL 8.4",
            id="mariadb-dump-mysql-8.4-binlog",
        ),
        pytest.param("8.4.3", "mariadb-dump", False, None, id="mariadb-dump-mysql-8.4-no-binlog"),
        pytest.param("10.11.19-MariaDB", "mariabackup", True, None, id="mariabackup-mariadb"),
        pytest.param("5.7.44", "mariabackup", True, None, id="mariabackup-mysql-5.7"),
    ],
)
def test_tools_refused_per_flavor(
    version: str, tool: str, binlog: bool, refused: str | None
) -> None:
    problem = Dialect(parse_version(version)).backup_tool_problem(tool, binlog=binlog)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and re.search(refused, problem)
        assert "XtraBackup is not supported" in problem or tool != "mariabackup"


@pytest.mark.parametrize(
    ("version", "source_data", "gtid_purged", "expected"),
    [
        pytest.param("10.11.19-MariaDB", True, True, ["--master-data=2", "--gtid"], id="mariadb"),
        pytest.param(
            "8.0.36",
            True,
            True,
            ["--source-data=2", "--set-gtid-purged=COMMENTED"],
            id="mysql-8.0.26+",
        ),
        pytest.param(
            "8.4.3", True, True, ["--source-data=2", "--set-gtid-purged=COMMENTED"], id="mysql-8.4"
        ),
        pytest.param(
            "8.0.20",
            False,
            True,
            ["--master-data=2", "--set-gtid-purged=COMMENTED"],
            id="mysqldump-8.0.20",
        ),
        pytest.param("5.7.44", False, False, ["--master-data=2"], id="old-mysqldump"),
    ],
)
def test_binlog_options_per_flavor_and_tool(
    version: str, source_data: bool, gtid_purged: bool, expected: list[str]
) -> None:
    dialect = Dialect(parse_version(version))
    assert dialect.dump_binlog_args(source_data=source_data, gtid_purged=gtid_purged) == expected


def test_mysql_backup_with_mariadbs_mysqldump_is_refused() -> None:
    """mysqldump here is a link to mariadb-dump: a MySQL server must not be dumped with it."""
    with pytest.raises(
        ConfigError, match=r"the mysqldump installed here is mariadb's.*MySQL's client"
    ):
        check_tool("mysqldump", Dialect(parse_version("8.4.3")), binlog=True)
    with pytest.raises(ConfigError, match="nothing written: mariabackup cannot back up mysql 8.0"):
        check_tool("mariabackup", Dialect(parse_version("8.0.36")), binlog=False)
    assert check_tool("mysqldump", Dialect(parse_version("10.11.19-MariaDB")), binlog=True)


def test_tool_option_file_quotes_credentials_for_every_tool() -> None:
    text = tool_option_file(Endpoint("c", "db", 3307), 'u"x', "p\\w#1").decode()
    body = 'host="db"\nport="3307"\nuser="u\\"x"\npassword="p\\\\w#1"\n'
    assert text == "".join(f"[{g}]\n{body}" for g in ("client", "mydumper", "mariabackup"))


def test_every_backup_tool_reads_a_hostile_password_back_and_logs_in(target: Target) -> None:
    """The credentials file holds `"`, `\\`, `#`, `;`, `'`, `%`, `é`: each tool's group reads it
    back unchanged (the servers' own parser), and the client logs in with it."""
    import shutil

    from maintenance_ops.recovery.backup import credentials_file
    from tests.support.accounts import PASSWORD

    assert target.account is not None and target.account.password == PASSWORD
    printer = shutil.which("my_print_defaults") or shutil.which("mariadb-print-defaults")
    assert printer, "my_print_defaults ships with the MariaDB/MySQL client"
    with credentials_file(target.conn_id) as path:
        assert oct(Path(path).stat().st_mode & 0o777) == "0o600"
        for group in ("client", "mydumper", "mariabackup"):
            read = subprocess.run(
                [printer, f"--defaults-file={path}", group],
                capture_output=True, text=True, check=True,
            ).stdout.splitlines()  # fmt: skip
            assert f"--password={PASSWORD}" in read and f"--user={target.account.user}" in read
        login = subprocess.run(
            ["mariadb", f"--defaults-extra-file={path}", "-N", "-e", "SELECT CURRENT_USER()"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == f"{target.account.user}@%"
    assert not Path(path).exists()


def test_mydumper_regex_escapes_names() -> None:
    assert mydumper_regex(["a_b", "c$d"]) == r"^(a_b|c\$d)\."


def test_mydumper_commands_scope_every_run_to_the_backed_up_schemas() -> None:
    main = mydumper_command("/x.cnf", Path("/o"), ["a", "b"], compress=True)
    assert main == [
        "mydumper",
        "--defaults-file=/x.cnf",
        "--outputdir=/o",
        "--threads=2",
        "--trx-consistency-only",
        "--triggers",
        r"--regex=^(a|b)\.",
        "--compress",
    ]
    post = mydumper_post_command("/x.cnf", Path("/p"), "a", compress=False)
    assert post[-5:] == ["--no-schemas", "--no-data", "--routines", "--events", "--database=a"]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(
            "-- CHANGE MASTER TO MASTER_LOG_FILE='mariadb-bin.000003', MASTER_LOG_POS=1234;\n"
            "-- SET GLOBAL gtid_slave_pos='0-1-42';\n",
            BinlogCoordinates("mariadb-bin.000003", 1234, "0-1-42"),
            id="mariadb-gtid",
        ),
        pytest.param("-- MariaDB dump 10.19\n", BinlogCoordinates(), id="no-binlog"),
    ],
)
def test_parse_dump_binlog(head: str, expected: BinlogCoordinates) -> None:
    assert parse_dump_binlog(head) == expected


def test_parse_mydumper_metadata() -> None:
    text = (
        "Started dump at: 2026-06-15 02:00:00\nSHOW MASTER STATUS:\n\tLog: bin.000002\n"
        "\tPos: 777\n\tGTID:0-1-9\n\nFinished dump at: 2026-06-15 02:00:01\n"
    )
    assert parse_mydumper_metadata(text) == BinlogCoordinates("bin.000002", 777, "0-1-9")


@pytest.mark.parametrize(
    ("snap", "tool", "after", "exact"),
    [
        pytest.param(
            SnapshotState(binlog=BinlogCoordinates("b.1", 10)),
            BinlogCoordinates("b.1", 10),
            99,
            True,
            id="binlog-equal",
        ),
        pytest.param(
            SnapshotState(binlog=BinlogCoordinates("b.1", 10)),
            BinlogCoordinates("b.1", 11),
            5,
            False,
            id="binlog-moved",
        ),
        pytest.param(
            SnapshotState(trx_counter_before=5), BinlogCoordinates(), 5, True, id="counter-still"
        ),
        pytest.param(
            SnapshotState(trx_counter_before=5), BinlogCoordinates(), 6, False, id="counter-moved"
        ),
        pytest.param(
            SnapshotState(trx_counter_before=5, others_writing=True),
            BinlogCoordinates(),
            5,
            False,
            id="open-writer",
        ),
        pytest.param(
            SnapshotState(trx_counter_before=None),
            BinlogCoordinates(),
            None,
            False,
            id="no-counter",
        ),
        pytest.param(
            SnapshotState(trx_counter_before=5, all_innodb=False),
            BinlogCoordinates(),
            5,
            False,
            id="myisam",
        ),
    ],
)
def test_counts_exact(
    snap: SnapshotState, tool: BinlogCoordinates, after: int | None, exact: bool
) -> None:
    assert counts_exact(snap, tool, after) is exact


# ------------------------------------------------------------------------------------------
# A private binlog-enabled server with a password account: coordinates, GTID, every tool
# ------------------------------------------------------------------------------------------

BINLOG_CONN_ID = "mmc_test_backup_binlog"
BINLOG_PASSWORD = "Binl0g-secret-xyz"


def _backup_binlogged(schema: str, settings: BackupSettings) -> Any:
    """Back ``schema`` up through the ``BINLOG_CONN_ID`` connection (one schema, one database)."""
    with MaintenanceSession(BINLOG_CONN_ID, MaintenanceSettings()) as session:
        return take_backup(
            session,
            conn_id=BINLOG_CONN_ID,
            database_name=schema,
            schemas=[schema],
            history_schema="_maintenance",
            settings=settings,
        )


@pytest.fixture(scope="module")
def binlog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from maintenance_ops.core.instance import InstanceSpec, MySQLInstance

    with MySQLInstance(InstanceSpec(binlog=True), base_dir=tmp_path_factory.mktemp("srv")) as inst:
        for host in ("127.0.0.1", "localhost"):
            inst.execute(f"CREATE USER 'bk'@'{host}' IDENTIFIED BY '{BINLOG_PASSWORD}'")
            inst.execute(f"GRANT ALL ON *.* TO 'bk'@'{host}'")
        inst.execute("CREATE DATABASE app")
        inst.execute("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB")
        inst.execute("INSERT INTO app.t VALUES (1, 'x'), (2, 'y')")
        yield inst


@pytest.mark.slow
@pytest.mark.parametrize(
    "compression", [pytest.param("zstd", id="zstd"), pytest.param("none", id="plain")]
)
def test_mariadb_gtid_written_at_the_end_of_a_large_dump_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str
) -> None:
    """mariadb-dump writes gtid_slave_pos after the data: the stream is scanned, not its head."""
    from maintenance_ops.core.instance import InstanceSpec, MySQLInstance

    with MySQLInstance(InstanceSpec(binlog=True), base_dir=tmp_path / "srv") as inst:
        inst.execute("CREATE DATABASE big")
        inst.execute("CREATE TABLE big.t (id INT PRIMARY KEY, v LONGTEXT) ENGINE=InnoDB")
        inst.execute("INSERT INTO big.t VALUES (1, REPEAT('x', 300000)), (2, REPEAT('y', 300000))")
        account = create_account(inst.execute, ["big"], "_maintenance", port=inst.port)
        monkeypatch.setenv(f"AIRFLOW_CONN_{BINLOG_CONN_ID.upper()}", account.conn_json())
        settings = _settings(tmp_path, compression=compression)
        result = _backup_binlogged("big", settings)
        gtid_pos = str(inst.execute("SELECT @@gtid_binlog_pos")[0][0])
    binlog = result.manifest["binlog"]
    assert binlog["gtid"] == gtid_pos and binlog["file"] and binlog["position"]
    dump = next(Path(result.path.path).glob("dump.sql*"))
    text = subprocess.run(
        ["zstd", "-dc", str(dump)] if dump.suffix == ".zst" else ["cat", str(dump)],
        capture_output=True,
        check=True,
    ).stdout
    assert text.index(b"gtid_slave_pos=") > 1 << 16  # beyond the 64 KiB head read before
    assert not list(tmp_path.glob("backups/big/*coordinates*"))  # scratch file removed


@pytest.mark.slow
@pytest.mark.parametrize(
    "tool",
    [
        pytest.param("mariadb-dump", id="mariadb-dump"),
        pytest.param("mydumper", id="mydumper"),
        pytest.param("mariabackup", id="mariabackup"),
    ],
)
def test_backup_on_binlog_server_with_password(
    binlog_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{BINLOG_CONN_ID.upper()}",
        f"mysql://bk:{BINLOG_PASSWORD}@127.0.0.1:{binlog_server.port}",
    )
    seen: list[str] = []
    real_popen = subprocess.Popen

    class SpyPopen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args: Any, *a: Any, **kw: Any) -> None:
            seen.extend(str(arg) for arg in args)
            super().__init__(args, *a, **kw)

    monkeypatch.setattr("maintenance_ops.core.processes.subprocess.Popen", SpyPopen)
    settings = _settings(tmp_path, tool=tool)
    result = _backup_binlogged("app", settings)
    manifest = result.manifest
    assert all(BINLOG_PASSWORD not in arg for arg in seen)
    assert manifest["binlog"]["file"] and manifest["binlog"]["position"] > 0
    assert manifest["row_counts"]["app.t"] == 2
    assert manifest["row_counts_exact"] is True
    assert verify_files(result.path, manifest) == []
    if tool == "mariadb-dump":
        assert manifest["binlog"]["gtid"]  # --gtid: the heartbeat insert made one
    if tool == "mariabackup":
        assert manifest["compression"] == "none" and "note" in manifest
        assert any(name.startswith("mariabackup/") for name in manifest["files"])


@pytest.mark.slow
def test_counts_exact_without_binlog_on_a_quiet_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a binary log the trx-counter rule proves exactness when nothing writes."""
    from maintenance_ops.core.instance import MySQLInstance

    with MySQLInstance(base_dir=tmp_path / "srv") as inst:
        inst.execute("CREATE DATABASE app")
        # No persistent-stats recalculation: it is a background write that moves the counter.
        inst.execute("CREATE TABLE app.t (id INT PRIMARY KEY) ENGINE=InnoDB STATS_PERSISTENT=0")
        inst.execute("INSERT INTO app.t VALUES (1), (2), (3)")
        account = create_account(inst.execute, ["app"], "_maintenance", port=inst.port)
        monkeypatch.setenv("AIRFLOW_CONN_MMC_TEST_BACKUP_QUIET", account.conn_json())
        with MaintenanceSession("mmc_test_backup_quiet", MaintenanceSettings()) as session:
            result = take_backup(
                session,
                conn_id="mmc_test_backup_quiet",
                database_name="quiet",
                schemas=["app"],
                history_schema="_maintenance",
                settings=_settings(tmp_path),
            )
    assert result.manifest["row_counts"] == {"_maintenance.backup_heartbeat": 1, "app.t": 3}
    assert result.manifest["row_counts_exact"] is True
    assert result.manifest["binlog"]["file"] is None


def test_encryption_without_its_connection_is_refused_before_any_write(
    target: Target, tmp_path: Path
) -> None:
    from maintenance_ops.core.exceptions import ConfigError

    with pytest.raises(ConfigError, match="'backup_key' is not defined"):
        _backup(target, _settings(tmp_path, encryption_conn_id="backup_key"))
    assert not (tmp_path / "backups").exists()


@pytest.mark.parametrize("tool", ["mariadb-dump", "mydumper", "mariabackup"])
def test_encrypted_backup_round_trip_and_wrong_key(
    tool: str, target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Encrypted at rest: no plain file on disk, no key in the manifest; restores with the key."""
    from maintenance_ops.core.config import RestoreTarget
    from maintenance_ops.recovery.restore import restore_test

    secret = "correct horse battery staple 0123456789"
    monkeypatch.setenv("AIRFLOW_CONN_BACKUP_KEY", f"generic://:{secret.replace(' ', '%20')}@")
    target.sql("CREATE TABLE t (id INT PRIMARY KEY, secret_text VARCHAR(40))")
    target.sql("INSERT INTO t VALUES (1, 'plaintext-canary-4711'), (2, 'b')")
    settings = _settings(tmp_path, tool=tool, encryption_conn_id="backup_key")
    result = _backup(target, settings)
    folder = Path(str(result.path).removeprefix("file://"))
    files = [p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"]
    assert files and all(p.name.endswith(".enc") for p in files)
    blob = b"".join(p.read_bytes() for p in files) + (folder / "manifest.json").read_bytes()
    assert b"plaintext-canary-4711" not in blob and secret.encode() not in blob
    assert result.manifest["encrypted"] is True
    assert set(result.manifest["encryption"]) >= {"cipher", "mac_salt", "signature"}

    def test_with(conn_id: str | None) -> Any:
        with source_of(target.conn_id, target.history_schema) as source:
            return restore_test(
                folder,
                None,
                target=RestoreTarget(),
                source=source,
                settings=_settings(tmp_path, tool=tool, encryption_conn_id=conn_id),
                now=datetime.now(UTC),
                database_name="primary",
                base_dir=tmp_path / "restore",
            )

    good = test_with("backup_key")
    assert good.ok, good.critical
    assert f"{target.schema}.t" in good.objects["tables"]
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_KEY", "generic://:not-the-key@")
    wrong = test_with("other_key")
    assert not wrong.ok and any("not signed with the key" in c for c in wrong.critical)
    # Altering the manifest (here: the binlog coordinates a PITR would start from) is caught.
    manifest_path = folder / "manifest.json"
    original = manifest_path.read_text()
    altered = json.loads(original)
    altered["binlog"] = {"file": "binlog.000009", "position": 4, "gtid": None}
    manifest_path.write_text(json.dumps(altered))
    tampered = test_with("backup_key")
    assert any("not signed with the key" in c for c in tampered.critical), tampered.critical
    # So is a plain manifest swapped in where encrypted backups are expected (a downgrade).
    altered = json.loads(original)
    altered.update(encrypted=False)
    altered.pop("encryption")
    manifest_path.write_text(json.dumps(altered))
    downgraded = test_with("backup_key")
    assert any("is not encrypted although" in c for c in downgraded.critical)
    manifest_path.write_text(original)
    unset = test_with(None)
    assert any("encryption_conn_id is not set" in c for c in unset.critical)
    assert not list((tmp_path / "restore").glob("mmc-decrypted-*"))


def test_retention_removes_abandoned_staging(tmp_path: Path) -> None:
    root = tmp_path / "backups" / "primary"
    stale = root / ".staging-20260601T020000Z-mariadb-dump"
    fresh = root / ".staging-20260615T013000Z-mariadb-dump"
    stale.mkdir(parents=True)
    fresh.mkdir()
    removed = apply_retention(
        (tmp_path / "backups").as_uri(), "primary", retention_days=14, keep_count=1, now=NOW
    )
    assert [Path(p.removeprefix("file://")).name for p in removed] == [stale.name]
    assert fresh.exists() and not stale.exists()


def test_local_copy_downloads_an_object_storage_backup_and_removes_it(tmp_path: Path) -> None:
    """Restores need local files: a remote backup is fetched into a private folder."""
    from airflow.sdk import ObjectStoragePath

    from maintenance_ops.recovery.backup import download_tree, local_copy

    source = tmp_path / "store" / "20260601T020000Z-mydumper"
    (source / "mydumper").mkdir(parents=True)
    (source / "mydumper" / "app.t.00000.sql.gz").write_bytes(b"\x1f\x8b" + b"x" * 70_000)
    (source / "manifest.json").write_text("{}")
    dest = tmp_path / "copy"
    copied = download_tree(ObjectStoragePath(source.as_uri()), dest)
    assert copied == 70_002 + 2
    assert (dest / "mydumper" / "app.t.00000.sql.gz").read_bytes()[:2] == b"\x1f\x8b"
    # Local storage is used in place; nothing is copied or removed.
    with local_copy(ObjectStoragePath(source.as_uri())) as local:
        assert local == source
    assert source.exists()


# --------------------------------------------------------------------------------------------
# Catalog names never become tool options
# --------------------------------------------------------------------------------------------


def test_dump_command_puts_schema_names_after_the_end_of_options() -> None:
    command = dump_command("mariadb-dump", "/x.cnf", ["app", "t-price"])
    assert command[-4:] == ["--databases", "--", "app", "t-price"]


def test_a_schema_named_like_an_option_is_refused_and_no_file_appears(
    target: Target, tmp_path: Path
) -> None:
    """``schemas: []`` backs up what the server lists; a hostile name must not become an option."""
    written = tmp_path / "owned.py"
    hostile = f"--result-file={written}"[:64]
    if len(hostile) < len(f"--result-file={written}"):
        written = Path("/tmp") / f"mmc-{os.getpid()}.py"
        hostile = f"--result-file={written}"
    assert target.account is not None
    run_sql(f"CREATE DATABASE `{hostile}`")
    # Anyone with CREATE on a source can make such a schema; the account can see it.
    run_sql(f"GRANT SELECT ON `{hostile}`.* TO '{target.account.user}'@'%'")
    try:
        with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
            with pytest.raises(ConfigError, match="would be read as a tool option") as err:
                take_backup(
                    session,
                    conn_id=target.conn_id,
                    database_name="primary",
                    schemas=[],
                    history_schema=target.history_schema,
                    settings=_settings(tmp_path),
                )
        assert hostile in str(err.value)
        assert not written.exists()
        assert not list((tmp_path / "backups").rglob("*.sql*"))
    finally:
        run_sql(f"DROP DATABASE IF EXISTS `{hostile}`")
        written.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Encrypted backups: only the signed manifest's files are read, hashed as they are decrypted
# --------------------------------------------------------------------------------------------


@pytest.fixture
def encrypted_mydumper(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str]:
    secret = "correct horse battery staple 0123456789"
    monkeypatch.setenv("AIRFLOW_CONN_BACKUP_KEY", f"generic://:{secret.replace(' ', '%20')}@")
    target.sql("CREATE TABLE t (id INT PRIMARY KEY)")
    target.sql("INSERT INTO t VALUES (1), (2)")
    settings = _settings(tmp_path, tool="mydumper", encryption_conn_id="backup_key")
    result = _backup(target, settings)
    return Path(str(result.path).removeprefix("file://")), secret


def test_a_plaintext_file_added_to_an_encrypted_backup_is_refused_naming_it(
    encrypted_mydumper: tuple[Path, str], target: Target, tmp_path: Path
) -> None:
    from maintenance_ops.core.exceptions import VerificationError
    from maintenance_ops.recovery.encryption import decrypted_copy
    from maintenance_ops.recovery.restore import restore_test

    folder, secret = encrypted_mydumper
    evil = f"mydumper/{target.schema}.evil-schema-create.sql"
    (folder / evil).write_text("CREATE TABLE evil (id INT);\n")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert any(evil in p and "not listed" in p for p in verify_files(folder, manifest))
    with pytest.raises(VerificationError, match=f"does not list: {re.escape(evil)}"):
        with decrypted_copy(folder, secret, tmp_path / "copies"):
            pass
    assert not list((tmp_path / "copies").glob("mmc-decrypted-*/*/*"))
    with source_of(target.conn_id, target.history_schema) as source:
        result = restore_test(
            folder,
            None,
            target=RestoreTarget(),
            source=source,
            settings=_settings(tmp_path, encryption_conn_id="backup_key"),
            now=datetime.now(UTC),
            database_name="primary",
            base_dir=tmp_path / "restore",
        )
    assert not result.ok and any(evil in c for c in result.critical), result.critical
    assert not list((tmp_path / "restore").glob("mmc-decrypted-*"))  # nothing was decrypted


def test_a_file_swapped_after_verification_fails_while_it_is_decrypted(
    encrypted_mydumper: tuple[Path, str], tmp_path: Path
) -> None:
    from maintenance_ops.core.exceptions import VerificationError
    from maintenance_ops.recovery.encryption import decrypted_copy

    folder, secret = encrypted_mydumper
    manifest = json.loads((folder / "manifest.json").read_text())
    assert verify_files(folder, manifest) == []  # verified ...
    names = sorted(manifest["files"])
    a, b = folder / names[0], folder / names[1]
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes())  # ... then swapped: another valid file of the same backup
    b.write_bytes(a_bytes)
    with pytest.raises(VerificationError, match=f"{re.escape(names[0])} .*while it was decrypted"):
        with decrypted_copy(folder, secret, tmp_path / "copies"):
            pass


# --------------------------------------------------------------------------------------------
# Secrets and plaintext after a crash
# --------------------------------------------------------------------------------------------

BACKUP_CHILD = """
import sys
from maintenance_ops.recovery.backup import take_backup
from maintenance_ops.core.config import BackupSettings, MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
conn_id, schema, history = sys.argv[1:4]
with MaintenanceSession(conn_id, MaintenanceSettings()) as session:
    take_backup(session, conn_id=conn_id, database_name="primary", schemas=[schema],
                history_schema=history, settings=BackupSettings(enabled=True,
                location="memory://mmc-killed-backup", tool="mariadb-dump"))
"""


def test_a_killed_backup_leaves_no_password_file_or_plaintext_after_cleanup(
    target: Target,
) -> None:
    import signal
    import sys
    import tempfile

    from maintenance_ops.recovery.restore import cleanup_restore_leftovers
    from tests.conftest import mysql_connect

    target.sql("CREATE TABLE t (id INT PRIMARY KEY)")
    target.sql("INSERT INTO t VALUES (1), (2)")
    holder = mysql_connect(target.schema)  # holds the table: the backup waits mid-run
    holder.cursor().execute("LOCK TABLES t WRITE")
    child = subprocess.Popen(
        [sys.executable, "-c", BACKUP_CHILD, target.conn_id, target.schema, target.history_schema],
        env=os.environ.copy(),
    )
    tmp = Path(tempfile.gettempdir())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            left = [
                *tmp.glob(f"mmc-backup-cred-{child.pid}-*"),
                *tmp.glob(f"mmc-backup-staging-{child.pid}-*"),
            ]
            if len(left) >= 2 and any(p.suffix == ".cnf" for p in left):
                break
            assert child.poll() is None, "the backup ended before it was killed"
            time.sleep(0.1)
        else:
            raise AssertionError("the backup never wrote its option file and staging folder")
        time.sleep(0.5)
        child.send_signal(signal.SIGKILL)
        child.wait()
        # the option file holds the password (escaped for the option-file syntax)
        assert any("password" in p.read_text() for p in left if p.suffix == ".cnf")
        removed = cleanup_restore_leftovers()
        assert {str(p) for p in left} <= set(removed)
        assert not [
            *tmp.glob(f"mmc-backup-cred-{child.pid}-*"),
            *tmp.glob(f"mmc-backup-staging-{child.pid}-*"),
        ]
    finally:
        child.kill()
        holder.close()  # releases the lock: the orphaned dump finishes into deleted files


def test_a_stalled_mydumper_is_killed_and_run_once_more(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mydumper 0.10 can hang for good at random: the stall guard kills it and tries again."""
    import shutil
    import stat

    real = shutil.which("mydumper")
    assert real
    shim_dir, mark = tmp_path / "shim", tmp_path / "hung-once"
    shim_dir.mkdir()
    shim = shim_dir / "mydumper"
    shim.write_text(
        "#!/bin/bash\n"
        f'if [ ! -e "{mark}" ] && [[ "$*" == *--outputdir* ]]; then : > "{mark}"; exec sleep 300; fi\n'
        f'exec "{real}" "$@"\n'
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{shim_dir}:{os.environ['PATH']}")
    _populate(target)
    settings = _settings(tmp_path, tool="mydumper").model_copy(update={"stall_timeout_s": 2.0})
    result = _backup(target, settings)
    assert mark.exists()  # the first run hung and was killed
    assert result.manifest["row_counts"][f"{target.schema}.items"] == 3
    assert verify_files(result.path, result.manifest) == []


def test_the_stall_guard_counts_growth_as_progress(tmp_path: Path) -> None:
    from maintenance_ops.recovery.backup import ToolStalled, stall_guard

    tick = stall_guard(tmp_path, 0.2, "mydumper")
    tick()
    (tmp_path / "a").write_bytes(b"x")
    time.sleep(0.15)
    tick()
    (tmp_path / "a").write_bytes(b"xx")  # growth, no new file
    time.sleep(0.15)
    tick()
    time.sleep(0.3)
    with pytest.raises(ToolStalled, match="wrote nothing for 0.2s"):
        tick()

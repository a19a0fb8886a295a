"""Tests for maintenance_ops.recovery.restore: pure decisions, and round trips on real servers."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.audit import AuditLog
from maintenance_ops.core.config import BackupSettings, RestoreTarget
from maintenance_ops.core.exceptions import ConfigError, InstanceError, SafetyAbort
from maintenance_ops.core.identity import SourceServer
from maintenance_ops.core.instance import MARKER_NAME, MySQLInstance
from maintenance_ops.core.session import Endpoint
from maintenance_ops.recovery.definitions import DEFINITIONS_FORMAT, read_definitions
from maintenance_ops.recovery.restore import (
    MARKER_SCHEMA,
    Check,
    ClientEndpoint,
    check_table_ok,
    cleanup_restore_leftovers,
    count_mismatch,
    critical_from,
    detect_tool,
    foreign_schemas,
    missing_objects,
    restore_test,
    rpo_check,
    rto_breach,
    same_server,
    split_object,
    verify_files,
)
from tests.conftest import Target, run_sql
from tests.support.forwarder import TcpForwarder
from tests.support.sources import source_of

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
SOURCE = Endpoint("source", "localhost", 3306)
ELSEWHERE = Endpoint("source", "192.0.2.10", 3306)  # TEST-NET: never the shared server
SETTINGS = BackupSettings(rpo_hours=26, rto_minutes=60)
EPHEMERAL = RestoreTarget()

SCHEMA_DDL = [
    "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), n INT NOT NULL DEFAULT 0)",
    "INSERT INTO t (id, v) VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    "CREATE TABLE `order` (id INT PRIMARY KEY, `select` INT)",
    "INSERT INTO `order` VALUES (1, 10), (2, 20)",
    "CREATE TABLE `Überweisung` (id INT PRIMARY KEY, betrag DECIMAL(10,2))",
    "INSERT INTO `Überweisung` VALUES (1, 9.99)",
    "CREATE TABLE backup_heartbeat (id INT PRIMARY KEY, at DATETIME(6) NOT NULL)",
    "INSERT INTO backup_heartbeat VALUES (1, '2026-06-01 10:00:00')",
    "CREATE VIEW v_t AS SELECT id, v FROM t",
    "CREATE TRIGGER trg_t BEFORE INSERT ON t FOR EACH ROW SET NEW.n = NEW.id * 2",
    "CREATE PROCEDURE p_count() SELECT COUNT(*) FROM t",
    "CREATE EVENT ev_daily ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM t WHERE id < 0",
]


def _objects(schema: str) -> dict[str, list[str]]:
    tables = ["t", "order", "Überweisung", "backup_heartbeat"]
    return {
        "tables": [f"{schema}.{t}" for t in tables],
        "views": [f"{schema}.v_t"],
        "routines": [f"{schema}.p_count (PROCEDURE)"],
        "triggers": [f"{schema}.trg_t"],
        "events": [f"{schema}.ev_daily"],
    }


def _manifest(folder: Path, schema: str, tool: str, ended_at: dt.datetime) -> dict[str, Any]:
    """Write manifest.json for the files in ``folder``, as backup.py does."""
    files = {
        str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
    manifest = {
        "format": 1,
        "database": "primary",
        "tool": tool,
        "tool_version": "test",
        "server": {"flavor": "mariadb", "version": "10.11.19-MariaDB"},
        "started_at": (ended_at - dt.timedelta(seconds=5)).isoformat(),
        "ended_at": ended_at.isoformat(),
        "binlog": {"file": None, "position": None, "gtid": None},
        "schemas": [schema],
        "objects": _objects(schema),
        "definitions": read_definitions(run_sql, [schema]),
        "definitions_format": DEFINITIONS_FORMAT,
        "row_counts": {
            f"{schema}.t": 3,
            f"{schema}.order": 2,
            f"{schema}.Überweisung": 1,
            f"{schema}.backup_heartbeat": 1,
        },
        "row_counts_exact": True,
        "heartbeat": {
            "schema": schema,
            "table": "backup_heartbeat",
            "id": 1,
            "at": "2026-06-01T10:00:00+00:00",
        },
        "compression": "zstd",
        "files": files,
        "encrypted": False,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))
    return manifest


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _populate(target: Target) -> None:
    for stmt in SCHEMA_DDL:
        target.sql(stmt)


def _dump(schema: str, folder: Path, *, compress: bool = True) -> Path:
    """Back ``schema`` up with mariadb-dump (| zstd) into ``folder``."""
    folder.mkdir(parents=True)
    dump_cmd = [
        "mariadb-dump", "--no-defaults", "-h", "127.0.0.1", "-P", "3306", "-u", "root",
        "--single-transaction", "--routines", "--triggers", "--events", "--databases", schema,
    ]  # fmt: skip
    out = folder / ("dump.sql.zst" if compress else "dump.sql")
    with open(out, "wb") as f:
        if not compress:
            subprocess.run(dump_cmd, stdout=f, check=True)
            return out
        dump = subprocess.Popen(dump_cmd, stdout=subprocess.PIPE)
        subprocess.run(["zstd", "-q", "-c"], stdin=dump.stdout, stdout=f, check=True)
        assert dump.wait() == 0
    return out


@pytest.fixture
def source(target: Target) -> Iterator[SourceServer]:
    """The shared server as the backed-up source, identified as the maintenance account."""
    with source_of(target.conn_id, target.history_schema) as found:
        yield found


@pytest.fixture
def dump_backup(target: Target, tmp_path: Path) -> tuple[Path, dict[str, Any], str]:
    """A mariadb-dump backup (with manifest) of a schema holding every kind of object."""
    _populate(target)
    folder = tmp_path / "primary" / "20260601T100000Z-mariadb-dump"
    _dump(target.schema, folder)
    manifest = _manifest(folder, target.schema, "mariadb-dump", NOW - dt.timedelta(hours=2))
    return folder, manifest, target.schema


def _run(
    folder: Path, manifest: dict[str, Any] | None, tmp_path: Path, source: SourceServer, **kw: Any
) -> Any:
    args: dict[str, Any] = {
        "target": EPHEMERAL,
        "source": source,
        "settings": SETTINGS,
        "now": NOW,
        "database_name": "primary",
        "base_dir": tmp_path / "servers",
    }
    args.update(kw)
    return restore_test(folder, manifest, **args)


# --------------------------------------------------------------------------------------------
# Pure decisions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(Endpoint("a", "127.0.0.1", 3306), Endpoint("b", "localhost", 3306), True, id="loopback-names"),
        pytest.param(Endpoint("a", "::1", 3306), Endpoint("b", "127.0.0.1", 3306), True, id="ipv6-loopback"),
        pytest.param(Endpoint("a", "127.0.0.1", 3307), Endpoint("b", "localhost", 3306), False, id="other-port"),
        pytest.param(Endpoint("a", "192.0.2.1", 3306), Endpoint("b", "127.0.0.1", 3306), False, id="other-host"),
        pytest.param(Endpoint("a", "x", 1, "/run/a.sock"), Endpoint("b", "y", 2, "/run/a.sock"), True, id="same-socket"),
    ],
)  # fmt: skip
def test_same_server(a: Endpoint, b: Endpoint, same: bool) -> None:
    assert same_server(a, b) is same


def test_foreign_schemas_ignores_system_backup_and_ours() -> None:
    existing = ["mysql", "sys", "app", "shop", "old_restore", MARKER_SCHEMA]
    assert foreign_schemas(existing, ["app"], ["old_restore"]) == ["shop"]


@pytest.mark.parametrize(
    ("expected", "actual", "exact", "problem"),
    [
        pytest.param(100, 100, True, False, id="exact-equal"),
        pytest.param(100, 99, True, True, id="exact-differs"),
        pytest.param(100, 95, False, False, id="approx-within"),
        pytest.param(100, 50, False, True, id="approx-beyond"),
    ],
)
def test_count_mismatch(expected: int, actual: int, exact: bool, problem: bool) -> None:
    assert (count_mismatch("s.t", expected, actual, exact) is not None) is problem


def test_check_table_ok() -> None:
    assert check_table_ok([("s.t", "check", "status", "OK")])
    assert not check_table_ok(
        [("s.t", "check", "error", "Corrupt"), ("s.t", "check", "status", "Operation failed")]
    )


def test_rpo_check_and_rto_breach() -> None:
    old = {"ended_at": (NOW - dt.timedelta(hours=30)).isoformat()}
    assert rpo_check(old, NOW, 26).status == "fail"
    assert "30.0 h old" in rpo_check(old, NOW, 26).detail
    assert rpo_check(None, NOW, 26).status == "skipped"
    assert rto_breach(3700, 60) is not None and rto_breach(100, 60) is None


def test_missing_objects_and_split() -> None:
    assert split_object("s.p (PROCEDURE)") == ("s", "p")
    assert missing_objects({"tables": ["s.a", "s.b"]}, {"tables": ["s.a"]}) == ["table s.b"]
    assert critical_from([Check("x", "fail", "bad"), Check("y", "pass")]) == ["x: bad"]


def test_detect_tool_from_folder(tmp_path: Path) -> None:
    (tmp_path / "20260101-mydumper" / "mydumper").mkdir(parents=True)
    assert detect_tool(tmp_path / "20260101-mydumper", None) == "mydumper"
    assert detect_tool(tmp_path / "x", {"tool": "mariadb-dump"}) == "mariadb-dump"


def test_option_file_quotes_password() -> None:
    text = ClientEndpoint(host="h", port=1, password='p"w').option_file().decode()
    assert text == '[client]\nuser="root"\npassword="p\\"w"\n'


# --------------------------------------------------------------------------------------------
# Round trips on real servers
# --------------------------------------------------------------------------------------------


def test_mariadb_dump_round_trip(
    source: SourceServer, dump_backup: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    folder, manifest, schema = dump_backup
    result = _run(folder, None, tmp_path, source)  # reads manifest.json itself
    assert result.ok, result.critical
    statuses = {c.name: c.status for c in result.checks}
    assert statuses == {
        "files": "pass", "rpo": "pass", "restore": "pass", "objects": "pass",
        "definitions": "pass", "check_table": "pass", "row_counts": "pass", "heartbeat": "pass",
    }  # fmt: skip
    for kind, names in _objects(schema).items():
        assert set(names) <= set(result.objects[kind]), kind
    assert f"{schema}.Überweisung" in result.objects["tables"]
    assert f"{schema}.order" in result.objects["tables"]
    assert result.restore_s and result.verify_s and result.rto_s
    assert result.throughput_mb_s and result.throughput_mb_s > 0
    assert result.rpo_s == pytest.approx(7200)
    assert result.heartbeat_at == "2026-06-01T10:00:00+00:00"
    assert json.dumps(result.to_dict(), ensure_ascii=False)
    # Teardown: the ephemeral server and its folder are gone.
    assert not list((tmp_path / "servers").glob(f"*/{MARKER_NAME}"))


def test_manifestless_backup_is_restored_with_checks_skipped(
    source: SourceServer, target: Target, tmp_path: Path
) -> None:
    _populate(target)
    folder = tmp_path / "20260601-mariadb-dump"
    _dump(target.schema, folder, compress=False)
    result = _run(folder, None, tmp_path, source)
    statuses = {c.name: c.status for c in result.checks}
    assert statuses["restore"] == "pass"
    assert statuses["files"] == statuses["objects"] == statuses["rpo"] == "skipped"
    assert result.ok and result.rpo_s is None


# --------------------------------------------------------------------------------------------
# Corruption: each a critical naming the problem
# --------------------------------------------------------------------------------------------


def test_truncated_dump_is_critical(
    source: SourceServer, dump_backup: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    folder, manifest, _ = dump_backup
    dump = folder / "dump.sql.zst"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    result = _run(folder, manifest, tmp_path, source)
    assert not result.ok
    assert any("dump.sql.zst is truncated" in c for c in result.critical), result.critical


def test_truncated_dump_without_manifest_fails_restore(
    source: SourceServer, dump_backup: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    folder, _, _ = dump_backup
    (folder / "manifest.json").unlink()
    dump = folder / "dump.sql.zst"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    result = _run(folder, None, tmp_path, source)
    assert not result.ok
    assert any(c.startswith("restore:") and "zstd" in c for c in result.critical), result.critical


def _audit_rows(target: Target) -> list[dict[str, Any]]:
    audit = AuditLog(target.conn_id, target.history_schema)
    try:
        return audit.read("primary")
    finally:
        audit.close()


def test_flipped_byte_is_checksum_mismatch_and_a_failed_audit_row(
    source: SourceServer,
    dump_backup: tuple[Path, dict[str, Any], str],
    target: Target,
    tmp_path: Path,
) -> None:
    folder, manifest, _ = dump_backup
    dump = folder / "dump.sql.zst"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    assert verify_files(folder, manifest)
    audit = AuditLog(target.conn_id, target.history_schema)
    try:
        result = _run(folder, manifest, tmp_path, source, audit=audit)
    finally:
        audit.close()
    # The test stops at the checksums, and its audit row says so.
    (row,) = _audit_rows(target)
    assert row["outcome"] == "failed" and row["ended_at"] is not None
    assert row["error"].startswith("files: dump.sql.zst fails its checksum"), row["error"]
    assert json.loads(row["details"])["checks"]["restore"] == "skipped"
    assert any("dump.sql.zst fails its checksum" in c for c in result.critical), result.critical


def test_manifest_table_missing_from_dump(
    source: SourceServer, dump_backup: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    folder, manifest, schema = dump_backup
    manifest["objects"]["tables"].append(f"{schema}.ghost")
    result = _run(folder, manifest, tmp_path, source)
    assert not result.ok
    assert any(f"table {schema}.ghost" in c and c.startswith("objects:") for c in result.critical)


def test_backup_older_than_rpo(
    source: SourceServer, dump_backup: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    folder, manifest, _ = dump_backup
    result = _run(folder, manifest, tmp_path, source, now=NOW + dt.timedelta(days=2))
    assert not result.ok
    assert any(
        c.startswith("rpo:") and "older than the RPO target 26 h" in c for c in result.critical
    )
    assert result.breaches and result.rpo_s == pytest.approx(50 * 3600)


def _rewrite_dump(folder: Path, old: str, new: str) -> dict[str, Any]:
    """Edit the (uncompressed) dump and re-sign its file checksums: only the content changed."""
    dump = folder / "dump.sql"
    text = dump.read_text(encoding="utf-8")
    assert old in text
    dump.write_text(text.replace(old, new), encoding="utf-8")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["dump.sql"] = {"bytes": dump.stat().st_size, "sha256": _sha256(dump)}
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))
    return manifest


def test_a_changed_routine_body_fails_verify_naming_it_and_is_audited_as_failed(
    source: SourceServer, target: Target, tmp_path: Path
) -> None:
    _populate(target)
    folder = tmp_path / "primary" / "20260601T100000Z-mariadb-dump"
    _dump(target.schema, folder, compress=False)
    _manifest(folder, target.schema, "mariadb-dump", NOW - dt.timedelta(hours=2))
    # The restored copy's procedure body differs from the source's; everything else is equal.
    manifest = _rewrite_dump(folder, "SELECT COUNT(*) FROM t", "SELECT COUNT(*) + 1 FROM t")
    audit = AuditLog(target.conn_id, target.history_schema)
    try:
        result = _run(folder, manifest, tmp_path, source, audit=audit)
    finally:
        audit.close()
    statuses = {c.name: c.status for c in result.checks}
    assert statuses["objects"] == "pass" and statuses["definitions"] == "fail", result.checks
    routine = f"{target.schema}.p_count (PROCEDURE)"
    (critical,) = result.critical
    assert critical.startswith(f"definitions: routine {routine} differs from the backup")
    (row,) = _audit_rows(target)
    assert (row["command"], row["object_name"], row["outcome"]) == (
        "restore test",
        str(folder),
        "failed",
    )
    assert f"routine {routine} differs from the backup" in row["error"]
    assert json.loads(row["details"])["checks"]["definitions"] == "fail"


def test_a_dropped_trigger_fails_verify_naming_it(
    source: SourceServer, target: Target, tmp_path: Path
) -> None:
    _populate(target)
    folder = tmp_path / "primary" / "20260601T100000Z-mariadb-dump"
    _dump(target.schema, folder, compress=False)
    _manifest(folder, target.schema, "mariadb-dump", NOW - dt.timedelta(hours=2))
    manifest = _rewrite_dump(folder, "TRIGGER trg_t BEFORE INSERT", "TRIGGER trg_x BEFORE INSERT")
    result = _run(folder, manifest, tmp_path, source)
    assert f"trigger {target.schema}.trg_t is missing" in " ".join(result.critical)


def test_a_passing_restore_test_is_audited_ok(
    source: SourceServer,
    dump_backup: tuple[Path, dict[str, Any], str],
    target: Target,
    tmp_path: Path,
) -> None:
    folder, manifest, _ = dump_backup
    audit = AuditLog(target.conn_id, target.history_schema)
    try:
        assert _run(folder, manifest, tmp_path, source, audit=audit).ok
    finally:
        audit.close()
    (row,) = _audit_rows(target)
    assert (row["outcome"], row["error"]) == ("ok", None)


# --------------------------------------------------------------------------------------------
# Safety
# --------------------------------------------------------------------------------------------


def _schemas() -> set[str]:
    return {str(r[0]) for r in run_sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")}


def test_scratch_target_equal_to_source_is_refused(
    source: SourceServer,
    dump_backup: tuple[Path, dict[str, Any], str],
    target: Target,
    tmp_path: Path,
) -> None:
    folder, manifest, schema = dump_backup
    target.sql("CREATE TABLE untouched (id INT)")  # a restore would drop it with the schema
    scratch = RestoreTarget(type="scratch", conn_id="mmc_test_target")
    with pytest.raises(
        SafetyAbort, match=r"127\.0\.0\.1:3306.*resolves to the source.*localhost:3306"
    ):
        _run(folder, manifest, tmp_path, source, target=scratch)
    assert target.sql("SHOW TABLES LIKE 'untouched'")
    assert MARKER_SCHEMA not in _schemas()


def _scratch_through(
    monkeypatch: pytest.MonkeyPatch, target: Target, host: str, port: int
) -> RestoreTarget:
    """A scratch target that is the shared server (as the maintenance account) at host:port."""
    assert target.account is not None
    account = dataclasses.replace(target.account, host=host, port=port)
    monkeypatch.setenv("AIRFLOW_CONN_MMC_TEST_SCRATCH", account.conn_json())
    return RestoreTarget(type="scratch", conn_id="mmc_test_scratch")


def _assert_untouched(target: Target) -> None:
    assert target.sql("SHOW TABLES LIKE 'untouched'")  # prepare() would have dropped it
    left = _schemas()  # other tests run beside this one: look at ours only
    assert {target.schema, target.history_schema} <= left
    assert MARKER_SCHEMA not in left  # no marker schema: nothing was written


@contextlib.contextmanager
def _through_forwarder() -> Iterator[tuple[str, int]]:
    with TcpForwarder("127.0.0.1", 3306) as port:
        yield "127.0.0.1", port


@contextlib.contextmanager
def _through_another_address() -> Iterator[tuple[str, int]]:
    """The same server on the same port under another address of this host (as its own
    interface address, 0.0.0.0 or a second DNS name would be): 127.0.0.2:3306, forwarded to the
    shared server, which listens on 127.0.0.1 only. Loopback only: no traffic leaves the host."""
    with TcpForwarder("127.0.0.1", 3306, listen=("127.0.0.2", 3306)):
        yield "127.0.0.2", 3306


@pytest.mark.parametrize(
    ("reach", "refusal"),
    [
        # A proxy's port passes the address check: only the server's own word refuses it.
        pytest.param(
            _through_forwarder, "may be the source .*nonce row", id="tcp-forwarder-on-another-port"
        ),
        # Another address of the same host on the source's port: refused either way.
        pytest.param(
            _through_another_address,
            "resolves to the source|may be the source",
            id="another-address-same-port",
        ),
    ],
)
def test_the_source_under_another_address_is_refused_before_any_write(
    reach: Callable[[], contextlib.AbstractContextManager[tuple[str, int]]],
    refusal: str,
    source: SourceServer,
    dump_backup: tuple[Path, dict[str, Any], str],
    target: Target,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy or another address passes the address check; the server's own word does not."""
    folder, manifest, _ = dump_backup
    target.sql("CREATE TABLE untouched (id INT)")
    with reach() as (host, port):
        scratch = _scratch_through(monkeypatch, target, host, port)
        with pytest.raises(SafetyAbort, match=refusal):
            _run(folder, manifest, tmp_path, source, target=scratch)
    _assert_untouched(target)


def test_scratch_target_with_foreign_databases_is_refused(
    source: SourceServer,
    dump_backup: tuple[Path, dict[str, Any], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, manifest, _ = dump_backup
    with MySQLInstance(base_dir=tmp_path / "scratch") as scratch_server:
        scratch_server.execute("CREATE DATABASE somebody_elses")
        monkeypatch.setenv("AIRFLOW_CONN_MMC_TEST_SCRATCH", scratch_server.airflow_conn_uri())
        scratch = RestoreTarget(type="scratch", conn_id="mmc_test_scratch")
        with pytest.raises(SafetyAbort, match="did not create: .*somebody_elses"):
            _run(folder, manifest, tmp_path, source, target=scratch)
        left = {str(r[0]) for r in scratch_server.execute("SHOW DATABASES")}
        assert MARKER_SCHEMA not in left


def _as_mysql(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The same backup, as the manifest of a mysqldump backup of MySQL 8.4 would describe it."""
    mysql = {**manifest, "tool": "mysqldump", "server": {"flavor": "mysql", "version": "8.4.3"}}
    (folder / "manifest.json").write_text(json.dumps(mysql))
    return mysql


def test_mysql_backup_without_a_mysql_server_is_refused_naming_what_to_install(
    source: SourceServer, dump_backup: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    """Only mariadbd is installed here: a MySQL backup is not loaded into MariaDB."""
    folder, manifest, _ = dump_backup
    mysql = _as_mysql(folder, manifest)
    with pytest.raises(
        InstanceError, match=r"no mysql server binary found: only .*mariadbd.*MariaDB"
    ) as err:
        _run(folder, mysql, tmp_path, source)
    assert "install MySQL Server 8.4 (mysqld)" in str(err.value)
    assert not list((tmp_path / "servers").glob("*/*"))  # no server was started


def test_scratch_server_of_another_flavor_is_refused(
    source: SourceServer,
    dump_backup: tuple[Path, dict[str, Any], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, manifest, _ = dump_backup
    mysql = _as_mysql(folder, manifest)
    with MySQLInstance(base_dir=tmp_path / "scratch") as scratch_server:
        monkeypatch.setenv("AIRFLOW_CONN_MMC_TEST_SCRATCH", scratch_server.airflow_conn_uri())
        scratch = RestoreTarget(type="scratch", conn_id="mmc_test_scratch")
        with pytest.raises(
            ConfigError, match=r"backup of mysql 8\.4\.3 onto scratch .* a mariadb server"
        ):
            _run(folder, mysql, tmp_path, source, target=scratch)
        left = {str(r[0]) for r in scratch_server.execute("SHOW DATABASES")}
        assert MARKER_SCHEMA not in left  # refused before anything was written


def test_scratch_round_trip_drops_what_it_restored(
    source: SourceServer,
    dump_backup: tuple[Path, dict[str, Any], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, manifest, schema = dump_backup
    with MySQLInstance(base_dir=tmp_path / "scratch") as scratch_server:
        monkeypatch.setenv("AIRFLOW_CONN_MMC_TEST_SCRATCH", scratch_server.airflow_conn_uri())
        scratch = RestoreTarget(type="scratch", conn_id="mmc_test_scratch")
        result = _run(folder, manifest, tmp_path, source, target=scratch)
        assert result.ok, result.critical
        assert result.target_desc.startswith("scratch mmc_test_scratch")
        left = {str(r[0]) for r in scratch_server.execute("SHOW DATABASES")}
        assert schema not in left
        assert (
            scratch_server.execute(f"SELECT COUNT(*) FROM {MARKER_SCHEMA}.restored_schemas")[0][0]
            == 0
        )


CHILD = """
import datetime as dt, sys
from pathlib import Path
from maintenance_ops.core.config import BackupSettings, RestoreTarget
from maintenance_ops.core.identity import identify_source
from maintenance_ops.recovery.restore import restore_test
from maintenance_ops.core.session import Endpoint, connect
source = identify_source(connect(sys.argv[3]), Endpoint("s", "localhost", 3306), sys.argv[4])
restore_test(Path(sys.argv[1]), None, target=RestoreTarget(), settings=BackupSettings(),
             source=source, now=dt.datetime.now(dt.UTC),
             database_name="primary", base_dir=sys.argv[2])
"""


def _server_on(datadir: str) -> bool:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f"--datadir={datadir}" in (proc / "cmdline").read_bytes().decode(errors="replace"):
                return True
        except OSError:
            continue
    return False


def test_killed_restore_leaves_nothing_after_cleanup(target: Target, tmp_path: Path) -> None:
    _populate(target)
    folder = tmp_path / "20260601-mariadb-dump"
    dump = _dump(target.schema, folder, compress=False)
    with open(dump, "a") as f:
        f.write("DO SLEEP(120);\n")  # keeps the restore busy until the kill
    base = tmp_path / "servers"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(folder),
            str(base),
            target.conn_id,
            target.history_schema,
        ],
        env=os.environ.copy(),
    )
    datadir = _wait_running(base, child)
    time.sleep(1.0)  # the client is now inside the dump
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert _server_on(datadir), "the kill should have orphaned the server"
    removed = cleanup_restore_leftovers(base)
    assert removed
    assert not _server_on(datadir)
    assert not Path(datadir).exists()
    assert not list(base.glob(f"*/{MARKER_NAME}"))


def _wait_running(base: Path, child: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.poll() is None, "restore child exited before the kill"
        for marker in base.glob(f"*/{MARKER_NAME}"):
            info = json.loads(marker.read_text() or "{}")
            if info.get("state") == "running":
                return str(info["datadir"])
        time.sleep(0.1)
    child.kill()
    raise AssertionError("ephemeral server never reported running")


# --------------------------------------------------------------------------------------------
# mydumper / myloader
# --------------------------------------------------------------------------------------------


def test_mydumper_round_trip(source: SourceServer, target: Target, tmp_path: Path) -> None:
    _populate(target)
    folder = tmp_path / "primary" / "20260601T100000Z-mydumper"
    out = folder / "mydumper"
    folder.mkdir(parents=True)  # mydumper 0.10 creates only the last folder
    done = subprocess.run(
        ["mydumper", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "-B", target.schema,
         "-o", str(out), "--threads", "2", "-G", "-E", "-R"],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = _manifest(folder, target.schema, "mydumper", NOW - dt.timedelta(hours=1))
    result = _run(folder, manifest, tmp_path, source)
    assert result.ok, result.critical
    assert result.tool == "mydumper"
    assert set(_objects(target.schema)["tables"]) <= set(result.objects["tables"])


# --------------------------------------------------------------------------------------------
# mariabackup
# --------------------------------------------------------------------------------------------


@pytest.fixture
def mariabackup_backup(target: Target, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A raw mariabackup backup (with manifest) of a schema holding every kind of object."""
    _populate(target)
    folder = tmp_path / "primary" / "20260601T100000Z-mariabackup"
    folder.mkdir(parents=True)  # mariabackup creates only the last folder
    done = subprocess.run(
        ["mariabackup", "--backup", f"--target-dir={folder / 'mariabackup'}", "--user=root",
         "--host=127.0.0.1", "--port=3306", f"--databases=mysql {target.schema}"],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return folder, _manifest(folder, target.schema, "mariabackup", NOW - dt.timedelta(hours=1))


def test_mariabackup_round_trip(
    source: SourceServer, target: Target, tmp_path: Path, mariabackup_backup: Any
) -> None:
    folder, manifest = mariabackup_backup
    result = _run(folder, manifest, tmp_path, source)
    assert result.ok, result.critical
    assert result.tool == "mariabackup" and result.restore_s and result.rto_s
    for kind, names in _objects(target.schema).items():
        assert set(names) <= set(result.objects[kind]), kind
    # The raw backup is untouched: the restore test prepares a copy.
    assert verify_files(folder, manifest) == []
    assert not list((tmp_path / "servers").glob(f"*/{MARKER_NAME}"))
    files = next(c for c in result.checks if c.name == "files")
    assert files.status == "pass" and f"{len(manifest['files'])} files" in files.detail


def _tamper(folder: Path, how: str) -> str:
    """Change the backup after its manifest was written; return the file's name."""
    if how == "added":
        (folder / "mariabackup" / "extra.sql").write_text("DROP DATABASE mysql;")
        return "mariabackup/extra.sql is not listed"
    victim = max((folder / "mariabackup").rglob("*.ibd"), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the sha256 can tell
    victim.write_bytes(bytes(data))
    return f"{victim.relative_to(folder).as_posix()} fails its checksum"


@pytest.mark.parametrize("how", [pytest.param("changed", id="changed"), "added"])
def test_mariabackup_files_checked_while_copied_nothing_prepared(
    source: SourceServer, tmp_path: Path, mariabackup_backup: Any, how: str
) -> None:
    folder, manifest = mariabackup_backup
    problem = _tamper(folder, how)
    result = _run(folder, manifest, tmp_path, source)
    checks = {c.name: c for c in result.checks}
    assert checks["files"].status == "fail" and problem in checks["files"].detail
    assert checks["restore"].status == "skipped" and not result.ok
    assert result.restore_s is None
    # The copy that failed is removed, with the server folder it was in.
    assert not [p for p in (tmp_path / "servers").rglob("*") if p.is_dir()]


def test_copy_hashed_copies_and_hashes_every_file(tmp_path: Path) -> None:
    from maintenance_ops.recovery.restore.loaders import copy_hashed

    src = tmp_path / "src"
    (src / "db").mkdir(parents=True)
    (src / "ibdata1").write_bytes(os.urandom(3 << 20) + b"tail")
    (src / "db" / "t.ibd").write_bytes(b"")
    (src / "link").symlink_to("ibdata1")
    copied = copy_hashed(src, tmp_path / "dst")
    assert copied == {
        name: ((src / name).stat().st_size, _sha256(src / name)) for name in ("ibdata1", "db/t.ibd")
    }
    assert (tmp_path / "dst" / "ibdata1").read_bytes() == (src / "ibdata1").read_bytes()
    assert os.readlink(tmp_path / "dst" / "link") == "ibdata1"


@pytest.mark.parametrize(
    ("found", "problems"),
    [
        pytest.param({"a": (3, "x"), "b": (1, "y")}, [], id="intact"),
        pytest.param({"a": (3, "x")}, ["b is missing"], id="missing"),
        pytest.param(
            {"a": (2, "x"), "b": (1, "y")}, ["a is truncated: 2 bytes, manifest says 3"], id="short"
        ),
        pytest.param(
            {"a": (3, "z"), "b": (1, "y")},
            ["a fails its checksum (sha256 z, manifest x)"],
            id="changed",
        ),
        pytest.param(
            {"a": (3, "x"), "b": (1, "y"), "c": (0, "w")},
            ["c is not listed in the manifest (added after the backup?)"],
            id="added",
        ),
    ],
)
def test_file_problems(found: dict[str, tuple[int, str]], problems: list[str]) -> None:
    from maintenance_ops.recovery.restore.manifest import file_problems

    listed = {"a": {"bytes": 3, "sha256": "x"}, "b": {"bytes": 1, "sha256": "y"}}
    assert file_problems(listed, found) == problems


# --------------------------------------------------------------------------------------------
# Commands and credentials
# --------------------------------------------------------------------------------------------


def test_commands_never_carry_the_password(tmp_path: Path) -> None:
    from maintenance_ops.recovery.restore import (
        _credentials_file,
        mariadb_command,
        myloader_command,
    )

    client = ClientEndpoint(host="db.example", port=3307, user="u", password="s3cret")
    with _credentials_file(client, "myloader") as cred:
        assert cred is not None and oct(cred.stat().st_mode & 0o777) == "0o600"
        assert b"s3cret" in cred.read_bytes()
        argv = mariadb_command(9, client) + myloader_command(tmp_path, client, cred)
        assert not any("s3cret" in a for a in argv)
        assert "--host=db.example" in argv and "--port=3307" in argv
    assert cred.name.startswith(f"mmc-restore-cred-{os.getpid()}-") and not cred.exists()


def test_progress_line_reports_rate_and_eta() -> None:
    from maintenance_ops.recovery.restore import Progress

    progress = Progress(total=200_000_000, read=100_000_000, started=time.monotonic() - 10)
    line = progress.line()
    assert "100.0/200.0 MB read (50%)" in line and "10.0 MB/s" in line and "ETA 10s" in line


@pytest.mark.parametrize(
    ("db", "head", "expected"),
    [
        pytest.param("shop", "INSERT INTO `orders` VALUES (1,2)", "shop.orders", id="plain"),
        pytest.param("shop", "INSERT INTO `a``b` VALUES (1)", "shop.a`b", id="doubled-backtick"),
        pytest.param("shop", "INSERT INTO `Überweisung` VALUES", "shop.Überweisung", id="unicode"),
        pytest.param(None, "INSERT INTO `orders` VALUES", None, id="no-schema"),
        pytest.param("shop", "CHECK TABLE `orders`", None, id="not-an-insert"),
        pytest.param("shop", None, None, id="idle"),
    ],
)
def test_loading_table_reads_the_insert_head(
    db: str | None, head: str | None, expected: str | None
) -> None:
    from maintenance_ops.recovery.restore import loading_table

    assert loading_table(db, head) == expected


def test_decompressed_bytes_from_zstd_verbose_line(tmp_path: Path) -> None:
    from maintenance_ops.recovery.restore import decompressed_bytes

    src = tmp_path / "x.sql"
    src.write_bytes(b"x" * 123_457)
    subprocess.run(["zstd", "-q", str(src)], check=True)
    done = subprocess.run(
        ["zstd", "-v", "-dc", "--", f"{src}.zst"], capture_output=True, check=True
    )
    assert decompressed_bytes(done.stderr) == 123_457
    assert decompressed_bytes(b"") is None


def test_proc_io_counts_a_live_process_and_nothing_for_a_gone_one() -> None:
    from maintenance_ops.recovery.restore import proc_io

    assert proc_io(os.getpid())["rchar"] > 0
    assert proc_io(2**22 + 12345) == {}  # above pid_max: never a live process


def test_load_follower_submits_a_table_once_the_load_moved_on() -> None:
    """A table is checked during the restore only after INSERTs moved to another table."""
    import threading

    from maintenance_ops.recovery.restore import LoadFollower

    class Recorder:
        def __init__(self) -> None:
            self.submitted: list[str] = []

        def submit(self, table: str) -> None:
            self.submitted.append(table)

    with MySQLInstance() as server:
        server.execute("CREATE DATABASE shop")
        server.execute("CREATE TABLE shop.a (v INT)")
        server.execute("CREATE TABLE shop.b (v INT)")
        recorder = Recorder()
        monitor = server.connect()
        follower = LoadFollower(monitor, recorder, ["shop.a", "shop.b"])  # type: ignore[arg-type]

        def slow_insert(table: str) -> threading.Thread:
            def run() -> None:
                conn = server.connect("shop")
                conn.cursor().execute(f"INSERT INTO `{table}` SELECT SLEEP(1.5)")
                conn.commit()
                conn.close()

            thread = threading.Thread(target=run)
            thread.start()
            return thread

        def poll_until_loading() -> None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                rows = monitor.cursor()
                rows.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                    "WHERE INFO LIKE 'INSERT INTO %'"
                )
                if rows.fetchone()[0]:
                    follower()
                    return
                time.sleep(0.05)
            raise AssertionError("the INSERT never showed up in the process list")

        first = slow_insert("a")
        poll_until_loading()
        assert recorder.submitted == []  # still loading a: not complete
        first.join()
        second = slow_insert("b")
        poll_until_loading()
        second.join()
        assert recorder.submitted == ["shop.a"]
        monitor.close()


def test_a_failing_client_is_named_not_the_decompressor_it_cut_off(tmp_path: Path) -> None:
    """The SQL error is what the operator needs, not zstd's broken pipe."""
    from maintenance_ops.core.exceptions import VerificationError
    from maintenance_ops.recovery.restore import restore_dump

    dump = tmp_path / "dump.sql"
    bad = b"CREATE DATABASE d;\nTHIS IS NOT SQL;\n"
    dump.write_bytes(bad + b"INSERT INTO nowhere VALUES (1);\n" * 200_000)  # > the pipe buffer
    subprocess.run(["zstd", "-q", "--rm", str(dump)], check=True)
    with MySQLInstance() as server:
        client = ClientEndpoint(socket=server.socket, port=server.port)
        with pytest.raises(VerificationError, match=r"(?s)mariadb exited with 1: .*ERROR 1064"):
            restore_dump(tmp_path / "dump.sql.zst", client)


@pytest.mark.parametrize(
    ("apart", "connections"),
    [pytest.param(True, 2, id="apart"), pytest.param(False, 1, id="in-turn")],
)
def test_table_checker_counts_beside_the_check(
    target: Target, apart: bool, connections: int
) -> None:
    from maintenance_ops.core.session import connect
    from maintenance_ops.recovery.restore.verify import TableChecker

    target.sql("CREATE TABLE t (id INT PRIMARY KEY, k INT, KEY by_k (k))")
    target.sql("INSERT INTO t SELECT seq, seq MOD 7 FROM seq_1_to_1000")
    opened: list[Any] = []
    second = threading.Event()
    lock = threading.Lock()

    def open_one() -> Any:
        # Apart, the first worker stays busy until a second one opens its connection: the count
        # must not wait for the check's worker to come free (without the wait, a descheduled
        # test thread could let one worker run all four statements in turn).
        with lock:
            first = not opened
            opened.append(None)
            index = len(opened) - 1
        if apart and first:
            assert second.wait(30), "the count waited for the check's connection"
        else:
            second.set()
        opened[index] = connect(target.conn_id)
        return opened[index]

    checker = TableChecker(open_one, workers=1, apart=apart)
    try:
        found = checker.results([f"{target.schema}.t", f"{target.schema}.gone"])
    finally:
        checker.close()
    table = found[f"{target.schema}.t"]
    assert table.ok and table.rows == 1000 and table.messages == "OK"
    gone = found[f"{target.schema}.gone"]
    assert not gone.ok and gone.rows is None and "gone" in gone.messages
    # Apart: each table's CHECK TABLE and its count ran at once, on connections of their own.
    assert len(opened) == connections

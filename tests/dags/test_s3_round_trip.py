"""Backups on object storage, for real: a local S3 server (moto) started by the test.

The daily DAG backs up to ``s3://<conn>@<bucket>/backups`` and applies retention there, the
backup-testing DAG restores from it (and fails naming a file whose bytes changed in the
bucket), and the DR drill recovers from it. What the code wrote is checked with boto3 against
the server, not through the code under test. The code connects as the grants.sql account.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from maintenance_ops.core.config import BackupSettings, MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.recovery.backup import MANIFEST_NAME, latest_backup, take_backup, verify_files
from tests.conftest import Target, target_database
from tests.dags.conftest import run_dag, task_states
from tests.support.accounts import create_account
from tests.support.s3 import S3Bucket, s3_bucket

OLD = "backups/primary/20260101T020000Z-mariadb-dump"
EXTERNAL = "backups/primary/20260102T020000Z-xtrabackup"
ABANDONED = "backups/primary/20260103T020000Z-mariadb-dump"
HISTORY = "_maintenance"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Bucket]:
    with s3_bucket(monkeypatch) as bucket:
        yield bucket


def _staging_left() -> list[Path]:
    """This process's local staging folders of backups bound for object storage."""
    return list(Path(tempfile.gettempdir()).glob(f"mmc-backup-staging-{os.getpid()}-*"))


def _seed_old_backups(s3: S3Bucket) -> None:
    """An expired backup of ours, an external one (no manifest), and a killed run's upload."""
    body = b"old dump"
    manifest = {
        "format": 1,
        "ended_at": "2026-01-01T02:05:00+00:00",
        "files": {"dump.sql.zst": {"bytes": len(body), "sha256": "0" * 64}},
    }
    s3.put(f"{OLD}/dump.sql.zst", body)
    s3.put(f"{OLD}/{MANIFEST_NAME}", json.dumps(manifest).encode())
    s3.put(f"{EXTERNAL}/backup.xbstream", b"someone else's")
    s3.put(f"{ABANDONED}/.incomplete", b"")
    s3.put(f"{ABANDONED}/dump.sql.zst", b"half")


def _restore_test_rows(target: Target) -> list[tuple[str, str | None]]:
    return target.sql(
        f"SELECT outcome, error FROM `{target.history_schema}`.maintenance_log"
        " WHERE command = 'restore test' ORDER BY id"
    )


@pytest.mark.slow
def test_backup_restore_test_and_retention_on_s3(
    target: Target, s3: S3Bucket, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    target.sql("CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(20))")
    target.sql("INSERT INTO accounts VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    target.sql("CREATE VIEW active AS SELECT id FROM accounts")
    _seed_old_backups(s3)
    location = s3.url("backups")
    backup = {"enabled": True, "location": location, "retention_days": 14, "keep_count": 1}
    write_config(
        {
            "databases": [target_database(target, backup=backup)],
            "notifications": {"send_reports": False, "report_dir": str(tmp_path / "reports")},
        }
    )

    daily = run_dag("mysql_daily_maintenance", {"databases": ["primary"]})
    assert str(daily.state) == "success", task_states(daily)
    keys = s3.keys("backups/primary/")
    new = sorted({k.rsplit("/", 1)[0] for k in keys} - {EXTERNAL})
    assert len(new) == 1 and new[0].endswith("-mariadb-dump"), keys
    (folder,) = new
    # The dump and its manifest landed in the bucket; the manifest lists exactly the dump.
    assert keys == sorted([f"{EXTERNAL}/backup.xbstream", f"{folder}/dump.sql.zst",
                           f"{folder}/{MANIFEST_NAME}"]), keys  # fmt: skip
    manifest = json.loads(s3.get(f"{folder}/{MANIFEST_NAME}"))
    assert list(manifest["files"]) == ["dump.sql.zst"]
    assert manifest["files"]["dump.sql.zst"]["bytes"] == len(s3.get(f"{folder}/dump.sql.zst"))
    # Nothing plaintext stays on the worker, and retention removed the expired backup and the
    # killed run's half upload, never the external one.
    assert not _staging_left()
    assert not [k for k in keys if k.startswith((OLD, ABANDONED))]

    # An object added beside the backup's files is named, on object storage as on disk.
    extra = f"{folder}/app-schema-create.sql"
    s3.put(extra, b"CREATE DATABASE app")
    info = latest_backup(location, "primary")
    assert info is not None and info.manifest is not None
    assert verify_files(info.path, info.manifest) == [
        "app-schema-create.sql is not listed in the manifest (added after the backup?)"
    ]
    s3.client().delete_object(Bucket=s3.bucket, Key=extra)

    tested = run_dag("mysql_backup_testing")
    assert str(tested.state) == "success", task_states(tested)
    assert _restore_test_rows(target) == [("ok", None)]
    assert not list(Path(tempfile.gettempdir()).glob(f"mmc-fetched-{os.getpid()}-*"))

    # One flipped byte in the bucket: the restore test fails naming the file.
    dump = bytearray(s3.get(f"{folder}/dump.sql.zst"))
    dump[len(dump) // 2] ^= 0xFF
    s3.put(f"{folder}/dump.sql.zst", bytes(dump))
    failed = run_dag("mysql_backup_testing")
    assert str(failed.state) == "failed", task_states(failed)
    outcome, error = _restore_test_rows(target)[-1]
    assert outcome == "failed" and "dump.sql.zst fails its checksum" in (error or ""), error
    assert target.sql("SELECT COUNT(*) FROM accounts") == [(3,)]


@pytest.mark.slow
def test_drill_recovers_from_s3(
    s3: S3Bucket, write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DR drill checks the backup in the bucket and recovers from it to a point in time."""
    from maintenance_ops.core.instance import InstanceSpec, MySQLInstance

    reports = tmp_path / "reports"
    with MySQLInstance(InstanceSpec(binlog=True), base_dir=tmp_path / "srv") as primary:
        primary.execute("CREATE DATABASE app")
        primary.execute("CREATE TABLE app.accounts (id INT PRIMARY KEY, owner VARCHAR(20))")
        primary.execute("INSERT INTO app.accounts VALUES (1, 'ada'), (2, 'bob')")
        account = create_account(primary.execute, ["app"], HISTORY, port=primary.port)
        monkeypatch.setenv("AIRFLOW_CONN_DR_S3_PRIMARY", account.conn_json())
        backup = {"enabled": True, "location": s3.url("backups")}
        write_config(
            {
                "databases": [
                    {
                        "name": "shop",
                        "conn_id": "dr_s3_primary",
                        "schemas": ["app"],
                        "history_schema": HISTORY,
                        "backup": backup,
                    }
                ],
                "notifications": {"send_reports": False, "report_dir": str(reports)},
                "disaster_recovery": {"pitr_marker_gap_s": 1.0, "notification_test": False},
            }
        )
        with MaintenanceSession("dr_s3_primary", MaintenanceSettings()) as session:
            result = take_backup(
                session,
                conn_id="dr_s3_primary",
                database_name="shop",
                schemas=["app"],
                history_schema=HISTORY,
                settings=BackupSettings(**backup),
            )
        assert str(result.path).startswith(f"s3://{s3.conn_id}@{s3.bucket}/backups/shop/")
        primary.execute("INSERT INTO app.accounts VALUES (3, 'cy')")  # after the backup

        drill = run_dag("mysql_disaster_recovery_test")
    assert str(drill.state) == "success", task_states(drill)
    (path,) = (reports / "mysql_disaster_recovery_test" / "evidence").glob("*.json")
    evidence = json.loads(path.read_text())
    assert evidence["verdict"] == "ready", evidence["reasons"]
    checks = {(area, c["name"]): c for area, cs in evidence["areas"].items() for c in cs}
    assert checks[("backup", "checksums")]["status"] == "pass"
    assert checks[("pitr", "markers")]["status"] == "pass", evidence["areas"]["pitr"]
    assert evidence["facts"]["backup"]["path"] == str(result.path)
    assert evidence["recovery_point"] and not list(
        Path(tempfile.gettempdir()).glob(f"mmc-fetched-{os.getpid()}-*")
    )


def test_an_upload_that_fails_midway_is_not_a_backup_and_retention_removes_it(
    s3: S3Bucket, tmp_path: Path
) -> None:
    """Object storage has no rename: a half upload must not pass for an external backup."""
    from datetime import UTC, datetime, timedelta

    from maintenance_ops.recovery.backup import (
        _publish,
        _storage_path,
        apply_retention,
        list_backups,
    )

    location = s3.url("backups")
    folder = "20260601T020000Z-mydumper"
    staging = tmp_path / "staging"
    (staging / "mydumper").mkdir(parents=True)
    (staging / "mydumper" / "app.t.00000.sql").write_text("INSERT INTO t VALUES (1);\n")
    # A staged file that cannot be read (a disk error): the upload stops after the first file.
    (staging / "mydumper" / "zz.sql").symlink_to("/proc/self/mem")
    final = _storage_path(location) / "primary" / folder
    with pytest.raises(OSError):
        _publish(staging, final, {"format": 1, "files": {}})
    keys = s3.keys(f"backups/primary/{folder}/")
    assert f"backups/primary/{folder}/mydumper/app.t.00000.sql" in keys
    assert f"backups/primary/{folder}/{MANIFEST_NAME}" not in keys
    assert list_backups(location, "primary") == []  # not a backup, not an external one

    stamp = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    kept = apply_retention(location, "primary", retention_days=14, keep_count=1,
                           now=stamp + timedelta(hours=1))  # fmt: skip
    assert kept == [] and s3.keys(f"backups/primary/{folder}/") == keys  # maybe still uploading
    removed = apply_retention(location, "primary", retention_days=14, keep_count=1,
                              now=stamp + timedelta(days=2))  # fmt: skip
    assert removed == [str(final)] and s3.keys("backups/") == []


def test_a_location_naming_a_missing_connection_is_refused(s3: S3Bucket) -> None:
    """Not a silent fall back to the worker's own AWS credentials or anonymous access."""
    from maintenance_ops.core.exceptions import ConfigError
    from maintenance_ops.recovery.backup import list_backups

    with pytest.raises(ConfigError, match="'mmc_s3_typo', which is not defined; create it"):
        list_backups(f"s3://mmc_s3_typo@{s3.bucket}/backups", "primary")
    assert list_backups(s3.url("backups"), "primary") == []

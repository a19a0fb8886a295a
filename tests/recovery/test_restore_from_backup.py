"""The restore runbook, run as an operator would: a subprocess against real private servers."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.instance import MySQLInstance
from maintenance_ops.recovery.pitr import marker_present
from maintenance_ops.recovery.runbook_cli import uri_without_password
from tests.support.pitr_source import PASSWORD, MarkedSource, marked_source

SCRIPT = Path(__file__).resolve().parents[2] / "include" / "recovery" / "restore_from_backup.py"
SOURCE_CONN_ID = "mmc_test_runbook_restore_source"


def runbook(*args: str, target: Any = None) -> subprocess.CompletedProcess[str]:
    """Run the runbook as an operator would: no terminal (it never prompts), the binlog
    source's (and the target's) password in the environment, never on the command line."""
    env = {**os.environ, "MMC_RUNBOOK_PASSWORD_BINLOG_SOURCE": PASSWORD}
    if target is not None:
        env["MMC_RUNBOOK_PASSWORD_TARGET"] = getattr(target, "password", "") or ""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=env,
    )


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MarkedSource]:
    with marked_source(
        tmp_path_factory.mktemp("runbook-restore"), conn_id=SOURCE_CONN_ID, database_name="primary"
    ) as source:
        yield source


@pytest.fixture
def target(tmp_path: Path) -> Iterator[MySQLInstance]:
    with MySQLInstance(base_dir=tmp_path / "target") as inst:
        yield inst


def _markers(inst: MySQLInstance) -> tuple[bool, bool]:
    conn = inst.connect()
    try:
        return marker_present(conn, "app", "before"), marker_present(conn, "app", "after")
    finally:
        conn.close()


def _schemas(inst: MySQLInstance) -> set[str]:
    return {str(r[0]) for r in inst.execute("SHOW DATABASES")}


def _pitr_args(drill: MarkedSource, target: Any, *extra: str) -> list[str]:
    return [
        "--backup",
        str(drill.backup),
        "--target",
        uri_without_password(target.url()),
        "--until",
        drill.until,
        "--binlog-source",
        uri_without_password(drill.uri),
        *extra,
    ]


def test_help() -> None:
    done = runbook("--help")
    assert done.returncode == 0
    for option in ("--backup", "--location", "--ephemeral", "--keep", "--until", "--dry-run"):
        assert option in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--ephemeral"], "--backup PATH or --location", id="no-backup"),
        pytest.param(["--backup", "/x"], "--target URI|CONN_ID or --ephemeral", id="no-target"),
        pytest.param(
            ["--backup", "/x", "--ephemeral", "--until", "2026-01-01 00:00:00"],
            "--until needs --binlog-source",
            id="until-without-source",
        ),
        pytest.param(
            ["--backup", "/x", "--ephemeral", "--until", "yesterday"],
            "is not a time",
            id="bad-time",
        ),
    ],
)
def test_bad_arguments_exit_2(args: list[str], message: str) -> None:
    done = runbook(*args)
    assert done.returncode == 2 and message in done.stderr


def test_until_restores_between_the_markers(drill: MarkedSource, target: MySQLInstance) -> None:
    done = runbook(*_pitr_args(drill, target), target=target)
    assert done.returncode == 0, done.stderr
    assert _markers(target) == (True, False)
    assert "achieved recovery point: " in done.stdout and "time taken: restore" in done.stdout
    achieved = done.stdout.split("achieved recovery point: ", 1)[1].split()[0]
    assert dt.datetime.fromisoformat(achieved) <= drill.point
    assert PASSWORD not in done.stdout + done.stderr


def test_password_in_a_uri_is_refused_unless_insecure_flag(
    drill: MarkedSource, target: MySQLInstance
) -> None:
    args = [
        a if a != uri_without_password(drill.uri) else drill.uri for a in _pitr_args(drill, target)
    ]
    assert PASSWORD in " ".join(args)
    refused = runbook(*args)
    assert refused.returncode == 2
    assert "--binlog-source: a password in the URI is visible" in refused.stderr
    assert "MMC_RUNBOOK_PASSWORD_BINLOG_SOURCE" in refused.stderr
    assert PASSWORD not in refused.stdout + refused.stderr
    assert "app" not in _schemas(target)
    accepted = runbook(*args, "--insecure-password-in-uri", "--dry-run", target=target)
    assert accepted.returncode == 0, accepted.stderr
    assert PASSWORD not in accepted.stdout + accepted.stderr


def test_non_empty_target_is_refused_then_forced(
    drill: MarkedSource, target: MySQLInstance
) -> None:
    target.execute("CREATE DATABASE keepme")
    refused = runbook(*_pitr_args(drill, target), target=target)
    assert refused.returncode == 1
    assert "keepme" in refused.stderr and "--force" in refused.stderr
    assert "app" not in _schemas(target)
    forced = runbook(*_pitr_args(drill, target, "--force"), target=target)
    assert forced.returncode == 0, forced.stderr
    assert _markers(target) == (True, False) and "keepme" in _schemas(target)


def test_dry_run_writes_nothing(drill: MarkedSource, target: MySQLInstance) -> None:
    done = runbook(*_pitr_args(drill, target, "--dry-run"), target=target)
    assert done.returncode == 0, done.stderr
    assert "DRY RUN" in done.stdout and "replay binary logs" in done.stdout
    assert "dry run complete" in done.stdout
    assert "app" not in _schemas(target)


def test_dry_run_ephemeral_from_location_starts_nothing(drill: MarkedSource) -> None:
    done = runbook(
        "--location", drill.location, "--database", "primary", "--ephemeral", "--dry-run"
    )
    assert done.returncode == 0, done.stderr
    assert drill.backup.name in done.stdout and "start a private server" in done.stdout
    assert "private server: mysql://" not in done.stdout


def test_target_equal_to_binlog_source_is_refused(drill: MarkedSource) -> None:
    done = runbook(*_pitr_args(drill, drill.source, "--force"), target=drill.source)
    assert done.returncode == 1
    assert "same server as the binlog source" in done.stderr


def test_corrupted_backup_is_refused_before_any_write(
    drill: MarkedSource, target: MySQLInstance, tmp_path: Path
) -> None:
    copy = tmp_path / drill.backup.name
    shutil.copytree(drill.backup, copy)
    dump = next(copy.glob("dump.sql*"))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    done = runbook(
        "--backup", str(copy), "--target", uri_without_password(target.url()), target=target
    )
    assert done.returncode == 1
    assert "fails its checksum" in done.stderr and "nothing was written" in done.stderr
    assert "app" not in _schemas(target)


def test_ephemeral_restore_is_stopped_at_the_end(drill: MarkedSource) -> None:
    done = runbook(
        "--backup",
        str(drill.backup),
        "--ephemeral",
        "--until",
        drill.until,
        "--binlog-source",
        uri_without_password(drill.uri),
    )
    assert done.returncode == 0, done.stderr
    assert "private server: 127.0.0.1:" in done.stdout
    assert "stop the private server" in done.stdout
    assert "achieved recovery point: 20" in done.stdout
    port = int(done.stdout.split("private server: 127.0.0.1:", 1)[1].split()[0])
    import MySQLdb

    with pytest.raises(MySQLdb.OperationalError):
        MySQLdb.connect(host="127.0.0.1", port=port, user="root", connect_timeout=2)


def test_keep_returns_the_prompt_and_says_how_to_stop_the_server(drill: MarkedSource) -> None:
    """--keep: the command ends, the private server stays up, the printed commands reach it
    (root's password in a 0600 option file, never printed) and stop it."""
    import re

    import MySQLdb

    done = runbook("--backup", str(drill.backup), "--ephemeral", "--keep")
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(
        r"private server left running: 127\.0\.0\.1:(\d+), socket (\S+), datadir \S+ "
        r"\(root's password: (\S+)/root\.cnf\)", done.stdout
    )  # fmt: skip
    assert found, done.stdout
    port, folder = int(found[1]), Path(found[3])
    assert f"-admin --defaults-extra-file={folder}/root.cnf" in done.stdout
    assert oct((folder / "root.cnf").stat().st_mode & 0o777) == "0o600"
    try:
        conn = MySQLdb.connect(
            host="127.0.0.1", port=port, read_default_file=str(folder / "root.cnf"),
            connect_timeout=5,
        )  # fmt: skip
        try:
            cur = conn.cursor()
            cur.execute("SELECT COUNT(*) FROM app.t")
            assert cur.fetchone() == (2,)
        finally:
            conn.close()
    finally:
        stop = done.stdout.split("stop it and remove its files when done: ", 1)[1].splitlines()[0]
        subprocess.run(["bash", "-c", stop], check=True, timeout=60)
    assert not folder.exists()
    with pytest.raises(MySQLdb.OperationalError):
        MySQLdb.connect(host="127.0.0.1", port=port, user="root", connect_timeout=2)


def test_mariabackup_backup_is_refused_before_starting_anything(tmp_path: Path) -> None:
    import hashlib
    import json

    backup = tmp_path / "20260101T020000Z-mariabackup"
    raw = backup / "mariabackup" / "xtrabackup_checkpoints"
    raw.parent.mkdir(parents=True)
    raw.write_text("backup_type = full-backuped\n")
    data = raw.read_bytes()
    manifest = {
        "format": 1,
        "tool": "mariabackup",
        "started_at": "2026-01-01T02:00:00+00:00",
        "ended_at": "2026-01-01T02:01:00+00:00",
        "files": {
            "mariabackup/xtrabackup_checkpoints": {
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        },
    }
    (backup / "manifest.json").write_text(json.dumps(manifest))
    done = runbook("--backup", str(backup), "--ephemeral")
    assert done.returncode == 2
    assert "mariabackup backup" in done.stderr and "--prepare" in done.stderr
    assert "private server:" not in done.stdout

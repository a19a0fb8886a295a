"""The restore runbook checks every precondition before the restore starts, dry run included.

The runbook runs as an operator's would: a subprocess, as grants.sql's on-call account on the
binlog source (a private binlog-enabled server with a backup of ``app``), and as an account
holding exactly the runbook's target requirements on a private target (or its root). Each
refusal must come before anything is written on the target, and name the problem and the fix.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from maintenance_ops.core.instance import InstanceSpec, MySQLInstance, cleanup_stale
from maintenance_ops.recovery.pitr import marker_present
from tests.recovery.oncall import RECOVERY, OnCall, create_oncall, drop_oncall, run_runbook
from tests.support.accounts import PASSWORD
from tests.support.pitr_source import MarkedSource, marked_source

SCRIPT = "restore_from_backup.py"


@functools.cache
def _script() -> ModuleType:
    """The runbook as a module: its list of what the target's account needs."""
    spec = importlib.util.spec_from_file_location("restore_runbook", RECOVERY / SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MarkedSource, OnCall]]:
    """A source with a backup, its binary logs intact, and the on-call account on it."""
    with marked_source(
        tmp_path_factory.mktemp("preconditions"), conn_id="mmc_test_restore_pre",
        database_name="primary",
    ) as source:  # fmt: skip
        yield source, create_oncall(source.source.execute, source.source.port)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[MySQLInstance]:
    with MySQLInstance(base_dir=tmp_path / "target") as inst:
        yield inst


def _schemas(inst: MySQLInstance) -> set[str]:
    return {str(r[0]) for r in inst.execute("SHOW DATABASES")}


def _target_account(target: MySQLInstance, *, replay: bool, skip: str = "") -> str:
    """Create an account holding the runbook's target requirements (but ``skip``); its URI."""
    from maintenance_ops.core.dialect import parse_version

    user = f"rs_{uuid.uuid4().hex[:10]}"
    target.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
    needed = _script().target_requirements(parse_version(target.version), replay=replay)
    assert skip == "" or skip in {r.privilege for r in needed}
    for req in needed:
        if req.privilege != skip:
            target.execute(f"GRANT {req.privilege} ON *.* TO '{user}'@'%'")
    return f"mysql://{user}@127.0.0.1:{target.port}"


def restore(
    drill: tuple[MarkedSource, OnCall], target_uri: str, target_password: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """Run the restore with --until as the on-call account on the source."""
    source, account = drill
    return run_runbook(
        SCRIPT, "--backup", str(source.backup), "--target", target_uri, "--until", source.until,
        "--binlog-source", account.url(), *extra,
        account=account, env={"MMC_RUNBOOK_PASSWORD_TARGET": target_password},
    )  # fmt: skip


def _root_uri(target: MySQLInstance) -> str:
    return f"mysql://root@127.0.0.1:{target.port}"


def test_an_account_with_the_target_requirements_restores_and_replays(
    drill: tuple[MarkedSource, OnCall], target: MySQLInstance
) -> None:
    """The list is enough: nothing more than it is needed for a restore with --until."""
    target_uri = _target_account(target, replay=True)
    dry = restore(drill, target_uri, PASSWORD, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    for line in (
        "privileges: ",
        "check: 1 backup files match their sha256",
        "check: binary log chain on ",
        "check: target ",
    ):
        assert line in dry.stdout, dry.stdout
    checks = [n for n, line in enumerate(dry.stdout.splitlines()) if line.startswith("check:")]
    first_step = next(n for n, line in enumerate(dry.stdout.splitlines()) if line.startswith("[1/"))
    assert max(checks) < first_step
    assert "app" not in _schemas(target)
    done = restore(drill, target_uri, PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    conn = target.connect()
    try:
        assert (marker_present(conn, "app", "before"), marker_present(conn, "app", "after")) == (
            True,
            False,
        )
    finally:
        conn.close()


@pytest.fixture(scope="module")
def purged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MarkedSource, OnCall, str]]:
    """A source whose binary log holding the backup's position was purged after the backup."""
    with marked_source(
        tmp_path_factory.mktemp("purged"), conn_id="mmc_test_restore_purged",
        database_name="primary",
    ) as source:  # fmt: skip
        gone = str(source.manifest["binlog"]["file"])
        source.source.execute("FLUSH BINARY LOGS")
        newest = str(source.source.execute("SHOW BINARY LOGS")[-1][0])
        # MariaDB keeps a file until its binlog checkpoint moved on (asynchronous after FLUSH).
        deadline = time.monotonic() + 30
        while gone in {str(r[0]) for r in source.source.execute("SHOW BINARY LOGS")}:
            assert time.monotonic() < deadline, f"{gone} could not be purged"
            source.source.execute(f"PURGE BINARY LOGS TO '{newest}'")
            time.sleep(0.2)
        yield source, create_oncall(source.source.execute, source.source.port), gone


@pytest.mark.parametrize(
    "mode", [pytest.param(["--dry-run"], id="dry-run"), pytest.param([], id="real")]
)
def test_a_purged_binlog_is_refused_before_anything_is_written(
    purged: tuple[MarkedSource, OnCall, str], target: MySQLInstance, mode: list[str]
) -> None:
    source, account, gone = purged
    done = restore((source, account), _root_uri(target), target.password, *mode)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"binlog {gone} needed to roll the backup forward is gone (purged)" in done.stderr
    assert "Nothing was written" in done.stderr and "without --until" in done.stderr
    assert "[1/" not in done.stdout  # no step was printed, let alone run
    assert "app" not in _schemas(target)


def test_a_non_empty_target_is_refused_before_the_restore(
    drill: tuple[MarkedSource, OnCall], target: MySQLInstance
) -> None:
    target.execute("CREATE DATABASE keepme")
    done = restore(drill, _root_uri(target), target.password, "--dry-run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "is not empty: it holds keepme" in done.stderr and "--force" in done.stderr
    assert "check: binary log chain on " in done.stdout and "[1/" not in done.stdout
    real = restore(drill, _root_uri(target), target.password)
    assert real.returncode == 1 and "[1/" not in real.stdout
    assert _schemas(target) & {"app", "keepme"} == {"keepme"}


def test_a_wrong_key_is_refused_before_anything(
    drill: tuple[MarkedSource, OnCall], target: MySQLInstance, tmp_path: Path
) -> None:
    """A backup whose manifest is signed with one key, the key connection holding another."""
    from maintenance_ops.recovery.encryption import sign_manifest

    source, account = drill
    copy = tmp_path / source.backup.name
    shutil.copytree(source.backup, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(sign_manifest(manifest, "right-" + "x" * 30)))
    conn = {"conn_type": "generic", "password": "a-wrong-key-" + "y" * 20}
    env = {"AIRFLOW_CONN_MMC_TEST_WRONG_KEY": json.dumps(conn)}
    done = run_runbook(
        SCRIPT, "--backup", str(copy), "--target", _root_uri(target), "--until", source.until,
        "--binlog-source", account.url(), "--key-conn", "mmc_test_wrong_key",
        account=account, env={**env, "MMC_RUNBOOK_PASSWORD_TARGET": target.password},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not signed with the key in 'mmc_test_wrong_key'" in done.stderr
    assert "[1/" not in done.stdout and "decrypt" not in done.stdout
    assert "app" not in _schemas(target)
    assert "a-wrong-key" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("where", "grant", "named"),
    [
        pytest.param(
            "source", "GRANT REPLICATION SLAVE ON", "REPLICATION SLAVE ON *.*", id="source"
        ),
        pytest.param("target", "BINLOG REPLAY", "BINLOG REPLAY ON *.*", id="target-replay"),
        pytest.param("target", "CREATE", "CREATE ON *.*", id="target-create"),
    ],
)
@pytest.mark.parametrize(
    "mode", [pytest.param(["--dry-run"], id="dry-run"), pytest.param([], id="real")]
)
def test_a_missing_grant_is_named_before_anything(
    drill: tuple[MarkedSource, OnCall], target: MySQLInstance, where: str, grant: str,
    named: str, mode: list[str],
) -> None:  # fmt: skip
    source, full = drill
    account = full
    target_uri = _target_account(target, replay=True)
    if where == "source":
        account = create_oncall(source.source.execute, source.source.port, skip=[grant])
    else:
        target_uri = _target_account(target, replay=True, skip=grant)
    try:
        done = restore((source, account), target_uri, PASSWORD, *mode)
    finally:
        if account is not full:
            drop_oncall(source.source.execute, account)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{named}:" in done.stderr and f"fix: GRANT {named} TO " in done.stderr
    assert "[1/" not in done.stdout and "backup:" not in done.stdout  # before the backup, too
    assert "app" not in _schemas(target)


def test_keep_detaches_the_server(drill: tuple[MarkedSource, OnCall]) -> None:
    """--keep: the server outlives the command; stale-instance cleanup, which removes the
    folders of exited owners, leaves it (marked kept); the printed command stops it."""
    source, _ = drill
    done = run_runbook(SCRIPT, "--backup", str(source.backup), "--ephemeral", "--keep")
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"\(root's password: (\S+)/root\.cnf\)", done.stdout)
    assert found, done.stdout
    folder = Path(found[1])
    marker: dict[str, Any] = json.loads((folder / "mmc-instance.json").read_text())
    assert marker["state"] == "kept" and isinstance(marker["pid"], int)
    stop = done.stdout.split("stop it and remove its files when done: ", 1)[1].splitlines()[0]
    try:
        assert cleanup_stale(folder.parent) == []
        os.kill(marker["pid"], 0)  # raises when the server is gone
        assert Path(marker["datadir"]).is_dir()
    finally:
        subprocess.run(["bash", "-c", stop], check=True, timeout=60)
    assert not folder.exists()


def test_detach_takes_the_instance_out_of_the_at_exit_stop(tmp_path: Path) -> None:
    """In-process: detach() marks the folder kept and leaves the server to its caller."""
    from maintenance_ops.core import instance as instances

    inst = MySQLInstance(InstanceSpec(), base_dir=tmp_path / "srv").start()
    try:
        assert inst.detach() is inst
        with instances._LIVE_LOCK:
            assert id(inst) not in instances._LIVE
        marker = json.loads((Path(inst.dir) / "mmc-instance.json").read_text())
        assert marker["state"] == "kept" and marker["pid"] == inst.pid
        assert cleanup_stale(tmp_path / "srv") == [] and inst.running
    finally:
        inst.stop()
    assert not inst.running

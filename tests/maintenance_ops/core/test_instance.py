"""Tests for maintenance_ops.core.instance against real MariaDB/MySQL server processes."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import MySQLdb
import pytest

from maintenance_ops.core.dialect import Flavor
from maintenance_ops.core.exceptions import InstanceError, MaintenanceError
from maintenance_ops.core.instance import (
    MARKER_NAME,
    SERVER_NAMES,
    InstanceSpec,
    MySQLInstance,
    cleanup_stale,
    ensure_template,
    find_server_binary,
    free_port,
)

# Starts an instance in a child interpreter and reports it; then hangs (to be SIGKILLed),
# exits (leaving the instance to atexit) or stops it keeping its files, and exits.
CHILD_SCRIPT = """
import json, sys, time
from maintenance_ops.core.instance import MySQLInstance
inst = MySQLInstance(base_dir=sys.argv[1]).start()
print(json.dumps({"pid": inst.pid, "dir": inst.dir}), flush=True)
if sys.argv[2] == "hang":
    time.sleep(600)
elif sys.argv[2] == "keep":
    inst.stop(keep_files=True)
"""


def _alive(pid: int) -> bool:
    """Return whether pid is a live process (zombies, which nobody reaped yet, are dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _wait_dead(pid: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _processes_mentioning(text: str) -> list[int]:
    """Return live pids whose command line mentions ``text`` (leftover servers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and _alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def _variables(inst: MySQLInstance, *names: str) -> dict[str, str]:
    rows = inst.execute("SHOW GLOBAL VARIABLES")
    return {str(k): str(v) for k, v in rows if k in names}


def _read_line(proc: subprocess.Popen[str], timeout_s: float = 90.0) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            proc.kill()
            pytest.fail(f"child printed nothing within {timeout_s}s")
    return proc.stdout.readline()


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """Give each test its own base folder so cleanup_stale never sees other tests' servers."""
    path = tmp_path / "b"
    path.mkdir()
    return path


# ---- find_server_binary / free_port ---------------------------------------------------------


def test_find_server_binary_finds_installed_server() -> None:
    path, flavor = find_server_binary()
    assert os.access(path, os.X_OK)
    assert flavor in ("mariadb", "mysql")


@pytest.mark.parametrize(
    "make_dirs",
    [
        pytest.param(lambda tmp: [str(tmp)], id="empty-folder"),
        pytest.param(lambda tmp: [], id="no-folders"),
        pytest.param(
            lambda tmp: [str(tmp)] if (tmp / "mariadbd").write_text("not a program") else [],
            id="non-executable-mariadbd",
        ),
    ],
)
def test_find_server_binary_explains_the_fix(tmp_path: Path, make_dirs: Any) -> None:
    dirs = make_dirs(tmp_path)
    with pytest.raises(InstanceError) as err:
        find_server_binary(search_dirs=dirs)
    msg = str(err.value)
    assert "mariadbd or mysqld" in msg
    assert "apt-get install mariadb-server" in msg
    for d in dirs:
        assert d in msg
    assert isinstance(err.value, MaintenanceError)


@pytest.mark.parametrize(
    ("flavor", "found"),
    [pytest.param("mariadb", True, id="mariadb"), pytest.param("mysql", False, id="mysql")],
)
def test_server_binary_is_chosen_by_flavor(flavor: Flavor, found: bool) -> None:
    """Debian links mysqld to mariadbd: the binary's own version line decides its flavor."""
    if found:
        binary, got = find_server_binary(flavor=flavor)
        assert got == flavor and Path(binary).name in SERVER_NAMES
        return
    hint = "install MySQL Server 8.4 (mysqld)"
    with pytest.raises(InstanceError, match=r"no mysql server binary found: only .*MariaDB") as err:
        MySQLInstance(flavor=flavor, install_hint=hint)
    assert hint in str(err.value)


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# ---- lifecycle ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "use_base", [pytest.param(True, id="base-dir"), pytest.param(False, id="default-tmp")]
)
def test_start_stop_leaves_no_process_and_no_folder(base: Path, use_base: bool) -> None:
    inst = MySQLInstance(base_dir=base if use_base else None)
    with inst:
        pid, inst_dir = inst.pid, Path(inst.dir)
        assert pid is not None and _alive(pid)
        assert (inst_dir / MARKER_NAME).is_file()
        assert json.loads((inst_dir / MARKER_NAME).read_text())["pid"] == pid
        assert Path(inst.socket).exists()
        assert inst.version.split("-")[0].count(".") == 2
    assert not _alive(pid)
    assert not inst_dir.exists()
    assert inst.pid is None
    if use_base:
        assert list(base.iterdir()) == []
    else:
        assert not inst_dir.parent.exists(), "the default base folder we created must go too"


def test_two_instances_run_side_by_side(base: Path) -> None:
    with MySQLInstance(base_dir=base) as a, MySQLInstance(base_dir=base) as b:
        assert a.port != b.port
        assert a.socket != b.socket and a.datadir != b.datadir
        assert a.execute("SELECT @@port") == [(a.port,)]
        assert b.execute("SELECT @@port") == [(b.port,)]
        a.execute("CREATE DATABASE only_in_a")
        assert b.execute("SHOW DATABASES LIKE 'only_in_a'") == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            InstanceSpec(),
            {"log_bin": "OFF", "read_only": "OFF", "server_id": "1", "gtid_strict_mode": "OFF"},
            id="defaults",
        ),
        pytest.param(
            InstanceSpec(binlog=True, server_id=42),
            {"log_bin": "ON", "binlog_format": "ROW", "log_slave_updates": "ON", "server_id": "42"},
            id="binlog",
        ),
        pytest.param(InstanceSpec(read_only=True), {"read_only": "ON"}, id="read-only"),
        pytest.param(
            InstanceSpec(gtid_strict=True, binlog=True),
            {"gtid_strict_mode": "ON"},
            id="gtid-strict",
        ),
        pytest.param(
            InstanceSpec(extra_args=("--max-connections=17", "--character-set-server=latin1")),
            {"max_connections": "17", "character_set_server": "latin1"},
            id="extra-args",
        ),
        pytest.param(
            InstanceSpec(innodb_buffer_pool_size="32M"),
            {"innodb_buffer_pool_size": str(32 * 1024 * 1024)},
            id="buffer-pool",
        ),
    ],
)
def test_spec_takes_effect(base: Path, spec: InstanceSpec, expected: dict[str, str]) -> None:
    with MySQLInstance(spec, base_dir=base) as inst:
        assert _variables(inst, *expected) == expected


def test_binlog_records_writes(base: Path) -> None:
    with MySQLInstance(InstanceSpec(binlog=True), base_dir=base) as inst:
        inst.execute("CREATE DATABASE logged")
        events = inst.execute("SHOW BINLOG EVENTS")
        assert any("CREATE DATABASE logged" in str(row) for row in events)
        assert Path(inst.dir, "binlog.index").is_file()


@pytest.mark.parametrize(
    ("params", "expected_user"),
    [
        pytest.param({"unix_socket": None}, "root@localhost", id="socket"),
        pytest.param({"host": "127.0.0.1"}, "root@127.0.0.1", id="tcp"),
    ],
)
def test_root_needs_the_instances_random_password(
    base: Path, params: dict[str, Any], expected_user: str
) -> None:
    with MySQLInstance(base_dir=base) as inst:
        # Connect with MySQLdb directly, not inst.connect(), so a wrong helper cannot hide it.
        kwargs: dict[str, Any] = {"user": "root", "passwd": ""}
        if "unix_socket" in params:
            kwargs["unix_socket"] = inst.socket
        else:
            kwargs.update(host="127.0.0.1", port=inst.port)
        with pytest.raises(MySQLdb.OperationalError, match="Access denied"):
            MySQLdb.connect(**kwargs)
        assert len(inst.password) == 32 and inst.password not in repr(inst)
        assert not (Path(inst.dir) / "init.sql").exists()  # the password's file is gone
        other = MySQLInstance(base_dir=base)
        assert other.password != inst.password  # per instance
        conn = MySQLdb.connect(**{**kwargs, "passwd": inst.password})
        try:
            cur = conn.cursor()
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone() == (expected_user,)
        finally:
            conn.close()


def test_connect_helpers_and_urls(base: Path) -> None:
    with MySQLInstance(base_dir=base) as inst:
        assert inst.url() == f"mysql://root:{inst.password}@127.0.0.1:{inst.port}"
        assert inst.airflow_conn_uri() == inst.url()
        inst.execute("CREATE DATABASE app")
        for conn in (inst.connect("app"), inst.connect("app", tcp=True)):
            try:
                cur = conn.cursor()
                cur.execute("SELECT DATABASE(), CURRENT_USER()")
                assert cur.fetchone()[0] == "app"
            finally:
                conn.close()
        assert inst.execute("SELECT %s + 1", (41,)) == [(42,)]
        assert inst.execute("DO 1") == []


def test_bogus_option_raises_with_error_log_tail(base: Path) -> None:
    spec = InstanceSpec(extra_args=("--no-such-option-mmc=1",))
    inst = MySQLInstance(spec, base_dir=base)
    with pytest.raises(InstanceError) as err:
        inst.start()
    msg = str(err.value)
    assert "unknown variable 'no-such-option-mmc=1'" in msg  # from error.log
    assert "command: " in msg and "--no-such-option-mmc=1" in msg
    assert "--no-defaults" in msg
    assert list(base.iterdir()) == [], "a failed start must not leave its folder behind"
    assert _processes_mentioning(str(base)) == []
    inst.stop()  # still safe


def test_startup_timeout_kills_the_server(base: Path) -> None:
    inst = MySQLInstance(InstanceSpec(startup_timeout_s=0.0), base_dir=base)
    with pytest.raises(InstanceError, match=r"did not accept connections within 0s"):
        inst.start()
    assert _processes_mentioning(str(base)) == []
    assert list(base.iterdir()) == []


def test_stop_is_idempotent(base: Path) -> None:
    inst = MySQLInstance(base_dir=base)
    inst.stop()  # never started
    inst.start()
    pid = inst.pid
    assert pid is not None
    inst.stop()
    inst.stop()
    assert not _alive(pid)
    assert list(base.iterdir()) == []


def test_keep_files_allows_restart_on_same_data(base: Path) -> None:
    inst = MySQLInstance(base_dir=base)
    try:
        inst.start()
        inst.execute("CREATE DATABASE kept")
        inst.execute("CREATE TABLE kept.t (i INT PRIMARY KEY) ENGINE=InnoDB")
        inst.execute("INSERT INTO kept.t VALUES (7)")
        datadir = inst.datadir
        inst.stop(keep_files=True)
        assert Path(datadir, "kept").is_dir()
        assert cleanup_stale(base) == [], "kept folders belong to whoever kept them"
        inst.start()
        assert inst.datadir == datadir
        assert inst.execute("SELECT i FROM kept.t") == [(7,)]
    finally:
        inst.stop()
    assert list(base.iterdir()) == []


def test_deep_base_dir_gets_short_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with MySQLInstance(base_dir=deep) as inst:
        assert not inst.socket.startswith(str(deep))
        assert len(inst.socket) < 100
        socket_dir = Path(inst.socket).parent
        assert inst.execute("SELECT 1") == [(1,)]
    assert not socket_dir.exists()


class _FirstPortsBusy(MySQLInstance):
    """Hand out a port someone else listens on for the first ``busy_attempts`` attempts."""

    busy_port = 0
    busy_attempts = 1

    def _next_port(self, attempt: int) -> int:
        return self.busy_port if attempt <= self.busy_attempts else super()._next_port(attempt)


@pytest.mark.parametrize(
    ("busy_attempts", "starts"),
    [pytest.param(1, True, id="retries-on-new-port"), pytest.param(3, False, id="gives-up")],
)
def test_port_taken_is_retried(base: Path, busy_attempts: int, starts: bool) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        inst = _FirstPortsBusy(base_dir=base)
        inst.busy_port = holder.getsockname()[1]
        inst.busy_attempts = busy_attempts
        if starts:
            with inst:
                assert inst.port != inst.busy_port
                assert inst.execute("SELECT @@port") == [(inst.port,)]
                assert "Address already in use" in inst.error_log.read_text()
        else:
            with pytest.raises(InstanceError, match="Address already in use"):
                inst.start()
    assert list(base.iterdir()) == []


# ---- cleanup_stale / atexit -----------------------------------------------------------------


def test_cleanup_stale_removes_folder_of_killed_server(base: Path) -> None:
    inst = MySQLInstance(base_dir=base).start()
    try:
        pid, inst_dir = inst.pid, inst.dir
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert _wait_dead(pid)
        assert cleanup_stale(base) == [inst_dir]
        assert not Path(inst_dir).exists()
    finally:
        inst.stop()
    assert cleanup_stale(base) == []


def test_cleanup_stale_leaves_live_instances_alone(base: Path) -> None:
    with MySQLInstance(base_dir=base) as inst:
        assert cleanup_stale(base) == []
        assert cleanup_stale() is not None  # default base: must not touch ours either
        assert Path(inst.dir).is_dir()
        assert inst.execute("SELECT 1") == [(1,)]


def test_cleanup_stale_stops_server_of_killed_owner(base: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_SCRIPT, str(base), "hang"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(_read_line(child))
    finally:
        child.kill()
        child.wait()
    server_pid, inst_dir = info["pid"], info["dir"]
    assert _alive(server_pid), "the server must outlive its killed owner (own session)"
    try:
        assert cleanup_stale(base) == [inst_dir]
        assert _wait_dead(server_pid, 5)
        assert not Path(inst_dir).exists()
    finally:
        if _alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)


def _run_child(base: Path, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD_SCRIPT, str(base), mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(done.stdout))


def test_atexit_stops_instances_of_exiting_process(base: Path) -> None:
    info = _run_child(base, "exit")
    try:
        assert _wait_dead(info["pid"], 5)
        assert not Path(info["dir"]).exists()
    finally:
        if _alive(info["pid"]):  # do not leak the server when the assertion fails
            os.kill(info["pid"], signal.SIGKILL)


def test_cleanup_stale_keeps_files_kept_by_exited_owner(base: Path) -> None:
    info = _run_child(base, "keep")
    assert not _alive(info["pid"])
    assert cleanup_stale(base) == []
    assert Path(info["dir"], "data", "mysql").is_dir()


# ---- template cache -------------------------------------------------------------------------


def test_template_is_built_once_under_concurrency(tmp_path: Path) -> None:
    binary, flavor = find_server_binary()
    results: list[Path] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            results.append(ensure_template(binary, flavor, cache_dir=tmp_path))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [results[0].name], "no build leftovers"
    assert (results[0] / "mysql").is_dir()


def test_a_private_server_listens_on_loopback_and_its_socket_only(base: Path) -> None:
    import socket

    with MySQLInstance(base_dir=base) as inst:
        assert inst.execute("SELECT @@bind_address") == [("127.0.0.1",)]
        # Another address of this host (127.0.0.2 is one on every Linux loopback) is not served:
        # the server does not listen on 0.0.0.0.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.2", inst.port), timeout=2).close()

"""emergency_maintenance.py against a private server: real long queries, real kills, real read-only.

The runbook logs in as grants.sql's on-call account (root only builds the fixtures).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from maintenance_ops.core.instance import InstanceSpec, MySQLInstance, free_port
from tests.recovery.oncall import OnCall, create_oncall, drop_oncall, run_runbook
from tests.support.metadata_home import metadata_home
from tests.support.receivers import wait_until

SCRIPT = Path(__file__).resolve().parents[2] / "include" / "recovery" / "emergency_maintenance.py"
USER, PASSWORD = "mmc_runaway", "runaway-pw"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("emergency_maintenance", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


em = _load_script()


def run_script(*args: str, account: OnCall | None = None) -> subprocess.CompletedProcess[str]:
    return run_runbook(SCRIPT.name, *args, account=account, timeout=60)


@pytest.fixture(scope="module")
def server() -> Iterator[MySQLInstance]:
    """A private server (read_only is global: never toggle it on the shared one)."""
    with MySQLInstance(InstanceSpec(binlog=True)) as instance:
        instance.execute("CREATE USER %s@%s IDENTIFIED BY %s", (USER, "%", PASSWORD))
        yield instance


@pytest.fixture(scope="module")
def oncall(server: MySQLInstance) -> OnCall:
    """The on-call account, as grants.sql's on-call section makes it."""
    return create_oncall(server.execute, server.port)


class Sleeper:
    """A thread running ``SELECT SLEEP(60)`` as one account; records how the query ended."""

    def __init__(self, server: MySQLInstance, user: str, password: str = "") -> None:
        import MySQLdb

        self.server = server
        self.conn = MySQLdb.connect(
            host="127.0.0.1", port=server.port, user=user, passwd=password, connect_timeout=5
        )
        self.thread_id = int(self.conn.thread_id())
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            cur = self.conn.cursor()
            cur.execute("SELECT SLEEP(60)")
            self.result = cur.fetchall()
        except Exception as exc:  # noqa: BLE001 - the test asserts on it
            self.error = exc

    def start(self) -> Sleeper:
        self.thread.start()
        # Listed only once the server counts a whole second.
        wait_until(lambda: self.seconds() >= 1, timeout=15)
        return self

    def seconds(self) -> int:
        rows = self.server.execute(
            "SELECT TIME FROM information_schema.PROCESSLIST WHERE ID = %s AND INFO LIKE %s",
            (self.thread_id, "SELECT SLEEP%"),
        )
        return int(rows[0][0]) if rows else -1

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.execute("KILL %s", (self.thread_id,))
        self.thread.join(timeout=10)
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - already closed by a KILL CONNECTION
            pass


@pytest.fixture
def sleepers(server: MySQLInstance) -> Iterator[list[Sleeper]]:
    started: list[Sleeper] = []
    yield started
    for sleeper in started:
        sleeper.stop()


def test_help_lists_subcommands() -> None:
    done = run_script("--help")
    assert done.returncode == 0, done.stderr
    for word in ("runaway", "read-only", "status", "Exit codes"):
        assert word in done.stdout


def test_runaway_sql_binds_every_value() -> None:
    sql, args = em.runaway_sql(30, "app")
    assert sql == (
        "SELECT ID, USER, HOST, DB, TIME, LEFT(INFO, %s) FROM information_schema.PROCESSLIST"
        " WHERE COMMAND = 'Query' AND ID <> CONNECTION_ID() AND TIME >= %s"
        " AND USER NOT IN (%s, %s, %s) AND USER = %s ORDER BY TIME DESC, ID"
    )
    assert args == (100, 30, "system user", "event_scheduler", "unauthenticated user", "app")
    assert em.kill_sql(12, connection=False) == ("KILL QUERY %s", (12,))
    assert em.kill_sql(12, connection=True) == ("KILL CONNECTION %s", (12,))
    query = em.RunningQuery(
        7, "app", "10.0.0.5:4242", None, 61, "ALTER USER x\n IDENTIFIED BY 'pw1'"
    )
    assert query.describe() == "#7 app@10.0.0.5:4242 db=- 61 s: ALTER USER x IDENTIFIED BY ***"
    assert em.format_uptime(2 * 86400 + 3 * 3600 + 4 * 60 + 5) == "2d 03:04:05"


def test_runaway_lists_dry_run_spares_kill_kills(
    server: MySQLInstance, oncall: OnCall, sleepers: list[Sleeper]
) -> None:
    victim = Sleeper(server, USER, PASSWORD)
    bystander = Sleeper(server, "root", server.password or "")
    sleepers += [victim, bystander]
    victim.start()
    bystander.start()
    url = oncall.url()

    def run_script(*args: str) -> subprocess.CompletedProcess[str]:
        return run_runbook(SCRIPT.name, *args, account=oncall, timeout=60)

    listed = run_script("runaway", "--server", url, "--max-seconds", "1", "--user", USER)
    assert listed.returncode == 0, listed.stderr
    assert f"#{victim.thread_id} {USER}@127.0.0.1" in listed.stdout
    assert "SELECT SLEEP(60)" in listed.stdout
    assert f"#{bystander.thread_id} " not in listed.stdout  # --user filters

    too_young = run_script("runaway", "--server", url, "--max-seconds", "3600", "--kill")
    assert too_young.returncode == 0, too_young.stderr
    assert "0 queries running for at least 3600 s" in too_young.stdout

    args = ("runaway", "--server", url, "--max-seconds", "1", "--user", USER, "--kill")
    dry = run_script(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "DRY RUN" in dry.stdout and f"KILL QUERY {victim.thread_id}" in dry.stdout
    assert f"privileges: {url.removeprefix('mysql://' + oncall.user + '@')}" in dry.stdout
    time.sleep(0.5)
    assert victim.thread.is_alive() and victim.seconds() >= 1

    killed = run_script(*args)
    assert killed.returncode == 0, killed.stderr
    assert f"killed: #{victim.thread_id}" in killed.stdout
    victim.thread.join(timeout=10)
    assert not victim.thread.is_alive()
    assert victim.error is not None and victim.error.args[0] == 1317  # interrupted
    assert bystander.thread.is_alive() and bystander.seconds() >= 1


def test_kill_connection_ends_the_session(
    server: MySQLInstance, oncall: OnCall, sleepers: list[Sleeper]
) -> None:
    victim = Sleeper(server, USER, PASSWORD).start()
    sleepers.append(victim)
    done = run_script(
        "runaway", "--server", oncall.url(), "--max-seconds", "1", "--user", USER,
        "--kill", "--connection", account=oncall,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"KILL CONNECTION {victim.thread_id}" in done.stdout
    victim.thread.join(timeout=10)
    assert victim.error is not None
    rows = server.execute(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE ID = %s", (victim.thread_id,)
    )
    assert rows == []


def _read_only(server: MySQLInstance) -> int:
    return int(server.execute("SELECT @@global.read_only")[0][0])


def test_read_only_on_off_and_dry_run(server: MySQLInstance, oncall: OnCall) -> None:
    url = oncall.url()
    try:
        dry = run_script("read-only", "on", "--server", url, "--dry-run", account=oncall)
        assert dry.returncode == 0, dry.stderr
        assert "before: read_only=OFF" in dry.stdout and "SET GLOBAL read_only = ON" in dry.stdout
        assert _read_only(server) == 0

        on = run_script("read-only", "on", "--server", url, account=oncall)
        assert on.returncode == 0, on.stderr
        assert "after: read_only=ON" in on.stdout
        assert _read_only(server) == 1

        again = run_script("read-only", "on", "--server", url, account=oncall)
        assert "already read-only ON; nothing to do" in again.stdout

        off = run_script("read-only", "off", "--server", url, account=oncall)
        assert off.returncode == 0, off.stderr
        assert "before: read_only=ON" in off.stdout and "after: read_only=OFF" in off.stdout
        assert _read_only(server) == 0
    finally:
        server.execute("SET GLOBAL read_only = 0")


def test_status_prints_summary(
    server: MySQLInstance, oncall: OnCall, sleepers: list[Sleeper]
) -> None:
    victim = Sleeper(server, USER, PASSWORD).start()
    sleepers.append(victim)
    done = run_script("status", "--server", oncall.url(), account=oncall)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"version:       {server.version}" in out
    assert "uptime:        0d 00:" in out
    assert "threads:       connected " in out
    assert f"longest query: #{victim.thread_id} {USER}@127.0.0.1" in out
    assert "read-only:     read_only=OFF" in out
    assert "replication:   not a replica" in out


def test_status_and_runaway_on_a_replica(server: MySQLInstance) -> None:
    with MySQLInstance(InstanceSpec(server_id=2, read_only=True)) as replica:
        replica.execute(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%s, MASTER_USER='root', "
            "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos",
            (server.port, server.password or ""),
        )
        # Start from the primary's current position: its accounts stay its own.
        position = server.execute("SELECT @@GLOBAL.gtid_binlog_pos")[0][0]
        replica.execute("SET GLOBAL gtid_slave_pos = %s", (position,))
        replica.execute("START SLAVE")
        server.execute("CREATE DATABASE IF NOT EXISTS replicated")
        wait_until(lambda: replica.execute("SHOW DATABASES LIKE 'replicated'"), timeout=30)
        time.sleep(1.5)  # replication threads are older than --max-seconds 1 from now on
        oncall = create_oncall(replica.execute, replica.port)

        status = run_script("status", "--server", oncall.url(), account=oncall)
        assert status.returncode == 0, status.stderr
        assert "read-only:     read_only=ON" in status.stdout
        assert "replication:   replica of 127.0.0.1: IO Yes, SQL Yes, lag 0 s" in status.stdout

        # Without SLAVE MONITOR: every other line, the replication line says why, no traceback.
        blind = create_oncall(replica.execute, replica.port, skip=["SLAVE MONITOR"])
        status = run_script("status", "--server", blind.url(), account=blind)
        assert status.returncode == 1, status.stdout + status.stderr
        assert "Traceback" not in status.stderr
        assert "read-only:     read_only=ON" in status.stdout
        assert "replication:   unknown: SHOW REPLICA STATUS was refused" in status.stdout
        assert "SLAVE MONITOR" in status.stdout
        assert "status incomplete:" in status.stderr
        assert "SLAVE MONITOR ON *.*: SHOW REPLICA STATUS" in status.stderr
        assert f"fix: GRANT SLAVE MONITOR ON *.* TO '{blind.user}'@'%'" in status.stderr
        checked = run_script("status", "--server", blind.url(), "--check-privileges", account=blind)
        assert checked.returncode == 1 and "refused:" in checked.stderr
        assert "SLAVE MONITOR ON *.*" in checked.stderr

        runaway = run_script(
            "runaway", "--server", oncall.url(), "--max-seconds", "1", account=oncall
        )
        assert runaway.returncode == 0, runaway.stderr
        assert "0 queries running for at least 1 s" in runaway.stdout  # no replication thread


def test_status_through_a_connection_added_with_the_cli(
    server: MySQLInstance, oncall: OnCall, tmp_path: Path
) -> None:
    """``--server CONN_ID`` finds what ``airflow connections add`` stored (no AIRFLOW_CONN_*)."""
    home = metadata_home(tmp_path)
    home.add_mysql_connection(
        "mmc_oncall", port=server.port, login=oncall.user, password=oncall.password
    )
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "status", "--server", "mmc_oncall"],
        capture_output=True, text=True, timeout=60, env=home.env(), stdin=subprocess.DEVNULL,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"version:       {server.version}" in done.stdout
    assert oncall.password not in done.stdout + done.stderr


def test_unreachable_server_exits_2() -> None:
    port = free_port()
    done = run_script(
        "status", "--connect-timeout", "3", "--server", f"mysql://root@127.0.0.1:{port}"
    )
    assert done.returncode == 2
    assert f"error: 127.0.0.1:{port}" in done.stderr and "cannot connect" in done.stderr


def test_bad_arguments_exit_2() -> None:
    assert (
        run_script("runaway", "--server", "mysql://root@127.0.0.1", "--max-seconds", "0").returncode
        == 2
    )
    bad = run_script("status", "--server", "postgres://x@y")
    assert bad.returncode == 2 and "scheme 'postgres' is not supported" in bad.stderr


@pytest.mark.parametrize(
    ("command", "skip", "named"),
    [
        pytest.param(
            ("runaway", "--max-seconds", "1", "--kill", "--dry-run"),
            "CONNECTION ADMIN",
            "CONNECTION ADMIN ON *.*",
            id="kill-without-connection-admin",
        ),
        pytest.param(
            ("runaway", "--max-seconds", "1"),
            "GRANT PROCESS",
            "PROCESS ON *.*",
            id="list-without-process",
        ),
        pytest.param(
            ("read-only", "on", "--dry-run"),
            "READ_ONLY ADMIN",
            "READ_ONLY ADMIN ON *.*",
            id="read-only-without-read-only-admin",
        ),
        pytest.param(
            ("read-only", "on"),
            "READ_ONLY ADMIN",
            "READ_ONLY ADMIN ON *.*",
            id="real-run-refused-before-any-step",
        ),
    ],
)
def test_a_missing_grant_is_named_before_anything_is_done(
    server: MySQLInstance, command: tuple[str, ...], skip: str, named: str
) -> None:
    account = create_oncall(server.execute, server.port, skip=[skip])
    try:
        done = run_script(*command, "--server", account.url(), account=account)
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.startswith("refused: 127.0.0.1:")
        assert f"the account '{account.user}'@'%' lacks what" in done.stderr
        assert f"{named}: " in done.stderr and f"fix: GRANT {named} TO" in done.stderr
        assert "[1/" not in done.stdout  # no step printed, none run
        assert _read_only(server) == 0
        real = [arg for arg in command if arg != "--dry-run"]
        checked = run_script(
            *real, "--server", account.url(), "--check-privileges", account=account
        )
        assert checked.returncode == 1 and named in checked.stderr
    finally:
        drop_oncall(server.execute, account)


def test_check_privileges_only_checks(server: MySQLInstance, oncall: OnCall) -> None:
    for command in (("runaway", "--max-seconds", "1", "--kill"), ("read-only", "on"), ("status",)):
        done = run_script(*command, "--server", oncall.url(), "--check-privileges", account=oncall)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"as '{oncall.user}'@'%' holds every grant" in done.stdout
        assert "[1/" not in done.stdout
    assert _read_only(server) == 0


def test_an_older_super_account_is_judged_as_the_server_would(
    server: MySQLInstance, sleepers: list[Sleeper]
) -> None:
    """SUPER still stands for CONNECTION ADMIN on MariaDB 10.11, not for READ_ONLY ADMIN."""
    account = create_oncall(
        server.execute, server.port, skip=["CONNECTION ADMIN", "READ_ONLY ADMIN"]
    )
    server.execute(f"GRANT SUPER ON *.* TO '{account.user}'@'%'")
    try:
        kill = run_script(
            "runaway", "--server", account.url(), "--max-seconds", "1", "--kill",
            "--check-privileges", account=account,
        )  # fmt: skip
        assert kill.returncode == 0, kill.stdout + kill.stderr
        victim = Sleeper(server, USER, PASSWORD).start()
        sleepers.append(victim)
        killed = run_script(
            "runaway", "--server", account.url(), "--max-seconds", "1", "--user", USER, "--kill",
            account=account,
        )  # fmt: skip
        assert killed.returncode == 0 and f"killed: #{victim.thread_id}" in killed.stdout
        read_only = run_script(
            "read-only", "on", "--server", account.url(), "--check-privileges", account=account
        )
        assert read_only.returncode == 1 and "READ_ONLY ADMIN ON *.*" in read_only.stderr
    finally:
        drop_oncall(server.execute, account)

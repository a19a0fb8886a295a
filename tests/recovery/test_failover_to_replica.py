"""The failover runbook, run as an operator would: a subprocess against a real primary and replica."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import MySQLdb
import pytest

from tests.support.replication import ReplicationPair, replication_pair

SCRIPT = Path(__file__).resolve().parents[2] / "include" / "recovery" / "failover_to_replica.py"
APP_USER = "app"  # an account without SUPER / READ_ONLY ADMIN: read_only stops it


def runbook(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the runbook with the project's interpreter and return what it did."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,  # no terminal: a URI without a password never prompts
    )


def _seed(pair: ReplicationPair) -> None:
    pair.primary_sql("CREATE DATABASE app")
    pair.primary_sql("CREATE TABLE app.orders (id INT PRIMARY KEY, v INT NOT NULL)")
    pair.primary_sql("INSERT INTO app.orders VALUES (1, 10)")
    pair.primary_sql(f"CREATE USER '{APP_USER}'@'127.0.0.1'")
    pair.primary_sql(f"GRANT ALL ON app.* TO '{APP_USER}'@'127.0.0.1'")
    pair.sync()


def app_insert(pair: ReplicationPair, row_id: int) -> None:
    """Insert a row on the replica as the application account (fails while read-only)."""
    conn = MySQLdb.connect(host="127.0.0.1", port=pair.replica.port, user=APP_USER)
    try:
        conn.autocommit(True)
        conn.cursor().execute("INSERT INTO app.orders VALUES (%s, 1)", (row_id,))
    finally:
        conn.close()


def state(pair: ReplicationPair) -> tuple[int, str, str]:
    """Return the replica's read_only, its SQL thread state and its source host."""
    status = pair.replica_status()
    read_only = pair.replica_sql("SELECT @@GLOBAL.read_only")[0][0]
    return read_only, status.get("Slave_SQL_Running", ""), status.get("Master_Host", "")


def make_behind(pair: ReplicationPair) -> None:
    """Stop the replica applying, then commit on the primary: the replica is 1 transaction behind."""
    pair.replica_sql("STOP SLAVE SQL_THREAD")
    pair.primary_sql("INSERT INTO app.orders VALUES (500, 5)")


@pytest.fixture(scope="module")
def shared_pair() -> Iterator[ReplicationPair]:
    """A pair for the tests that leave it as they found it (dry runs, refusals)."""
    with replication_pair() as started:
        _seed(started)
        yield started


@pytest.fixture
def pair(shared_pair: ReplicationPair) -> Iterator[ReplicationPair]:
    """The shared pair, healthy again after the test."""
    yield shared_pair
    shared_pair.primary_sql("DELETE FROM app.orders WHERE id <> 1")
    shared_pair.restore()


@pytest.fixture
def own_pair() -> Iterator[ReplicationPair]:
    """A pair of its own, for a test that promotes the replica."""
    with replication_pair() as started:
        _seed(started)
        yield started


def test_help() -> None:
    done = runbook("--help")
    assert done.returncode == 0, done.stderr
    for option in ("--replica", "--primary", "--max-lag-s", "--force", "--dry-run"):
        assert option in done.stdout
    assert "promote a replica" in done.stdout


def test_promotes_the_replica(own_pair: ReplicationPair) -> None:
    with pytest.raises(MySQLdb.OperationalError, match="read-only"):
        app_insert(own_pair, 2)  # the test's premise: the replica refuses the application
    done = runbook("--replica", own_pair.replica.url(), "--primary", own_pair.primary.url())
    assert done.returncode == 0, done.stdout + done.stderr
    assert own_pair.replica_sql("SELECT @@GLOBAL.read_only")[0][0] == 0
    assert own_pair.replica_status() == {}  # replication stopped and forgotten
    app_insert(own_pair, 2)
    assert own_pair.replica_sql("SELECT v FROM app.orders WHERE id = 2") == [(1,)]
    # Writes on the old primary no longer arrive.
    own_pair.primary_sql("INSERT INTO app.orders VALUES (3, 3)")
    assert own_pair.replica_sql("SELECT COUNT(*) FROM app.orders WHERE id = 3") == [(0,)]
    heartbeat = own_pair.replica_sql("SELECT server_id FROM _maintenance.replication_heartbeat")
    assert (2,) in heartbeat  # step 5 wrote on the promoted server itself
    old, new = own_pair.primary.url(), own_pair.replica.url()
    assert f"change the database address {old[len('mysql://root@') :]} -> " in done.stdout
    assert f"-> {new[len('mysql://root@') :]}" in done.stdout
    assert "Airflow: point every connection" in done.stdout
    assert "failover to replica: done" in done.stdout


def test_dry_run_changes_nothing(pair: ReplicationPair) -> None:
    before = state(pair)
    done = runbook("--replica", pair.replica.url(), "--primary", pair.primary.url(), "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DRY RUN: nothing will be changed" in done.stdout
    for step in ("caught up with the primary", "STOP REPLICA", "RESET REPLICA ALL", "read_only"):
        assert step in done.stdout
    assert "would change:" in done.stdout
    assert before == state(pair) == (1, "Yes", "127.0.0.1")
    with pytest.raises(MySQLdb.OperationalError, match="read-only"):
        app_insert(pair, 7)


def test_dry_run_without_primary_checks_the_relay_log(pair: ReplicationPair) -> None:
    done = runbook("--replica", pair.replica.url(), "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "applied everything it received (up to binlog.0" in done.stdout
    # Without --primary the old address comes from the replica's own configuration.
    assert f"127.0.0.1:{pair.primary.port} -> 127.0.0.1:{pair.replica.port}" in done.stdout
    assert state(pair) == (1, "Yes", "127.0.0.1")


@pytest.mark.parametrize(
    "extra", [pytest.param((), id="run"), pytest.param(("--dry-run",), id="dry-run")]
)
def test_refuses_a_replica_behind(pair: ReplicationPair, extra: tuple[str, ...]) -> None:
    make_behind(pair)
    done = runbook("--replica", pair.replica.url(), "--primary", pair.primary.url(), *extra)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused:" in done.stderr
    assert "1 transactions behind the primary" in done.stderr and "--force" in done.stderr
    assert state(pair) == (1, "No", "127.0.0.1")


def test_max_lag_waits_for_a_delayed_replica(pair: ReplicationPair) -> None:
    pair.replica_sql("STOP SLAVE")
    pair.replica_sql("CHANGE MASTER TO MASTER_DELAY = 4")
    pair.replica_sql("START SLAVE")
    pair.wait_running()
    pair.primary_sql("INSERT INTO app.orders VALUES (600, 6)")
    args = ("--replica", pair.replica.url(), "--primary", pair.primary.url(), "--dry-run")
    too_short = runbook(*args, "--max-lag-s", "0.5")
    assert too_short.returncode == 1, too_short.stdout + too_short.stderr
    assert "waiting up to 0.5s (--max-lag-s)" in too_short.stdout
    assert "1 transactions behind the primary" in too_short.stderr
    long_enough = runbook(*args, "--max-lag-s", "20")
    assert long_enough.returncode == 0, long_enough.stdout + long_enough.stderr
    assert "waiting up to 20s (--max-lag-s)" in long_enough.stdout
    assert "caught up with the primary" in long_enough.stdout


def test_force_promotes_a_replica_behind(own_pair: ReplicationPair) -> None:
    make_behind(own_pair)
    done = runbook(
        "--replica", own_pair.replica.url(), "--primary", own_pair.primary.url(), "--force"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning: promoting although the replica is 1 transactions behind" in done.stdout
    assert own_pair.replica_sql("SELECT @@GLOBAL.read_only")[0][0] == 0
    assert own_pair.replica_status() == {}
    app_insert(own_pair, 2)
    # What the replica had not applied is lost, as the warning said.
    assert own_pair.replica_sql("SELECT COUNT(*) FROM app.orders WHERE id = 500") == [(0,)]


def test_unreachable_replica_is_a_clear_error() -> None:
    done = runbook("--replica", "mysql://root@127.0.0.1:1", "--dry-run")
    assert done.returncode == 2
    assert done.stderr.startswith("error: 127.0.0.1:1")
    assert "cannot connect" in done.stderr and "Traceback" not in done.stderr


def test_unreachable_primary_falls_back_to_the_replica(pair: ReplicationPair) -> None:
    done = runbook(
        "--replica", pair.replica.url(), "--primary", "mysql://root@127.0.0.1:1", "--dry-run"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "primary: unreachable" in done.stdout
    assert "applied everything it received" in done.stdout


def test_bad_argument_exits_2() -> None:
    done = runbook("--replica", "mysql://root@127.0.0.1:3306", "--max-lag-s", "-3")
    assert done.returncode == 2
    assert "'-3' is not a number of seconds >= 0" in done.stderr

"""The failover runbook, run as an operator would: a subprocess against a real primary and replica.

It logs in as grants.sql's on-call account (created on the primary, replicated to the replica);
root only builds the fixtures.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import MySQLdb
import pytest

from tests.recovery.oncall import OnCall, create_oncall, run_runbook
from tests.support.replication import ReplicationPair, replication_pair

SCRIPT = Path(__file__).resolve().parents[2] / "include" / "recovery" / "failover_to_replica.py"
APP_USER = "app"  # an account without SUPER / READ_ONLY ADMIN: read_only stops it
_ONCALL: dict[int, OnCall] = {}


def runbook(*args: str, account: OnCall | None = None) -> subprocess.CompletedProcess[str]:
    """Run the runbook with the project's interpreter as the on-call account."""
    return run_runbook(SCRIPT.name, *args, account=account)


def oncall(pair: ReplicationPair) -> OnCall:
    """The pair's on-call account."""
    return _ONCALL[id(pair)]


def servers(pair: ReplicationPair, account: OnCall | None = None) -> tuple[str, ...]:
    """``--replica`` and ``--primary`` as the on-call account."""
    account = account or oncall(pair)
    return (
        "--replica", account.url(pair.replica.port), "--primary", account.url(pair.primary.port)
    )  # fmt: skip


def failover(pair: ReplicationPair, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the failover on the pair as its on-call account."""
    return runbook(*servers(pair), *args, account=oncall(pair))


def _seed(pair: ReplicationPair) -> None:
    pair.primary_sql("CREATE DATABASE app")
    pair.primary_sql("CREATE TABLE app.orders (id INT PRIMARY KEY, v INT NOT NULL)")
    pair.primary_sql("INSERT INTO app.orders VALUES (1, 10)")
    pair.primary_sql(f"CREATE USER '{APP_USER}'@'127.0.0.1'")
    pair.primary_sql(f"GRANT ALL ON app.* TO '{APP_USER}'@'127.0.0.1'")
    _ONCALL[id(pair)] = create_oncall(pair.primary_sql, pair.primary.port)
    pair.sync()


def app_insert(pair: ReplicationPair, row_id: int) -> None:
    """Insert a row on the replica as the application account (fails while read-only)."""
    conn = MySQLdb.connect(host="127.0.0.1", port=pair.replica.port, user=APP_USER)
    try:
        conn.autocommit(True)
        conn.cursor().execute("INSERT INTO app.orders VALUES (%s, 1)", (row_id,))
    finally:
        conn.close()


def state(pair: ReplicationPair) -> tuple[int, str, str, int]:
    """Return the replica's read_only, SQL thread state, source host; the primary's read_only."""
    status = pair.replica_status()
    read_only = pair.replica_sql("SELECT @@GLOBAL.read_only")[0][0]
    primary_read_only = pair.primary_sql("SELECT @@GLOBAL.read_only")[0][0]
    return (
        read_only, status.get("Slave_SQL_Running", ""), status.get("Master_Host", ""),
        primary_read_only,
    )  # fmt: skip


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
    shared_pair.primary_sql("SET GLOBAL read_only = OFF")
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
    for option in (
        "--replica", "--primary", "--max-lag-s", "--force", "--dry-run", "--check-privileges"
    ):  # fmt: skip
        assert option in done.stdout
    assert "promote a replica" in done.stdout


def test_promotes_the_replica(own_pair: ReplicationPair) -> None:
    with pytest.raises(MySQLdb.OperationalError, match="read-only"):
        app_insert(own_pair, 2)  # the test's premise: the replica refuses the application
    done = failover(own_pair)
    assert done.returncode == 0, done.stdout + done.stderr
    assert own_pair.replica_sql("SELECT @@GLOBAL.read_only")[0][0] == 0
    assert "fence the old primary" in done.stdout and "fenced: {'read_only': True}" in done.stdout
    assert own_pair.primary_sql("SELECT @@GLOBAL.read_only")[0][0] == 1
    assert own_pair.replica_status() == {}  # replication stopped and forgotten
    app_insert(own_pair, 2)
    assert own_pair.replica_sql("SELECT v FROM app.orders WHERE id = 2") == [(1,)]
    # Writes on the old primary no longer arrive.
    own_pair.primary_sql("INSERT INTO app.orders VALUES (3, 3)")
    assert own_pair.replica_sql("SELECT COUNT(*) FROM app.orders WHERE id = 3") == [(0,)]
    heartbeat = own_pair.replica_sql("SELECT server_id FROM _maintenance.replication_heartbeat")
    assert (2,) in heartbeat  # step 5 wrote on the promoted server itself
    old, new = own_pair.primary.port, own_pair.replica.port
    assert f"change the database address 127.0.0.1:{old} -> 127.0.0.1:{new}" in done.stdout
    assert "Airflow: point every connection" in done.stdout
    assert "failover to replica: done" in done.stdout


def test_dry_run_changes_nothing(pair: ReplicationPair) -> None:
    before = state(pair)
    done = failover(pair, "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DRY RUN: nothing will be changed" in done.stdout
    for step in (
        "privileges: ", "caught up with the primary", "fence the old primary",
        "SET GLOBAL read_only = 1", "STOP REPLICA", "RESET REPLICA ALL", "read_only",
    ):  # fmt: skip
        assert step in done.stdout
    assert "would change:" in done.stdout
    assert before == state(pair) == (1, "Yes", "127.0.0.1", 0)
    with pytest.raises(MySQLdb.OperationalError, match="read-only"):
        app_insert(pair, 7)


def test_dry_run_without_primary_checks_the_relay_log(pair: ReplicationPair) -> None:
    done = runbook("--replica", oncall(pair).url(pair.replica.port), "--dry-run",
                   account=oncall(pair))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "applied everything it received (up to binlog.0" in done.stdout
    assert "nothing fences the old primary: make sure it is down" in done.stdout
    # Without --primary the old address comes from the replica's own configuration.
    assert f"127.0.0.1:{pair.primary.port} -> 127.0.0.1:{pair.replica.port}" in done.stdout
    assert state(pair) == (1, "Yes", "127.0.0.1", 0)


@pytest.mark.parametrize(
    "extra", [pytest.param((), id="run"), pytest.param(("--dry-run",), id="dry-run")]
)
def test_refuses_a_replica_behind(pair: ReplicationPair, extra: tuple[str, ...]) -> None:
    make_behind(pair)
    done = failover(pair, *extra)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused:" in done.stderr
    assert "1 transactions behind the primary" in done.stderr and "--force" in done.stderr
    # A stopped SQL thread is named: waiting for it would not help.
    assert "its SQL thread is stopped" in done.stderr and "waiting will not help" in done.stderr
    assert state(pair) == (1, "No", "127.0.0.1", 0)  # the primary was not fenced


def test_max_lag_waits_for_a_delayed_replica(pair: ReplicationPair) -> None:
    pair.replica_sql("STOP SLAVE")
    # The delay outlasts the first runbook's start (importing Airflow takes seconds on a busy
    # machine: a 4 s delay let the replica catch up before the "too short" run looked).
    pair.replica_sql("CHANGE MASTER TO MASTER_DELAY = 12")
    pair.replica_sql("START SLAVE")
    pair.wait_running()
    try:
        pair.primary_sql("INSERT INTO app.orders VALUES (600, 6)")
        too_short = failover(pair, "--dry-run", "--max-lag-s", "0.5")
        assert too_short.returncode == 1, too_short.stdout + too_short.stderr
        assert "waiting up to 0.5s (--max-lag-s)" in too_short.stdout
        assert "1 transactions behind the primary" in too_short.stderr
        long_enough = failover(pair, "--dry-run", "--max-lag-s", "40")
        assert long_enough.returncode == 0, long_enough.stdout + long_enough.stderr
        assert "waiting up to 40s (--max-lag-s)" in long_enough.stdout
        assert "caught up with the primary" in long_enough.stdout
    finally:  # the pair is shared by the module's other tests
        pair.replica_sql("STOP SLAVE")
        pair.replica_sql("CHANGE MASTER TO MASTER_DELAY = 0")
        pair.replica_sql("START SLAVE")
        pair.wait_running()


def test_force_promotes_a_replica_behind(own_pair: ReplicationPair) -> None:
    make_behind(own_pair)
    done = failover(own_pair, "--force")
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


def test_unreachable_primary_cannot_be_fenced(pair: ReplicationPair) -> None:
    """Unreachable may be partitioned, still taking writes: refused unless --force."""
    args = ("--replica", oncall(pair).url(pair.replica.port), "--primary",
            "mysql://oncall@127.0.0.1:1", "--dry-run")  # fmt: skip
    refused = runbook(*args, account=oncall(pair))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "is unreachable, so it cannot be fenced" in refused.stderr
    assert "--force" in refused.stderr
    done = runbook(*args, "--force", account=oncall(pair))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "primary: unreachable" in done.stdout
    assert "warning: not fencing the old primary (--force)" in done.stdout
    assert "applied everything it received" in done.stdout


@pytest.mark.parametrize(
    ("skip", "where", "named"),
    [
        pytest.param("CONNECTION ADMIN", "primary", "CONNECTION ADMIN ON *.*", id="fence-kill"),
        pytest.param("READ_ONLY ADMIN", "replica", "READ_ONLY ADMIN ON *.*", id="read-only"),
        pytest.param("GRANT RELOAD", "replica", "RELOAD ON *.*", id="reset-replica"),
        pytest.param(
            "REPLICATION SLAVE ADMIN", "replica", "REPLICATION SLAVE ADMIN ON *.*", id="promote"
        ),
        pytest.param("SLAVE MONITOR", "replica", "SLAVE MONITOR ON *.*", id="replica-status"),
    ],
)
def test_a_missing_grant_is_refused_before_anything(
    pair: ReplicationPair, skip: str, where: str, named: str
) -> None:
    account = create_oncall(pair.primary_sql, pair.primary.port, skip=[skip])
    pair.sync()
    try:
        for extra in (("--check-privileges",), ("--dry-run",), ()):
            done = runbook(*servers(pair, account), *extra, account=account)
            assert done.returncode == 1, done.stdout + done.stderr
            port = pair.primary.port if where == "primary" else pair.replica.port
            assert f"refused: 127.0.0.1:{port}: the account '{account.user}'@'%' lacks" in (
                done.stderr
            )
            assert f"fix: GRANT {named} TO '{account.user}'@'%'" in done.stderr
            assert "[1/" not in done.stdout
        assert state(pair) == (1, "Yes", "127.0.0.1", 0)
        if where == "primary":  # --force: promote without fencing, said so
            done = runbook(*servers(pair, account), "--dry-run", "--force", account=account)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "warning: not fencing the old primary (--force)" in done.stdout
    finally:
        pair.primary_sql(f"DROP USER IF EXISTS '{account.user}'@'%'")
        pair.sync()


class Writer(threading.Thread):
    """An application writing rows through its own connection, reconnecting as apps do."""

    def __init__(self, port: int, first_id: int, value: int) -> None:
        super().__init__(daemon=True)
        self.port, self.next_id, self.value = port, first_id, value
        self.committed: list[tuple[int, float]] = []  # (id, when) of each acknowledged insert
        self.errors: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        conn = None
        while not self.stop.is_set():
            row_id, self.next_id = self.next_id, self.next_id + 1
            try:
                if conn is None:
                    conn = MySQLdb.connect(
                        host="127.0.0.1", port=self.port, user=APP_USER, connect_timeout=2
                    )
                    conn.autocommit(True)
                conn.cursor().execute(
                    "INSERT INTO app.orders VALUES (%s, %s)", (row_id, self.value)
                )
                self.committed.append((row_id, time.monotonic()))
            except MySQLdb.Error as exc:
                self.errors.append(int(exc.args[0]) if exc.args else -1)
                if isinstance(exc, MySQLdb.OperationalError) and exc.args[0] != 1290:
                    conn = None  # the connection is gone: reconnect, as an application would
                time.sleep(0.005)
        if conn is not None:
            conn.close()


_ER_READ_ONLY = 1290


def test_fences_a_primary_with_writers_on_both_sides(own_pair: ReplicationPair) -> None:
    """Writers on the old primary and on the replica while the failover runs: the primary
    takes no row after the fence, every row it took is on the new primary, and the new
    primary takes writes only once promoted."""
    on_primary = Writer(own_pair.primary.port, 10_000, 1)
    on_replica = Writer(own_pair.replica.port, 50_000, 2)
    on_primary.start()
    on_replica.start()
    try:
        time.sleep(1.0)
        assert on_primary.committed, on_primary.errors  # the primary is taking writes
        assert not on_replica.committed and _ER_READ_ONLY in on_replica.errors
        done = failover(own_pair, "--max-lag-s", "20")
        finished = time.monotonic()
        assert done.returncode == 0, done.stdout + done.stderr
        time.sleep(1.0)  # both writers keep trying against the new topology
    finally:
        on_primary.stop.set()
        on_replica.stop.set()
        on_primary.join(timeout=10)
        on_replica.join(timeout=10)
    assert "fenced: {'read_only': True}; ended " in done.stdout
    assert "ended 0 client sessions" not in done.stdout  # the writer's session was ended
    old = dict(own_pair.primary_sql("SELECT id, v FROM app.orders"))
    new = dict(own_pair.replica_sql("SELECT id, v FROM app.orders"))
    # Nothing the old primary committed is missing from (or different on) the new primary.
    assert {k: v for k, v in new.items() if k in old} == old
    assert not [k for k in old if k >= 50_000]  # no replica-side row reached the old primary
    # The primary writer got nothing in after the failover ended; read-only refused it.
    assert not [t for _, t in on_primary.committed if t > finished]
    assert _ER_READ_ONLY in on_primary.errors
    assert {row_id for row_id, _ in on_primary.committed} <= set(new)
    # The replica-side writer wrote once the replica was promoted.
    assert on_replica.committed and all(new.get(row_id) == 2 for row_id, _ in on_replica.committed)


def test_bad_argument_exits_2() -> None:
    done = runbook("--replica", "mysql://root@127.0.0.1:3306", "--max-lag-s", "-3")
    assert done.returncode == 2
    assert "'-3' is not a number of seconds >= 0" in done.stderr

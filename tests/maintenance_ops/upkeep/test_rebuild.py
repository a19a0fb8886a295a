"""Tests for maintenance_ops.upkeep.rebuild: planning (pure), then online rebuilds and the outage test
on the real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from maintenance_ops.core.audit import AuditLog
from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.core.throttle import Limits, Throttle
from maintenance_ops.upkeep.rebuild import (
    Candidate,
    RetryPolicy,
    due_by_age,
    history_durations,
    offline_reason,
    plan_rebuilds,
    read_history,
    rebuild_many,
    rebuild_sql,
    rebuild_table,
)
from tests.conftest import Target, mysql_connect
from tests.maintenance_ops.upkeep.test_fragmentation import make_fragmented

MIB = 1024 * 1024


def _cand(name: str, size_mib: int, reclaim_mib: int) -> Candidate:
    return Candidate("s", name, size_mib * MIB, reclaim_mib * MIB)


@pytest.mark.parametrize(
    ("history", "remaining", "expected_order", "expected_fits"),
    [
        pytest.param({}, None, ["b", "a", "c"], {"a", "b", "c"}, id="by-size-no-limit"),
        pytest.param(
            {"s.b": [600.0, 500.0, 700.0]},
            None,
            ["a", "c", "b"],
            {"a", "b", "c"},
            id="own-history-slows-b",
        ),
        pytest.param({}, 12.0, ["b", "a", "c"], {"b", "a"}, id="only-what-fits"),
        pytest.param({}, 0.5, ["b", "a", "c"], set(), id="nothing-fits"),
    ],
)
def test_plan_rebuilds(
    history: dict[str, list[float]],
    remaining: float | None,
    expected_order: list[str],
    expected_fits: set[str],
) -> None:
    candidates = [_cand("a", 100, 40), _cand("b", 20, 15), _cand("c", 200, 30)]
    plan = plan_rebuilds(candidates, history, remaining, bytes_per_s=20 * MIB, safety=1.0)
    assert [p.candidate.table for p in plan] == expected_order
    assert {p.candidate.table for p in plan if p.fits} == expected_fits
    assert all(p.reason for p in plan if not p.fits)


def test_history_durations_groups_by_table() -> None:
    rows = [
        {"object_name": "s.a", "duration_s": 2.5},
        {"object_name": "s.a", "duration_s": 3.5},
        {"object_name": "s.b", "duration_s": None},
    ]
    assert history_durations(rows) == {"s.a": [2.5, 3.5]}


@pytest.mark.parametrize(
    ("max_days", "expected"),
    [
        pytest.param(30, ["s.never", "s.old"], id="monthly"),
        pytest.param(100, ["s.never"], id="long-limit"),
    ],
)
def test_due_by_age(max_days: float, expected: list[str]) -> None:
    now = datetime(2024, 6, 1)
    rows = [
        {"object_name": "s.old", "ended_at": datetime(2024, 3, 1)},
        {"object_name": "s.fresh", "ended_at": datetime(2024, 5, 20)},
        {"object_name": "s.fresh", "ended_at": datetime(2024, 1, 1)},
    ]
    assert due_by_age(["s.never", "s.old", "s.fresh"], rows, max_days, now) == expected


@pytest.mark.parametrize(
    ("engine", "blocking", "expected"),
    [
        pytest.param("InnoDB", set(), "", id="online"),
        pytest.param("InnoDB", {"FULLTEXT"}, "FULLTEXT index", id="fulltext"),
        pytest.param("InnoDB", {"SPATIAL"}, "SPATIAL index", id="spatial"),
        pytest.param("MyISAM", set(), "engine MyISAM", id="myisam"),
        pytest.param(None, set(), "not found", id="missing"),
    ],
)
def test_offline_reason(engine: str | None, blocking: set[str], expected: str) -> None:
    reason = offline_reason(engine, blocking)
    assert (expected in reason) if expected else reason == ""


def test_rebuild_sql() -> None:
    assert rebuild_sql("s", "t", online=True) == (
        "ALTER TABLE `s`.`t` FORCE, ALGORITHM=INPLACE, LOCK=NONE"
    )
    assert rebuild_sql("s", "t", online=False) == (
        "ALTER TABLE `s`.`t` FORCE, ALGORITHM=COPY, LOCK=SHARED"
    )


# --------------------------------------------------------------------------------------------
# Real server
# --------------------------------------------------------------------------------------------


@pytest.fixture
def session(target: Target) -> Iterator[MaintenanceSession]:
    settings = MaintenanceSettings(lock_wait_timeout_s=2, innodb_lock_wait_timeout_s=2)
    with MaintenanceSession(target.conn_id, settings, database_name="primary") as s:
        yield s


@pytest.fixture
def audit(target: Target) -> Iterator[AuditLog]:
    log = AuditLog(target.conn_id, target.history_schema)
    yield log
    log.close()


def _size(target: Target, table: str) -> int:
    rows = target.sql(
        "SELECT FILE_SIZE FROM information_schema.INNODB_SYS_TABLESPACES WHERE NAME = %s",
        (f"{target.schema}/{table}",),
    )
    return int(rows[0][0])


def _checksum(target: Target, table: str) -> tuple:
    return target.sql(f"CHECKSUM TABLE `{table}`")[0]


def test_fragmented_table_is_rebuilt_online(
    target: Target, session: MaintenanceSession, audit: AuditLog
) -> None:
    make_fragmented(target, "events", 100_000)
    before, checksum = _size(target, "events"), _checksum(target, "events")
    result = rebuild_table(
        session, target.schema, "events", audit=audit, database_name="primary", max_trx_age_s=30
    )
    assert result.status == "rebuilt", result
    assert result.algorithm == "INPLACE"
    assert result.before_bytes == before and result.after_bytes == _size(target, "events")
    assert result.reclaimed_bytes and result.reclaimed_bytes > 0.3 * before
    assert _checksum(target, "events") == checksum
    rows = read_history(session, target.history_schema, "primary")
    assert [r["object_name"] for r in rows] == [f"{target.schema}.events"]


def test_dry_run_changes_nothing(
    target: Target, session: MaintenanceSession, audit: AuditLog
) -> None:
    make_fragmented(target, "events", 30_000)
    before = _size(target, "events")
    result = rebuild_table(
        session,
        target.schema,
        "events",
        audit=audit,
        database_name="primary",
        dry_run=True,
        max_trx_age_s=30,
    )
    assert result.status == "dry_run" and "ALGORITHM=INPLACE, LOCK=NONE" in result.reason
    assert _size(target, "events") == before
    assert [r["outcome"] for r in audit.read("primary")] == ["dry_run"]


def test_fulltext_table_is_skipped_with_the_reason(
    target: Target, session: MaintenanceSession, audit: AuditLog
) -> None:
    # MariaDB 10.11 refuses it: "LOCK=NONE is not supported. Reason: Fulltext index
    # creation requires a lock. Try LOCK=SHARED".
    target.sql("CREATE TABLE docs (id INT PRIMARY KEY, body TEXT, FULLTEXT KEY (body))")
    result = rebuild_table(session, target.schema, "docs", audit=audit, database_name="primary")
    assert result.status == "skipped" and "FULLTEXT" in result.reason
    assert audit.read("primary") == []  # no DDL was attempted
    locking = rebuild_table(
        session,
        target.schema,
        "docs",
        audit=audit,
        database_name="primary",
        allow_locking=True,
        max_trx_age_s=30,
    )
    assert locking.status == "rebuilt" and locking.algorithm == "COPY"


def test_small_table_under_minimum_is_not_planned(
    target: Target, session: MaintenanceSession
) -> None:
    from maintenance_ops.upkeep.fragmentation import FragThresholds, analyze_schema

    target.sql("CREATE TABLE tiny (id INT PRIMARY KEY, v VARCHAR(10))")
    target.sql("INSERT INTO tiny SELECT seq, 'x' FROM seq_1_to_100")
    (est,) = analyze_schema(session, target.schema, FragThresholds(min_size_bytes=MIB))
    assert est.action == "skip" and "minimum" in est.reason


def test_disk_check_skips_when_free_space_is_short(
    target: Target, session: MaintenanceSession, audit: AuditLog
) -> None:
    make_fragmented(target, "events", 20_000)
    result = rebuild_table(
        session,
        target.schema,
        "events",
        audit=audit,
        database_name="primary",
        disk_free_bytes=1024,
    )
    assert result.status == "skipped" and result.reason.startswith("disk:")


def test_throttle_stop_starts_nothing(
    target: Target, session: MaintenanceSession, audit: AuditLog
) -> None:
    make_fragmented(target, "events", 10_000)
    throttle = Throttle(session, Limits(max_threads_running=None), budget_s=0)
    result = rebuild_table(
        session, target.schema, "events", audit=audit, database_name="primary", throttle=throttle
    )
    assert result.status == "stopped" and "budget" in result.reason


class Probe(threading.Thread):
    """Application traffic: point selects and updates on the table at ~150 ops/s.

    :param go: start only once this is set (default: at once).
    """

    def __init__(self, schema: str, rows: int, go: threading.Event | None = None) -> None:
        super().__init__(daemon=True)
        self.schema, self.rows = schema, rows
        self.go = go
        self.latencies: list[float] = []
        self.done_at: list[float] = []  # when each operation completed (monotonic)
        self.stop = threading.Event()

    def run(self) -> None:
        conn = mysql_connect(self.schema)
        cur = conn.cursor()
        if self.go is not None:
            self.go.wait()
        i = 0
        while not self.stop.is_set():
            began = time.monotonic()
            row = 1 + (i * 7919) % self.rows
            if i % 2:
                cur.execute("UPDATE events SET status = 'probe' WHERE id = %s", (row,))
            else:
                cur.execute("SELECT * FROM events WHERE id = %s", (row,))
                cur.fetchall()
            self.done_at.append(time.monotonic())
            self.latencies.append(self.done_at[-1] - began)
            i += 1
            time.sleep(max(0.0, 1 / 150 - (time.monotonic() - began)))
        conn.close()


def test_outage_long_transaction_is_waited_out_not_queued_behind(
    target: Target, session: MaintenanceSession, audit: AuditLog
) -> None:
    make_fragmented(target, "events", 60_000, delete_share=0.5)
    holder = mysql_connect(target.schema)
    cur = holder.cursor()
    cur.execute("BEGIN")
    cur.execute("SELECT COUNT(*) FROM events")  # the open transaction holds an MDL on it
    opened = time.monotonic()
    probe = Probe(target.schema, 60_000)
    probe.start()
    time.sleep(1.5)  # the transaction is now older than max_trx_age_s
    release = threading.Timer(8 - (time.monotonic() - opened), holder.rollback)
    release.start()
    throttle = Throttle(session, Limits(max_threads_running=None), budget_s=60)
    plan = plan_rebuilds([Candidate(target.schema, "events", 10 * MIB, 5 * MIB)], {}, 60)
    try:
        results = rebuild_many(
            session,
            plan,
            audit=audit,
            database_name="primary",
            throttle=throttle,
            retry=RetryPolicy(max_attempts=20, wait_s=1.0),
            max_trx_age_s=1,
            lock_wait_timeout_s=1,
        )
    finally:
        release.join()
        time.sleep(0.5)
        probe.stop.set()
        probe.join()
        holder.close()
    (result,) = results
    assert result.status == "rebuilt", result
    assert result.attempts > 1  # retried while the transaction was open
    assert time.monotonic() - opened >= 8
    outcomes = [r["outcome"] for r in audit.read("primary")]
    assert outcomes == ["ok"]  # no DDL was queued behind the transaction
    assert len(probe.latencies) > 500
    # A DDL queued behind the transaction would stall every probe op of its wait (dozens at
    # this rate); a busy machine may delay one or two on its own. Count, do not time one op.
    slow = [latency for latency in probe.latencies if latency > 0.5]
    assert len(slow) <= 5, sorted(probe.latencies)[-10:]


# --------------------------------------------------------------------------------------------
# Metadata-lock blockers (issue 16): the DDL gives up at once, the application never queues
# --------------------------------------------------------------------------------------------


def _settle(target: Target, table: str) -> None:
    """Wait until InnoDB's own threads have let go of a freshly filled table (as root).

    After bulk writes, purge visits the rows and holds the table's metadata lock meanwhile: a
    NOWAIT DDL would be refused for that reason, not for the test's blocker.
    """
    import MySQLdb

    deadline = time.monotonic() + 120
    while True:
        try:
            target.sql(f"ALTER TABLE `{table}` NOWAIT COMMENT = 'settled'")  # metadata only
            return
        except MySQLdb.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class LockWatch(threading.Thread):
    """Root's view of the process list: when each session was seen waiting for a metadata lock.

    Sessions using the schema (the application) and the maintenance account's (whose default
    schema may be none) are watched.
    """

    def __init__(self, target: Target) -> None:
        super().__init__(daemon=True)
        assert target.account is not None
        self.schema, self.user = target.schema, target.account.user
        self.waits: list[tuple[float, str]] = []  # (when, user)
        self.stop = threading.Event()

    def run(self) -> None:
        conn = mysql_connect()
        cur = conn.cursor()
        while not self.stop.is_set():
            cur.execute(
                "SELECT USER FROM information_schema.PROCESSLIST "
                "WHERE STATE LIKE 'Waiting for%%metadata lock' AND (DB = %s OR USER = %s)",
                (self.schema, self.user),
            )
            now = time.monotonic()
            self.waits += [(now, user) for (user,) in cur.fetchall()]
            time.sleep(0.005)
        conn.close()


@pytest.fixture
def held(target: Target) -> Iterator[Any]:
    """A fragmented ``events`` table and a transaction that read it, held open (its connection)."""
    make_fragmented(target, "events", 20_000)
    _settle(target, "events")
    holder = mysql_connect(target.schema)
    cur = holder.cursor()
    cur.execute("BEGIN")
    cur.execute("SELECT COUNT(*) FROM events")  # holds a shared metadata lock until it ends
    yield holder
    holder.close()


def _rebuild_under_probe(
    target: Target, session: MaintenanceSession, audit: AuditLog, watch: LockWatch, **options: Any
) -> tuple[Any, float, Probe]:
    """Rebuild ``events`` while the application reads and writes it; when it returned."""
    probe = Probe(target.schema, 20_000)
    watch.start()
    probe.start()
    try:
        result = rebuild_table(
            session, target.schema, "events", audit=audit, database_name="primary", **options
        )
        return result, time.monotonic(), probe
    finally:
        probe.stop.set()
        watch.stop.set()
        probe.join()
        watch.join()


def test_transaction_holding_the_table_makes_the_ddl_give_up_at_once(
    target: Target, session: MaintenanceSession, audit: AuditLog, held: Any
) -> None:
    # A young transaction: the fallback guard (transaction age) does not see it, so the DDL
    # is sent, and NOWAIT is what keeps it from queueing the application.
    watch = LockWatch(target)
    result, returned_at, probe = _rebuild_under_probe(
        target, session, audit, watch, max_trx_age_s=60
    )
    assert result.status == "retry_later", result
    assert "NOWAIT" in result.reason
    (entry,) = audit.read("primary")
    assert entry["outcome"] == "retry_later" and " NOWAIT FORCE" in entry["command"]
    assert watch.waits == []  # neither the ALTER nor the application ever waited
    assert any(t < returned_at for t in probe.done_at)  # it went on while the lock was held
    held.rollback()
    again = rebuild_table(
        session, target.schema, "events", audit=audit, database_name="primary", max_trx_age_s=60
    )
    assert again.status == "rebuilt", again


def _start_blocker_mid_alter(
    schema: str, user: str, holder: Any, blocker_in: threading.Event
) -> threading.Thread:
    """Once the ALTER copies rows, open a transaction that reads the table (and keep it open)."""

    def run() -> None:
        conn = mysql_connect()
        cur = conn.cursor()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            cur.execute(
                "SELECT STATE FROM information_schema.PROCESSLIST WHERE USER = %s "
                "AND INFO LIKE 'ALTER TABLE%%events%%'",
                (user,),
            )
            if [row for row in cur.fetchall() if row[0] == "altering table"]:
                break
            time.sleep(0.002)
        conn.close()
        hc = holder.cursor()
        hc.execute("BEGIN")
        hc.execute("SELECT status FROM events WHERE id = 1")
        hc.fetchall()
        blocker_in.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_transaction_arriving_mid_rebuild_makes_it_give_up_then_the_retry_rebuilds(
    target: Target, session: MaintenanceSession, audit: AuditLog
) -> None:
    make_fragmented(target, "events", 500_000, delete_share=0.1)  # seconds of copying
    _settle(target, "events")
    assert target.account is not None
    holder = mysql_connect(target.schema)
    blocker_in = threading.Event()
    starter = _start_blocker_mid_alter(target.schema, target.account.user, holder, blocker_in)
    watch, probe = LockWatch(target), Probe(target.schema, 400_000, go=blocker_in)
    watch.start()
    probe.start()
    released: list[float] = []

    def release_then_wait(seconds: float) -> None:
        # The run's retry wait: the blocker commits while the rebuild backs off.
        starter.join(timeout=60)
        released.append(time.monotonic())
        holder.rollback()
        time.sleep(seconds)

    plan = plan_rebuilds([Candidate(target.schema, "events", 100 * MIB, 10 * MIB)], {}, None)
    try:
        results = rebuild_many(
            session,
            plan,
            audit=audit,
            database_name="primary",
            retry=RetryPolicy(max_attempts=5, wait_s=0.1, backoff=1, sleep=release_then_wait),
            max_trx_age_s=60,
        )
    finally:
        probe.stop.set()
        watch.stop.set()
        probe.join()
        watch.join()
        starter.join()
        holder.close()
    (result,) = results
    assert blocker_in.is_set() and released
    assert result.status == "rebuilt" and result.attempts >= 2, result
    first, *retries = audit.read("primary")
    assert first["outcome"] == "retry_later", first  # the final lock upgrade gave up at once
    assert " NOWAIT FORCE" in first["command"]
    # Refused after real work: the retries may wait briefly (InnoDB's purge holds a busy
    # table's lock for moments, and would refuse NOWAIT at every final upgrade).
    assert retries[-1]["outcome"] == "ok"
    assert all(" WAIT 1 FORCE" in r["command"] for r in retries)
    # The ALTER never waited while the blocker was open, so nothing queued behind it then
    # (the retries do wait out in-flight statements, and the application the successful
    # rebuild's own brief exclusive phase).
    assert [w for w in watch.waits if w[0] < released[0]] == []
    assert any(t < released[0] for t in probe.done_at)  # it went on while the lock was held


def test_ddl_that_may_wait_is_stopped_soon_while_the_transaction_stays_open(
    target: Target, session: MaintenanceSession, audit: AuditLog, held: Any
) -> None:
    assert target.account is not None
    watch = LockWatch(target)
    result, returned_at, probe = _rebuild_under_probe(
        target, session, audit, watch, max_trx_age_s=60, nowait=False
    )
    # Stopped by our KILL QUERY after a short wait, not by lock_wait_timeout (1205 after 1 s)
    # and not by the transaction ending: it is still open.
    assert result.status == "retry_later" and "was stopped" in result.reason, result
    (entry,) = audit.read("primary")
    assert " WAIT 1 FORCE" in entry["command"]
    assert [u for _, u in watch.waits if u == target.account.user]  # it did wait, then stopped
    assert any(t < returned_at for t in probe.done_at)
    held.cursor().execute("SELECT 1")  # the holder's transaction was never disturbed
    held.rollback()

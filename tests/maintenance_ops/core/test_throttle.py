"""Tests for maintenance_ops.core.throttle: the pure decision, the checkpoint loop, real metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.core.throttle import (
    Decision,
    Limits,
    Metrics,
    ReplicaProbe,
    Throttle,
    decide,
    replica_lag,
    threads_running,
)
from tests.support.accounts import create_account

LIMITS = Limits(
    max_replica_lag_s=5,
    abort_replica_lag_s=60,
    max_threads_running=50,
    abort_threads_running=200,
)


@pytest.mark.parametrize(
    ("metrics", "limits", "expected"),
    [
        pytest.param(Metrics(), LIMITS, Decision("proceed"), id="nothing-measured"),
        pytest.param(
            Metrics(threads_running=49, replica_lag_s={"r1": 4.9}, remaining_s=10),
            LIMITS,
            Decision("proceed"),
            id="all-below-limits",
        ),
        pytest.param(
            Metrics(threads_running=83),
            LIMITS,
            Decision("wait", "Threads_running=83 >= 50"),
            id="threads-running-wait",
        ),
        pytest.param(
            Metrics(threads_running=50),
            LIMITS,
            Decision("wait", "Threads_running=50 >= 50"),
            id="threads-running-at-limit-waits",
        ),
        pytest.param(
            Metrics(threads_running=250),
            LIMITS,
            Decision("stop", "Threads_running=250 >= abort limit 200"),
            id="threads-running-abort",
        ),
        pytest.param(
            Metrics(replica_lag_s={"r1": 7.5}),
            LIMITS,
            Decision("wait", "replica r1 lag=7.5s >= 5s"),
            id="replica-lag-wait",
        ),
        pytest.param(
            Metrics(replica_lag_s={"r2": 1.0, "r1": 61.0}),
            LIMITS,
            Decision("stop", "replica r1 lag=61s >= abort limit 60s"),
            id="replica-lag-abort",
        ),
        pytest.param(
            Metrics(
                replica_lag_s={"r1": None},
                replica_notes={"r1": "replication not running (IO=Yes, SQL=No)"},
            ),
            LIMITS,
            Decision("wait", "replica r1: replication not running (IO=Yes, SQL=No)"),
            id="replica-stopped-waits",
        ),
        pytest.param(
            Metrics(replica_lag_s={"r1": None}),
            LIMITS,
            Decision("wait", "replica r1: lag unknown"),
            id="replica-unknown-without-note",
        ),
        pytest.param(
            Metrics(remaining_s=0.0, threads_running=99),
            LIMITS,
            Decision("stop", "time budget exhausted (0.0s left)"),
            id="budget-beats-wait",
        ),
        pytest.param(
            Metrics(remaining_s=0.5), LIMITS, Decision("proceed"), id="budget-left-proceeds"
        ),
        pytest.param(
            Metrics(in_window=False),
            LIMITS,
            Decision("stop", "outside the maintenance window"),
            id="window-closed",
        ),
        pytest.param(
            Metrics(cancelled=True, remaining_s=-5, in_window=False),
            LIMITS,
            Decision("stop", "cancelled"),
            id="cancel-first",
        ),
        pytest.param(
            Metrics(threads_running=10_000, replica_lag_s={"r1": 10_000}),
            Limits(
                max_replica_lag_s=None,
                abort_replica_lag_s=None,
                max_threads_running=None,
                abort_threads_running=None,
            ),
            Decision("proceed"),
            id="checks-switched-off",
        ),
        pytest.param(
            Metrics(threads_running=60, replica_lag_s={"r1": 9}),
            LIMITS,
            Decision("wait", "replica r1 lag=9s >= 5s"),
            id="lag-reported-before-threads",
        ),
    ],
)
def test_decide(metrics: Metrics, limits: Limits, expected: Decision) -> None:
    assert decide(metrics, limits) == expected


def test_limits_from_settings() -> None:
    settings = MaintenanceSettings(max_replica_lag_s=2.5, max_threads_running=7)
    assert Limits.from_settings(settings) == Limits(
        max_replica_lag_s=2.5, abort_replica_lag_s=None, max_threads_running=7
    )


class FakeClock:
    """A monotonic clock that only moves when the throttle sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeStatus:
    """A session whose Threads_running follows a script, one value per sample."""

    def __init__(self, values: list[int]) -> None:
        self.values = values

    def query(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        assert sql == "SHOW GLOBAL STATUS LIKE 'Threads_running'"
        value = self.values.pop(0) if len(self.values) > 1 else self.values[0]
        return [{"Variable_name": "Threads_running", "Value": str(value)}]


def _throttle(values: list[int], clock: FakeClock, **kwargs: Any) -> Throttle:
    return Throttle(
        FakeStatus(values),
        Limits(max_threads_running=10),
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )


class Lines(logging.Handler):
    """Collect formatted log lines (Airflow's logging setup bypasses caplog)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _logger(name: str) -> tuple[logging.Logger, Lines]:
    logger = logging.getLogger(f"tests.throttle.{name}")
    logger.setLevel(logging.INFO)
    lines = Lines()
    logger.addHandler(lines)
    return logger, lines


def test_checkpoint_waits_with_backoff_then_proceeds() -> None:
    clock = FakeClock()
    logger, lines = _logger("backoff")
    throttle = _throttle(
        [30, 20, 15, 12, 3], clock, initial_sleep_s=0.5, max_sleep_s=3, logger=logger
    )
    assert throttle.checkpoint() == Decision("proceed")
    assert clock.sleeps == [0.5, 1.0, 2.0, 3.0]
    assert throttle.waits == 4
    assert throttle.waited_s == pytest.approx(6.5)
    assert lines.lines[0] == "throttle: waiting 0.5s: Threads_running=30 >= 10"


def test_checkpoint_gives_up_after_max_wait() -> None:
    clock = FakeClock()
    throttle = _throttle([99], clock, initial_sleep_s=1, max_sleep_s=4, max_wait_s=10)
    decision = throttle.checkpoint()
    assert decision == Decision("stop", "throttled for 10s: Threads_running=99 >= 10")
    assert sum(clock.sleeps) == pytest.approx(10)


def test_checkpoint_never_sleeps_past_the_budget() -> None:
    clock = FakeClock()
    throttle = _throttle([99], clock, budget_s=2.5, initial_sleep_s=1, max_sleep_s=10)
    decision = throttle.checkpoint()
    assert decision.action == "stop"
    assert decision.reason.startswith("time budget exhausted")
    assert sum(clock.sleeps) == pytest.approx(2.5)


def test_checkpoint_stops_on_cancel_event_and_closed_window() -> None:
    clock = FakeClock()
    cancel = threading.Event()
    throttle = _throttle([1], clock, cancel=cancel)
    assert throttle.checkpoint().action == "proceed"
    cancel.set()
    assert throttle.checkpoint() == Decision("stop", "cancelled")
    closed = _throttle([1], clock, window=lambda: False)
    assert closed.checkpoint() == Decision("stop", "outside the maintenance window")
    assert clock.sleeps == []


class FakeReplica:
    """A replica session answering the replica status statement with one scripted row."""

    def __init__(self, row: dict[str, Any] | None, version: str = "10.11.19-MariaDB") -> None:
        self.row = row
        self.dialect = Dialect(parse_version(version))
        self.closed = False

    def query(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        assert sql == self.dialect.replica_status_sql()
        return [self.row] if self.row is not None else []

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("version", "row", "expected"),
    [
        pytest.param(
            "10.11.19-MariaDB-0+deb12u1",
            {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": 3},
            (3.0, ""),
            id="mariadb-running",
        ),
        pytest.param(
            "8.0.36",
            {
                "Replica_IO_Running": "Yes",
                "Replica_SQL_Running": "Yes",
                "Seconds_Behind_Source": 0,
            },
            (0.0, ""),
            id="mysql8-running",
        ),
        pytest.param(
            "10.11.19-MariaDB",
            {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "No", "Seconds_Behind_Master": None},
            (None, "replication not running (IO=Yes, SQL=No)"),
            id="sql-thread-stopped",
        ),
        pytest.param(
            "10.11.19-MariaDB", None, (None, "not a replica (empty replica status)"), id="primary"
        ),
    ],
)
def test_replica_lag(
    version: str, row: dict[str, Any] | None, expected: tuple[float | None, str]
) -> None:
    assert replica_lag(FakeReplica(row, version)) == expected


def test_unreachable_replica_waits_and_reconnects() -> None:
    attempts: list[int] = []

    def open_session() -> FakeReplica:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("connection refused")
        return FakeReplica(
            {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": 1}
        )

    probe = ReplicaProbe("r1", open_session)
    lag, note = probe.sample()
    assert lag is None and note == "unreachable (OSError: connection refused)"
    assert probe.sample() == (1.0, "")
    clock = FakeClock()
    throttle = Throttle(None, Limits(), replicas=[probe], clock=clock, sleep=clock.sleep)
    assert throttle.collect().replica_lag_s == {"r1": 1.0}


# --------------------------------------------------------------------------------------------
# Real servers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_server() -> Iterator[MySQLInstance]:
    """A private server: Threads_running there counts only this test's sessions."""
    with MySQLInstance() as inst:
        yield inst


def _session(inst: MySQLInstance, monkeypatch: pytest.MonkeyPatch, conn_id: str) -> Any:
    """A session as the grants.sql account (root only builds the fixtures)."""
    account = create_account(inst.execute, [], "_maintenance", port=inst.port)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", account.conn_json())
    return MaintenanceSession(conn_id, MaintenanceSettings(), database_name=conn_id)


def test_threads_running_throttle_waits_for_sleeping_sessions(
    private_server: MySQLInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleepers = [private_server.connect() for _ in range(4)]

    def sleep_in(conn: Any) -> None:
        conn.cursor().execute("SELECT SLEEP(2)")

    threads = [threading.Thread(target=sleep_in, args=(c,)) for c in sleepers]
    try:
        with _session(private_server, monkeypatch, "mmc_throttle_tr") as session:
            assert threads_running(session) < 4
            for thread in threads:
                thread.start()
            time.sleep(0.3)
            assert threads_running(session) >= 5  # four sleepers and this query
            logger, lines = _logger("threads_running")
            throttle = Throttle(
                session,
                Limits(max_threads_running=4),
                initial_sleep_s=0.2,
                max_sleep_s=0.5,
                logger=logger,
            )
            started = time.monotonic()
            assert throttle.checkpoint() == Decision("proceed")
            assert 1.0 < time.monotonic() - started < 4.0
            assert throttle.waits > 0
            assert "throttle: waiting 0.2s: Threads_running=5 >= 4" in lines.lines
    finally:
        for thread in threads:
            thread.join()
        for conn in sleepers:
            conn.close()


@pytest.mark.slow
def test_replica_lag_throttle_on_a_real_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        MySQLInstance(InstanceSpec(server_id=1, binlog=True)) as primary,
        MySQLInstance(InstanceSpec(server_id=2)) as replica,
    ):
        replica.execute(
            "CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = 'root', "
            "MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos",
            (primary.host, primary.port, primary.password),
        )
        replica.execute("START SLAVE")
        account = create_account(replica.execute, [], "_maintenance", port=replica.port)
        monkeypatch.setenv("AIRFLOW_CONN_MMC_THROTTLE_REPLICA", account.conn_json())
        settings = MaintenanceSettings(max_replica_lag_s=5)
        throttle = Throttle.from_settings(
            None,
            settings,
            replica_conn_ids={"r1": "mmc_throttle_replica"},
            max_wait_s=1.0,
            initial_sleep_s=0.2,
        )
        try:
            deadline = time.monotonic() + 20
            while throttle.collect().replica_lag_s.get("r1") is None:
                assert time.monotonic() < deadline, "replication did not start"
                time.sleep(0.2)
            assert throttle.checkpoint() == Decision("proceed")
            replica.execute("STOP SLAVE SQL_THREAD")
            decision = throttle.checkpoint()
            assert decision.action == "stop"
            assert decision.reason == (
                "throttled for 1s: replica r1: replication not running (IO=Yes, SQL=No)"
            )
        finally:
            throttle.close()

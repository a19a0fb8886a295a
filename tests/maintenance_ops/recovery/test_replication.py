"""Replica readiness: the pure decisions, then every check against a real primary and replica."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.exceptions import ConfigError, IdentifierError
from maintenance_ops.recovery.replication import (
    AdvanceObservation,
    LagObservation,
    LogPosition,
    ReplicaReadiness,
    ReplicaStatus,
    TableComparison,
    check_replica,
    decide_advancing,
    decide_consistency,
    decide_lag,
    decide_read_only,
    decide_threads,
    heartbeat_select_sql,
    heartbeat_upsert_sql,
    parse_sample_tables,
    replica_caught_up,
)
from maintenance_ops.recovery.restore import Check
from tests.support.receivers import wait_until
from tests.support.replication import ReplicationPair, replication_pair

MARIADB = Dialect(parse_version("10.11.19-MariaDB-0+deb12u1-log"))
MYSQL8 = Dialect(parse_version("8.0.36"))
RUNNING = ReplicaStatus(True, "Yes", "Yes", 0.0)


# ------------------------------------------------------------------------------------------
# Pure decisions
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected", "words"),
    [
        pytest.param(RUNNING, "pass", ["Slave_SQL_Running=Yes"], id="running"),
        pytest.param(
            ReplicaStatus(True, "Yes", "No", None, last_sql_error="Duplicate entry '1'"),
            "fail",
            ["Slave_SQL_Running=No", "Last_SQL_Error: Duplicate entry '1'"],
            id="sql-thread-failed",
        ),
        pytest.param(
            ReplicaStatus(True, "Yes", "No"),
            "fail",
            ["Slave_SQL_Running=No", "Last_SQL_Error: (empty: the SQL thread was stopped"],
            id="sql-thread-stopped",
        ),
        pytest.param(
            ReplicaStatus(True, "Connecting", "Yes", last_io_error="Access denied"),
            "fail",
            ["Slave_IO_Running=Connecting", "Last_IO_Error: Access denied"],
            id="io-thread-connecting",
        ),
        pytest.param(
            ReplicaStatus(
                True,
                "No",
                "Yes",
                io_field="Replica_IO_Running",
                sql_field="Replica_SQL_Running",
            ),
            "fail",
            ["Replica_IO_Running=No"],
            id="mysql-8-names",
        ),
        pytest.param(ReplicaStatus(False), "fail", ["not a replica"], id="not-a-replica"),
    ],
)
def test_decide_threads(status: ReplicaStatus, expected: str, words: list[str]) -> None:
    check = decide_threads(status)
    assert (check.name, check.status) == ("threads", expected)
    for word in words:
        assert word in check.detail


def _lag(**kw: object) -> LagObservation:
    base: dict[str, object] = {
        "primary_position": "0-1-10",
        "replica_position": "0-1-10",
        "transactions_behind": 0,
        "seconds_behind": 0.0,
        "caught_up_in_s": 0.0,
        "waited_s": 0.0,
    }
    return LagObservation(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("observed", "threshold", "expected", "lag_s", "words"),
    [
        pytest.param(_lag(), 5.0, "pass", 0.0, ["lag 0.00s <= 5s"], id="caught-up"),
        pytest.param(
            _lag(replica_position="0-1-7", transactions_behind=3, caught_up_in_s=0.4),
            1.0,
            "pass",
            0.4,
            ["applied the primary's position in 0.40s", "3 transactions behind at first"],
            id="caught-up-within-threshold",
        ),
        pytest.param(
            _lag(
                replica_position="0-1-7",
                transactions_behind=3,
                caught_up_in_s=None,
                waited_s=1.0,
                seconds_behind=None,
            ),
            1.0,
            "fail",
            None,
            ["3 transactions behind", "did not within 1.0s", "lag > 1s", "=NULL"],
            id="not-applied-in-time",
        ),
        pytest.param(
            _lag(seconds_behind=12.0),
            5.0,
            "fail",
            12.0,
            ["lag 12.00s > 5s", "Seconds_Behind_Master=12"],
            id="seconds-behind-over-threshold",
        ),
        pytest.param(
            _lag(transactions_behind=2, caught_up_in_s=None, sql_running=False),
            5.0,
            "fail",
            None,
            ["2 transactions behind", "the SQL thread is stopped"],
            id="sql-thread-stopped",
        ),
        pytest.param(
            _lag(primary_position="", replica_position="", seconds_behind=1.0),
            5.0,
            "pass",
            1.0,
            ["only Seconds_Behind_Master counts"],
            id="no-gtid",
        ),
    ],
)
def test_decide_lag(
    observed: LagObservation,
    threshold: float,
    expected: str,
    lag_s: float | None,
    words: list[str],
) -> None:
    check, lag = decide_lag(observed, threshold)
    assert (check.name, check.status, lag) == ("lag", expected, lag_s)
    for word in words:
        assert word in check.detail


@pytest.mark.parametrize(
    ("values", "expected", "detail"),
    [
        pytest.param({"read_only": True}, "pass", "read_only=ON", id="mariadb-on"),
        pytest.param({"read_only": False}, "fail", "read_only=OFF: clients can", id="off"),
        pytest.param(
            {"read_only": True, "super_read_only": False},
            "pass",
            "read_only=ON, super_read_only=OFF",
            id="mysql-super-read-only-reported",
        ),
    ],
)
def test_decide_read_only(values: dict[str, bool], expected: str, detail: str) -> None:
    check = decide_read_only(values)
    assert (check.name, check.status) == ("read_only", expected)
    assert detail in check.detail


@pytest.mark.parametrize(
    ("observed", "expected", "detail"),
    [
        pytest.param(
            AdvanceObservation(4, "0-1-12", "0-1-11", "0-1-12", 0.05, 30.0),
            "pass",
            "heartbeat 4 reached the replica in 0.05s; replica position 0-1-11 -> 0-1-12",
            id="arrived",
        ),
        pytest.param(
            AdvanceObservation(4, "0-1-12", "0-1-11", "0-1-11", None, 2.0),
            "fail",
            "did not reach the replica within 2s; replica position 0-1-11 -> 0-1-11",
            id="never-arrived",
        ),
        pytest.param(
            AdvanceObservation(4, "0-1-12", "0-1-11", "0-1-11", 0.1, 2.0),
            "fail",
            "GTID position did not move",
            id="arrived-but-position-stuck",
        ),
    ],
)
def test_decide_advancing(observed: AdvanceObservation, expected: str, detail: str) -> None:
    check = decide_advancing(observed)
    assert (check.name, check.status) == ("advancing", expected)
    assert detail in check.detail


@pytest.mark.parametrize(
    ("comparisons", "expected", "words"),
    [
        pytest.param([], "skipped", ["no sample tables"], id="none-configured"),
        pytest.param(
            [TableComparison("app.a", 11, 11), TableComparison("app.b", 22, 22)],
            "pass",
            ["equal: app.a=11, app.b=22"],
            id="equal",
        ),
        pytest.param(
            [TableComparison("app.a", 11, 11), TableComparison("app.b", 22, 23)],
            "fail",
            ["app.b differs: checksum 22 on the primary, 23 on the replica", "equal: app.a=11"],
            id="mismatch",
        ),
        pytest.param(
            [TableComparison("app.a", 11, 11), TableComparison("app.b", 22, 23, stable=False)],
            "pass",
            ["equal: app.a=11", "not compared", "app.b"],
            id="mismatch-while-written-not-counted",
        ),
        pytest.param(
            [TableComparison("app.b", 22, 23, stable=False)],
            "skipped",
            ["not compared"],
            id="only-unsettled",
        ),
        pytest.param(
            [TableComparison("app.a", 11, None, replica_exists=False)],
            "fail",
            ["app.a is missing on the replica"],
            id="missing-on-replica",
        ),
        pytest.param(
            [TableComparison("app.a", primary_exists=False)],
            "fail",
            ["app.a does not exist on the primary (fix sample_tables)"],
            id="missing-on-primary",
        ),
        pytest.param(
            [TableComparison("app.a", 11, error="replica did not apply")],
            "fail",
            ["app.a: replica did not apply"],
            id="not-applied",
        ),
    ],
)
def test_decide_consistency(
    comparisons: list[TableComparison], expected: str, words: list[str]
) -> None:
    check = decide_consistency(comparisons)
    assert (check.name, check.status) == ("consistency", expected)
    for word in words:
        assert word in check.detail


RELAY_APPLIED = ReplicaStatus(
    True,
    "Yes",
    "Yes",
    0.0,
    received=LogPosition("binlog.000002", 900),
    executed=LogPosition("binlog.000002", 900),
)
RELAY_PENDING = ReplicaStatus(
    True,
    "Yes",
    "No",
    None,
    received=LogPosition("binlog.000003", 120),
    executed=LogPosition("binlog.000002", 900),
)


@pytest.mark.parametrize(
    ("dialect", "status", "replica", "primary", "caught_up", "behind", "words"),
    [
        pytest.param(
            MARIADB, RELAY_APPLIED, "0-1-10", "0-1-10", True, 0, ["caught up"], id="caught-up"
        ),
        pytest.param(
            MARIADB,
            RELAY_APPLIED,
            "0-1-7,1-5-3",
            "0-1-10,1-5-4",
            False,
            4,
            ["4 transactions behind the primary", "primary at 0-1-10,1-5-4"],
            id="behind-two-domains",
        ),
        pytest.param(
            MARIADB,
            RELAY_APPLIED,
            "0-1-12",
            "0-2-10",
            True,
            0,
            ["caught up"],
            id="ahead-other-server-id",
        ),
        pytest.param(
            MYSQL8,
            RELAY_APPLIED,
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-8",
            False,
            3,
            ["3 transactions behind"],
            id="mysql-behind",
        ),
        pytest.param(
            MARIADB,
            RELAY_APPLIED,
            "0-1-3",
            None,
            True,
            None,
            ["applied everything it received (up to binlog.000002:900", "not checked"],
            id="no-primary-relay-applied",
        ),
        pytest.param(
            MARIADB,
            RELAY_PENDING,
            "0-1-3",
            "",
            False,
            None,
            ["behind: received the primary's log up to binlog.000003:120", "binlog.000002:900"],
            id="no-primary-relay-pending",
        ),
        pytest.param(
            MARIADB, ReplicaStatus(False), "", "0-1-3", False, None, ["not a replica"], id="none"
        ),
    ],
)
def test_replica_caught_up(
    dialect: Dialect,
    status: ReplicaStatus,
    replica: str,
    primary: str | None,
    caught_up: bool,
    behind: int | None,
    words: list[str],
) -> None:
    decision = replica_caught_up(dialect, status, replica, primary)
    assert (decision.caught_up, decision.transactions_behind) == (caught_up, behind)
    for word in words:
        assert word in decision.reason


def test_heartbeat_statements() -> None:
    assert heartbeat_upsert_sql("_maintenance", 7) == (
        "INSERT INTO `_maintenance`.`replication_heartbeat` (server_id, beat, written_at) "
        "VALUES (%s, 1, UTC_TIMESTAMP(6)) "
        "ON DUPLICATE KEY UPDATE beat = beat + 1, written_at = UTC_TIMESTAMP(6)",
        (7,),
    )
    assert heartbeat_select_sql("ops", 7) == (
        "SELECT beat FROM `ops`.`replication_heartbeat` WHERE server_id = %s",
        (7,),
    )
    with pytest.raises(IdentifierError, match="heartbeat schema 'x; DROP'"):
        heartbeat_select_sql("x; DROP", 1)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        pytest.param(["app"], "'app' must be written as 'schema.table'", id="no-dot"),
        pytest.param(["app.t`x"], "sample table 'app.t`x'", id="bad-table"),
        pytest.param(["a b.t"], "schema of sample table 'a b.t'", id="bad-schema"),
        pytest.param("app.t", "must be a list", id="string-not-list"),
    ],
)
def test_sample_tables_are_validated(tables: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_sample_tables(tables)


def test_check_replica_validates_before_connecting() -> None:
    # None connections: any I/O would raise AttributeError, so this proves nothing was run.
    with pytest.raises(ConfigError, match="lag_threshold_s"):
        check_replica(None, None, replica_name="r", lag_threshold_s=-1, sample_tables=[])
    with pytest.raises(ConfigError, match="schema.table"):
        check_replica(None, None, replica_name="r", lag_threshold_s=1, sample_tables=["t"])


def test_readiness_to_dict() -> None:
    result = ReplicaReadiness("r1", False, [Check("lag", "fail", "lag > 1s")], lag_s=None)
    data = result.to_dict()
    assert data["checks"] == [{"name": "lag", "status": "fail", "detail": "lag > 1s"}]
    assert (data["replica"], data["ok"], result.failed[0].name) == ("r1", False, "lag")


# ------------------------------------------------------------------------------------------
# A real primary and replica
# ------------------------------------------------------------------------------------------

SAMPLE = ["app.accounts", "app.orders"]


def _seed(pair: ReplicationPair) -> None:
    pair.primary_sql("CREATE DATABASE app")
    for table in ("accounts", "orders"):
        pair.primary_sql(f"CREATE TABLE app.{table} (id INT PRIMARY KEY, v INT NOT NULL)")
        pair.primary_sql(f"INSERT INTO app.{table} VALUES (1, 10), (2, 20), (3, 30)")
    pair.sync()


@pytest.fixture(scope="module")
def shared_pair() -> Iterator[ReplicationPair]:
    """One primary and replica for the module; tests that break it use :func:`pair`."""
    with replication_pair() as started:
        _seed(started)
        yield started


@pytest.fixture
def pair(shared_pair: ReplicationPair) -> Iterator[ReplicationPair]:
    """The shared pair, put back to healthy after the test whatever it did."""
    yield shared_pair
    shared_pair.restore()


def _check(pair: ReplicationPair, **kw: object) -> ReplicaReadiness:
    primary, replica = pair.connect_primary(), pair.connect_replica()
    try:
        options: dict[str, object] = {"lag_threshold_s": 2.0, "sample_tables": SAMPLE}
        options.update(kw)
        return check_replica(primary, replica, replica_name="replica-1", **options)  # type: ignore[arg-type]
    finally:
        primary.close()
        replica.close()


def _statuses(result: ReplicaReadiness) -> dict[str, str]:
    return {c.name: c.status for c in result.checks}


def test_healthy_replica_passes(pair: ReplicationPair) -> None:
    pair.primary_sql("INSERT INTO app.orders VALUES (4, 40)")
    result = _check(pair)
    assert result.ok, result.to_dict()
    assert _statuses(result) == dict.fromkeys(
        ("threads", "lag", "read_only", "advancing", "consistency"), "pass"
    )
    assert result.lag_s is not None and result.lag_s <= 2.0
    assert "equal: app.accounts=" in result.check("consistency").detail
    # The heartbeat row written on the primary was replicated.
    beat = pair.replica_sql("SELECT beat FROM _maintenance.replication_heartbeat")
    assert beat and beat[0][0] >= 1
    assert result.replica_position_after == result.primary_position


def test_stopped_sql_thread_fails_threads(pair: ReplicationPair) -> None:
    pair.replica_sql("STOP SLAVE SQL_THREAD")
    pair.primary_sql("INSERT INTO app.orders VALUES (100, 1)")
    result = _check(pair, lag_threshold_s=0.5)
    assert not result.ok
    threads = result.check("threads")
    assert threads.status == "fail"
    assert "Slave_SQL_Running=No" in threads.detail and "Last_SQL_Error" in threads.detail
    assert result.check("lag").status == "fail"
    assert "1 transactions behind" in result.check("lag").detail
    assert result.check("advancing").status == "skipped"


def test_sql_thread_stopped_by_an_error_names_it() -> None:
    with replication_pair() as broken:
        _seed(broken)
        conn = broken.connect_replica()
        conn.cursor().execute("SET SESSION sql_log_bin = 0")
        conn.cursor().execute("INSERT INTO app.orders VALUES (50, 5)")
        conn.close()
        broken.primary_sql("INSERT INTO app.orders VALUES (50, 6)")
        wait_until(lambda: broken.replica_status()["Slave_SQL_Running"] == "No", timeout=30)
        result = _check(broken, lag_threshold_s=0.5)
    threads = result.check("threads")
    assert threads.status == "fail"
    assert "Slave_SQL_Running=No" in threads.detail
    assert "Last_SQL_Error:" in threads.detail and "Duplicate entry '50'" in threads.detail


def test_real_lag_over_threshold_fails_lag(pair: ReplicationPair) -> None:
    pair.replica_sql("STOP SLAVE")
    pair.replica_sql("CHANGE MASTER TO MASTER_DELAY = 3")
    pair.replica_sql("START SLAVE")
    pair.wait_running()
    pair.primary_sql("INSERT INTO app.orders VALUES (200, 1)")
    result = _check(pair, lag_threshold_s=0.5, wait_timeout_s=15.0)
    assert _statuses(result) == {
        "threads": "pass",
        "lag": "fail",
        "read_only": "pass",
        "advancing": "pass",
        "consistency": "pass",
    }, result.to_dict()
    lag = result.check("lag").detail
    assert "1 transactions behind" in lag and "lag > 0.5s" in lag
    assert result.lag_s is None


def test_read_only_off_fails_read_only(pair: ReplicationPair) -> None:
    pair.replica_sql("SET GLOBAL read_only = OFF")
    result = _check(pair)
    assert result.failed == [result.check("read_only")]
    assert "read_only=OFF" in result.check("read_only").detail


def test_row_changed_only_on_replica_fails_consistency(pair: ReplicationPair) -> None:
    conn = pair.connect_replica()
    try:
        cur = conn.cursor()
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute("UPDATE app.accounts SET v = 99 WHERE id = 2")
    finally:
        conn.close()
    try:
        result = _check(pair)
        assert result.failed == [result.check("consistency")], result.to_dict()
        detail = result.check("consistency").detail
        assert "app.accounts differs: checksum" in detail
        assert "equal: app.orders=" in detail
    finally:
        # Put the row back the same way it was changed, so the shared pair agrees again.
        conn = pair.connect_replica()
        conn.cursor().execute("SET SESSION sql_log_bin = 0")
        conn.cursor().execute("UPDATE app.accounts SET v = 20 WHERE id = 2")
        conn.close()


def test_missing_sample_table_fails_consistency(pair: ReplicationPair) -> None:
    result = _check(pair, sample_tables=["app.accounts", "app.nope"])
    assert result.failed == [result.check("consistency")]
    assert "app.nope does not exist on the primary" in result.check("consistency").detail

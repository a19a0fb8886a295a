"""Health decisions, pure: thresholds, score, alert plan, trends, security findings."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from maintenance_ops.core.config import Thresholds
from maintenance_ops.core.dialect import parse_version
from maintenance_ops.core.trends import HistoryNeed, linear_fit, trend
from maintenance_ops.observe.health import (
    Breach,
    HealthSample,
    OwnAccount,
    ReplicaState,
    connection_metrics,
    evaluate,
    own_accounts,
    score,
    security_findings,
    server_is_local,
)
from maintenance_ops.observe.health_history import plan_alerts
from maintenance_ops.observe.metrics import metric_names

T = Thresholds()


def sample(**metrics: float) -> HealthSample:
    return HealthSample("db1", metrics=dict(metrics))


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        pytest.param({"connections_pct": 79.9}, [], id="connections-under"),
        pytest.param(
            {"connections_pct": 80}, [("connections_pct", "warning", 80)], id="connections-warning"
        ),
        pytest.param(
            {"connections_pct": 95},
            [("connections_pct", "critical", 95)],
            id="connections-critical",
        ),
        pytest.param(
            {"longest_query_s": 2.5}, [("longest_query_s", "warning", 2)], id="query-warning"
        ),
        pytest.param(
            {"longest_query_s": 6}, [("longest_query_s", "critical", 5)], id="query-critical"
        ),
        pytest.param({"cpu_pct": 81}, [("cpu_pct", "warning", 80)], id="cpu"),
        pytest.param({"memory_pct": 85}, [("memory_pct", "warning", 85)], id="memory"),
        pytest.param({"disk_pct": 99}, [("disk_pct", "warning", 85)], id="disk-has-no-critical"),
    ],
)
def test_thresholds(metrics: dict[str, float], expected: list[tuple[str, str, float]]) -> None:
    found = evaluate(sample(**metrics), T)
    assert [(b.metric, b.level, b.threshold) for b in found] == expected


def test_per_database_override_changes_the_line() -> None:
    strict = T.model_copy(update={"connection_warning_pct": 50.0})
    assert [b.level for b in evaluate(sample(connections_pct=60), strict)] == ["warning"]


@pytest.mark.parametrize(
    ("replica", "expected"),
    [
        pytest.param(ReplicaState("r1", True, True, 0.0), [], id="healthy"),
        pytest.param(
            ReplicaState("r1", True, True, 6.0), [("replica.r1.lag_s", "warning")], id="lag-warning"
        ),
        pytest.param(
            ReplicaState("r1", True, True, 31.0),
            [("replica.r1.lag_s", "critical")],
            id="lag-critical",
        ),
        pytest.param(
            ReplicaState("r1", True, False, 0.0),
            [("replica.r1.sql_running", "critical")],
            id="sql-stopped-no-lag",
        ),
        pytest.param(
            ReplicaState("r1", False, True, None),
            [("replica.r1.io_running", "critical")],
            id="io-stopped",
        ),
        pytest.param(
            ReplicaState("r1", reachable=False, error="refused"),
            [("replica.r1.reachable", "critical")],
            id="unreachable",
        ),
    ],
)
def test_replicas(replica: ReplicaState, expected: list[tuple[str, str]]) -> None:
    s = sample()
    s.replicas = [replica]
    assert [(b.metric, b.level) for b in evaluate(s, T)] == expected


def test_score_formula() -> None:
    s = sample()
    assert score([], s).to_dict() == {"score": 100, "status": "healthy", "reasons": []}
    warning = Breach("db1", "cpu_pct", 81, 80, "warning")
    critical = Breach("db1", "connections_pct", 96, 95, "critical")
    assert (score([warning], s).score, score([warning], s).status) == (90, "degraded")
    both = score([critical, warning], s)
    assert (both.score, both.status) == (60, "critical")
    assert both.reasons[0] == "db1: connections_pct=96 >= critical threshold 95"
    s.security = ["a", "b", "c", "d"]
    assert score([], s).score == 85  # security costs 5 each, 15 at most
    assert score([critical] * 4, s).score == 0


def test_connection_metrics() -> None:
    m = connection_metrics(
        {
            "THREADS_CONNECTED": "8",
            "MAX_CONNECTIONS": "10",
            "INNODB_BUFFER_POOL_READS": "5",
            "INNODB_BUFFER_POOL_READ_REQUESTS": "1000",
            "MAX_USED_CONNECTIONS": "9",
        }
    )
    assert (m["connections_pct"], m["max_used_connections_pct"], m["buffer_pool_hit_pct"]) == (
        80.0,
        90.0,
        99.5,
    )


def _row(user: str, host: str, held: str = "", anonymous: int = 0, empty: int = 0) -> dict:
    return {"user": user, "host": host, "anonymous": anonymous, "empty_password": empty,
            "any_host_global": held}  # fmt: skip


MAINTENANCE = OwnAccount("maintenance account", "maint", "%", {"PROCESS": "the process list"})
ONCALL = OwnAccount("on-call account", "oncall", None, {"PROCESS": "runaway queries"})


def test_security_findings() -> None:
    rows = [
        _row("", "localhost", anonymous=1, empty=1),
        _row("app", "%", "PROCESS,DROP", empty=1),
        _row("ok", "10.0.0.1"),
    ]
    assert security_findings(rows) == (
        [
            "anonymous account ''@'localhost'",
            "account 'app'@'%' has an empty password",
            "account 'app'@'%' has global privileges from any host: PROCESS, DROP",
        ],
        [],
    )


@pytest.mark.parametrize(
    ("row", "finding", "explained"),
    [
        pytest.param(_row("maint", "%", "PROCESS"), None,
                     "'maint'@'%' is this package's maintenance account (include/sql/grants.sql) "
                     "and needs, from any host: PROCESS for the process list. Restricting its "
                     "host to the Airflow workers is safer", id="maintenance-as-granted"),
        pytest.param(_row("maint", "%", "PROCESS,SUPER"),
                     "account 'maint'@'%' has global privileges from any host: SUPER (beyond "
                     "what grants.sql gives the maintenance account)", None,
                     id="maintenance-with-more"),
        pytest.param(_row("maint", "10.%", ""), None, None, id="maintenance-host-restricted"),
        pytest.param(_row("oncall", "%", "PROCESS"), None,
                     "'oncall'@'%' is this package's on-call account (include/sql/grants.sql) "
                     "and needs, from any host: PROCESS for runaway queries. Restricting its "
                     "host to the Airflow workers is safer", id="oncall-as-granted"),
        pytest.param(_row("maint2", "%", "PROCESS"),
                     "account 'maint2'@'%' has global privileges from any host: PROCESS", None,
                     id="someone-else"),
        pytest.param(_row("maint", "localhost", "", empty=1),
                     "account 'maint'@'localhost' has an empty password", None,
                     id="same-user-other-host-no-password"),
    ],
)  # fmt: skip
def test_own_accounts_are_explained_not_penalised(
    row: dict, finding: str | None, explained: str | None
) -> None:
    findings, notes = security_findings([row], [MAINTENANCE, ONCALL])
    assert findings == ([finding] if finding else [])
    assert notes == ([explained] if explained else [])
    sample = HealthSample("db", security=findings, security_explained=notes)
    assert score([], sample).score == (95 if finding else 100)


def test_own_accounts_read_their_global_needs_from_grants_sql() -> None:
    mariadb = parse_version("10.11.6-MariaDB-log")
    maintenance, oncall = own_accounts(mariadb, "mmc_x@%")
    assert (maintenance.user, maintenance.host, oncall.user, oncall.host) == (
        "mmc_x",
        "%",
        "oncall",
        None,
    )
    assert set(maintenance.needs) == {
        "PROCESS",
        "RELOAD",
        "REPLICATION CLIENT",
        "REPLICATION SLAVE",
        "SLAVE MONITOR",
    }  # SHOW_ROUTINE is MySQL's
    assert maintenance.needs["PROCESS"].startswith("the process list and INNODB_TRX")
    assert "CONNECTION ADMIN" in oncall.needs and "SUPER" not in oncall.needs
    (only,) = own_accounts(mariadb, "ops@%", oncall_user="ops")  # one account for both: once
    assert only.role == "maintenance account"
    assert own_accounts(mariadb, "m@10.0.%", "pager")[1].user == "pager"


def test_server_is_local() -> None:
    assert server_is_local("127.0.0.1", None) and server_is_local("localhost", "x")
    assert not server_is_local("db7.example.com", "db7")


NOW = datetime(2026, 11, 28, 12)
W = Breach("db1", "cpu_pct", 81, 80, "warning")
C = Breach("db1", "connections_pct", 96, 95, "critical")


def test_alert_plan_quiet_period_and_recovery() -> None:
    quiet = timedelta(minutes=60)
    first = plan_alerts({}, [W, C], NOW, quiet)
    assert ([b.key for b in first.send], first.held_back, first.recovered) == (
        ["cpu_pct:warning", "connections_pct:critical"],
        [],
        [],
    )
    again = plan_alerts({W.key: NOW, C.key: NOW}, [W, C], NOW + timedelta(minutes=59), quiet)
    assert (again.send, len(again.held_back)) == ([], 2)
    later = plan_alerts({W.key: NOW, C.key: NOW}, [C], NOW + timedelta(minutes=61), quiet)
    assert ([b.key for b in later.send], later.recovered) == (
        ["connections_pct:critical"],
        ["cpu_pct:warning"],
    )
    escalated = plan_alerts(
        {W.key: NOW}, [Breach("db1", "cpu_pct", 99, 95, "critical")], NOW, quiet
    )
    assert [b.key for b in escalated.send] == ["cpu_pct:critical"] and escalated.recovered == [
        "cpu_pct:warning"
    ]


def test_trend_and_forecast() -> None:
    points = [(NOW - timedelta(days=d), 50.0 - d) for d in range(12, -1, -1)]  # +1 pct a day
    t = trend("disk_pct", points, NOW, limit=100.0)
    assert t is not None
    assert (t.latest, t.change_24h, t.change_7d, t.slope_per_day, t.days_until_limit) == (
        50.0,
        1.0,
        7.0,
        1.0,
        50.0,
    )
    assert (t.samples, t.history, t.note) == (13, "13 samples over 12 d", None)
    assert t.describe() == "trend disk_pct: 50, +1/day, 100 in ~50 days (from 13 samples over 12 d)"
    flat = trend("x", [(NOW, 3.0)], NOW)
    assert flat is not None and flat.slope_per_day is None and flat.change_24h is None
    assert linear_fit([(NOW, 1.0), (NOW, 2.0)]) is None


def _every(count: int, step: timedelta, start: float = 40.0, rise: float = 0.5) -> list:
    return [(NOW - (count - 1 - i) * step, start + rise * i) for i in range(count)]


@pytest.mark.parametrize(
    ("points", "need", "history"),
    [
        # The run: 5 samples over 7 minutes once said "disk full in 0.9 days".
        pytest.param(_every(5, timedelta(seconds=105)), HistoryNeed(), "5 samples over 7 min",
                     id="5-samples-over-7-min"),
        pytest.param(_every(12, timedelta(minutes=1)), HistoryNeed(), "12 samples over 11 min",
                     id="enough-samples-too-short"),
        pytest.param(_every(3, timedelta(days=3)), HistoryNeed(), "3 samples over 6 d",
                     id="long-enough-too-few"),
        pytest.param(_every(30, timedelta(minutes=2)), HistoryNeed(min_hours=2, min_samples=40),
                     "30 samples over 58 min", id="configured-minimums"),
    ],
)  # fmt: skip
def test_too_little_history_gives_no_number(points: list, need: HistoryNeed, history: str) -> None:
    t = trend("disk_pct", points, NOW, limit=100.0, need=need)
    assert t is not None and t.slope_per_day is None and t.days_until_limit is None
    needs = f"needs {need.min_samples} samples over at least {need.min_hours:g} h"
    assert t.note == f"not enough history ({history}; {needs})"
    assert t.describe() == f"trend disk_pct: {t.latest:g}; {t.note}"


def test_enough_history_shows_the_forecast_with_its_span() -> None:
    points = _every(30, timedelta(hours=1), start=40.0, rise=0.25)  # 6 %/day over 29 h
    t = trend("disk_pct", points, NOW, limit=100.0)
    assert t is not None and t.note is None
    assert (t.samples, t.span_hours, t.slope_per_day) == (30, 29.0, 6.0)
    assert t.days_until_limit == round((100 - points[-1][1]) / 6, 1)
    assert t.describe().endswith(
        f"+6/day, 100 in ~{t.days_until_limit:g} days (from 30 samples over 29 h)"
    )


def test_metric_names_carry_everything() -> None:
    s = sample(connections_pct=12.5)
    s.replicas = [ReplicaState("r-1", True, True, 3.0)]
    names = metric_names(s, score([], s), "mm")
    assert names == {
        "mm.health.connections_pct": 12.5,
        "mm.health.score": 100.0,
        "mm.health.replica_lag_s.r_1": 3.0,
    }


def test_since_last_turns_totals_into_deltas() -> None:
    from maintenance_ops.observe.health import since_last

    assert since_last({"deadlocks": 7, "aborted_connects": 3}, None) == {
        "deadlocks_since_last": 7,
        "aborted_connects_since_last": 3,
    }
    assert since_last({"deadlocks": 7}, {"deadlocks": 5}) == {"deadlocks_since_last": 2}
    assert since_last({"deadlocks": 1}, {"deadlocks": 5}) == {"deadlocks_since_last": 1}  # restart

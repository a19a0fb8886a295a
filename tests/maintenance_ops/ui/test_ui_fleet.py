"""The fleet and database pages' data, read from a real history store as the maintenance account.

The history rows are written by root with the package's DDL in the writers' shapes
(``tests/support/history_seed.py``); Airflow's run records are given as the dataclasses the
api-server side builds (that side is tested against a real api-server in
``tests/e2e/test_ui_plugin.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from maintenance_ops.core.config import parse_config
from maintenance_ops.ui import pages
from maintenance_ops.ui.detail import AuditFilter, audit_sql, read_database, read_run_audit
from maintenance_ops.ui.fleet import (
    BUCKET_EPOCH,
    LOG,
    RECOVERY,
    SAMPLES,
    SPARK_7D,
    SPARK_30D,
    BucketCache,
    RunRef,
    Store,
    TableCache,
    assemble,
    bucket_of,
    fleet_sql,
    read_store,
    read_stores,
)
from maintenance_ops.ui.runs import RunInfo, RunsSnapshot
from tests.conftest import Target, mysql_connect, run_sql, target_database
from tests.support.airflow_stack import free_port
from tests.support.history_seed import sample_fleet, seed

NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
DAILY, HEALTH = "mysql_daily_maintenance", "mysql_health_check"
RUNS = [(DAILY, "scheduled__daily_1"), (HEALTH, "manual__health_1")]
PROFILES = sample_fleet()


@pytest.fixture
def history(target: Target) -> Target:
    """The target's history schema with three databases' history (written by root)."""
    conn = mysql_connect()
    try:
        seed(conn.cursor(), target.history_schema, PROFILES, NOW, days=8, runs=RUNS)
        conn.commit()
    finally:
        conn.close()
    return target


def _config(target: Target, *extra: dict, backup: bool = True) -> object:
    dbs = [
        target_database(target, p.name, backup={"enabled": backup, "rpo_hours": 26})
        for p in PROFILES
    ]
    return parse_config(json.dumps({"databases": [*dbs, *extra]}))


def _runs() -> RunsSnapshot:
    daily = RunInfo(DAILY, RUNS[0][1], "failed", NOW - timedelta(hours=2))
    daily.tasks = {"calm": "success", "shop": "failed", "worn": "success"}
    health = RunInfo(HEALTH, RUNS[1][1], "success", NOW - timedelta(minutes=5))
    health.tasks = {p.name: "success" for p in PROFILES}
    report = {
        "databases": [
            {
                "database": "calm",
                "index_analysis": {
                    "findings": [
                        {
                            "kind": "duplicate",
                            "schema": "app",
                            "table": "t",
                            "reason": "same as k1",
                            "drop_sql": "ALTER TABLE `app`.`t` DROP INDEX `k2`",
                        }
                    ]
                },
            }
        ]
    }
    return RunsSnapshot(
        latest={DAILY: daily, HEALTH: health},
        recent={DAILY: [RUNS[0][1]]},
        reports={DAILY: report},
    )


def test_fleet_sql_reads_only_the_tables_the_store_has() -> None:
    since = NOW - timedelta(days=30)
    runs = [RunRef(DAILY, "r1")]
    sql, args = fleet_sql("h", frozenset({SAMPLES}), ["a", "b"], latest_runs=runs,
                          backup_runs=runs, since=since)  # fmt: skip
    assert "`h`.`health_samples`" in sql and LOG not in sql and RECOVERY not in sql
    assert sql.count("UNION ALL") == 1
    assert args == ["a", "b", "a", "b", since, BUCKET_EPOCH, 6]
    full, full_args = fleet_sql("h", frozenset({SAMPLES, LOG, RECOVERY}), ["a"],
                                latest_runs=runs, backup_runs=[], since=since)  # fmt: skip
    assert full.count("UNION ALL") == 6
    # No backup runs known: the backup part reads nothing instead of every row.
    assert "WHERE FALSE AND l.database_name IN (%s)" in full
    assert full_args.count("backup %") == 1
    assert fleet_sql("h", frozenset(), ["a"], latest_runs=[], backup_runs=[], since=since) == (
        "",
        [],
    )


def test_fleet_rows_from_a_real_history_store(history: Target) -> None:
    config = _config(history)
    runs = _runs()
    stores = read_stores(
        config, latest_runs=runs.latest_refs(), backup_runs=runs.backup_refs(), now=NOW
    )
    assert list(stores) == [Store(history.conn_id, history.history_schema)]
    rows = {r.database: r for r in assemble(config, stores, runs, NOW)}
    order = [r.database for r in assemble(config, stores, runs, NOW)]
    assert order == ["shop", "worn", "calm"]  # critical, then degraded, then healthy

    shop = rows["shop"]
    assert (shop.score, shop.status, shop.rank) == (40, "critical", 0)
    assert shop.breaches[0]["metric"] == "connections_pct"
    assert shop.findings == {"health": 1, "security": 1}
    assert shop.runs["daily_maintenance"].state == "failed"
    assert shop.runs["daily_maintenance"].outcomes == {"ok": 2, "skipped": 1}
    assert shop.backup_age_h == pytest.approx(40, abs=0.1)
    assert "backup 40 h old, RPO 26 h" in shop.concerns[1:]
    assert shop.restore is not None and shop.restore["ok"] is False
    assert len(shop.trend_30d) == SPARK_30D and len(shop.trend_7d) == SPARK_7D
    assert shop.trend_7d[-1] == 40  # the worst score of the newest bucket
    assert sum(v is not None for v in shop.trend_30d) in (32, 33)  # 8 days of 6-hour buckets

    worn = rows["worn"]
    assert (worn.status, worn.drill_ok, worn.restore) == ("degraded", False, None)
    assert worn.rank == 0  # a failed drill is critical whatever the score says
    calm = rows["calm"]
    assert (calm.score, calm.rank, calm.findings) == (100, 4, {"indexes": 1})
    assert calm.drill_last_ok_at is not None and calm.backup_age_h == pytest.approx(3, abs=0.1)

    html = pages.fleet_page(list(rows.values()), ui_root="/", generated_at=NOW)
    assert html.count('class="fleet-row"') == 3
    assert 'data-points="0"' not in html.split('data-database="calm"')[1].split("</tr>")[0]


def test_an_unreachable_store_is_shown_as_such(history: Target, monkeypatch) -> None:
    lost = json.dumps({"conn_type": "mysql", "host": "127.0.0.1", "port": free_port(),
                       "login": "maintenance", "password": "secret-pw"})  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_MMC_UI_LOST", lost)
    config = _config(history, {"name": "lost", "conn_id": "mmc_ui_lost"})
    runs = RunsSnapshot()
    stores = read_stores(config, latest_runs=[], backup_runs=[], now=NOW)
    rows = assemble(config, stores, runs, NOW)
    row = next(r for r in rows if r.database == "lost")
    assert row.error is not None and row.error.startswith("history store unreachable: ")
    assert "cannot connect: [2002]" in row.error and "secret-pw" not in row.error
    assert row.rank == 1 and row.score is None
    assert [r.database for r in rows][:2] == ["shop", "worn"]  # the others are still read
    html = pages.fleet_page(rows, ui_root="/", generated_at=NOW)
    assert "history store unreachable" in html and "Traceback" not in html


def test_complete_buckets_are_not_read_again(history: Target) -> None:
    store, names = Store(history.conn_id, history.history_schema), ["shop"]
    cache = BucketCache()
    first = read_store(store, names, latest_runs=[], backup_runs=[], now=NOW, buckets=cache)
    assert len(first.buckets["shop"]) in (32, 33)
    # A sample written late into a complete bucket is not seen until the next full read; one
    # in the bucket still open at the last read is.
    old, late = NOW - timedelta(days=2), NOW + timedelta(minutes=1)
    for when, score in ((old, 1), (late, 2)):
        run_sql(
            f"INSERT INTO `{history.history_schema}`.health_samples (database_name, sampled_at, "
            "score, status, metrics, breaches) VALUES ('shop', %s, %s, 'critical', '{}', '[]')",
            (when, score),
        )
    later = NOW + timedelta(minutes=2)
    second = read_store(store, names, latest_runs=[], backup_runs=[], now=later, buckets=cache)
    buckets = second.buckets["shop"]
    assert buckets[bucket_of(late)][2] == 2  # the open bucket was read again
    assert buckets[bucket_of(old)][2] != 1 and len(buckets) == len(first.buckets["shop"])
    cache.forget()
    full = read_store(store, names, latest_runs=[], backup_runs=[], now=later, buckets=cache)
    assert full.buckets["shop"][bucket_of(old)][2] == 1


def test_a_store_without_history_tables_reads_as_empty(target: Target) -> None:
    cache = TableCache()
    store = Store(target.conn_id, target.history_schema)  # the schema does not exist yet
    data = read_store(store, ["x"], latest_runs=[], backup_runs=[], now=NOW, cache=cache)
    assert data.latest == {} and data.buckets == {}
    assert cache.get(store) == frozenset()  # remembered: the next read sends no statement


def test_database_page_data_and_audit_filter(history: Target) -> None:
    config = _config(history)
    db = config.database("shop")
    everything = read_database(db, NOW, days=30, flt=AuditFilter())
    assert everything.error is None
    assert len(everything.samples) == 8 * 24
    assert everything.latest is not None and everything.latest["details"]["security"]
    assert len(everything.series("replica_lag_s")) == 8 * 24
    assert {r["outcome"] for r in everything.audit} == {"ok", "skipped"}
    skipped = read_database(db, NOW, days=1, flt=AuditFilter(outcome="skipped"))
    assert [r["error"] for r in skipped.audit] == ["table locked: lock wait timeout"] * 2
    assert len(skipped.samples) == 25  # hourly, both ends of the day included
    # Text is matched literally: '%' is no wildcard.
    assert read_database(db, NOW, days=1, flt=AuditFilter(text="%")).audit == []
    found = read_database(db, NOW, days=1, flt=AuditFilter(text="backup", dag_id=DAILY))
    assert [r["command"] for r in found.audit] == ["backup mariadb-dump"]
    html = pages.database_page(
        everything, {}, filters={}, outcomes=["ok"], dag_ids=[DAILY], ui_root="/",
        rto_target_s=3600,
    )  # fmt: skip
    assert html.count('class="chart') >= 5 and "anonymous account" in html

    audit = read_run_audit(config.databases, DAILY, RUNS[0][1])
    assert [r["outcome"] for r in audit["shop"]] == ["ok", "ok", "skipped"]


def test_audit_sql_binds_every_filter_value() -> None:
    sql, args = audit_sql("h", "shop", AuditFilter(outcome="failed", dag_id="d", text="x'y"))
    assert sql == (
        "SELECT id, started_at, ended_at, object_name, command, outcome, rows_affected, error, "
        "dag_id, run_id, task_id, map_index FROM `h`.`maintenance_log` WHERE database_name = %s "
        "AND outcome = %s AND dag_id = %s AND (LOCATE(%s, command) > 0 OR "
        "LOCATE(%s, COALESCE(object_name, '')) > 0) ORDER BY started_at DESC, id DESC LIMIT %s"
    )
    assert args == ["shop", "failed", "d", "x'y", "x'y", 200]

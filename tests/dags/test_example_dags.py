"""The example DAGs of docs/examples run as written, as the grants.sql account."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.audit import AuditLog
from tests.conftest import REPO, Target
from tests.dags.conftest import load_dagbag, task_states

DAY = datetime(2026, 6, 15, 1, 0, tzinfo=UTC)
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


def test_load_then_maintain_cleans_up_and_refreshes_statistics_after_the_load(
    target: Target, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    target.sql(
        "CREATE TABLE events (id INT AUTO_INCREMENT PRIMARY KEY, created DATETIME NOT NULL, "
        "kind VARCHAR(10) NOT NULL, KEY by_created (created)) STATS_AUTO_RECALC=0"
    )  # no background recalculation: the table stays stale until the step analyses it (a
    # loaded machine otherwise let InnoDB refresh it first, and the step rightly skipped it)
    naive = DAY.replace(tzinfo=None)
    old = [(naive - timedelta(days=100 + i), "old") for i in range(40)]
    recent = [(naive - timedelta(days=i), "recent") for i in range(20)]
    target.sql(
        "INSERT INTO events (created, kind) VALUES " + ",".join(["(%s, %s)"] * 60),
        [v for row in old + recent for v in row],
    )
    # The example's connection: the maintenance account (include/sql/grants.sql), on the
    # target's schema.
    assert target.account is not None
    conn: dict[str, Any] = json.loads(target.account.conn_json())
    monkeypatch.setenv("AIRFLOW_CONN_SHOP_DB", json.dumps({**conn, "schema": target.schema}))
    write_config(
        {
            "databases": [
                {
                    "name": "shop",
                    "conn_id": "shop_db",
                    "schemas": [target.schema],
                    "history_schema": target.history_schema,
                    "cleanup_rules": [
                        {
                            "name": "events_90d",
                            "table": "events",
                            "date_column": "created",
                            "retention_days": 90,
                        }
                    ],
                }
            ]
        }
    )
    # dag.test() finds the DAG in a bundle: the examples' folder is one beside the DAG folder.
    examples = REPO / "docs" / "examples"
    bundles = [
        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
        {"name": "examples", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(examples)}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    bag = load_dagbag(examples)
    assert not bag.import_errors, bag.import_errors
    run = bag.dags["load_then_maintain"].test(logical_date=DAY)
    assert str(run.state) == "success", task_states(run)

    kinds = dict(target.sql("SELECT kind, COUNT(*) FROM events GROUP BY kind"))
    assert kinds == {"order": 10, "recent": 20}  # loaded; the 40 past 90 days are gone
    audit = AuditLog("shop_db", target.history_schema).read(run_id=run.run_id)
    by_task = {(r["task_id"], r["command"].split(" ")[0]) for r in audit}
    assert ("expire_old_events", "preflight") in by_task
    assert ("refresh_statistics", "preflight") in by_task
    analysed = [
        r for r in audit if r["task_id"] == "refresh_statistics" and "ANALYZE" in r["command"]
    ]
    assert [r["object_name"] for r in analysed] == [f"{target.schema}.events"], audit

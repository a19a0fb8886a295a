"""The shipped Grafana dashboard queries only metrics the health check really emits.

Names are checked against :func:`maintenance_ops.observe.metrics.metric_names` for a realistic sample:
every metric key :func:`maintenance_ops.observe.health.collect` fills (connection and InnoDB metrics
from :func:`connection_metrics`, the longest query, the history list length, the total size and
the host metrics of a local server) plus one replica with a lag. The dashboard assumes a
statsd_exporter mapping ``mysql_maintenance.health.<metric>`` (tag ``database``) to the
Prometheus metric ``mysql_maintenance_health_<metric>{database="..."}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from maintenance_ops.core.config import HealthSettings, Thresholds
from maintenance_ops.observe.health import (
    HealthSample,
    ReplicaState,
    _host_metrics,
    connection_metrics,
    evaluate,
    score,
)
from maintenance_ops.observe.metrics import metric_names
from tests.conftest import REPO

DASHBOARD = REPO / "include" / "grafana" / "mysql_maintenance_health.json"
PREFIX = HealthSettings().metric_prefix
PROM_PREFIX = f"{PREFIX.replace('.', '_')}_health_"
NAME_MATCHER = re.compile(r'__name__\s*=~\s*"([^"]+)"')
METRIC = re.compile(rf"\b{re.escape(PROM_PREFIX)}[A-Za-z0-9_]+")
PANEL_METRICS = {  # the panels the issue asks for, by the metric each must show
    "health score": "score",
    "connections %": "connections_pct",
    "longest query s": "longest_query_s",
    "replica lag": "replica_lag_s_",
    "buffer pool hit %": "buffer_pool_hit_pct",
    "deadlocks": "deadlocks",
    "history list length": "history_list_length",
    "disk %": "disk_pct",
    "total size": "total_size_bytes",
}


def realistic_sample() -> HealthSample:
    """A sample with every metric key ``collect()`` fills on a local server with a replica."""
    sample = HealthSample("primary")
    sample.metrics.update(
        connection_metrics(
            {
                "THREADS_CONNECTED": "12",
                "MAX_CONNECTIONS": "151",
                "MAX_USED_CONNECTIONS": "40",
                "THREADS_RUNNING": "2",
                "ABORTED_CONNECTS": "3",
                "INNODB_DEADLOCKS": "1",
                "INNODB_BUFFER_POOL_READS": "10",
                "INNODB_BUFFER_POOL_READ_REQUESTS": "10000",
                "UPTIME": "3600",
                "SLOW_QUERIES": "0",
            }
        )
    )
    sample.metrics["longest_query_s"] = 0.0
    sample.metrics["history_list_length"] = 17.0
    sample.metrics["total_size_bytes"] = 1.5e6
    sample.metrics.update(_host_metrics("/"))  # the real psutil keys, as for a local server
    sample.host = "local"
    sample.replicas = [ReplicaState("replica-1", True, True, 3.0)]
    return sample


def prometheus_names() -> set[str]:
    """The Prometheus names of everything emitted for the realistic sample."""
    sample = realistic_sample()
    emitted = metric_names(sample, score(evaluate(sample, Thresholds()), sample), PREFIX)
    return {name.replace(".", "_") for name in emitted}


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))  # collapsed rows hold their panels


def expr_metrics(expr: str) -> tuple[set[str], set[str]]:
    """Return (exact metric names, ``__name__`` regexes) a PromQL expression uses."""
    regexes = set(NAME_MATCHER.findall(expr))
    return set(METRIC.findall(NAME_MATCHER.sub("", expr))), regexes


def unknown_metrics(panel: dict[str, Any], emitted: set[str]) -> list[str]:
    """Return what a panel queries that we do not emit (empty when all is well)."""
    problems = []
    exprs = [t.get("expr", "") for t in panel.get("targets", [])]
    used = [expr_metrics(e) for e in exprs]
    if not any(names or regexes for names, regexes in used):
        problems.append(f"no {PROM_PREFIX}* metric in {exprs}")
    for names, regexes in used:
        problems += sorted(names - emitted)
        problems += [
            f"regex {rx!r} matches nothing"
            for rx in regexes
            if not rx.startswith(PROM_PREFIX) or not any(re.fullmatch(rx, n) for n in emitted)
        ]
    return problems


def data_panels() -> list[dict[str, Any]]:
    return [p for p in panels(load()["panels"]) if p.get("type") != "row"]


def test_the_sample_is_what_collect_fills() -> None:
    keys = set(realistic_sample().metrics)
    assert {"connections_pct", "deadlocks", "buffer_pool_hit_pct", "disk_pct"} <= keys
    assert {"longest_query_s", "history_list_length", "total_size_bytes"} <= keys
    assert f"{PROM_PREFIX}replica_lag_s_replica_1" in prometheus_names()


def test_dashboard_is_grafana_json_with_a_database_variable() -> None:
    dashboard = load()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert "database" in variables
    assert "database" in json.dumps(variables["database"].get("query"))
    assert "statsd_exporter" in dashboard["description"]
    ids = [p["id"] for p in panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("panel", data_panels(), ids=lambda p: p["title"])
def test_every_panel_queries_only_emitted_metrics(panel: dict[str, Any]) -> None:
    assert unknown_metrics(panel, prometheus_names()) == []
    for target in panel["targets"]:
        assert 'database=~"$database"' in target["expr"], target["expr"]


def test_every_asked_for_panel_is_there() -> None:
    used = " ".join(t["expr"] for p in data_panels() for t in p.get("targets", []))
    missing = [title for title, metric in PANEL_METRICS.items() if PROM_PREFIX + metric not in used]
    assert missing == []


def test_a_metric_we_do_not_emit_is_caught() -> None:
    emitted = prometheus_names()
    bogus = {"targets": [{"expr": f'{PROM_PREFIX}connections_percent{{database=~"$database"}}'}]}
    assert unknown_metrics(bogus, emitted) == [f"{PROM_PREFIX}connections_percent"]
    stray = {"targets": [{"expr": f'{{__name__=~"{PROM_PREFIX}replica_delay_.+"}}'}]}
    assert unknown_metrics(stray, emitted) == [
        f"regex '{PROM_PREFIX}replica_delay_.+' matches nothing"
    ]
    other = {"targets": [{"expr": "mysql_global_status_threads_connected"}]}
    assert unknown_metrics(other, emitted) != []

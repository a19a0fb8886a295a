"""Tests for maintenance_ops.recovery.drill: readiness score, verdict, reasons and the evidence files."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from maintenance_ops.recovery.drill import (
    AT_RISK,
    NOT_READY,
    READY,
    assess,
    render_markdown,
    write_evidence,
)
from maintenance_ops.recovery.restore import Check

AT = datetime(2026, 12, 1, 6, 0, 5)


def _areas(**fails: str) -> dict[str, list[Check]]:
    areas = {
        "backup": [Check("exists", "pass", "20261130T020000Z-mariadb-dump"), Check("rpo", "pass")],
        "binlogs": [Check("binlog_chain", "pass")],
        "replicas": [Check("replica1/threads", "pass"), Check("replica1/lag", "pass")],
        "runbooks": [Check("failover_to_replica.py --help", "pass")],
        "notifications": [Check("slack", "pass")],
        "pitr": [Check("restore", "pass"), Check("markers", "pass")],
    }
    for key, detail in fails.items():
        area, _, name = key.partition("__")
        areas[area] = [Check(c.name, "fail", detail) if c.name == name else c for c in areas[area]]
    return areas


@pytest.mark.parametrize(
    ("fails", "score", "verdict"),
    [
        pytest.param({}, 100, READY, id="all-pass"),
        pytest.param({"notifications__slack": "HTTP 500"}, 90, READY, id="slack-down-still-ready"),
        pytest.param(
            {"replicas__replica1/lag": "42s > 30s", "runbooks__failover_to_replica.py --help": "x"},
            82,
            READY,
            id="two-minor",
        ),
        pytest.param(
            {
                "replicas__replica1/lag": "42s",
                "replicas__replica1/threads": "SQL thread stopped",
                "notifications__slack": "HTTP 500",
            },
            75,
            AT_RISK,
            id="below-ready-score",
        ),
        pytest.param({"backup__rpo": "backup 30h old > 26h"}, 85, NOT_READY, id="critical-backup"),
        pytest.param({"pitr__markers": "after-marker present"}, 88, NOT_READY, id="critical-pitr"),
    ],
)
def test_score_and_verdict(fails: dict[str, str], score: int, verdict: str) -> None:
    readiness = assess("shop", AT, _areas(**fails), ready_score=80)
    assert (readiness.score, readiness.verdict) == (score, verdict)
    assert len([r for r in readiness.reasons if r.startswith("-")]) == len(fails)
    for detail in fails.values():
        assert any(detail in r for r in readiness.reasons)


def test_rto_over_target_is_a_failed_pitr_check() -> None:
    readiness = assess("shop", AT, _areas(), ready_score=80, rto_s=95.0, rto_target_s=60.0)
    assert readiness.verdict == NOT_READY
    assert ("pitr", Check("rto", "fail", "recovery took 95.0s; target 60s")) in readiness.failed


def test_skipped_checks_cost_nothing_but_are_named() -> None:
    areas = _areas()
    areas["replicas"] = [Check("replicas", "skipped", "no replicas configured")]
    readiness = assess("shop", AT, areas, ready_score=80)
    assert readiness.score == 100 and readiness.verdict == READY
    assert readiness.reasons == ["skipped replicas/replicas: no replicas configured"]


def test_evidence_files(tmp_path: Path) -> None:
    readiness = assess(
        "shop",
        AT,
        _areas(**{"notifications__slack": "connection refused | port 9"}),
        ready_score=80,
        rto_s=12.5,
        rto_target_s=3600,
        rpo_s=7200,
        rpo_target_s=93600,
        recovery_point="2026-12-01 06:00:03",
        facts={"backup": "20261130T020000Z-mariadb-dump"},
    )
    json_path, md_path = write_evidence(readiness, tmp_path / "evidence")
    assert json_path.name == "2026-12-01T060005-shop-dr-readiness.json"
    data = json.loads(json_path.read_text())
    assert data["verdict"] == "ready" and data["score"] == 90
    assert data["areas"]["notifications"][0]["status"] == "fail"
    text = md_path.read_text()
    assert "**Verdict: READY**, score 90/100" in text
    assert "| RTO (restore + roll forward + checks) | 12.5s | 3600.0s |" in text
    assert "connection refused \\| port 9" in text  # a pipe in evidence does not break the table
    assert text == render_markdown(readiness)

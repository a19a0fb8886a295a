"""Fill a history schema with the rows the package's own writers leave, for the UI's tests.

Tables are created with the package's DDL (``include/sql/create_*.sql``); rows have the shape
``HealthHistory.store``, ``AuditLog`` and ``RecoveryHistory.record`` write: hourly health
samples (metrics, breaches and details as JSON text), audit rows per run (a preflight, actions
with outcomes), restore tests and drills. Root builds them (fixtures); the code under test
reads them as the maintenance account. Used by ``tests/maintenance_ops/ui/test_ui_fleet.py``,
``tests/e2e/test_ui_plugin.py`` and ``bench/ui_fleet.py``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from maintenance_ops.core.sqlfiles import load_sql, split_statements

DDL = ("create_health_history", "create_maintenance_log", "create_recovery_history")


@dataclass
class Profile:
    """How one seeded database looks: its score over time and its latest state."""

    name: str
    base_score: int = 100
    latest_score: int | None = None
    latest_status: str | None = None
    breaches: list[dict[str, Any]] = field(default_factory=list)
    security: list[str] = field(default_factory=list)
    restore_rto_s: float | None = 40.0
    restore_ok: bool = True
    drill_ok: bool | None = True
    backup_age_h: float | None = 3.0


def sample_fleet() -> list[Profile]:
    """Three databases the UI tests read: one healthy, one critical, one degraded."""
    return [
        Profile("calm"),
        Profile(
            "shop",
            base_score=90,
            latest_score=40,
            latest_status="critical",
            breaches=[
                {"metric": "connections_pct", "value": 97.0, "level": "critical", "threshold": 95.0}
            ],
            security=["anonymous account ''@'%'"],
            restore_ok=False,
            backup_age_h=40,
        ),
        Profile("worn", base_score=75, drill_ok=False, restore_rto_s=None),
    ]


def insert_rows(cursor: Any, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` into ``table`` (its ``columns`` named), 2,000 rows per statement."""
    marks = ", ".join(["%s"] * len(columns.split(",")))
    for start in range(0, len(rows), 2000):
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows[start : start + 2000]
        )


def create_tables(cursor: Any, schema: str) -> None:
    """Create the history tables in ``schema`` with the package's own DDL."""
    for name in DDL:
        for statement in split_statements(load_sql(name, history_schema=schema)):
            cursor.execute(statement)


def _status(score: int) -> str:
    return "critical" if score < 50 else "degraded" if score < 80 else "healthy"


def _metrics(rng: random.Random, hour: int) -> dict[str, float]:
    return {
        "connections": float(20 + hour % 7),
        "max_connections": 151.0,
        "connections_pct": round(13 + (hour % 24) / 2 + rng.random(), 2),
        "max_used_connections_pct": 40.0,
        "threads_running": float(1 + hour % 3),
        "buffer_pool_hit_pct": round(99 - rng.random(), 3),
        "history_list_length": float(100 + (hour * 37) % 900),
        "longest_query_s": round(rng.random() * 2, 2),
        "disk_pct": round(40 + hour / 200, 2),
        "cpu_pct": round(10 + rng.random() * 30, 1),
        "memory_pct": 55.0,
        "total_size_bytes": float(1_000_000_000 + hour * 100_000),
    }


def sample_rows(
    profile: Profile, now: datetime, days: float, seed: int = 0, digests: int = 5
) -> list[tuple[Any, ...]]:
    """Return hourly ``health_samples`` rows of one database, oldest first, ending at ``now``."""
    rng = random.Random(f"{profile.name}-{seed}")
    hours = int(days * 24)
    rows = []
    details_base = {
        "digests": [
            {"digest_text": f"SELECT * FROM t{i} WHERE id = ?", "count": i * 10, "avg_s": 0.01}
            for i in range(digests)
        ],
        "digest_source": "performance_schema",
        "sizes": {"app": 1_000_000_000},
        "replicas": [{"name": "r1", "seconds_behind": 0.0, "reachable": True}],
        "host": {"local": True},
    }
    for i in range(hours):
        at = now - timedelta(hours=hours - 1 - i)
        last = i == hours - 1
        dip = rng.random() < 0.03
        score = profile.base_score - (20 if dip else 0)
        breaches: list[dict[str, Any]] = []
        if last and profile.latest_score is not None:
            score, breaches = profile.latest_score, profile.breaches
        status = (profile.latest_status if last else None) or _status(score)
        metrics = _metrics(rng, i)
        details = dict(details_base, security=profile.security if last else [])
        details["replicas"] = [{"name": "r1", "seconds_behind": float(i % 5), "reachable": True}]
        rows.append(
            (
                profile.name,
                at,
                None,
                score,
                status,
                json.dumps(metrics),
                json.dumps(breaches),
                json.dumps(details),
            )
        )
    return rows


def seed(
    cursor: Any,
    schema: str,
    profiles: Sequence[Profile],
    now: datetime,
    *,
    days: float = 7,
    runs: Sequence[tuple[str, str]] = (),
) -> None:
    """Create the history tables and write samples, audit rows and recovery tests.

    :param runs: ``(dag_id, run_id)`` pairs: each database gets a preflight and one action in
        each (a backup in the daily DAG's runs, which is what the fleet page's backup age reads).
    """
    create_tables(cursor, schema)
    q = f"`{schema}`"
    samples = [row for profile in profiles for row in sample_rows(profile, now, days)]
    insert_rows(
        cursor,
        f"{q}.health_samples",
        "database_name, sampled_at, run_id, score, status, metrics, breaches, details",
        samples,
    )
    audit = []
    for profile in profiles:
        at = now - timedelta(hours=profile.backup_age_h or 1)
        for dag_id, run_id in runs:
            actions = [(None, f"preflight {dag_id}", "ok", None)]
            if dag_id == "mysql_daily_maintenance" and profile.backup_age_h is not None:
                actions.append(("app", "backup mariadb-dump", "ok", None))
            actions.append(
                ("app.sessions", "cleanup sessions", "skipped", "table locked: lock wait timeout")
            )
            audit += [
                (profile.name, obj, command, at, at, None, outcome, error, dag_id, run_id)
                for obj, command, outcome, error in actions
            ]
    insert_rows(
        cursor,
        f"{q}.maintenance_log",
        "database_name, object_name, command, started_at, ended_at, rows_affected, outcome, "
        "error, dag_id, run_id",
        audit,
    )
    recovery = []
    for profile in profiles:
        if profile.restore_rto_s is not None:
            for weeks in (3, 2, 1):
                recovery.append(
                    (
                        profile.name,
                        "restore_test",
                        now - timedelta(weeks=weeks),
                        int(profile.restore_ok or weeks > 1),
                        profile.restore_rto_s + weeks,
                        3600.0,
                        "mariadb-dump",
                    )  # fmt: skip
                )
        if profile.drill_ok is not None:
            recovery.append(
                (
                    profile.name,
                    "dr_drill",
                    now - timedelta(days=2),
                    int(profile.drill_ok),
                    300.0,
                    5.0,
                    None,
                )  # fmt: skip
            )
    insert_rows(
        cursor,
        f"{q}.recovery_tests",
        "database_name, kind, tested_at, ok, rto_s, rpo_s, tool",
        recovery,
    )

"""Health history: samples for trends, alert state for the quiet period, retention.

The decisions (which alerts to send, which to hold back, which problems recovered) are pure
functions, as are the trends (:mod:`maintenance_ops.core.trends`); :class:`HealthHistory` stores
and reads what they need.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.identifiers import qualified
from maintenance_ops.core.sqlfiles import load_sql, split_statements
from maintenance_ops.core.trends import DEFAULT_NEED, LIMITS, HistoryNeed, Trend, trend

if TYPE_CHECKING:
    from maintenance_ops.core.session import MaintenanceSession
    from maintenance_ops.observe.health import Breach, HealthSample, HealthScore


@dataclass
class AlertPlan:
    """What to do with this sample's breaches, given what was already sent."""

    send: list[Breach] = field(default_factory=list)
    held_back: list[Breach] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)


def plan_alerts(
    last_sent: dict[str, datetime | None],
    breaches: list[Breach],
    now: datetime,
    quiet_period: timedelta,
) -> AlertPlan:
    """Decide which breaches to alert now (pure).

    :param last_sent: open alert keys of this database and when each was last sent.
    A breach whose key was sent within the quiet period is held back; an open key that no
    longer breaches has recovered (announced once, then forgotten).
    """
    plan = AlertPlan()
    current = {b.key for b in breaches}
    for breach in breaches:
        sent = last_sent.get(breach.key)
        if sent is not None and now - sent < quiet_period:
            plan.held_back.append(breach)
        else:
            plan.send.append(breach)
    plan.recovered = sorted(k for k in last_sent if k not in current)
    return plan


class HealthHistory:
    """Health samples and alert state in the history schema of one database.

    :param session: an open session on the history store.
    :param history_schema: the schema holding history tables.
    """

    def __init__(
        self, session: MaintenanceSession, history_schema: str, *, create: bool = True
    ) -> None:
        self.session = session
        self.schema = history_schema
        if create:
            sql = load_sql("create_health_history", history_schema=history_schema)
            for statement in split_statements(sql):
                session.execute(statement)
        self.samples = qualified(history_schema, "health_samples")
        self.alerts = qualified(history_schema, "alert_state")

    def store(
        self,
        sample: HealthSample,
        health: HealthScore,
        breaches: list[Breach],
        when: datetime,
        run_id: str | None,
    ) -> None:
        """Write one sample."""
        details = {
            "digests": sample.digests,
            "digest_source": sample.digest_source,
            "sizes": sample.sizes,
            "security": sample.security,
            "security_explained": sample.security_explained,
            "replicas": [asdict(r) for r in sample.replicas],
            "longest_query": sample.longest_query,
            "host": sample.host,
            "reasons": health.reasons,
        }
        self.session.execute(
            f"INSERT INTO {self.samples} (database_name, sampled_at, run_id, score, status, "  # noqa: S608
            "metrics, breaches, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                sample.database,
                when,
                run_id,
                health.score,
                health.status,
                json.dumps(sample.metrics),
                json.dumps([b.to_dict() for b in breaches]),
                json.dumps(details, default=str),
            ),
        )

    def latest(self, database: str) -> dict[str, Any] | None:
        """Return the newest sample of a database (metrics and breaches decoded)."""
        rows = self.session.query(
            f"SELECT * FROM {self.samples} WHERE database_name = %s "  # noqa: S608
            "ORDER BY sampled_at DESC, id DESC LIMIT 1",
            (database,),
        )
        if not rows:
            return None
        row = rows[0]
        for key in ("metrics", "breaches", "details"):
            row[key] = json.loads(row[key]) if row.get(key) else None
        return row

    def series(self, database: str, since: datetime) -> dict[str, list[tuple[datetime, float]]]:
        """Return every metric's points since ``since``, oldest first."""
        rows = self.session.query(
            f"SELECT sampled_at, metrics FROM {self.samples} "  # noqa: S608
            "WHERE database_name = %s AND sampled_at >= %s ORDER BY sampled_at",
            (database, since),
        )
        out: dict[str, list[tuple[datetime, float]]] = {}
        for row in rows:
            for metric, value in json.loads(row["metrics"]).items():
                out.setdefault(metric, []).append((row["sampled_at"], float(value)))
        return out

    def trends(
        self,
        database: str,
        now: datetime,
        need: HistoryNeed = DEFAULT_NEED,
    ) -> list[Trend]:
        """Return trends of every metric over the last 30 days; slopes only if ``need`` is met."""
        series = self.series(database, now - timedelta(days=30))
        found = (trend(m, pts, now, LIMITS.get(m), need) for m, pts in sorted(series.items()))
        return [t for t in found if t is not None]

    def open_alerts(self, database: str) -> dict[str, datetime | None]:
        rows = self.session.query(
            f"SELECT alert_key, last_sent FROM {self.alerts} WHERE database_name = %s",  # noqa: S608
            (database,),
        )
        return {r["alert_key"]: r["last_sent"] for r in rows}

    def record_alerts(self, database: str, plan: AlertPlan, now: datetime) -> None:
        """Remember what was sent and seen; forget what recovered."""
        for breach, sent in [(b, True) for b in plan.send] + [(b, False) for b in plan.held_back]:
            self.session.execute(
                f"INSERT INTO {self.alerts} (database_name, alert_key, level, first_seen, "  # noqa: S608
                "last_seen, last_sent, message) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON DUPLICATE KEY UPDATE last_seen = VALUES(last_seen), message = VALUES(message), "
                "last_sent = IF(%s, VALUES(last_sent), last_sent)",
                (
                    database,
                    breach.key,
                    breach.level,
                    now,
                    now,
                    now if sent else None,
                    breach.describe(),
                    sent,
                ),
            )
        for key in plan.recovered:
            self.session.execute(
                f"DELETE FROM {self.alerts} WHERE database_name = %s AND alert_key = %s",  # noqa: S608
                (database, key),
            )

    def enforce_retention(self, cutoff: datetime) -> int:
        """Delete samples older than ``cutoff`` in chunks; return how many went."""
        total = 0
        while True:
            removed = self.session.execute(
                f"DELETE FROM {self.samples} WHERE sampled_at < %s ORDER BY sampled_at LIMIT 5000",  # noqa: S608
                (cutoff,),
            )
            total += removed
            if removed < 5000:
                return total

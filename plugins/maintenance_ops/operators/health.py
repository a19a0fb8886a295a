"""The health-check operator: measure, evaluate, score, store, export, alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from maintenance_ops.observe.alerts import AlertedFailure
from maintenance_ops.operators.base import DatabaseOperator, Run

if TYPE_CHECKING:
    from maintenance_ops.core.config import Config, Database
    from maintenance_ops.observe.health import Breach
    from maintenance_ops.observe.health_history import AlertPlan


class HealthCritical(AlertedFailure):
    """A critical breach: fails the task so the failure callback alerts.

    ``suppress_alert`` is set when the same breaches were alerted within the quiet period: the
    task still fails (the problem is still there), but the callback sends nothing.
    """

    def __init__(self, message: str, *, suppress_alert: bool = False) -> None:
        super().__init__(message, suppress_alert=suppress_alert)


class MySqlHealthCheckOperator(DatabaseOperator):
    """Measure one database, compare with thresholds, score it, keep history and alert.

    Connections, the longest query, the buffer pool, deadlocks, replication lag of each
    replica, disk and table growth, and a security audit of the accounts; each compared with
    ``thresholds`` (per database overrides), scored 0-100, stored with the history of
    ``health.history_retention_days``, exported as metrics. A warning goes to Slack once per
    ``health.quiet_period_minutes``; a critical breach fails the task (one alert).

    :param database: name of the database in the configuration (templated).
    :param cadence: the schedule whose settings and grants apply (default ``health_check``).
    """

    step = "health_check"
    default_cadence = "health_check"
    heavy = False
    reads_replicas = True

    def work(self, run: Run) -> dict[str, Any]:
        session, db, config, audit, preflight, context = run.parts()
        from maintenance_ops.observe.health import collect, evaluate, score, since_last
        from maintenance_ops.observe.health_history import plan_alerts
        from maintenance_ops.observe.metrics import emit

        now = datetime.now(UTC).replace(tzinfo=None)  # a sample is about the server now
        replicas = self._open_replicas(db, config)
        try:
            sample = collect(session, db.name, replicas, preflight.schemas, self._oncall_user(db))
        finally:
            for _, replica in replicas:
                if not isinstance(replica, Exception):
                    replica.close()
        history = self.open_history(session, db, config)
        previous = history.latest(db.name)
        sample.metrics.update(since_last(sample.metrics, previous and previous["metrics"]))
        breaches = evaluate(sample, config.thresholds_for(db.name))
        health = score(breaches, sample)
        with audit.action(db.name, "health sample", dry_run=preflight.dry_run) as entry:
            history.store(sample, health, breaches, now, context["ti"].run_id)
            entry.details = {"score": health.score, "status": health.status}
        cutoff = run.now - timedelta(days=config.health.history_retention_days)
        history.enforce_retention(cutoff)
        trends = history.trends(db.name, now, config.health.trend_need)
        emitted = emit(sample, health, config.health.metric_prefix)
        plan = plan_alerts(
            history.open_alerts(db.name),
            breaches,
            now,
            timedelta(minutes=config.health.quiet_period_minutes),
        )
        history.record_alerts(db.name, plan, now)
        self._log_sample(sample, health, breaches)
        self._announce(db, config, plan, context)
        result = {
            "summary": f"health {health.score}/100 {health.status}"
            + (f": {len(breaches)} breach(es)" if breaches else ""),
            "score": health.to_dict(),
            "breaches": [b.to_dict() for b in breaches],
            "sample": sample.to_dict(),
            "trends": [t.to_dict() for t in trends],
            # The report shows the metrics with a limit: slope and forecast, or why there is none.
            "trend_lines": [t.describe() for t in trends if t.limit is not None],
            "metrics_emitted": emitted,
            "alerts": {
                "sent": [b.key for b in plan.send],
                "held_back": [b.key for b in plan.held_back],
                "recovered": plan.recovered,
            },
        }
        critical = [b for b in breaches if b.level == "critical"]
        if critical:
            fresh = [b for b in plan.send if b.level == "critical"]
            raise HealthCritical(
                "critical health breaches: " + "; ".join(b.describe() for b in critical),
                suppress_alert=not fresh,
            )
        return result

    def _oncall_user(self, db: Database) -> str | None:
        """The on-call connection's login, so the security audit knows the account as ours."""
        from maintenance_ops.core.connections import ConnectionNotDefined, get_connection

        if not db.oncall_conn_id:
            return None
        try:
            return get_connection(db.oncall_conn_id).login or None
        except ConnectionNotDefined:
            return None  # the drill names a missing on-call connection; not the audit's job

    def _open_replicas(self, db: Database, config: Config) -> list[tuple[str, Any]]:
        from maintenance_ops.core.session import MaintenanceSession

        opened: list[tuple[str, Any]] = []
        for replica in db.replicas:
            session = MaintenanceSession(
                replica.conn_id, config.maintenance, database_name=replica.name
            )
            try:
                session.open()
                opened.append((replica.name, session))
            except Exception as exc:  # noqa: BLE001 - an unreachable replica is a finding
                opened.append((replica.name, exc))
        return opened

    def _log_sample(self, sample: Any, health: Any, breaches: list[Breach]) -> None:
        m = sample.metrics
        self.log.info(
            "Health %s: score=%s status=%s connections=%s/%s (%.1f%%) longest_query=%.1fs "
            "buffer_pool_hit=%.2f%% deadlocks=%s host=%s digests=%s",
            sample.database,
            health.score,
            health.status,
            int(m.get("connections", 0)),
            int(m.get("max_connections", 0)),
            m.get("connections_pct", 0),
            m.get("longest_query_s", 0),
            m.get("buffer_pool_hit_pct", 0),
            int(m.get("deadlocks", 0)),
            sample.host,
            sample.digest_source,
        )
        for breach in breaches:
            self.log.warning("Breach: %s", breach.describe())
        for note in sample.notes:
            self.log.info("Note: %s", note)

    def _announce(self, db: Database, config: Config, plan: AlertPlan, context: Any) -> None:
        """Send new warnings and recoveries (criticals go through the failure callback)."""
        from maintenance_ops.observe.alerts import Alert, send_alert

        ti = context["ti"]
        warnings = [b for b in plan.send if b.level == "warning"]
        if warnings and config.health.warnings_to_slack:
            send_alert(
                Alert(
                    "warning",
                    f"{len(warnings)} health warning(s)",
                    ti.dag_id,
                    ti.task_id,
                    db.name,
                    run_id=ti.run_id,
                    error="; ".join(b.describe() for b in warnings),
                ),
                config.notifications,
                context,
            )
        if plan.recovered:
            send_alert(
                Alert(
                    "info",
                    "recovered",
                    ti.dag_id,
                    ti.task_id,
                    db.name,
                    run_id=ti.run_id,
                    error="no longer breaching: " + ", ".join(plan.recovered),
                ),
                config.notifications,
                context,
            )


# The name this operator had when each cadence was one operator.
HealthCheckOperator = MySqlHealthCheckOperator

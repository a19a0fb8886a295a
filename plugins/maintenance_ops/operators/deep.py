"""Weekly optimization and monthly deep maintenance operators."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from maintenance_ops.exceptions import VerificationError
from maintenance_ops.operators.base import DatabaseOperator, Run

if TYPE_CHECKING:
    from maintenance_ops.fragmentation import FragEstimate

MIB = 1024 * 1024


def due_for_rebuild(
    estimates: list[FragEstimate], levels: tuple[str, ...], aged: set[str]
) -> list[FragEstimate]:
    """Pick the tables to rebuild (pure): those at one of ``levels``, and those in ``aged``.

    ``aged`` holds the ``schema.table`` names not rebuilt for ``rebuild_after_days`` (monthly);
    tables under the minimum size (action ``skip``) are never due.
    """
    return [
        e
        for e in estimates
        if e.action != "skip" and (e.level in levels or f"{e.schema}.{e.table}" in aged)
    ]


class _OptimizingOperator(DatabaseOperator):
    """Shared by weekly and monthly: fragmentation analysis and planned online rebuilds."""

    rebuild_levels: tuple[str, ...] = ("high",)
    rebuild_stale_tables = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cancel = threading.Event()

    def on_kill(self) -> None:
        self._cancel.set()  # a rebuild in progress finishes; no new one starts

    def _rebuilds(self, run: Run) -> dict[str, Any]:
        from maintenance_ops import fragmentation as frag
        from maintenance_ops import rebuild as rb
        from maintenance_ops.preflight import window_is_open
        from maintenance_ops.throttle import Throttle

        session, db, config, audit, preflight, _ = run.parts()
        now = run.now
        opt = config.optimization
        thresholds = frag.FragThresholds(
            min_size_bytes=int(opt.min_table_size_mb * MIB),
            low=opt.low_fragmentation,
            high=opt.high_fragmentation,
        )
        estimates = [
            e for s in preflight.schemas for e in frag.analyze_schema(session, s, thresholds)
        ]
        past = rb.read_history(session, db.history_schema, db.name)
        aged: set[str] = set()
        if self.rebuild_stale_tables:
            names = [f"{e.schema}.{e.table}" for e in estimates]
            aged = set(rb.due_by_age(names, past, opt.rebuild_after_days, now))
        due = due_for_rebuild(estimates, self.rebuild_levels, aged)
        window = config.maintenance.window
        throttle = Throttle.from_settings(
            session,
            config.maintenance,
            replica_conn_ids={r.name: r.conn_id for r in db.replicas},
            budget_s=opt.rebuild_time_budget_minutes * 60,
            window=(lambda: window_is_open(datetime.now(UTC), window)) if window else None,
            cancel=self._cancel,
        )
        try:
            plan = rb.plan_rebuilds(
                [rb.Candidate(e.schema, e.table, e.size_bytes, e.reclaimable_bytes) for e in due],
                rb.history_durations(past),
                throttle.remaining_s(),
            )
            results = rb.rebuild_many(
                session,
                plan,
                audit=audit,
                database_name=db.name,
                throttle=throttle,
                lock_wait_timeout_s=opt.rebuild_lock_wait_timeout_s,
                max_trx_age_s=opt.max_transaction_age_s,
                dry_run=preflight.dry_run,
                allow_locking=opt.allow_locking_rebuild,
            )
        finally:
            throttle.close()
        reclaimed = sum(r.reclaimed_bytes or 0 for r in results if r.status == "rebuilt")
        return {
            "fragmentation": [e.to_dict() for e in estimates if e.level != "none"],
            "plan": [p.to_dict() for p in plan],
            "rebuilds": [r.to_dict() for r in results],
            "reclaimed_bytes": reclaimed,
        }


RTO_TREND_DAYS = 90


class WeeklyOptimizationOperator(_OptimizingOperator):
    """Rebuild tables over the high fragmentation level online; analyse statement performance.

    :param database: name of the database in the configuration (mapped per database).
    :param cadence: the schedule key (``weekly_optimization`` for the built-in DAG).
    """

    def work(self, run: Run) -> dict[str, Any]:
        session, db, config, audit, preflight, context = run.parts()
        from maintenance_ops.performance import analyze_performance

        now = run.now
        rebuilds = self._rebuilds(run)
        perf = analyze_performance(
            session,
            history_session_or_store=self.open_history(session, db, config),
            database_name=db.name,
            history_schema=db.history_schema,
            now=now,
            regression_ratio=config.optimization.regression_ratio,
            top=config.optimization.top_statements,
            store_snapshot=not preflight.dry_run,
            need=config.health.trend_need,
        ).to_dict()
        rebuilt = [r for r in rebuilds["rebuilds"] if r["status"] in ("rebuilt", "dry_run")]
        return {
            **rebuilds,
            "performance": perf,
            "rto_trend": self._rto_trend(run),
            "summary": (
                f"{len(rebuilt)} table(s) rebuilt{' (dry run)' if preflight.dry_run else ''}, "
                f"{rebuilds['reclaimed_bytes'] / MIB:.1f} MiB reclaimed; "
                f"{len(perf.get('regressions') or [])} statement regression(s) "
                f"[{perf.get('source')}]"
            ),
        }

    def _rto_trend(self, run: Run) -> str:
        """Return the line on restore-test RTO over the last 90 days for the weekly report."""
        from maintenance_ops.recovery_history import RESTORE_TEST, rto_trend_line

        history = self.open_recovery_history(run.session, run.db, run.config)
        points = history.series(run.db.name, RESTORE_TEST, run.now - timedelta(days=RTO_TREND_DAYS))
        return rto_trend_line(points, run.db.backup.rto_minutes * 60)


class MonthlyDeepMaintenanceOperator(_OptimizingOperator):
    """Rebuild fragmented and stale tables, check integrity, refresh histograms, plan capacity.

    A corrupt or missing table fails the task (critical alert) after the other work is done.

    :param database: name of the database in the configuration (mapped per database).
    :param cadence: the schedule key (``monthly_deep_maintenance`` for the built-in DAG).
    """

    rebuild_levels = ("low", "high")
    rebuild_stale_tables = True

    def work(self, run: Run) -> dict[str, Any]:
        session, db, config, audit, preflight, context = run.parts()
        from maintenance_ops.capacity import plan_capacity
        from maintenance_ops.histograms import refresh_histograms
        from maintenance_ops.integrity import check_tables

        opt = config.optimization
        now = run.now
        rebuilds = self._rebuilds(run)
        integrity = check_tables(
            session,
            preflight.schemas,
            audit=audit,
            database_name=db.name,
            history_schema=db.history_schema,
            time_budget_s=opt.integrity_time_budget_minutes * 60,
            now=now,
            dry_run=preflight.dry_run,
        )
        histograms = refresh_histograms(
            session,
            preflight.schemas,
            audit=audit,
            database_name=db.name,
            dry_run=preflight.dry_run,
            time_budget_s=opt.histogram_time_budget_minutes * 60,
            max_columns_per_table=opt.histogram_max_columns,
        )
        capacity = plan_capacity(
            session,
            history=self.open_history(session, db, config),
            database_name=db.name,
            schemas=preflight.schemas,
            now=now,
            autoinc_threshold=opt.autoinc_threshold,
            horizon_days=opt.forecast_horizon_days,
            need=config.health.trend_need,
        ).to_dict()
        if integrity.critical:
            bad = [
                f"{t['schema']}.{t['table']}: {t['msg']}"
                for t in integrity.corrupt + integrity.missing
            ]
            raise VerificationError("CHECK TABLE found problems: " + "; ".join(bad))
        return {
            **rebuilds,
            "integrity": integrity.to_dict(),
            "histograms": histograms.to_dict(),
            "capacity": capacity,
            "summary": (
                f"{len([r for r in rebuilds['rebuilds'] if r['status'] == 'rebuilt'])} table(s) "
                f"rebuilt, {rebuilds['reclaimed_bytes'] / MIB:.1f} MiB reclaimed; "
                f"{len(integrity.checked)} table(s) checked, none corrupt; "
                f"histograms on {len(histograms.refreshed)} table(s); "
                f"{len(capacity.get('autoinc') or [])} auto-increment(s) near exhaustion"
            ),
        }

"""The weekly and monthly steps: table rebuilds, performance, integrity, capacity."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from maintenance_ops.asset_refresh import (
    REBUILD_ALIAS,
    emit_table_event,
    table_asset_uri,
    with_alias,
)
from maintenance_ops.core.exceptions import VerificationError
from maintenance_ops.operators.base import DatabaseOperator, Run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from maintenance_ops.upkeep.fragmentation import FragEstimate

MIB = 1024 * 1024
LEVELS = ("low", "high")
RTO_TREND_DAYS = 90


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


def rebuild_event_extra(database: str, rebuild: dict[str, Any]) -> dict[str, Any]:
    """Return the ``extra`` of a rebuilt table's asset event (pure)."""
    keys = ("schema", "table", "status", "algorithm", "before_bytes", "after_bytes")
    more = ("reclaimed_bytes", "duration_s")
    return {"database": database, "step": "optimize", **{k: rebuild[k] for k in keys + more}}


class MySqlOptimizeTablesOperator(DatabaseOperator):
    """Measure fragmentation and rebuild the fragmented tables online, within a time budget.

    Each table's free space is estimated from the catalog; the tables at one of ``levels``
    (and with ``rebuild_aged`` those not rebuilt for ``optimization.rebuild_after_days``) are
    planned by expected duration into ``optimization.rebuild_time_budget_minutes`` and rebuilt
    with ``ALTER TABLE ... FORCE`` (online DDL), guarded against metadata-lock pile-ups and long
    transactions; a table that would need a locking rebuild is skipped unless
    ``optimization.allow_locking_rebuild``.

    :param database: name of the database in the configuration (templated).
    :param levels: the fragmentation levels to rebuild: ``("high",)`` (weekly) or
        ``("low", "high")`` (monthly).
    :param rebuild_aged: also rebuild tables not rebuilt for ``rebuild_after_days``.
    :param cadence: the schedule whose settings and grants apply (default
        ``weekly_optimization``).

    Each table rebuilt gets an asset event (``mysql-maintenance://<database>/<schema>/<table>``,
    through the asset alias ``mysql_maintenance_rebuild``; :mod:`maintenance_ops.asset_refresh`),
    none in a dry run.
    """

    step = "optimize"
    default_cadence = "weekly_optimization"

    def __init__(
        self, *, levels: Sequence[str] = ("high",), rebuild_aged: bool = False, **kwargs: Any
    ) -> None:
        unknown = [level for level in levels if level not in LEVELS] if levels else ["(none)"]
        if isinstance(levels, str) or unknown:
            raise ValueError(
                f"MySqlOptimizeTablesOperator: levels= takes a list of {', '.join(LEVELS)}, "
                f"not {levels!r}"
            )
        super().__init__(**with_alias(kwargs, REBUILD_ALIAS))
        self.levels = tuple(levels)
        self.rebuild_aged = bool(rebuild_aged)
        self._cancel = threading.Event()

    def on_kill(self) -> None:
        self._cancel.set()  # a rebuild in progress finishes; no new one starts

    def work(self, run: Run) -> dict[str, Any]:
        rebuilds = self._rebuilds(run)
        rebuilt = [r for r in rebuilds["rebuilds"] if r["status"] in ("rebuilt", "dry_run")]
        for r in rebuilds["rebuilds"]:
            if r["status"] == "rebuilt" and not run.dry_run:
                emit_table_event(
                    run.context,
                    REBUILD_ALIAS,
                    table_asset_uri(run.db.name, r["schema"], r["table"]),
                    rebuild_event_extra(run.db.name, r),
                )
        return {
            **rebuilds,
            "summary": (
                f"{len(rebuilt)} table(s) rebuilt{' (dry run)' if run.dry_run else ''}, "
                f"{rebuilds['reclaimed_bytes'] / MIB:.1f} MiB reclaimed"
            ),
        }

    def _rebuilds(self, run: Run) -> dict[str, Any]:
        from maintenance_ops.core.preflight import window_is_open
        from maintenance_ops.core.throttle import Throttle
        from maintenance_ops.upkeep import fragmentation as frag
        from maintenance_ops.upkeep import rebuild as rb

        session, db, config, audit, preflight, _ = run.parts()
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
        if self.rebuild_aged:
            names = [f"{e.schema}.{e.table}" for e in estimates]
            aged = set(rb.due_by_age(names, past, opt.rebuild_after_days, run.now))
        due = due_for_rebuild(estimates, self.levels, aged)
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


class MySqlPerformanceAnalysisOperator(DatabaseOperator):
    """Compare statement performance with last week's snapshot and report regressions.

    Reads the statement digests (``performance_schema``, else the slow log's summary), keeps
    a snapshot in the history schema, and lists the ``optimization.top_statements`` slowest
    and those slower than ``optimization.regression_ratio`` times before; adds the restore
    tests' RTO trend of the last 90 days.

    :param database: name of the database in the configuration (templated).
    :param cadence: the schedule whose settings and grants apply (default
        ``weekly_optimization``).
    """

    step = "performance"
    default_cadence = "weekly_optimization"
    heavy = False
    writes = False

    def work(self, run: Run) -> dict[str, Any]:
        from maintenance_ops.upkeep.performance import analyze_performance

        session, db, config, _, preflight, _ = run.parts()
        perf = analyze_performance(
            session,
            history_session_or_store=self.open_history(session, db, config),
            database_name=db.name,
            history_schema=db.history_schema,
            now=run.now,
            regression_ratio=config.optimization.regression_ratio,
            top=config.optimization.top_statements,
            store_snapshot=not preflight.dry_run,
            need=config.health.trend_need,
        ).to_dict()
        return {
            "performance": perf,
            "rto_trend": self._rto_trend(run),
            "summary": (
                f"{len(perf.get('regressions') or [])} statement regression(s) "
                f"[{perf.get('source')}]"
            ),
        }

    def _rto_trend(self, run: Run) -> str:
        """Return the line on restore-test RTO over the last 90 days for the weekly report."""
        from maintenance_ops.recovery.history import RESTORE_TEST, rto_trend_line

        history = self.open_recovery_history(run.session, run.db, run.config)
        points = history.series(run.db.name, RESTORE_TEST, run.now - timedelta(days=RTO_TREND_DAYS))
        return rto_trend_line(points, run.db.backup.rto_minutes * 60)


class MySqlIntegrityCheckOperator(DatabaseOperator):
    """Run ``CHECK TABLE`` on every table of one database within a time budget.

    A corrupt or missing table fails the task (a critical alert) after every table was
    checked; tables left by ``optimization.integrity_time_budget_minutes`` come first next
    time.

    :param database: name of the database in the configuration (templated).
    :param cadence: the schedule whose settings and grants apply (default
        ``monthly_deep_maintenance``).
    """

    step = "integrity"
    default_cadence = "monthly_deep_maintenance"

    def work(self, run: Run) -> dict[str, Any]:
        from maintenance_ops.upkeep.integrity import check_tables

        session, db, config, audit, preflight, _ = run.parts()
        integrity = check_tables(
            session,
            preflight.schemas,
            audit=audit,
            database_name=db.name,
            history_schema=db.history_schema,
            time_budget_s=config.optimization.integrity_time_budget_minutes * 60,
            now=run.now,
            dry_run=preflight.dry_run,
        )
        if integrity.critical:
            bad = [
                f"{t['schema']}.{t['table']}: {t['msg']}"
                for t in integrity.corrupt + integrity.missing
            ]
            raise VerificationError("CHECK TABLE found problems: " + "; ".join(bad))
        return {
            "integrity": integrity.to_dict(),
            "summary": f"{len(integrity.checked)} table(s) checked, none corrupt",
        }


class MySqlCapacityPlanOperator(DatabaseOperator):
    """Forecast one database's growth and find auto-increment columns near their limit.

    Reads sizes and auto-increment values from the catalog, fits the size history kept by the
    health checks, and says when each limit is reached (``optimization.forecast_horizon_days``,
    ``optimization.autoinc_threshold``), with a chart in the report.

    :param database: name of the database in the configuration (templated).
    :param cadence: the schedule whose settings and grants apply (default
        ``monthly_deep_maintenance``).
    """

    step = "capacity"
    default_cadence = "monthly_deep_maintenance"
    heavy = False
    writes = False

    def work(self, run: Run) -> dict[str, Any]:
        from maintenance_ops.upkeep.capacity import plan_capacity

        session, db, config, _, preflight, _ = run.parts()
        opt = config.optimization
        capacity = plan_capacity(
            session,
            history=self.open_history(session, db, config),
            database_name=db.name,
            schemas=preflight.schemas,
            now=run.now,
            autoinc_threshold=opt.autoinc_threshold,
            horizon_days=opt.forecast_horizon_days,
            need=config.health.trend_need,
        ).to_dict()
        return {
            "capacity": capacity,
            "summary": (f"{len(capacity.get('autoinc') or [])} auto-increment(s) near exhaustion"),
        }

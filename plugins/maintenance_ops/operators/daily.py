"""The daily steps: index analysis, statistics refresh, retention cleanup.

Time-based decisions use the run's moment (``run_moment``: ``data_interval_end``, else
``run_after``), so a backfill of an old date deletes only what was expired on that date, and a
re-run (even of a manual run cleared days later) does nothing new.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from maintenance_ops.asset_refresh import (
    CLEANUP_ALIAS,
    emit_table_event,
    split_table,
    table_asset_uri,
    with_alias,
)
from maintenance_ops.core.exceptions import ConfigError, MaintenanceError, SafetyAbort
from maintenance_ops.operators.base import DatabaseOperator, Run

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from maintenance_ops.core.config import CleanupRule, Database
    from maintenance_ops.core.session import MaintenanceSession


class CleanupLocked(MaintenanceError):
    """A rule's table stayed locked: retryable, the next try (or run) continues it."""


def resolve_rule_targets(
    rules: list[CleanupRule], schemas: list[str], columns: set[tuple[str, str, str]]
) -> tuple[dict[str, list[str]], list[str]]:
    """Map each rule to the schemas holding its table and date column (pure).

    :param columns: ``(schema, table, column)`` triples that exist.
    :returns: schemas per rule name, and one error line per rule that matches nothing.
    """
    targets: dict[str, list[str]] = {}
    errors: list[str] = []
    for rule in rules:
        candidates = [rule.schema_name] if rule.schema_name else schemas
        tables = [s for s in candidates if any(c[:2] == (s, rule.table) for c in columns)]
        found = [s for s in tables if (s, rule.table, rule.date_column) in columns]
        if not tables:
            errors.append(
                f"cleanup rule {rule.name!r}: table {rule.table!r} not found in "
                f"{', '.join(candidates) or 'no schema'}; fix `table`/`schema` or remove the rule"
            )
        elif not found:
            errors.append(
                f"cleanup rule {rule.name!r}: {rule.table!r} has no column {rule.date_column!r}; "
                "fix `date_column`"
            )
        else:
            targets[rule.name] = found
    return targets, errors


def cleanup_outcome(cleanup: Sequence[dict[str, Any]], dry_run: bool) -> MaintenanceError | None:
    """Return the error that ends a cleanup whose rules did not all complete, or None (pure).

    A rule refused for its foreign keys or stopped by a RESTRICT child leaves expired rows
    behind every night until someone acts: final (:class:`SafetyAbort`). A table that stayed
    locked is worth another try of this step alone: retryable (:class:`CleanupLocked`). A dry
    run only reports.
    """
    if dry_run:
        return None

    def reasons(rows: list[dict[str, Any]]) -> str:
        return "; ".join(
            f"rule {r['rule']} on {r['table']} {r['status']}: "
            + (r["warnings"][-1] if r["warnings"] else "see the task log")
            for r in rows
        )

    blocked = [r for r in cleanup if r["status"] in ("refused", "failed")]
    if blocked:
        return SafetyAbort(
            f"{len(blocked)} cleanup rule run(s) did not complete ({reasons(blocked)}); "
            "the other rules ran"
        )
    locked = [r for r in cleanup if r["status"] == "skipped_locked"]
    if locked:
        return CleanupLocked(
            f"{len(locked)} cleanup rule run(s) met a locked table ({reasons(locked)}); the "
            "other rules ran, a retry of this step continues"
        )
    return None


def cleanup_events(
    database: str, runs: Sequence[tuple[str, str, Mapping[str, Any]]]
) -> list[tuple[str, dict[str, Any]]]:
    """Return ``(asset URI, extra)`` per table the rule runs removed rows of, once each (pure).

    A table cleaned by two rules gets one event, its ``rules`` listing both; a rule run that
    removed nothing (deleted, archived or in dropped partitions) adds nothing.
    """
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    for schema, table, result in runs:
        removed = result["rows_deleted"] or result["rows_archived"] or result["partitions_dropped"]
        if not removed:
            continue
        extra = tables.setdefault(
            (schema, table),
            {
                "database": database,
                "schema": schema,
                "table": table,
                "step": "cleanup",
                "rows_deleted": 0,
                "rows_archived": 0,
                "rules": [],
            },
        )
        extra["rows_deleted"] += result["rows_deleted"]
        extra["rows_archived"] += result["rows_archived"]
        keys = ("rule", "mode", "status", "cutoff", "rows_deleted", "rows_archived")
        extra["rules"].append(
            {
                **{key: result[key] for key in keys},
                "partitions_dropped": list(result["partitions_dropped"]),
            }
        )
    return [(table_asset_uri(database, s, t), extra) for (s, t), extra in tables.items()]


class MySqlIndexAnalysisOperator(DatabaseOperator):
    """Find duplicate, redundant, unused and low-selectivity indexes of one database.

    Reads the catalog and the index usage counters (no change to the tables); keeps the
    findings in the history schema and logs a ``DROP INDEX`` for each one safe to drop.

    :param database: name of the database in the configuration (templated).
    :param cadence: the schedule whose settings and grants apply (default
        ``daily_maintenance``).
    """

    step = "index_analysis"
    default_cadence = "daily_maintenance"
    heavy = False
    writes = False

    def work(self, run: Run) -> dict[str, Any]:
        from maintenance_ops.upkeep.index_analysis import analyze_indexes, render_findings

        session, db, config, audit, preflight, _ = run.parts()
        with audit.action(db.name, "index analysis", dry_run=preflight.dry_run) as entry:
            analysis = analyze_indexes(
                session,
                preflight.schemas,
                history_schema=db.history_schema,
                now=run.now,
                unused_days=config.daily.unused_index_days,
                max_selectivity=config.daily.low_selectivity_max,
                min_rows=config.daily.low_selectivity_min_rows,
            )
            entry.rows = len(analysis.findings)
            entry.details = {"counts": analysis.to_dict()["counts"]}
        for line in render_findings(analysis).splitlines():
            self.log.info("%s", line)
        found = analysis.to_dict()
        counts = found["counts"]
        return {
            "index_analysis": found,
            "summary": (
                f"{sum(counts.values())} index finding(s) "
                f"({', '.join(f'{k} {v}' for k, v in counts.items() if v) or 'none'})"
            ),
        }


class MySqlStatisticsOperator(DatabaseOperator):
    """Refresh the optimizer statistics of one database's stale tables, and histograms.

    ``ANALYZE TABLE`` on each table whose rows changed by ``daily.stale_stats_ratio`` since
    its last refresh, within ``daily.statistics_time_budget_minutes``; with ``histograms``
    also the column histograms (``optimization.histogram_*``), which read whole tables.

    :param database: name of the database in the configuration (templated).
    :param histograms: also refresh histograms on the columns that benefit (heavy: runs in
        the maintenance pool).
    :param tables: refresh exactly these ``schema.table`` names instead, stale or not (the
        asset-triggered refresh, ``mysql_statistics_on_assets``); each must be a base table of
        the database's maintained schemas, else nothing is analysed.
    :param cadence: the schedule whose settings and grants apply (default
        ``daily_maintenance``; the monthly DAG passes ``monthly_deep_maintenance``).
    """

    step = "statistics"
    default_cadence = "daily_maintenance"
    heavy = False

    def __init__(
        self, *, histograms: bool = False, tables: Sequence[str] | None = None, **kwargs: Any
    ) -> None:
        if not isinstance(histograms, bool):
            raise TypeError(
                f"MySqlStatisticsOperator: histograms= takes True or False, not {histograms!r}"
            )
        if tables is not None:
            if isinstance(tables, str) or not all(isinstance(t, str) for t in tables):
                raise TypeError(
                    f"MySqlStatisticsOperator: tables= takes a list of `schema.table` names, "
                    f"not {tables!r}"
                )
            if histograms:
                raise ValueError(
                    "MySqlStatisticsOperator: tables= refreshes statistics only; leave "
                    "histograms= out"
                )
            for name in tables:
                split_table(name)
        self.tables = list(tables) if tables is not None else None
        self.histograms = histograms
        if histograms:
            self.heavy = True  # whole-table reads: the maintenance pool (set before the base)
        super().__init__(**kwargs)

    def work(self, run: Run) -> dict[str, Any]:
        from maintenance_ops.upkeep.statistics import refresh_statistics

        if self.tables is not None:
            return self._named_tables(run)
        session, db, config, audit, preflight, _ = run.parts()
        stats = refresh_statistics(
            session,
            preflight.schemas,
            audit,
            db.name,
            dry_run=preflight.dry_run,
            time_budget_s=config.daily.statistics_time_budget_minutes * 60,
            ratio=config.daily.stale_stats_ratio,
            now=run.now,
        ).to_dict()
        result: dict[str, Any] = {
            "statistics": stats,
            "warnings": list(stats.get("notes", [])),
            "summary": f"statistics refreshed on {len(stats['analysed'])} table(s)",
        }
        if self.histograms:
            histograms = self._histograms(run)
            result["histograms"] = histograms
            result["summary"] += f"; histograms on {len(histograms['refreshed'])} table(s)"
        return result

    def _named_tables(self, run: Run) -> dict[str, Any]:
        from maintenance_ops.asset_refresh import refresh_tables

        assert self.tables is not None
        session, db, config, audit, preflight, _ = run.parts()
        stats = refresh_tables(
            session,
            self.tables,
            preflight.schemas,
            audit,
            db.name,
            dry_run=preflight.dry_run,
            time_budget_s=config.daily.statistics_time_budget_minutes * 60,
            now=run.now,
        ).to_dict()
        return {
            "statistics": stats,
            "warnings": list(stats.get("notes", [])),
            "summary": (
                f"statistics refreshed on {len(stats['analysed'])} of {len(self.tables)} "
                "named table(s)"
            ),
        }

    def _histograms(self, run: Run) -> dict[str, Any]:
        from maintenance_ops.upkeep.histograms import refresh_histograms

        session, db, config, audit, preflight, _ = run.parts()
        opt = config.optimization
        return refresh_histograms(
            session,
            preflight.schemas,
            audit=audit,
            database_name=db.name,
            dry_run=preflight.dry_run,
            time_budget_s=opt.histogram_time_budget_minutes * 60,
            max_columns_per_table=opt.histogram_max_columns,
        ).to_dict()


class MySqlCleanupOperator(DatabaseOperator):
    """Apply one database's retention rules (``cleanup_rules``): delete or archive expired rows.

    Each rule deletes (or archives, then deletes) the rows older than its ``retention_days``
    before the run's moment, in chunks on the throttle (``daily.cleanup_time_budget_minutes``,
    replica lag, the window), checking every rule's table and column before anything is
    written. A rule refused for its foreign keys fails the task for good (after the other
    rules ran); a table that stayed locked fails it so that a retry, of this step alone,
    continues.

    Each table it deleted or archived rows of gets an asset event
    (``mysql-maintenance://<database>/<schema>/<table>``, through the asset alias
    ``mysql_maintenance_cleanup``; :mod:`maintenance_ops.asset_refresh`), none in a dry run.

    :param database: name of the database in the configuration (templated).
    :param rule: the name of one of the database's ``cleanup_rules`` (templated); default:
        every rule.
    :param cadence: the schedule whose settings and grants apply (default
        ``daily_maintenance``).
    """

    template_fields: Sequence[str] = ("database", "rule")
    step = "cleanup"
    default_cadence = "daily_maintenance"

    def __init__(self, *, rule: str | None = None, **kwargs: Any) -> None:
        if rule is not None and (not isinstance(rule, str) or not rule.strip()):
            raise ValueError(
                f"MySqlCleanupOperator: rule= must name one of the database's cleanup_rules "
                f"(or be left out for every rule), not {rule!r}"
            )
        super().__init__(**with_alias(kwargs, CLEANUP_ALIAS))
        self.rule = rule
        self._cancel = threading.Event()

    def on_kill(self) -> None:
        self._cancel.set()  # the cleanup stops between chunks, never inside one

    def work(self, run: Run) -> dict[str, Any]:
        rules = self._rules(run.db)
        targets = self._rule_targets(run.session, rules, run.preflight.schemas)
        runs = self._cleanup(run, rules, targets)
        cleanup = [result for _, _, result in runs]
        rows = sum(r["rows_deleted"] for r in cleanup)
        would = sum(r.get("dry_run_rows") or 0 for r in cleanup)
        error = cleanup_outcome(cleanup, run.dry_run)
        if error is not None:
            raise error  # Airflow records no asset event of a failed task
        if not run.dry_run:
            for uri, extra in cleanup_events(run.db.name, runs):
                emit_table_event(run.context, CLEANUP_ALIAS, uri, extra)
        return {
            "cleanup": cleanup,
            "warnings": [w for r in cleanup for w in r["warnings"]],
            "summary": (
                f"cleanup would remove {would} row(s)"
                if run.dry_run
                else f"cleanup removed {rows} row(s)"
            )
            + f" in {len(cleanup)} rule run(s)",
        }

    def _rules(self, db: Database) -> list[CleanupRule]:
        invalid = db.invalid_rules if self.rule is None else {}
        if self.rule is not None and self.rule in db.invalid_rules:
            invalid = {self.rule: db.invalid_rules[self.rule]}
        if invalid:  # set aside at load: this step fails on it, nothing else does
            raise ConfigError(
                f"{db.name}: cleanup rule(s) {', '.join(map(repr, invalid))} invalid, nothing "
                f"was cleaned: {'; '.join(invalid.values())}. Fix the rule in the "
                "configuration (the README's cleanup_rules reference)"
            )
        if self.rule is None:
            return list(db.cleanup_rules)
        chosen = [r for r in db.cleanup_rules if r.name == self.rule]
        if not chosen:
            names = ", ".join(r.name for r in db.cleanup_rules) or "none"
            raise ConfigError(
                f"{db.name} has no cleanup rule {self.rule!r} (its rules: {names}); fix rule= "
                "or add the rule under the database's cleanup_rules"
            )
        return chosen

    def _rule_targets(
        self, session: MaintenanceSession, rules: list[CleanupRule], schemas: list[str]
    ) -> dict[str, list[str]]:
        """Check every rule's table and column exist before anything is written."""
        from maintenance_ops.core.sqlfiles import load_sql

        if not rules:
            return {}
        wanted = {r.schema_name for r in rules if r.schema_name} | set(schemas)
        rows = session.query(
            load_sql("cleanup_rule_targets"),
            {"schemas": tuple(wanted) or ("",), "tables": tuple({r.table for r in rules})},
        )
        columns = {(r["schema_name"], r["table_name"], r["column_name"]) for r in rows}
        targets, errors = resolve_rule_targets(rules, schemas, columns)
        if errors:
            raise ConfigError("; ".join(errors))
        return targets

    def _cleanup(
        self, run: Run, rules: list[CleanupRule], targets: dict[str, list[str]]
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """Run each rule on each of its schemas; return ``(schema, table, result)`` per run."""
        from maintenance_ops.core.preflight import window_is_open
        from maintenance_ops.core.throttle import Throttle
        from maintenance_ops.upkeep.cleanup import run_cleanup_rule

        session, db, config, audit, preflight, _ = run.parts()
        end = run.now
        window = config.maintenance.window
        throttle = Throttle.from_settings(
            session,
            config.maintenance,
            replica_conn_ids={r.name: r.conn_id for r in db.replicas},
            budget_s=config.daily.cleanup_time_budget_minutes * 60,
            window=(lambda: window_is_open(datetime.now(UTC), window)) if window else None,
            cancel=self._cancel,
        )
        results = []
        try:
            for rule in rules:
                for schema in targets.get(rule.name, []):
                    result = run_cleanup_rule(
                        session,
                        rule,
                        schema=schema,
                        cutoff=end - timedelta(days=rule.retention_days),
                        database_name=db.name,
                        audit=audit,
                        throttle=throttle,
                        chunk_size=config.maintenance.chunk_size,
                        chunk_time_s=config.maintenance.cleanup_chunk_time_s,
                        dry_run=preflight.dry_run,
                        log=self.log,  # type: ignore[arg-type]
                    )
                    results.append((schema, rule.table, result.to_dict()))
        finally:
            throttle.close()
        return results

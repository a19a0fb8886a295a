"""The daily maintenance operator: index analysis, statistics refresh, retention cleanup."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from maintenance_ops.exceptions import ConfigError, SafetyAbort
from maintenance_ops.operators.base import DatabaseOperator, Run

if TYPE_CHECKING:
    from maintenance_ops.config import CleanupRule, Database
    from maintenance_ops.session import MaintenanceSession


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


class DailyMaintenanceOperator(DatabaseOperator):
    """Analyse indexes, refresh stale statistics and apply the retention rules on one database.

    Time-based decisions use the run's moment (``run_moment``: ``data_interval_end``, else
    ``run_after``), so a backfill of an old date deletes only what was expired on that date,
    and a re-run (even of a manual run cleared days later) does nothing new.

    :param database: name of the database in the configuration (mapped per database).
    :param cadence: the schedule key (``daily_maintenance`` for the built-in DAG).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cancel = threading.Event()

    def on_kill(self) -> None:
        self._cancel.set()  # the cleanup stops between chunks, never inside one

    def work(self, run: Run) -> dict[str, Any]:
        targets = self._rule_targets(run.session, run.db, run.preflight.schemas)
        indexes = self._indexes(run)
        stats = self._statistics(run)
        cleanup = self._cleanup(run, targets)
        backup = self._backup(run)
        warnings = [w for r in cleanup for w in r["warnings"]] + stats.get("notes", [])
        rows = sum(r["rows_deleted"] for r in cleanup)
        would = sum(r.get("dry_run_rows") or 0 for r in cleanup)
        counts = indexes["counts"]
        summary = (
            f"{sum(counts.values())} index finding(s) "
            f"({', '.join(f'{k} {v}' for k, v in counts.items() if v) or 'none'}); "
            f"statistics refreshed on {len(stats['analysed'])} table(s); "
            + (
                f"cleanup would remove {would} row(s)"
                if run.dry_run
                else f"cleanup removed {rows} row(s)"
            )
            + f" in {len(cleanup)} rule run(s)"
        )
        if backup:
            summary += f"; backup {backup['path'].rsplit('/', 1)[-1]} ({backup['bytes']} bytes)"
        self._fail_on_blocked_rules(cleanup, run.dry_run)
        return {
            "summary": summary,
            "backup": backup,
            "index_analysis": indexes,
            "statistics": stats,
            "cleanup": cleanup,
            "warnings": warnings,
        }

    @staticmethod
    def _fail_on_blocked_rules(cleanup: list[dict[str, Any]], dry_run: bool) -> None:
        """Fail the task (one alert) when a rule was refused or stopped, after the other steps.

        A rule refused for its foreign keys or stopped by a RESTRICT child leaves expired rows
        behind every night until someone acts: green would hide it. A dry run only reports.
        """
        blocked = [r for r in cleanup if r["status"] in ("refused", "failed")]
        if not blocked or dry_run:
            return
        reasons = "; ".join(
            f"rule {r['rule']} on {r['table']} {r['status']}: "
            + (r["warnings"][-1] if r["warnings"] else "see the task log")
            for r in blocked
        )
        raise SafetyAbort(
            f"{len(blocked)} cleanup rule run(s) did not complete ({reasons}); the other rules, "
            "index analysis, statistics and the backup ran"
        )

    def _backup(self, run: Run) -> dict[str, Any] | None:
        """Take the day's backup and apply retention, when backups are enabled."""
        session, db, config, audit, preflight, _ = run.parts()
        end = run.now

        from maintenance_ops.backup import apply_retention, take_backup

        if not db.backup.enabled or preflight.dry_run:
            return None
        result = take_backup(
            session,
            conn_id=db.conn_id,
            database_name=db.name,
            schemas=preflight.schemas,
            history_schema=db.history_schema,
            settings=db.backup,
            audit=audit,
        )
        removed = apply_retention(
            db.backup.location,
            db.name,
            retention_days=db.backup.retention_days,
            keep_count=db.backup.keep_count,
            now=end,
        )
        return {
            "path": str(result.path),
            "bytes": result.bytes,
            "removed": [str(r) for r in removed],
        }

    def _rule_targets(
        self, session: MaintenanceSession, db: Database, schemas: list[str]
    ) -> dict[str, list[str]]:
        """Check every rule's table and column exist before anything is written."""
        from maintenance_ops.sqlfiles import load_sql

        if not db.cleanup_rules:
            return {}
        wanted = {r.schema_name for r in db.cleanup_rules if r.schema_name} | set(schemas)
        rows = session.query(
            load_sql("cleanup_rule_targets"),
            {
                "schemas": tuple(wanted) or ("",),
                "tables": tuple({r.table for r in db.cleanup_rules}),
            },
        )
        columns = {(r["schema_name"], r["table_name"], r["column_name"]) for r in rows}
        targets, errors = resolve_rule_targets(list(db.cleanup_rules), schemas, columns)
        if errors:
            raise ConfigError("; ".join(errors))
        return targets

    def _indexes(self, run: Run) -> dict[str, Any]:
        session, db, config, audit, preflight, _ = run.parts()
        end = run.now
        from maintenance_ops.index_analysis import analyze_indexes, render_findings

        with audit.action(db.name, "index analysis", dry_run=preflight.dry_run) as entry:
            analysis = analyze_indexes(
                session,
                preflight.schemas,
                history_schema=db.history_schema,
                now=end,
                unused_days=config.daily.unused_index_days,
                max_selectivity=config.daily.low_selectivity_max,
                min_rows=config.daily.low_selectivity_min_rows,
            )
            entry.rows = len(analysis.findings)
            entry.details = {"counts": analysis.to_dict()["counts"]}
        for line in render_findings(analysis).splitlines():
            self.log.info("%s", line)
        return analysis.to_dict()

    def _statistics(self, run: Run) -> dict[str, Any]:
        session, db, config, audit, preflight, _ = run.parts()
        end = run.now
        from maintenance_ops.statistics import refresh_statistics

        result = refresh_statistics(
            session,
            preflight.schemas,
            audit,
            db.name,
            dry_run=preflight.dry_run,
            time_budget_s=config.daily.statistics_time_budget_minutes * 60,
            ratio=config.daily.stale_stats_ratio,
            now=end,
        )
        return result.to_dict()

    def _cleanup(self, run: Run, targets: dict[str, list[str]]) -> list[dict[str, Any]]:
        session, db, config, audit, preflight, _ = run.parts()
        end = run.now
        from maintenance_ops.cleanup import run_cleanup_rule
        from maintenance_ops.preflight import window_is_open
        from maintenance_ops.throttle import Throttle

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
            for rule in db.cleanup_rules:
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
                    results.append(result.to_dict())
        finally:
            throttle.close()
        return results

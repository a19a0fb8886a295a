"""The backup steps: take the day's backup; find (or take) the newest one, restore it, prove it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maintenance_ops.core.exceptions import VerificationError
from maintenance_ops.operators.base import DatabaseOperator, Run, run_moment

if TYPE_CHECKING:
    from maintenance_ops.recovery.restore import RestoreTestResult


def _take(run: Run) -> Any:
    """Take a backup of the database's maintained schemas to its ``backup.location``."""
    from maintenance_ops.recovery.backup import take_backup

    session, db, _, audit, preflight, _ = run.parts()
    return take_backup(
        session,
        conn_id=db.conn_id,
        database_name=db.name,
        schemas=preflight.schemas,
        history_schema=db.history_schema,
        settings=db.backup,
        audit=audit,
    )


class MySqlBackupOperator(DatabaseOperator):
    """Take one database's backup and apply its retention, when ``backup.enabled``.

    The tool is ``backup.tool`` (a logical dump, mydumper or mariabackup/xtrabackup), with a
    manifest of sha256 checksums, optionally encrypted, to ``backup.location`` (a folder or
    object storage); then backups beyond ``backup.retention_days`` and ``backup.keep_count``
    are removed. With backups off, or in a dry run, it does nothing and says so.

    :param database: name of the database in the configuration (templated).
    :param cadence: the schedule whose settings and grants apply (default
        ``daily_maintenance``).
    """

    step = "backup"
    default_cadence = "daily_maintenance"
    takes_backups = True

    def work(self, run: Run) -> dict[str, Any]:
        from maintenance_ops.recovery.backup import apply_retention

        db = run.db
        if not db.backup.enabled:
            return {"backup": None, "summary": "no backup (backup.enabled is off)"}
        if run.dry_run:
            return {"backup": None, "summary": "no backup (dry run)"}
        result = _take(run)
        removed = apply_retention(
            db.backup.location,
            db.name,
            retention_days=db.backup.retention_days,
            keep_count=db.backup.keep_count,
            now=run.now,
        )
        name = str(result.path).rsplit("/", 1)[-1]
        return {
            "backup": {
                "path": str(result.path),
                "bytes": result.bytes,
                "removed": [str(r) for r in removed],
            },
            "summary": f"backup {name} ({result.bytes} bytes)",
        }


class MySqlRestoreVerifyOperator(DatabaseOperator):
    """Restore the newest backup to a scratch or ephemeral server and verify it completely.

    With backups enabled and none found, one is taken first. An empty location, a backup
    older than its RPO target, or any failed check is a critical alert (the task fails).
    The source server is never the restore target. The RTO and RPO measured are kept for
    the weekly trend.

    :param database: name of the database in the configuration (templated).
    :param cadence: the schedule whose settings and grants apply (default
        ``backup_testing``).
    """

    step = "restore_verify"
    default_cadence = "backup_testing"
    takes_backups = True

    def work(self, run: Run) -> dict[str, Any]:
        session, db, config, audit, preflight, context = run.parts()
        from maintenance_ops.core.identity import marked_source
        from maintenance_ops.recovery.backup import latest_backup, local_copy
        from maintenance_ops.recovery.restore import cleanup_restore_leftovers, restore_test

        cleanup_restore_leftovers()  # servers and folders a killed earlier run left behind
        now = run_moment(context)
        info = latest_backup(db.backup.location, db.name)
        if info is None and db.backup.enabled and not preflight.dry_run:
            self.log.info("No backup of %s at %s: taking one", db.name, db.backup.location)
            _take(run)
            info = latest_backup(db.backup.location, db.name)
        if info is None:
            raise VerificationError(
                f"no backup of {db.name} at {db.backup.location}: the location is empty; "
                "enable backup.enabled or point backup.location at your backups"
            )
        if preflight.dry_run:
            return {"summary": f"would restore-test {info.path}", "backup": str(info.path)}
        assert session.endpoint is not None
        with (
            local_copy(info.path) as local,  # a backup on object storage is downloaded
            marked_source(session.conn, session.endpoint, db.history_schema) as source,
        ):
            result = restore_test(
                local,
                info.manifest,
                target=db.restore_target,
                source=source,
                settings=db.backup,
                now=now,
                audit=audit,
                database_name=db.name,
            )
        self._record(run, result)
        if result.critical:
            raise VerificationError("restore test failed: " + "; ".join(result.critical))
        return {
            "restore_test": result.to_dict(),
            "summary": (
                f"{info.path.name} restored and verified in {result.rto_s:.1f}s "
                f"(RTO target {db.backup.rto_minutes:g} min), backup age "
                f"{(result.rpo_s or 0) / 3600:.1f}h (RPO target {db.backup.rpo_hours:g} h), "
                f"{sum(len(v) for v in result.objects.values())} objects"
            ),
        }

    def _record(self, run: Run, result: RestoreTestResult) -> None:
        """Keep the test's RTO and RPO in the history store for the weekly trend."""
        from maintenance_ops.recovery.history import RESTORE_TEST

        history = self.open_recovery_history(run.session, run.db, run.config)
        details = result.to_dict()
        details.pop("objects", None)  # the manifest has them; the history keeps the numbers
        history.record(
            run.db.name,
            RESTORE_TEST,
            run.now,
            ok=result.ok,
            rto_s=result.rto_s,
            rpo_s=result.rpo_s,
            tool=result.tool,
            run_id=run.context.get("run_id"),
            details=details,
        )


# The name this operator had when each cadence was one operator.
BackupTestingOperator = MySqlRestoreVerifyOperator

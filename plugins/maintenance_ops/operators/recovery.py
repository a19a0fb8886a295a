"""The disaster-recovery drill: can we recover, how fast, to which point, and will we hear of it."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.checks import Check
from maintenance_ops.core.exceptions import MaintenanceError, VerificationError
from maintenance_ops.operators.base import DatabaseOperator, Run

if TYPE_CHECKING:
    from maintenance_ops.core.config import Database, Replica
    from maintenance_ops.core.instance import MySQLInstance
    from maintenance_ops.recovery.backup import BackupInfo
    from maintenance_ops.recovery.drill import Readiness
    from maintenance_ops.recovery.pitr import PitrResult

# The runbooks' dry runs each get this long (they connect, read and print).
RUNBOOK_TIMEOUT_S = 120.0
# The XCom in which the replica readiness step leaves its checks, passed or failed, for the
# drill's readiness report.
REPLICA_CHECKS_KEY = "replica_checks"
NO_REPLICAS = "no replicas configured for this database"


class MySqlReplicaReadinessOperator(DatabaseOperator):
    """Check that each replica of one database could take over from its primary.

    For every configured replica (or those named): both replication threads running, the lag
    (the replica is given up to the critical lag threshold to apply the primary's position),
    ``read_only`` on, a heartbeat written on the primary arriving, and ``CHECKSUM TABLE`` of
    sample tables equal on both. Each replica's checks are an audit row; the heartbeat row in
    the history schema is all it writes (in a dry run too). A database without
    replicas succeeds with "no replicas configured". Any failed check fails the task, after
    the checks are left (XCom ``replica_checks``) for a drill's readiness report.

    The preflight checks only what these checks need: grants.sql's ``replicas`` lines (and
    those every step needs), not the rest of its cadence's.

    :param database: name of the database in the configuration (templated).
    :param replicas: names of the database's replicas to check (templated: a template renders
        to comma-separated names); default: all.
    :param lag_threshold_s: the most lag that passes; default: the database's
        ``thresholds.replication_lag_critical_s``.
    :param wait_timeout_s: how long the heartbeat and each checksum wait for the replica;
        default ``disaster_recovery.replica_wait_timeout_s``.
    :param cadence: the schedule whose settings apply (default ``disaster_recovery_test``).
    """

    template_fields: Sequence[str] = (*DatabaseOperator.template_fields, "replicas")
    step = "replica_readiness"
    default_cadence = "disaster_recovery_test"
    heavy = False
    writes = False
    reads_replicas = True
    cadence_grants = False  # grants.sql's replicas and all lines only, not the drill's

    def __init__(
        self,
        *,
        replicas: Sequence[str] | None = None,
        lag_threshold_s: float | None = None,
        wait_timeout_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        if replicas is not None and not isinstance(replicas, str):
            names = list(replicas)
            if not names or not all(isinstance(n, str) and n.strip() for n in names):
                raise ValueError(
                    f"{name}: replicas= takes the names of configured replicas, not "
                    f"{replicas!r}; leave it out to check them all"
                )
        elif isinstance(replicas, str) and "{{" not in replicas:
            raise TypeError(f"{name}: replicas= takes a list of names, not {replicas!r}")
        if lag_threshold_s is not None and (
            not isinstance(lag_threshold_s, int | float) or lag_threshold_s < 0
        ):
            raise ValueError(
                f"{name}: lag_threshold_s= must be a number >= 0 seconds, not {lag_threshold_s!r}"
            )
        if wait_timeout_s is not None and (
            not isinstance(wait_timeout_s, int | float) or wait_timeout_s <= 0
        ):
            raise ValueError(f"{name}: wait_timeout_s= must be > 0 seconds, not {wait_timeout_s!r}")
        super().__init__(**kwargs)
        self.replicas = replicas
        self.lag_threshold_s = lag_threshold_s
        self.wait_timeout_s = wait_timeout_s

    def chosen(self, db: Database) -> list[Replica]:
        """Return the replicas to check; refuse a name the database does not configure."""
        from maintenance_ops.core.exceptions import ConfigError

        if self.replicas is None:
            return list(db.replicas)
        names = (  # a template renders to text: comma-separated names
            [n.strip() for n in self.replicas.split(",") if n.strip()]
            if isinstance(self.replicas, str)
            else list(self.replicas)
        )
        known = {r.name: r for r in db.replicas}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(
                f"replicas={unknown!r}: not configured for {db.name} (its replicas: "
                f"{', '.join(known) or 'none'}); name configured replicas or leave replicas= out"
            )
        return [known[n] for n in names]

    def work(self, run: Run) -> dict[str, Any]:
        db = run.db
        replicas = self.chosen(db)
        checks: list[Check] = []
        for replica in replicas:
            with run.audit.action(
                db.name, f"replica readiness {replica.name}", replica.conn_id, dry_run=run.dry_run
            ) as entry:
                found = one_replica(
                    run,
                    replica,
                    read_timeout_s=self._read_timeout(run.config),
                    lag_threshold_s=self.lag_threshold_s,
                    wait_timeout_s=self.wait_timeout_s,
                )
                failed = [c.name for c in found if c.status == "fail"]
                entry.details = {"checks": [c.to_dict() for c in found]}
                if failed:
                    entry.fail(f"not ready: {', '.join(failed)}")
            checks += found
        if not replicas:
            checks = [Check("replicas", "skipped", NO_REPLICAS)]
        run.context["ti"].xcom_push(key=REPLICA_CHECKS_KEY, value=[c.to_dict() for c in checks])
        failed_checks = [c for c in checks if c.status == "fail"]
        if failed_checks:
            raise VerificationError(
                f"replicas of {db.name} not ready: "
                + "; ".join(f"{c.name}: {c.detail}" for c in failed_checks)
            )
        self.log.info("Replica readiness of %s: %s", db.name, _replica_summary(replicas, checks))
        return {
            "summary": _replica_summary(replicas, checks),
            "checks": [c.to_dict() for c in checks],
        }


class MySqlRecoveryDrillOperator(DatabaseOperator):
    """Drill recovery of one database and write a readiness report an auditor can be handed.

    Checks, each with evidence: the newest backup (present, within RPO, checksums), the binlogs
    that roll it forward (no gap, retention long enough), every replica (threads, lag,
    ``read_only``, advancing, checksums of sample tables), the runbooks in ``include/recovery``
    (``--help``, ``--dry-run`` against the drill's private server, review date), every alert
    channel (a marked test message), and a point-in-time recovery: the newest backup restored to
    a private server and rolled forward to a time between two markers written by the drill.
    Any failed check fails the task (a critical alert) after the evidence file is written.

    :param database: name of the database in the configuration (templated).
    :param replica_checks_from: the task id of a :class:`MySqlReplicaReadinessOperator` run
        before this one (same map index): its checks (XCom ``replica_checks``) are the report's
        replica area instead of checking the replicas here, and their failures do not fail
        this task (that task failed on them). Default: check the replicas here.
    :param cadence: the schedule whose settings and grants apply (default
        ``disaster_recovery_test``).
    """

    step = "drill"
    default_cadence = "disaster_recovery_test"
    reads_replicas = True

    def __init__(self, *, replica_checks_from: str | None = None, **kwargs: Any) -> None:
        if replica_checks_from is not None and (
            not isinstance(replica_checks_from, str) or not replica_checks_from.strip()
        ):
            raise ValueError(
                f"{type(self).__name__}: replica_checks_from= takes the task id of a "
                f"MySqlReplicaReadinessOperator, not {replica_checks_from!r}; leave it out to "
                "check the replicas in the drill"
            )
        super().__init__(**kwargs)
        self.replica_checks_from = replica_checks_from

    def work(self, run: Run) -> dict[str, Any]:
        from maintenance_ops.recovery.backup import latest_backup
        from maintenance_ops.recovery.drill import assess, write_evidence
        from maintenance_ops.recovery.restore import (
            backup_dialect,
            cleanup_restore_leftovers,
            ephemeral_instance,
        )

        db, config = run.db, run.config
        dr = config.disaster_recovery
        cleanup_restore_leftovers()
        drilled_at = datetime.now(UTC).replace(tzinfo=None)
        info = latest_backup(db.backup.location, db.name)
        areas: dict[str, list[Check]] = {
            "backup": self._backup_checks(info, db, run.now),
            "binlogs": self._binlog_checks(run, info),
            "replicas": self._replica_checks(run),  # by another step, or here
            "notifications": self._notification_checks(run),
        }
        pitr: PitrResult | None = None
        # The drill server is the newest backup's flavor (refused, naming what to install,
        # when no such server is installed).
        dialect = backup_dialect(info.manifest) if info else None
        with ephemeral_instance(db.restore_target, dialect) as scratch:
            self.log.info("Drill server for runbook dry runs and PITR: %s", scratch)
            areas["runbooks"] = self._runbook_checks(run, info, scratch)
            areas["pitr"], pitr = self._pitr_drill(run, info, scratch, areas)
        readiness = assess(
            db.name,
            drilled_at,
            areas,
            ready_score=dr.ready_score,
            rto_s=pitr.total_s if pitr else None,
            rto_target_s=db.backup.rto_minutes * 60,
            rpo_s=_backup_age_s(info, run.now),
            rpo_target_s=db.backup.rpo_hours * 3600,
            recovery_point=pitr.recovery_point if pitr else None,
            facts={
                "backup": info.to_dict() if info else None,
                "pitr": pitr.to_dict() if pitr else None,
                "dry_run": run.dry_run,
            },
        )
        json_path, md_path = write_evidence(readiness, self._evidence_dir(run))
        self.log.info(
            "DR readiness of %s: %s, score %s/100; evidence %s",
            db.name,
            readiness.verdict,
            readiness.score,
            md_path,
        )
        if not run.dry_run:
            self._remember(run, readiness)
        # A failure another step found (the replicas', from replica_checks_from) counts in
        # the score and the verdict, but that step failed and alerted on it already.
        borrowed = {"replicas"} if self.replica_checks_from else set()
        own = [(a, c) for a, c in readiness.failed if a not in borrowed]
        if own:
            failed = "; ".join(f"{a}/{c.name}: {c.detail}" for a, c in own)
            raise VerificationError(
                f"disaster-recovery drill: {readiness.verdict} (score {readiness.score}/100); "
                f"failed: {failed}; evidence: {md_path}"
            )
        return {
            "readiness": readiness.to_dict(),
            "evidence": {"json": str(json_path), "markdown": str(md_path)},
            "summary": (
                f"DR readiness {readiness.verdict} (score {readiness.score}/100); recovered to "
                f"{readiness.recovery_point or '-'} in {_fmt_s(readiness.rto_s)} (RTO target "
                f"{db.backup.rto_minutes:g} min); newest backup {_fmt_s(readiness.rpo_s)} old "
                f"(RPO target {db.backup.rpo_hours:g} h); evidence {md_path}"
            ),
        }

    # ---- backup and binlogs ----------------------------------------------------------------

    def _backup_checks(self, info: BackupInfo | None, db: Database, now: datetime) -> list[Check]:
        from maintenance_ops.recovery.backup import verify_files
        from maintenance_ops.recovery.restore import decryption_secret, rpo_check

        if info is None:
            return [
                Check(
                    "exists",
                    "fail",
                    f"no backup of {db.name} at {db.backup.location}; enable backup.enabled or "
                    "point backup.location at your backups",
                )
            ]
        checks = [Check("exists", "pass", f"newest backup {info.path.name} ({info.tool})")]
        checks.append(rpo_check(info.manifest, now.replace(tzinfo=UTC), db.backup.rpo_hours))
        if info.manifest is None:
            checks.append(Check("checksums", "skipped", "backup has no manifest"))
            return checks
        problems = verify_files(info.path, info.manifest)  # local or object storage alike
        files = len(info.manifest.get("files") or {})
        checks.append(
            Check("checksums", "fail", "; ".join(problems))
            if problems
            else Check("checksums", "pass", f"{files} files match their sha256")
        )
        encryption = decryption_secret(info.manifest, db.backup)[1]
        if encryption is not None:
            checks.append(encryption)
        return checks

    def _binlog_checks(self, run: Run, info: BackupInfo | None) -> list[Check]:
        from maintenance_ops.recovery.binlogs import check_binlog_availability

        return check_binlog_availability(
            run.session.conn,
            info.manifest if info else None,
            backup_interval_s=_daily_interval_s(run),
            rpo_s=run.db.backup.rpo_hours * 3600,
            server=f"{run.db.name} ({run.session.endpoint})",
        )

    # ---- replicas -----------------------------------------------------------------------

    def _replica_checks(self, run: Run) -> list[Check]:
        """Return the replicas' checks: the readiness step's (``replica_checks_from``), else
        the drill's own."""
        if self.replica_checks_from is None:
            checks: list[Check] = []
            for replica in run.db.replicas:
                checks += one_replica(run, replica, read_timeout_s=self._read_timeout(run.config))
            return checks or [Check("replicas", "skipped", NO_REPLICAS)]
        found = run.context["ti"].xcom_pull(
            task_ids=self.replica_checks_from, key=REPLICA_CHECKS_KEY
        )
        if not found:
            return [
                Check(
                    "replicas",
                    "fail",
                    f"{self.replica_checks_from} left no replica checks: it failed before "
                    "checking (its task log says why)",
                )
            ]
        return [Check(**c) for c in found]

    # ---- notifications and runbooks -----------------------------------------------------

    def _notification_checks(self, run: Run) -> list[Check]:
        from maintenance_ops.recovery.notify_check import check_channels

        if not run.config.disaster_recovery.notification_test:
            return [Check("channels", "skipped", "disaster_recovery.notification_test is off")]
        if run.dry_run:
            return [Check("channels", "skipped", "dry run: no test message sent")]
        return check_channels(run.config.notifications, database=run.db.name, context=run.context)

    def _runbook_checks(
        self, run: Run, info: BackupInfo | None, scratch: MySQLInstance
    ) -> list[Check]:
        from maintenance_ops.recovery.runbook_checks import check_runbooks, default_recovery_dir

        db = run.db
        # The drill server's root password goes through the runbooks' environment variable,
        # never a URI on their command line.
        server = f"mysql://{scratch.user}@{scratch.host}:{scratch.port}"
        dry_runs: dict[str, list[str]] = {
            "emergency_maintenance.py": [
                "runaway", "--server", server, "--max-seconds", "3600", "--kill",
                "--dry-run",
            ],
        }  # fmt: skip
        extra: list[Check] = []
        conn_ids = [db.conn_id]
        if info is not None and getattr(info.path, "protocol", "file") not in ("file", "local"):
            extra.append(
                Check(
                    "dry run: restore_from_backup.py",
                    "skipped",
                    f"{info.path} is on object storage; the runbook restores a downloaded folder",
                )
            )
        elif info is not None:
            dry_runs["restore_from_backup.py"] = [
                "--backup", str(info.path.path), "--target", server, "--dry-run",
            ]  # fmt: skip
            key = db.backup.encryption_conn_id
            if key and (info.manifest or {}).get("encrypted"):
                dry_runs["restore_from_backup.py"] += ["--key-conn", key]
                conn_ids.append(key)
        else:
            extra.append(Check("dry run: restore_from_backup.py", "skipped", "no backup"))
        if not db.replicas:
            extra.append(Check("dry run: failover_to_replica.py", "skipped", "no replica"))
        elif db.oncall_conn_id is None or db.replicas[0].oncall_conn_id is None:
            # The failover acts on the real servers: only the account on call can show that it
            # could (fence the primary, promote the replica). The maintenance account cannot.
            extra.append(
                Check(
                    "dry run: failover_to_replica.py",
                    "skipped",
                    "no on-call connection: set oncall_conn_id on the database and its replica "
                    "(the account of grants.sql's on-call section) so the drill proves the "
                    "failover could run",
                )
            )
        else:
            primary_oncall, replica_oncall = db.oncall_conn_id, db.replicas[0].oncall_conn_id
            conn_ids += [primary_oncall, replica_oncall]
            lag = run.config.thresholds_for(db.name).replication_lag_critical_s
            dry_runs["failover_to_replica.py"] = [
                "--replica", replica_oncall, "--primary", primary_oncall,
                "--max-lag-s", f"{lag:g}", "--dry-run",
            ]  # fmt: skip
        checks = check_runbooks(
            default_recovery_dir(),
            max_review_age_days=run.config.disaster_recovery.runbook_review_days,
            today=run.now.date(),
            dry_runs=dry_runs,
            timeout_s=RUNBOOK_TIMEOUT_S,
            env={**_connection_env(conn_ids), "MMC_RUNBOOK_PASSWORD": scratch.password},
        )
        return checks + extra

    # ---- point-in-time recovery ---------------------------------------------------------

    def _pitr_drill(
        self,
        run: Run,
        info: BackupInfo | None,
        scratch: MySQLInstance,
        areas: dict[str, list[Check]],
    ) -> tuple[list[Check], PitrResult | None]:
        dr = run.config.disaster_recovery
        if not dr.pitr_drill:
            return [Check("pitr", "skipped", "disaster_recovery.pitr_drill is off")], None
        if run.dry_run:
            return [Check("pitr", "skipped", "dry run: no markers written, nothing restored")], None
        if info is None:
            return [Check("pitr", "fail", "no backup to recover from")], None
        if any(c.status == "fail" for c in areas["binlogs"]):
            return [
                Check("pitr", "fail", "the binlogs cannot roll the backup forward (see binlogs)")
            ], None
        try:
            return self._recover(run, info, scratch)
        except Exception as exc:  # noqa: BLE001 - any failure of the drill is its finding
            self.log.exception("PITR drill failed")
            return [Check("restore", "fail", f"{type(exc).__name__}: {exc}")], None

    def _recover(
        self, run: Run, info: BackupInfo, scratch: MySQLInstance
    ) -> tuple[list[Check], PitrResult]:
        from maintenance_ops.recovery.pitr import marker_present, restore_to_point, write_marker
        from maintenance_ops.recovery.restore import ClientEndpoint

        db, gap = run.db, run.config.disaster_recovery.pitr_marker_gap_s
        label = f"drill-{uuid.uuid4().hex[:12]}"
        _, before_at = write_marker(run.session.conn, db.history_schema, f"{label}:before")
        # Binlog event times have whole seconds: the target is a whole second after "before",
        # and "after" is written once the server's own clock is past the target.
        stop_at = (before_at + timedelta(seconds=gap)).replace(microsecond=0)
        _wait_for_server_time(run, stop_at + timedelta(seconds=gap))
        _, after_at = write_marker(run.session.conn, db.history_schema, f"{label}:after")
        self.log.info(
            "Markers %s: before %s, after %s; recovering to %s", label, before_at, after_at, stop_at
        )
        source = ClientEndpoint.from_connection(db.conn_id)
        started = time.monotonic()
        with _plain_backup(info, db) as path:
            decrypt_s = time.monotonic() - started
            result = restore_to_point(
                path,
                target=scratch,
                binlog_source=source,
                stop_at=stop_at.replace(tzinfo=None),
                history_schema=db.history_schema,
            )
        # Recovering for real would decrypt too: it belongs to the RTO.
        result.restore_s += decrypt_s
        result.total_s += decrypt_s
        conn = scratch.connect()
        try:
            before = marker_present(conn, db.history_schema, f"{label}:before")
            after = marker_present(conn, db.history_schema, f"{label}:after")
        finally:
            conn.close()
        markers_ok = before and not after
        checks = [
            Check(
                "restore",
                "pass",
                f"{info.path.name} restored in {result.restore_s:.1f}s, binlogs replayed in "
                f"{result.replay_s:.1f}s to {result.recovery_point or 'the backup point'}",
            ),
            Check(
                "markers",
                "pass" if markers_ok else "fail",
                f"marker before {before_at:%H:%M:%S.%f} "
                f"{'present' if before else 'MISSING'}, marker after {after_at:%H:%M:%S.%f} "
                f"{'absent' if not after else 'PRESENT'} for target {stop_at:%Y-%m-%d %H:%M:%S}",
            ),
        ]
        return checks, result

    # ---- evidence, history, metrics -------------------------------------------------------

    def _evidence_dir(self, run: Run) -> Path:
        from maintenance_ops.observe.reports import report_dir

        configured = run.config.disaster_recovery.evidence_dir
        if configured:
            return Path(configured)
        return report_dir(run.config) / "mysql_disaster_recovery_test" / "evidence"

    def _remember(self, run: Run, readiness: Readiness) -> None:
        """Record the drill and emit the readiness score and last-successful-drill metrics."""
        from maintenance_ops.observe.metrics import emit_gauges
        from maintenance_ops.recovery.drill import READY
        from maintenance_ops.recovery.history import DR_DRILL

        history = self.open_recovery_history(run.session, run.db, run.config)
        ok = readiness.verdict == READY and not readiness.failed
        history.record(
            run.db.name,
            DR_DRILL,
            readiness.drilled_at,
            ok=ok,
            rto_s=readiness.rto_s,
            rpo_s=readiness.rpo_s,
            run_id=run.context.get("run_id"),
            details={"verdict": readiness.verdict, "score": readiness.score},
        )
        prefix = run.config.health.metric_prefix
        values = {f"{prefix}.dr.readiness_score": float(readiness.score)}
        last = history.last_success(run.db.name, DR_DRILL)
        if last is not None:
            values[f"{prefix}.dr.last_successful_drill_timestamp"] = last.replace(
                tzinfo=UTC
            ).timestamp()
        emit_gauges(values, run.db.name)


# The name this operator had when each cadence was one operator.
DisasterRecoveryOperator = MySqlRecoveryDrillOperator


def one_replica(
    run: Run,
    replica: Replica,
    *,
    read_timeout_s: float,
    lag_threshold_s: float | None = None,
    wait_timeout_s: float | None = None,
) -> list[Check]:
    """Check one replica of ``run``'s database; name each check ``<replica>/<check>``.

    :param read_timeout_s: longest wait for the replica's answer (the task's bound).
    """
    from maintenance_ops.core.session import connect
    from maintenance_ops.recovery.replication import check_replica

    dr, settings = run.config.disaster_recovery, run.config.maintenance
    if lag_threshold_s is None:
        lag_threshold_s = run.config.thresholds_for(run.db.name).replication_lag_critical_s
    try:
        conn = connect(
            replica.conn_id,
            connect_timeout=settings.connect_timeout_s,
            read_timeout=read_timeout_s,
            write_timeout=settings.write_timeout_s,
            database_name=f"{run.db.name}/{replica.name}",
        )
    except MaintenanceError as exc:
        return [Check(f"{replica.name}/reachable", "fail", str(exc))]
    try:
        sample = replica.sample_tables or _sample_tables(run, dr.replica_sample_tables)
        result = check_replica(
            run.session.conn,
            conn,
            replica_name=replica.name,
            lag_threshold_s=lag_threshold_s,
            sample_tables=sample,
            wait_timeout_s=wait_timeout_s or dr.replica_wait_timeout_s,
            schema=run.db.history_schema,
        )
    except MaintenanceError as exc:
        return [Check(f"{replica.name}/check", "fail", str(exc))]
    finally:
        conn.close()
    return [Check(f"{replica.name}/{c.name}", c.status, c.detail) for c in result.checks]


def _sample_tables(run: Run, count: int) -> list[str]:
    """Return the ``count`` smallest non-empty tables of the maintained schemas."""
    from maintenance_ops.core.sqlfiles import load_sql

    if count == 0 or not run.preflight.schemas:
        return []
    rows = run.session.query(
        load_sql("dr_sample_tables"), {"schemas": tuple(run.preflight.schemas), "n": count}
    )
    return [f"{r['table_schema']}.{r['table_name']}" for r in rows]


def _replica_summary(replicas: Sequence[Replica], checks: Sequence[Check]) -> str:
    if not replicas:
        return NO_REPLICAS
    failed = sorted({c.name.split("/", 1)[0] for c in checks if c.status == "fail"})
    ready = [r.name for r in replicas if r.name not in failed]
    return f"replicas ready: {', '.join(ready) or 'none'}" + (
        f"; not ready: {', '.join(failed)}" if failed else ""
    )


@contextlib.contextmanager
def _plain_backup(info: BackupInfo, db: Database) -> Iterator[Path]:
    """Yield the backup folder, decrypted into a private copy when it is encrypted."""
    from maintenance_ops.recovery.backup import local_copy
    from maintenance_ops.recovery.encryption import decrypted_copy
    from maintenance_ops.recovery.restore import decryption_secret

    secret, problem = decryption_secret(info.manifest, db.backup)
    if problem is not None and problem.status == "fail":
        raise VerificationError(problem.detail)
    with local_copy(info.path) as path:  # a backup on object storage is downloaded
        if secret is None:
            yield path
            return
        with decrypted_copy(path, secret) as copy:
            yield copy


def _wait_for_server_time(run: Run, moment: datetime, timeout_s: float = 30.0) -> None:
    """Wait until the source's clock (not the worker's) has passed ``moment`` (UTC)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = run.session.query_one("SELECT UTC_TIMESTAMP(6) AS now")["now"].replace(tzinfo=UTC)
        if now >= moment:
            return
        if time.monotonic() > deadline:
            raise VerificationError(f"the server's clock did not reach {moment} in {timeout_s}s")
        time.sleep(min(0.2, (moment - now).total_seconds() + 0.01))


def _connection_env(conn_ids: list[str]) -> dict[str, str]:
    """Return ``AIRFLOW_CONN_*`` variables so runbook subprocesses resolve these connections."""
    from maintenance_ops.core.connections import get_connection

    env = {}
    for conn_id in conn_ids:
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = get_connection(conn_id).get_uri()
    return env


def _daily_interval_s(run: Run) -> float:
    """Return the seconds between two daily runs (when backups are taken)."""
    from croniter import croniter

    cron = run.config.schedules["daily_maintenance"].cron
    it = croniter(cron, datetime(2026, 1, 5))
    first = it.get_next(datetime)
    return float((it.get_next(datetime) - first).total_seconds())


def _backup_age_s(info: BackupInfo | None, now: datetime) -> float | None:
    from maintenance_ops.recovery.restore import backup_age_s

    if info is None:
        return None
    return (
        backup_age_s(info.manifest, now.replace(tzinfo=UTC))
        or (now - info.stamp.replace(tzinfo=None)).total_seconds()
    )


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"

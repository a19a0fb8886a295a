"""The base of every step operator: one database, one kind of work, after its own preflight.

Each step (index analysis, cleanup, a backup, ...) is its own operator and its own task: it
connects, checks the privileges its step needs and the maintenance window, writes its audit
rows, does its work and returns a JSON-able result for the report.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowTaskTimeout

from maintenance_ops.core.cadences import BY_KEY
from maintenance_ops.core.exceptions import PreflightError, error_code, final_reason
from maintenance_ops.core.labels import CONTEXT_KEY, map_index_label
from maintenance_ops.observe.reports import FAILURE_KEY

if TYPE_CHECKING:
    from collections.abc import Sequence

    from maintenance_ops.core.audit import AuditLog
    from maintenance_ops.core.config import Config, Database
    from maintenance_ops.core.preflight import PreflightResult
    from maintenance_ops.core.session import MaintenanceSession


log = logging.getLogger(__name__)


def own_params_only(task: BaseOperator) -> None:
    """Keep only the params given to ``task`` itself, not its copy of the DAG's.

    Airflow copies the DAG's params into every task, and while it serializes a DAG it resolves
    each task's copy twice (an equality test, then ``str()``), validating every param against
    its JSON schema each time: with the trigger form's two params that was most of what each
    extra task added to the DAG file's parse time. The copy is not needed: at run time the task
    runner merges the DAG's params, then the task's own, then the run's conf
    (``process_params``). Airflow's ``HITLOperator`` drops the copy the same way.
    """
    params = task.params if isinstance(task.params, ParamsDict) else ParamsDict(task.params)
    task.params = ParamsDict.filter_params_by_source(params, source="task")


@dataclass(frozen=True)
class Run:
    """Everything one database's work in one DAG run needs, handed to :meth:`work` at once."""

    session: MaintenanceSession
    db: Database
    config: Config
    audit: AuditLog
    preflight: PreflightResult
    context: Any

    @property
    def dry_run(self) -> bool:
        return self.preflight.dry_run

    @property
    def now(self) -> datetime:
        """The run's moment (:func:`run_moment`) as naive UTC: every time-based decision uses it."""
        moment = run_moment(self.context)
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment

    def parts(self) -> tuple[MaintenanceSession, Database, Config, AuditLog, PreflightResult, Any]:
        return self.session, self.db, self.config, self.audit, self.preflight, self.context


def run_moment(context: Any) -> datetime:
    """Return the moment a DAG run is about, frozen for the run's lifetime.

    A scheduled or backfilled run has a data interval: its end. A run triggered from the UI,
    the CLI or REST without a logical date has none; its ``run_after`` (when it was asked to
    run) stands in, so clearing that run later repeats the same decisions (the same cleanup
    cutoff) instead of taking the clock at task time. The clock is the last resort only for
    a context without a DAG run (an operator's ``execute`` called directly).
    """
    moment = context.get("data_interval_end")
    if moment is None:
        dag_run = context.get("dag_run")
        moment = getattr(dag_run, "run_after", None) or context.get("logical_date")
    return moment or datetime.now(UTC)


def record_failure(context: Any, database: str, step: str, exc: BaseException) -> None:
    """Leave the step's one-line failure reason where the run's report finds it (an XCom).

    The report names it beside the database in the run's one summary alert. Never raises: a
    reason that cannot be stored leaves the report saying "see the task log" instead.
    """
    from maintenance_ops.observe.alerts import summarize_error

    ti = context.get("ti")
    if ti is None:
        return
    try:
        reason = summarize_error(exc) or type(exc).__name__
        value = {
            "database": database,
            "step": step,
            "reason": reason.splitlines()[0],
            # Already alerted within the quiet period (health breaches): nothing new to say.
            "quiet": bool(getattr(exc, "suppress_alert", False)),
        }
        ti.xcom_push(key=FAILURE_KEY, value=value)
    except Exception as push_error:  # noqa: BLE001 - the task's own failure matters more
        log.warning("could not record the failure reason for the report: %s", push_error)


def fail_fast(database: str, exc: Exception) -> None:
    """Raise ``AirflowFailException`` when a retry cannot fix ``exc``; return when it might.

    The task then fails and alerts at once instead of sitting out its retries (a wrong
    password would otherwise alert minutes later). The message is the error's own (it never
    holds a password) plus what must change first.
    """
    if isinstance(exc, AirflowException):  # Airflow's own outcomes (fail, skip) pass as they are
        return
    reason = final_reason(exc)
    if reason is None:
        return
    code = error_code(exc)
    text = f"[{code}] {(exc.args + ('',))[1]}" if code is not None else str(exc)
    raise AirflowFailException(f"{database}: {text}\nNot retried: {reason}") from exc


# The pool of Airflow's own: cheap steps run there, not in the maintenance pool.
DEFAULT_POOL = "default_pool"


def _ad_hoc_database(name: str, conn_id: str) -> Database:
    """Return a database with the default settings on ``conn_id`` (pure; refuses bad names)."""
    from pydantic import ValidationError

    from maintenance_ops.core.config import Database
    from maintenance_ops.core.exceptions import ConfigError

    try:
        return Database(name=name, conn_id=conn_id)
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(f"database={name!r}, mysql_conn_id={conn_id!r}: {problems}") from None


class DatabaseOperator(BaseOperator):
    """Run one step of maintenance on one configured database, after a preflight.

    The preflight connects, detects flavor and version, checks the account's privileges for
    this step (grants.sql's tags of its cadence, with the backup and replica features only
    for the steps that use them) and the maintenance window, and writes one audit row.
    Subclasses put the step's work in :meth:`work`; this class alone runs just the preflight.

    A cheap step (``heavy = False``: catalog reads) runs in Airflow's ``default_pool`` unless
    given a ``pool``; a heavy one takes the pool its DAG's ``default_args`` name (the built-in
    DAGs: ``maintenance.pool``).

    :param database: name of the database in the configuration (templated; mapped per database).
    :param cadence: the schedule whose settings and grants apply (``daily_maintenance``, ...);
        default: the step's own cadence.
    :param mysql_conn_id: run on this Airflow connection instead of the database's ``conn_id``;
        a ``database`` the configuration does not list then gets the default settings (every
        user schema, history schema ``_maintenance``, no cleanup rules, backups off).
    :param config_file: the configuration file to read (default: ``$MAINTENANCE_CONFIG``, else
        the packaged ``include/maintenance.yaml``).
    """

    template_fields: Sequence[str] = ("database",)
    ui_color = "#d9ecff"

    step: ClassVar[str] = "preflight"
    """The step's name: its task id in the built-in DAGs and its key in the report."""
    default_cadence: ClassVar[str | None] = None
    heavy: bool = True
    """Whether the step loads the server (then it runs in the maintenance pool)."""
    writes: ClassVar[bool | None] = None
    """Whether the step changes the target, so the maintenance window applies (None: the
    cadence's)."""
    takes_backups: ClassVar[bool] = False
    """The step takes a backup when ``backup.enabled`` (its grants are checked then)."""
    reads_replicas: ClassVar[bool] = False
    """The step reads the database's replicas (their grants are checked)."""
    cadence_grants: ClassVar[bool] = True
    """The step needs its cadence's grants; False: only its features' (replicas, backups)."""

    def __init__(
        self,
        *,
        database: str,
        cadence: str | None = None,
        mysql_conn_id: str | None = None,
        config_file: str | None = None,
        **kwargs: Any,
    ) -> None:
        cadence = cadence or self.default_cadence
        if cadence not in BY_KEY:
            raise ValueError(
                f"{type(self).__name__}: unknown cadence {cadence!r}; pass cadence= one of "
                f"{', '.join(BY_KEY)}"
            )
        if isinstance(database, str) and not database.strip():
            raise ValueError(
                f"{type(self).__name__}: database= is empty; name a database of the "
                "configuration's `databases:`"
            )
        for name, value in (("mysql_conn_id", mysql_conn_id), ("config_file", config_file)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(
                    f"{type(self).__name__}: {name}= is empty; name one or leave it out"
                )
        if mysql_conn_id is not None and isinstance(database, str) and "{{" not in database:
            _ad_hoc_database(database, mysql_conn_id)  # a bad name fails the DAG's import
        if not self.heavy:
            kwargs.setdefault("pool", DEFAULT_POOL)
        super().__init__(**kwargs)
        own_params_only(self)
        self.database = database
        self.cadence = cadence
        self.mysql_conn_id = mysql_conn_id
        self.config_file = config_file

    def execute(self, context: Any) -> dict[str, Any]:
        from maintenance_ops.core.audit import AuditLog, RunContext
        from maintenance_ops.core.session import MaintenanceSession

        started = time.monotonic()
        try:
            config, db = self._settings()
            dry_run = bool((context.get("params") or {}).get("dry_run", False))
            audit = AuditLog(
                db.history_conn_id or db.conn_id,
                db.history_schema,
                RunContext.from_airflow(context),
                connect_timeout=config.maintenance.connect_timeout_s,
                read_timeout=min(60.0, self._read_timeout(config)),
                write_timeout=config.maintenance.write_timeout_s,
            )
            try:
                with MaintenanceSession(
                    db.conn_id,
                    config.maintenance,
                    database_name=db.name,
                    read_timeout_s=self._read_timeout(config),
                ) as session:
                    preflight = self._preflight(session, db, config, audit, dry_run)
                    result = {
                        "database": db.name,
                        "step": self.step,
                        "dry_run": dry_run,
                        "preflight": preflight.to_dict(),
                    }
                    skip = self._outside_window(config, preflight)
                    if skip:
                        self.log.warning("%s: %s; %s not run", db.name, skip, self.step)
                        result["skipped"] = skip
                    else:
                        run = Run(session, db, config, audit, preflight, context)
                        result.update(self.work(run))
            finally:
                audit.close()
        except Exception as exc:
            record_failure(context, self.database, self.step, exc)
            fail_fast(self.database, exc)
            raise
        except AirflowTaskTimeout as exc:  # a BaseException: the step's own limit ran out
            record_failure(context, self.database, self.step, exc)
            raise
        result["elapsed_s"] = round(time.monotonic() - started, 2)  # the report's timings
        # The grid's label of this task (labels.MAP_INDEX_TEMPLATE renders it after execute):
        # a degraded score or a skipped step shows there, and the task stays successful.
        context[CONTEXT_KEY] = map_index_label(db.name, self.step, result)
        return result

    def _settings(self) -> tuple[Config, Database]:
        """Return the configuration and this task's database in it."""
        from maintenance_ops.core.config import load_config

        config = load_config(self.config_file)
        if self.mysql_conn_id is None:
            return config, config.database(self.database)
        known = {d.name: d for d in config.databases}
        if self.database in known:
            db = known[self.database].model_copy(update={"conn_id": self.mysql_conn_id})
        else:
            db = _ad_hoc_database(self.database, self.mysql_conn_id)
        others = [d for d in config.databases if d.name != db.name]
        return config.model_copy(update={"databases": [*others, db]}), db

    def _preflight(
        self,
        session: MaintenanceSession,
        db: Database,
        config: Config,
        audit: AuditLog,
        dry_run: bool,
    ) -> PreflightResult:
        from maintenance_ops.core.preflight import run_preflight

        cadence = BY_KEY[self.cadence]
        with audit.action(db.name, f"preflight {cadence.dag_id}", dry_run=dry_run) as entry:
            preflight = run_preflight(
                session,
                cadence,
                db,
                window=config.maintenance.window,
                now=datetime.now(
                    UTC
                ),  # the window is about the server's load now, not the run date
                dry_run=dry_run,
                backups=self.takes_backups and db.backup.enabled,
                replicas=self.reads_replicas and bool(db.replicas),
                cadence_grants=self.cadence_grants,
            )
            entry.details = {"step": self.step, **preflight.to_dict()}
            if not preflight.ok:
                entry.outcome = "failed"
        self.log.info(
            "Preflight %s (%s): %s %s at %s, schemas=%s, window_open=%s, dry_run=%s, %.2fs",
            db.name,
            self.step,
            preflight.flavor,
            preflight.version,
            preflight.server,
            ",".join(preflight.schemas) or "-",
            preflight.window_open,
            dry_run,
            preflight.duration_s,
        )
        if not preflight.ok:
            lacking = "; ".join(
                f"{grant} ({why})"
                for grant, why in zip(
                    preflight.missing_privileges, preflight.missing_reasons, strict=True
                )
            )
            raise PreflightError(
                f"the maintenance account lacks {lacking} for {cadence.dag_id} ({self.step}); "
                "nothing was done: grant them (include/sql/grants.sql lists every grant and why)"
            )
        return preflight

    def _read_timeout(self, config: Config) -> float:
        """Bound each wait on the server by the task's own execution timeout, too.

        A task blocked in the driver's read cannot be interrupted by Airflow's timeout
        signal, so the read timeout is what makes ``execution_timeout`` hold on a frozen server.
        """
        from maintenance_ops.core.session import read_timeout

        limit = read_timeout(config.maintenance)
        if self.execution_timeout is not None:
            limit = min(limit, max(1.0, self.execution_timeout.total_seconds()))
        return limit

    def _outside_window(self, config: Config, preflight: PreflightResult) -> str | None:
        """Return why the work must wait for the window, or None when it may run now."""
        window = config.maintenance.window
        writes = BY_KEY[self.cadence].writes if self.writes is None else self.writes
        if not writes or preflight.window_open or window is None:
            return None
        if not config.maintenance.enforce_window:
            self.log.warning("%s: outside the maintenance window, running anyway", self.database)
            return None
        return f"outside the maintenance window {window.start}-{window.end} {window.timezone}"

    def history_session(self, session: MaintenanceSession, db: Database, config: Config) -> Any:
        """Return the session on the database's history store: the target or a central one."""
        from maintenance_ops.core.session import MaintenanceSession as Session

        if db.history_conn_id and db.history_conn_id != db.conn_id:
            store = Session(db.history_conn_id, config.maintenance, database_name=db.name)
            store.open()
            return store
        return session

    def open_history(self, session: MaintenanceSession, db: Database, config: Config) -> Any:
        """Return the database's health history, on the target or its central history store."""
        from maintenance_ops.observe.health_history import HealthHistory

        return HealthHistory(self.history_session(session, db, config), db.history_schema)

    def open_recovery_history(
        self, session: MaintenanceSession, db: Database, config: Config
    ) -> Any:
        """Return the database's restore-test and drill history."""
        from maintenance_ops.recovery.history import RecoveryHistory

        return RecoveryHistory(self.history_session(session, db, config), db.history_schema)

    def work(self, run: Run) -> dict[str, Any]:
        """Do the step's work on an open, preflighted session; return a JSON-able result."""
        return {"actions": []}

"""The parts every maintenance DAG is built from: defaults, params, selection, steps, report.

DAG files stay pure composition: they call these and wire the result. Each cadence is a
sequence of steps (:data:`CADENCE_STEPS`), one operator each, run per database in a mapped
task group (:func:`maintain`). Nothing here opens a connection at parse time; configuration is
read from its file once (cached).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import BaseOperator, Param, task

from maintenance_ops.core.cadences import BY_KEY, CADENCES, Cadence
from maintenance_ops.core.config import Config, load_config
from maintenance_ops.core.labels import MAP_INDEX_TEMPLATE
from maintenance_ops.observe.alerts import on_dag_failure, on_failure
from maintenance_ops.operators.base import own_params_only

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk.definitions.xcom_arg import PlainXComArg

log = logging.getLogger(__name__)

START_DATE = datetime(2026, 1, 1)

# The params' schemas use only JSON Schema draft 7. Naming it makes each validation check the
# schema against draft 7's metaschema instead of the default 2020-12's, about 4x faster: Airflow
# validates every param a dozen times while it parses and serializes one DAG.
SCHEMA_DIALECT: dict[str, Any] = {"$schema": "http://json-schema.org/draft-07/schema#"}


def default_args(config: Config) -> dict[str, Any]:
    """Return the task defaults every maintenance task shares (one place)."""
    m = config.maintenance
    args: dict[str, Any] = {
        "owner": m.owner,
        "retries": m.retries,
        "retry_delay": timedelta(seconds=m.retry_delay_s),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(seconds=m.max_retry_delay_s),
        "execution_timeout": timedelta(minutes=m.execution_timeout_minutes),
        "pool": m.pool,
        "on_failure_callback": [on_failure],
    }
    if m.queue:
        args["queue"] = m.queue
    return args


def params(config: Config, *, databases: Sequence[str] | None = None) -> dict[str, Param]:
    """Return the run params shown in the UI trigger form, with descriptions."""
    names = list(databases) if databases is not None else [d.name for d in config.databases]
    items: dict[str, Any] = {"type": "string"}
    if names:
        items["enum"] = names
    # "examples" makes the trigger form offer the configured names as a multi-select.
    choices: dict[str, Any] = {"examples": names} if names else {}
    return {
        # "null" in the type marks a field optional in the trigger form (no red asterisk).
        "databases": Param(
            default=[],
            type=["array", "null"],
            items=items,
            **choices,
            title="Databases",
            description=(
                "Names of configured databases to run on; leave empty for every enabled database. "
                f"Configured: {', '.join(names) or 'none'}."
            ),
            **SCHEMA_DIALECT,
        ),
        "dry_run": Param(
            default=False,
            type=["boolean", "null"],
            title="Dry run",
            description="Show what would be done, with row counts, without changing anything.",
            **SCHEMA_DIALECT,
        ),
    }


def deadline(cadence_key: str, config: Config, minutes: float) -> Any:
    """Return the DAG's deadline alert (Airflow 3's SLA), or None when deadlines are off."""
    if not config.notifications.enable_deadlines:
        return None
    from airflow.sdk import (  # type: ignore[attr-defined]  # lazily exported names
        AsyncCallback,
        DeadlineAlert,
        DeadlineReference,
    )

    from maintenance_ops.observe.alerts import deadline_missed

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=minutes),
        callback=AsyncCallback(
            deadline_missed,
            kwargs={
                "dag_id": BY_KEY[cadence_key].dag_id,
                "interval_minutes": minutes,
                "notifications": config.notifications.model_dump(mode="json"),
            },
        ),
    )


def dag_kwargs(
    cadence_key: str, config: Config | None = None, *, doc_md: str | None = None
) -> dict[str, Any]:
    """Return the ``@dag`` arguments of a built-in cadence from configuration."""
    config = config or load_config()
    cadence: Cadence = BY_KEY[cadence_key]
    schedule = config.schedules[cadence_key]
    return {
        "dag_id": cadence.dag_id,
        "description": cadence.summary,
        "schedule": schedule.cron if schedule.enabled else None,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(config),
        "params": params(config),
        "tags": ["mysql", "maintenance", *cadence.tags],
        "on_failure_callback": on_dag_failure,
        "deadline": deadline(cadence_key, config, schedule.deadline_minutes),
        "doc_md": doc_md,
    }


def custom_dag_kwargs(
    name: str, config: Config | None = None, *, doc_md: str | None = None
) -> tuple[dict[str, Any], str, str]:
    """Return ``(dag kwargs, cadence key, database)`` of the custom schedule ``name``."""
    from maintenance_ops.core.cadences import BY_TASK_TYPE

    config = config or load_config()
    custom = config.custom_schedules[name]
    cadence = BY_TASK_TYPE[custom.task_type]
    kwargs = dag_kwargs(cadence.key, config, doc_md=doc_md)
    minutes = custom.deadline_minutes or config.schedules[cadence.key].deadline_minutes
    kwargs.update(
        dag_id=f"mysql_custom_{name}",
        description=f"{cadence.summary} on {custom.database} (custom schedule {name})",
        schedule=custom.cron if custom.enabled else None,
        params=params(config, databases=[custom.database]),
        tags=[*kwargs["tags"], "custom"],
        deadline=deadline(cadence.key, config, minutes),
    )
    return kwargs, cadence.key, custom.database


def resolve_databases(
    config: Config, requested: Sequence[str] | None, only: str | None = None
) -> list[str]:
    """Resolve the run's ``databases`` param against the configuration (pure).

    :param requested: names from the run params; empty means every enabled database.
    :param only: a custom schedule's single database, which the params cannot widen.
    """
    from airflow.sdk.exceptions import AirflowFailException

    enabled = [d.name for d in config.databases if d.enabled]
    if only is not None:
        enabled = [only]
    known = {d.name for d in config.databases}
    unknown = [n for n in requested or [] if n not in known]
    if unknown:
        raise AirflowFailException(
            f"unknown database(s) {', '.join(map(repr, unknown))} in params.databases; "
            f"configured: {', '.join(sorted(known)) or 'none'}"
        )
    chosen = [n for n in requested] if requested else enabled
    if only is not None and requested and set(requested) - {only}:
        raise AirflowFailException(f"this DAG runs only on {only!r}")
    if not chosen:
        raise AirflowFailException(
            "no databases to run on: add one under `databases:` in the configuration "
            "(see README, Configuration)"
        )
    return chosen


@dataclass(frozen=True)
class Step:
    """One step of a cadence: its task id, the operator that does it, and its arguments."""

    task_id: str
    operator: str
    """The operator's class name in :mod:`maintenance_ops.operators` (imported when used)."""
    kwargs: Mapping[str, Any] = field(default_factory=dict)


# The operator of each step (every name of ``cadences.STEP_NAMES``); which steps a cadence
# has, and in which order, is its ``Cadence.steps``.
STEP_OPERATORS: dict[str, str] = {
    "index_analysis": "MySqlIndexAnalysisOperator",
    "statistics": "MySqlStatisticsOperator",
    "cleanup": "MySqlCleanupOperator",
    "backup": "MySqlBackupOperator",
    "optimize": "MySqlOptimizeTablesOperator",
    "performance": "MySqlPerformanceAnalysisOperator",
    "integrity": "MySqlIntegrityCheckOperator",
    "capacity": "MySqlCapacityPlanOperator",
    "restore_verify": "MySqlRestoreVerifyOperator",
    "replica_readiness": "MySqlReplicaReadinessOperator",
    "drill": "MySqlRecoveryDrillOperator",
    "health_check": "MySqlHealthCheckOperator",
}
# The task group of one database's steps; its tasks are ``maintain.<step>``.
GROUP_ID = "maintain"

# The arguments a step takes in one cadence only.
STEP_ARGS: dict[tuple[str, str], Mapping[str, Any]] = {
    ("monthly_deep_maintenance", "optimize"): {"levels": ("low", "high"), "rebuild_aged": True},
    ("monthly_deep_maintenance", "statistics"): {"histograms": True},
    # The drill's report takes the replica readiness step's checks, and it runs (backups,
    # runbooks, PITR) whether or not the replicas were ready.
    ("disaster_recovery_test", "drill"): {
        "replica_checks_from": f"{GROUP_ID}.replica_readiness",
        "trigger_rule": "all_done",
    },
}


def _steps(cadence: Cadence) -> tuple[Step, ...]:
    return tuple(
        Step(name, STEP_OPERATORS[name], STEP_ARGS.get((cadence.key, name), {}))
        for name in cadence.steps
    )


# Each cadence's steps, in the order they run on one database. A failed step fails its own
# task and the steps after it; a retry repeats that step alone.
CADENCE_STEPS: dict[str, tuple[Step, ...]] = {c.key: _steps(c) for c in CADENCES}


def maintain(cadence_key: str, config: Config | None = None) -> Any:
    """Return the ``@task_group`` of ``cadence_key``'s steps on one database, to ``.expand()``.

    ``maintain(CADENCE).expand(database=databases)`` makes one group per selected database,
    each step a task labelled with the database's name, run one after the other, each within
    its own execution timeout (``maintenance.step_timeout_minutes``); the group returns each
    step's output by step name, for :func:`report`.
    """
    from airflow.sdk import chain, task_group

    from maintenance_ops.operators import operator

    settings = (config or load_config()).maintenance
    steps = CADENCE_STEPS[cadence_key]

    @task_group(group_id=GROUP_ID, tooltip=BY_KEY[cadence_key].summary)
    def per_database(database: str) -> Any:  # each step's output by step name
        tasks = [
            operator(step.operator)(
                task_id=step.task_id,
                database=database,
                cadence=cadence_key,
                map_index_template=MAP_INDEX_TEMPLATE,
                execution_timeout=settings.step_timeout(step.task_id),
                **step.kwargs,
            )
            for step in steps
        ]
        chain(*tasks)
        return {step.task_id: task.output for step, task in zip(steps, tasks, strict=True)}

    return per_database


@task(task_id="select_databases")
def _select_databases(only: str | None = None, **context: Any) -> list[str]:
    requested = (context.get("params") or {}).get("databases") or []
    chosen = resolve_databases(load_config(), requested, only)
    log.info(
        "Databases for this run: %s (dry_run=%s)",
        ", ".join(chosen),
        context["params"].get("dry_run"),
    )
    return chosen


@task(task_id="report", trigger_rule="all_done", multiple_outputs=False)
def _report(selected: list[str], steps: dict[str, Any], **context: Any) -> dict[str, Any]:
    from maintenance_ops.observe.reports import conclude_run

    return conclude_run(selected, steps, load_config(), context)


def select_databases(only: str | None = None) -> PlainXComArg:
    """The task resolving which databases this run maintains from its params and the
    configuration (``only``: just that one, if it is enabled)."""
    return _own_params(_select_databases(only=only))


def report(selected: Any, steps: Any) -> PlainXComArg:
    """The task gathering every database's step outputs into one report; it fails if any
    database failed.

    :param steps: each step's outputs by step name, in order (what :func:`maintain` returns).
    """
    return _own_params(_report(selected, steps))


def _own_params(output: Any) -> PlainXComArg:
    """Drop the task's copy of the DAG's params (:func:`own_params_only`); return its output."""
    if isinstance(output.operator, BaseOperator):  # always here: these tasks are not mapped
        own_params_only(output.operator)
    return cast("PlainXComArg", output)


def warm_up() -> None:
    """Do once, in the dag-processor manager, what parsing each DAG file would repeat in every
    child it forks (the preload plugin, ``plugins/maintenance_ops_preload.py``, calls this).

    Imports every step's operator class and the cron timetable of the scheduled DAGs (serializing
    a DAG imports it: 2 ms a child), and has Airflow find the fields each of those classes
    serializes, which it does on a class's first serialization by building a throw-away
    operator (about 0.3 ms a class).
    """
    import airflow.timetables.trigger  # noqa: F401

    from maintenance_ops.operators import load_all, operator

    load_all()
    for name in STEP_OPERATORS.values():
        operator(name).get_serialized_fields()
    _select_databases.operator_class.get_serialized_fields()  # type: ignore[attr-defined]

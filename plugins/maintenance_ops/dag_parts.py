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
from typing import TYPE_CHECKING, Any

from airflow.sdk import Param, task

from maintenance_ops.alerts import on_dag_failure, on_failure
from maintenance_ops.cadences import BY_KEY, Cadence
from maintenance_ops.config import Config, load_config

if TYPE_CHECKING:
    from collections.abc import Sequence

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

    from maintenance_ops.alerts import deadline_missed

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
    from maintenance_ops.cadences import BY_TASK_TYPE

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


# Each cadence's steps, in the order they run on one database. A failed step fails its own
# task and the steps after it; a retry repeats that step alone.
CADENCE_STEPS: dict[str, tuple[Step, ...]] = {
    "daily_maintenance": (
        Step("index_analysis", "MySqlIndexAnalysisOperator"),
        Step("statistics", "MySqlStatisticsOperator"),
        Step("cleanup", "MySqlCleanupOperator"),
        Step("backup", "MySqlBackupOperator"),
    ),
    "weekly_optimization": (
        Step("optimize", "MySqlOptimizeTablesOperator"),
        Step("performance", "MySqlPerformanceAnalysisOperator"),
    ),
    "monthly_deep_maintenance": (
        Step(
            "optimize",
            "MySqlOptimizeTablesOperator",
            {"levels": ("low", "high"), "rebuild_aged": True},
        ),
        Step("integrity", "MySqlIntegrityCheckOperator"),
        Step("statistics", "MySqlStatisticsOperator", {"histograms": True}),
        Step("capacity", "MySqlCapacityPlanOperator"),
    ),
    "backup_testing": (Step("restore_verify", "MySqlRestoreVerifyOperator"),),
    "disaster_recovery_test": (Step("drill", "MySqlRecoveryDrillOperator"),),
    "health_check": (Step("health_check", "MySqlHealthCheckOperator"),),
}

# The task group of one database's steps; its tasks are ``maintain.<step>``.
GROUP_ID = "maintain"


def maintain(cadence_key: str) -> Any:
    """Return the ``@task_group`` of ``cadence_key``'s steps on one database, to ``.expand()``.

    ``maintain(CADENCE).expand(database=databases)`` makes one group per selected database,
    each step a task labelled with the database's name, run one after the other; the group
    returns each step's output by step name, for :func:`report`.
    """
    from airflow.sdk import chain, task_group

    from maintenance_ops.operators import operator

    steps = CADENCE_STEPS[cadence_key]

    @task_group(group_id=GROUP_ID, tooltip=BY_KEY[cadence_key].summary)
    def per_database(database: str) -> Any:  # each step's output by step name
        tasks = [
            operator(step.operator)(
                task_id=step.task_id,
                database=database,
                cadence=cadence_key,
                map_index_template="{{ task.database }}",
                **step.kwargs,
            )
            for step in steps
        ]
        chain(*tasks)
        return {step.task_id: task.output for step, task in zip(steps, tasks, strict=True)}

    return per_database


@task
def select_databases(only: str | None = None, **context: Any) -> list[str]:
    """Resolve which databases this run maintains from its params and the configuration."""
    requested = (context.get("params") or {}).get("databases") or []
    chosen = resolve_databases(load_config(), requested, only)
    log.info(
        "Databases for this run: %s (dry_run=%s)",
        ", ".join(chosen),
        context["params"].get("dry_run"),
    )
    return chosen


def _outputs(value: Any) -> list[dict[str, Any]]:
    """One step's outputs as a list: Airflow hands a single mapped output over unwrapped."""
    if not value:
        return []
    if isinstance(value, Mapping):
        return [dict(value)]
    return [dict(v) for v in value if v]


def merge_steps(
    selected: Sequence[str], steps: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Merge each database's step outputs into one result, in step order (pure).

    :param steps: each step's outputs by step name, in order (a list over the databases, or
        one output).
    :returns: one result per database with at least one step done (its summary the steps'
        summaries joined, its warnings all of theirs), and the first step without an output of
        each database that has one (failed, or not run after a failure).
    """
    merged: dict[str, dict[str, Any]] = {}
    failed_at: dict[str, str] = {}
    by_step = {step: {o["database"]: o for o in _outputs(v)} for step, v in steps.items()}
    for name in selected:
        result: dict[str, Any] = {}
        summaries: list[str] = []
        warnings: list[str] = []
        skipped: list[str] = []
        for step, outputs in by_step.items():
            output = outputs.get(name)
            if output is None:
                failed_at.setdefault(name, step)
                continue
            if output.get("skipped"):
                skipped.append(output["skipped"])
                summaries.append(f"{step} not run: {output['skipped']}")
            elif output.get("summary"):
                summaries.append(output["summary"])
            warnings += output.get("warnings") or []
            result = {**output, **result}  # the first step's database, preflight, dry_run
        if not result:
            continue
        result.pop("step", None)
        result.pop("skipped", None)
        result["steps"] = [s for s in by_step if by_step[s].get(name) is not None]
        result["summary"] = "; ".join(summaries)
        result["warnings"] = warnings
        if skipped and len(skipped) == len(by_step):
            result["skipped"] = skipped[0]
        merged[name] = result
    return [merged[n] for n in selected if n in merged], failed_at


def render_report(
    dag_id: str,
    selected: Sequence[str],
    results: Sequence[dict[str, Any]],
    failed_at: Mapping[str, str] | None = None,
    reasons: Mapping[str, str] | None = None,
) -> tuple[str, list[str]]:
    """Return a readable report of every database's result, and the databases that failed.

    :param failed_at: the step each failed database stopped at (a database with no result at
        all failed too).
    :param reasons: each failed database's one-line error, as its step recorded it.
    """
    failed_at = failed_at or {}
    reasons = reasons or {}
    by_name = {r["database"]: r for r in results if r}
    failed = [name for name in selected if name not in by_name or name in failed_at]
    lines = [f"{dag_id}: {len(selected) - len(failed)} of {len(selected)} database(s) done"]
    for name in selected:
        result = by_name.get(name)
        step = failed_at.get(name)
        where = f"{GROUP_ID}.{step} [{name}]" if step else "its mapped task"
        why = f": {reasons[name]}" if name in reasons else ""
        if result is None:
            lines.append(
                f"  {name}: FAILED{' at ' + step if step else ''}{why} "
                f"(see the task log of {where})"
            )
            continue
        pre = result.get("preflight", {})
        window = "open" if pre.get("window_open") else "closed"
        schemas = ", ".join(pre.get("schemas") or []) or "none"
        status = (
            result.get("skipped")
            or result.get("summary")
            or f"preflight ok (privileges complete, window {window}, schemas: {schemas})"
        )
        lines.append(
            f"  {name}: {pre.get('flavor')} {pre.get('version')} at {pre.get('server')}; "
            f"{status}{' (dry run)' if result.get('dry_run') else ''}"
        )
        if step:
            lines.append(
                f"    - FAILED at {step}{why} (see the task log of {where}); not run after it"
            )
        lines.extend(f"    - {line}" for line in detail_lines(result))
    return "\n".join(lines), failed


def detail_lines(result: dict[str, Any], most: int = 8) -> list[str]:
    """Return the findings and actions of one database's result worth a line each (pure)."""
    lines: list[str] = []
    for finding in (result.get("index_analysis") or {}).get("findings", [])[:most]:
        fix = f" -> {finding['drop_sql']}" if finding.get("drop_sql") else " (review)"
        lines.append(
            f"{finding['kind']}: {finding['schema']}.{finding['table']}: {finding['reason']}{fix}"
        )
    for rule in result.get("cleanup") or []:
        rows = rule.get("dry_run_rows") if result.get("dry_run") else rule.get("rows_deleted")
        verb = "would remove" if result.get("dry_run") else rule.get("mode", "delete") + "d"
        children = ", ".join(
            f"{c['table']} {c['action']} {c['rows']} {c['handling']}"
            for c in rule.get("child_rows") or []
            if c.get("rows") is not None
        )
        lines.append(
            f"cleanup {rule['rule']} on {rule['table']}: {verb} {rows} row(s) older than "
            f"{rule['cutoff']} [{rule['status']}]"
            + (f"; child rows: {children}" if children else "")
        )
    for rebuild in result.get("rebuilds") or []:
        reclaimed = rebuild.get("reclaimed_bytes")
        extra = f", reclaimed {reclaimed / 1048576:.1f} MiB" if reclaimed else ""
        lines.append(
            f"rebuild {rebuild['schema']}.{rebuild['table']}: {rebuild['status']}"
            f"{extra}{': ' + rebuild['reason'] if rebuild.get('reason') else ''}"
        )
    for reg in (result.get("performance") or {}).get("regressions") or []:
        lines.append(
            f"regression: {reg['text']}: avg {reg['avg_before_s']:.4f}s -> {reg['avg_now_s']:.4f}s"
        )
    for auto in (result.get("capacity") or {}).get("autoinc") or []:
        lines.append(
            f"auto-increment {auto['schema']}.{auto['table']}.{auto['column']} ({auto['type']}): "
            f"{auto['used_ratio']:.0%} used, {auto.get('exhaustion') or 'exhaustion unknown'}"
        )
    lines.extend(result.get("trend_lines") or [])  # slopes and forecasts with their history
    lines.extend((result.get("capacity") or {}).get("lines") or [])
    for breach in result.get("breaches") or []:
        lines.append(
            f"{breach['level']}: {breach['metric']}={breach['value']:g} "
            f"(threshold {breach['threshold']:g})"
        )
    for reason in (result.get("score") or {}).get("reasons", []):
        if reason.startswith(("security: ", "security (no penalty): ")):
            lines.append(reason)
    if result.get("rto_trend"):
        lines.append(result["rto_trend"])
    for check in result.get("failed_checks") or []:
        lines.append(f"FAILED {check['name']}: {check['detail']}")
    lines.extend(f"warning: {w}" for w in (result.get("warnings") or [])[:most])
    return lines


@task(trigger_rule="all_done", multiple_outputs=False)
def report(selected: list[str], steps: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Gather every database's step outputs into one report; fail if any database failed.

    :param steps: each step's outputs by step name, in order (what :func:`maintain` returns).
    """
    from maintenance_ops.alerts import Alert, AlertedFailure, send_alert
    from maintenance_ops.reports import wants_summary, write_report
    from maintenance_ops.runbook import counted

    dag_id = context["dag"].dag_id
    run_id = context["ti"].run_id
    if not selected:  # select_databases failed (it never returns an empty list)
        raise AlertedFailure(  # select_databases' own alert said why
            f"{dag_id}: no database was selected: select_databases failed (its alert and task "
            "log say why); nothing ran"
        )
    collected, failed_at = merge_steps(selected, steps or {})
    failures = recorded_failures(context["ti"], list(steps or {}))
    reasons = {name: str(f.get("reason") or "") for name, f in failures.items()}
    text, failed = render_report(dag_id, selected, collected, failed_at, reasons)
    for line in text.splitlines():
        log.info("%s", line)
    config = load_config()
    path = write_report(config, dag_id, run_id, text, collected)
    news = [name for name in failed if not failures.get(name, {}).get("quiet")]
    if failed and not news:  # every failure was alerted within the quiet period already
        log.info("Failed on %s: alerted already within the quiet period", ", ".join(failed))
    elif failed:
        # The run's one summary: each failed step has alerted on its own already, so this
        # report fails without a second "report failed" alert (suppress_alert).
        listed = [
            f"{name}: {failed_at.get(name, 'a step')}: {reasons.get(name, 'see its task log')}"
            for name in failed
        ]
        summary = Alert(
            "critical",
            f"{dag_id} run failed on {counted(len(failed), 'database')}",
            dag_id,
            run_id=run_id,
            error="\n".join(listed),
            log_url=str(path),
        )
        send_alert(summary, config.notifications, context)
    if failed:
        raise AlertedFailure(f"{dag_id}: failed on {', '.join(failed)}\n{text}")
    if wants_summary(config, dag_id, context):
        summary = Alert(
            "info", f"{dag_id} report", dag_id, run_id=run_id, error=text, log_url=str(path)
        )
        send_alert(summary, config.notifications, context)
    return {"dag_id": dag_id, "databases": collected, "text": text, "report_file": str(path)}


def recorded_failures(ti: Any, steps: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each failed database's failure as its step left it (``record_failure``): the step, the
    one-line reason, and whether it was alerted already (``quiet``)."""
    from maintenance_ops.operators.base import FAILURE_KEY

    if not steps:
        return {}
    try:
        found = ti.xcom_pull(task_ids=[f"{GROUP_ID}.{s}" for s in steps], key=FAILURE_KEY)
    except Exception as exc:  # noqa: BLE001 - the report goes on, saying "see its task log"
        log.warning("could not read the steps' failure reasons: %s", exc)
        return {}
    values = found if isinstance(found, list) else [found]
    return {
        str(v["database"]): dict(v) for v in values if isinstance(v, Mapping) and v.get("database")
    }

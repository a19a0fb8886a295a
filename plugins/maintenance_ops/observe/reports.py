"""Readable run reports: one Markdown file per DAG run (charts beside it), and a Slack summary."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.wording import counted
from maintenance_ops.observe.report_markdown import RunSummary, render_markdown

if TYPE_CHECKING:
    from maintenance_ops.core.config import Config

log = logging.getLogger(__name__)
STEP_GROUP = "maintain"  # the task group of a cadence's per-database steps (dag_parts.maintain)
FAILURE_KEY = "failure"  # the XCom a failed step leaves for the run's report (record_failure)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def report_dir(config: Config) -> Path:
    """Where reports go: ``notifications.report_dir`` or ``$AIRFLOW_HOME/maintenance-reports``."""
    if config.notifications.report_dir:
        return Path(config.notifications.report_dir)
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow") / "maintenance-reports"


def report_stem(run_id: str) -> str:
    """Return the report's file name for ``run_id`` without ``.md`` (pure).

    Every character outside ``A-Z a-z 0-9 _ . -`` becomes ``_``: run ids hold ``:`` and
    ``+`` (``scheduled__2026-11-01T02:00:00+00:00``), which Windows and SMB shares refuse, and
    ``+`` reads as a space in URLs (object storage, a web server over the folder); a run id
    given by hand may hold ``/``. The run id itself heads the file.
    """
    return _UNSAFE.sub("_", run_id)


def write_report(config: Config, summary: RunSummary) -> Path:
    """Write the run's Markdown report (and any SVG charts) and return the file's path.

    The file is ``<report_dir>/<dag_id>/<report_stem(run_id)>.md``; each capacity chart is
    ``<stem>.<database>.capacity.svg`` beside it.
    """
    folder = report_dir(config) / summary.dag_id
    folder.mkdir(parents=True, exist_ok=True)
    stem = report_stem(summary.run_id)
    charts = {}
    for result in summary.results:
        svg = (result.get("capacity") or {}).get("svg")
        if svg:
            name = f"{stem}.{_UNSAFE.sub('_', result['database'])}.capacity.svg"
            (folder / name).write_text(svg, encoding="utf-8")
            charts[result["database"]] = name
    path = folder / f"{stem}.md"
    path.write_text(render_markdown(summary, charts), encoding="utf-8")
    log.info("Report written to %s", path)
    return path


def run_moment_line(context: Any) -> tuple[str, str] | None:
    """Return the header line of when the run is about: its logical date, else its run_after."""
    dag_run = (context or {}).get("dag_run")
    logical = (context or {}).get("logical_date") or getattr(dag_run, "logical_date", None)
    if logical is not None:
        return "Logical date", _when(logical)
    run_after = getattr(dag_run, "run_after", None)
    if run_after is not None:
        return "Run after (no logical date)", _when(run_after)
    return None


def _when(moment: Any) -> str:
    return moment.isoformat(sep=" ") if hasattr(moment, "isoformat") else str(moment)


def wants_summary(config: Config, dag_id: str, context: Any = None) -> bool:
    """Whether this run's report goes to Slack: daily, weekly and monthly-style runs, not
    hourly checks, and not a dry run (nothing changed) nor a backfilled date: a backfill gets
    one summary when its last run ends (:mod:`maintenance_ops.observe.backfill_summary`).

    Why not from the last run's report task (checked on Airflow 3.3.2, task SDK 1.3.2): a
    task cannot tell which backfill its run belongs to (its ``dag_run`` has no backfill id, and
    what a task may ask the API server filters runs by DAG, run id, logical date and state
    only), nor that it is the last to finish (a backfill runs up to its own
    ``max_active_runs`` at once, and a run stays ``running`` after its ``report`` task until
    the scheduler's next loop). The scheduler knows both, so the summary is sent from there.
    """
    context = context or {}
    if (context.get("params") or {}).get("dry_run"):
        return False
    run_type = getattr(context.get("dag_run"), "run_type", None)
    if str(getattr(run_type, "value", run_type) or "") == "backfill":
        return False
    return reports_wanted(config, dag_id)


def reports_wanted(config: Config, dag_id: str) -> bool:
    """Whether ``dag_id``'s reports go to Slack at all (a Slack connection, not the hourly
    health check, ``send_reports`` / ``send_weekly_reports``)."""
    if not config.notifications.slack_conn_id or dag_id == "mysql_health_check":
        return False
    if dag_id == "mysql_weekly_optimization":
        return config.notifications.send_weekly_reports
    return config.notifications.send_reports


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
        summaries joined, its warnings all of theirs, ``step_runs`` each step's summary,
        ``skipped`` reason and ``elapsed_s``), and the first step without an output of each
        database that has one (failed, or not run after a failure).
    """
    merged: dict[str, dict[str, Any]] = {}
    failed_at: dict[str, str] = {}
    by_step = {step: {o["database"]: o for o in _outputs(v)} for step, v in steps.items()}
    for name in selected:
        result: dict[str, Any] = {}
        summaries: list[str] = []
        warnings: list[str] = []
        skipped: list[str] = []
        runs: list[dict[str, Any]] = []
        for step, outputs in by_step.items():
            output = outputs.get(name)
            if output is None:
                failed_at.setdefault(name, step)
                continue
            runs.append(
                {
                    "step": step,
                    "summary": output.get("summary") or "",
                    "skipped": output.get("skipped"),
                    "elapsed_s": output.get("elapsed_s"),
                }
            )
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
        result.pop("elapsed_s", None)  # one per step: in step_runs
        result["steps"] = [s for s in by_step if by_step[s].get(name) is not None]
        result["step_runs"] = runs
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
        where = f"{STEP_GROUP}.{step} [{name}]" if step else "its mapped task"
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


def conclude_run(
    selected: list[str], steps: Mapping[str, Any] | None, config: Config, context: Any
) -> dict[str, Any]:
    """The ``report`` task of every cadence DAG: merge, render, write, alert once, fail or return.

    The report (``dag_id``, ``databases``, ``text``, ``report_file``) is the task's XCom
    ``return_value`` whether the run succeeded or failed.

    :param steps: each step's outputs by step name, in order (a list over the databases).
    :raises AlertedFailure: a database failed (after the run's one summary alert), or
        ``select_databases`` failed (its own alert said why).
    """
    from maintenance_ops.observe.alerts import Alert, AlertedFailure, send_alert

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
    run_summary = RunSummary(
        dag_id,
        run_id,
        selected,
        collected,
        steps=list(steps or {}),
        failed_at=failed_at,
        reasons=reasons,
        moment=run_moment_line(context),
        text=text,
    )
    path = write_report(config, run_summary)
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
    report = {"dag_id": dag_id, "databases": collected, "text": text, "report_file": str(path)}
    if failed:
        # A failed run has its report too, where the UI and `trigger --wait` read a report.
        context["ti"].xcom_push(key="return_value", value=report)
        raise AlertedFailure(f"{dag_id}: failed on {', '.join(failed)}\n{text}")
    if wants_summary(config, dag_id, context):
        summary = Alert(
            "info", f"{dag_id} report", dag_id, run_id=run_id, error=text, log_url=str(path)
        )
        send_alert(summary, config.notifications, context)
    return report


def recorded_failures(ti: Any, steps: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each failed database's failure as its step left it (``record_failure``): the step, the
    one-line reason, and whether it was alerted already (``quiet``)."""
    if not steps:
        return {}
    try:
        found = ti.xcom_pull(task_ids=[f"{STEP_GROUP}.{s}" for s in steps], key=FAILURE_KEY)
    except Exception as exc:  # noqa: BLE001 - the report goes on, saying "see its task log"
        log.warning("could not read the steps' failure reasons: %s", exc)
        return {}
    values = found if isinstance(found, list) else [found]
    return {
        str(v["database"]): dict(v) for v in values if isinstance(v, Mapping) and v.get("database")
    }

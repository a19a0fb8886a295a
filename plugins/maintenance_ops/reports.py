"""Readable run reports: one Markdown file per DAG run (charts beside it), and a Slack summary."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maintenance_ops.config import Config

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def report_dir(config: Config) -> Path:
    """Where reports go: ``notifications.report_dir`` or ``$AIRFLOW_HOME/maintenance-reports``."""
    if config.notifications.report_dir:
        return Path(config.notifications.report_dir)
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow") / "maintenance-reports"


def render_markdown(dag_id: str, run_id: str, text: str, charts: dict[str, str]) -> str:
    """Return the Markdown report (pure): the text report, then one chart per database."""
    lines = [f"# {dag_id}", "", f"Run `{run_id}`", "", "```", text, "```"]
    for database, filename in charts.items():
        lines += ["", f"## Capacity forecast: {database}", "", f"![{database}]({filename})"]
    return "\n".join(lines) + "\n"


def write_report(
    config: Config, dag_id: str, run_id: str, text: str, results: list[dict[str, Any]]
) -> Path:
    """Write the run's report (and any SVG charts) and return the Markdown file's path."""
    folder = report_dir(config) / dag_id
    folder.mkdir(parents=True, exist_ok=True)
    stem = _UNSAFE.sub("_", run_id)
    charts = {}
    for result in results:
        svg = (result.get("capacity") or {}).get("svg")
        if svg:
            name = f"{stem}.{_UNSAFE.sub('_', result['database'])}.capacity.svg"
            (folder / name).write_text(svg, encoding="utf-8")
            charts[result["database"]] = name
    path = folder / f"{stem}.md"
    path.write_text(render_markdown(dag_id, run_id, text, charts), encoding="utf-8")
    log.info("Report written to %s", path)
    return path


def wants_summary(config: Config, dag_id: str, context: Any = None) -> bool:
    """Whether this run's report goes to Slack: daily, weekly and monthly-style runs, not
    hourly checks, and not a dry run (nothing changed) nor a backfilled date (each date
    writes its report as a file and an XCom; a message per date would flood the channel).
    """
    if not config.notifications.slack_conn_id or dag_id == "mysql_health_check":
        return False
    context = context or {}
    if (context.get("params") or {}).get("dry_run"):
        return False
    run_type = getattr(context.get("dag_run"), "run_type", None)
    if str(getattr(run_type, "value", run_type) or "") == "backfill":
        return False
    if dag_id == "mysql_weekly_optimization":
        return config.notifications.send_weekly_reports
    return config.notifications.send_reports

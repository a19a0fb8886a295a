"""The run report as a Markdown document a DBA reads: a header, then per database its findings,
actions, skipped and failed steps and timings as tables (pure functions).

Every name in it came from a server's catalog and may hold any character (``|``, backticks,
``%``, quotes, unicode, a backslash): :func:`code` and :func:`text` make each one a single table
cell that shows exactly that name, whatever it holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MIB = 1024 * 1024
# Markdown's specials in plain text; ``_`` only where it could start or end emphasis (inside a
# word it cannot, and names are full of it).
_PUNCTUATION = re.compile(r"[\\`*\[\]<>|&]|(?<![^\W_])_|_(?![^\W_])")
_BACKTICKS = re.compile(r"`+")
_NO_VALUE = "—"


@dataclass(frozen=True)
class RunSummary:
    """What the report says about one run as a whole (its header) and each database's outcome.

    :param moment: the header line of when the run is about: ``("Logical date", "...")``, or
        ``("Run after (no logical date)", "...")`` for a run triggered without one.
    :param steps: the cadence's steps in order (a failed database shows which never ran).
    :param failed_at: the step each failed database stopped at.
    :param reasons: each failed database's one-line error, as its step recorded it.
    """

    dag_id: str
    run_id: str
    selected: Sequence[str]
    results: Sequence[Mapping[str, Any]]
    steps: Sequence[str] = ()
    failed_at: Mapping[str, str] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)
    moment: tuple[str, str] | None = None
    text: str = ""
    """The plain-text report (logs, Slack, XCom), kept at the end of the file as it was sent."""

    @property
    def by_name(self) -> dict[str, Mapping[str, Any]]:
        return {r["database"]: r for r in self.results if r}

    @property
    def failed(self) -> list[str]:
        done = self.by_name
        return [n for n in self.selected if n not in done or n in self.failed_at]


def code(value: object) -> str:
    """Return ``value`` as inline code that is one table cell and shows it exactly.

    A code span: its fence one backtick longer than the longest run of backticks inside
    (padded with a space when the value holds one), and ``|`` written ``\\|``, which GitHub's
    tables read as a literal pipe even inside code. A backslash right before a pipe would
    escape that escape, so a value holding a backslash becomes an HTML ``<code>`` element
    around the value escaped as plain text (:func:`text`), rendered the same.
    """
    value = " ".join(str(value).splitlines())
    if not value:
        return ""
    if "\\" in value:
        return f"<code>{text(value)}</code>"
    longest = max((len(run) for run in _BACKTICKS.findall(value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{value.replace('|', chr(92) + '|')}{pad}{fence}"


def text(value: object) -> str:
    """Return ``value`` as plain text for a table cell: one line, Markdown's specials escaped."""
    return _PUNCTUATION.sub(lambda m: "\\" + m.group(0), " ".join(str(value).splitlines()))


def quoted(*names: str | None) -> str:
    """Return ``schema.table`` (or with an index) as MySQL writes it: each part backtick-quoted."""
    return ".".join("`" + str(n).replace("`", "``") + "`" for n in names if n)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Return a Markdown table's lines (cells already escaped by :func:`code` or :func:`text`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell or _NO_VALUE for cell in row) + " |" for row in rows]
    return lines


def seconds(value: float | None) -> str:
    """Return a duration for the timings table: ``0.42 s``, ``12.3 s``, ``4 min 05 s``."""
    if value is None:
        return _NO_VALUE
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s"


# ---- one database's sections -------------------------------------------------------------


def finding_rows(result: Mapping[str, Any]) -> list[list[str]]:
    """Return the Findings rows: kind, object, reason, the statement to run (when there is one)."""
    rows: list[list[str]] = []
    for f in (result.get("index_analysis") or {}).get("findings") or []:
        obj = code(quoted(f["schema"], f["table"])) + (
            " index " + code(f["index"]) if f.get("index") else ""
        )
        statement = code(f["drop_sql"] + ";") if f.get("drop_sql") else "review"
        rows.append([text(f["kind"]), obj, text(f["reason"]), statement])
    for reg in (result.get("performance") or {}).get("regressions") or []:
        rows.append(
            [
                "regression",
                code(reg["text"]),
                text(f"avg {reg['avg_before_s']:.4f} s -> {reg['avg_now_s']:.4f} s"),
                "",
            ]
        )
    for auto in (result.get("capacity") or {}).get("autoinc") or []:
        rows.append(
            [
                "auto-increment",
                code(quoted(auto["schema"], auto["table"], auto["column"])),
                text(
                    f"{auto['type']}: {auto['used_ratio']:.0%} used, "
                    f"{auto.get('exhaustion') or 'exhaustion unknown'}"
                ),
                "",
            ]
        )
    for breach in result.get("breaches") or []:
        rows.append(
            [
                text(breach["level"]),
                code(breach["metric"]),
                text(f"{breach['value']:g} (threshold {breach['threshold']:g})"),
                "",
            ]
        )
    for reason in (result.get("score") or {}).get("reasons", []):
        if reason.startswith(("security: ", "security (no penalty): ")):
            kind, _, why = reason.partition(": ")
            rows.append([text(kind), "", text(why), ""])
    for check in result.get("failed_checks") or []:
        rows.append(["failed check", code(check["name"]), text(check["detail"]), ""])
    return rows


def _cleanup_row(rule: Mapping[str, Any], dry_run: bool) -> list[str]:
    if dry_run:
        done = f"would remove {rule.get('dry_run_rows') or 0} row(s)"
    elif rule.get("mode") == "archive":
        done = (
            f"archived {rule.get('rows_archived', 0)}, deleted {rule.get('rows_deleted', 0)} row(s)"
        )
    else:
        done = f"deleted {rule.get('rows_deleted', 0)} row(s)"
    children = "; ".join(
        f"{c['table']} {c['action']}: {c['rows']} {c['handling']}"
        for c in rule.get("child_rows") or []
        if c.get("rows") is not None
    )
    partitions = rule.get("partitions_planned" if dry_run else "partitions_dropped") or []
    detail = f"{done} older than {rule['cutoff']}"
    if partitions:
        detail += f"; partitions {'to drop' if dry_run else 'dropped'}: {', '.join(partitions)}"
    if children:
        detail += f"; child rows: {children}"
    return [
        "cleanup",
        f"rule {code(rule['rule'])} on {code(rule['table'])}",
        text(detail),
        text(rule["status"]),
    ]


def _rebuild_row(rebuild: Mapping[str, Any]) -> list[str]:
    reclaimed = rebuild.get("reclaimed_bytes")
    detail = f"reclaimed {reclaimed / MIB:.1f} MiB" if reclaimed else ""
    if rebuild.get("duration_s"):
        detail += f"{', ' if detail else ''}{seconds(rebuild['duration_s'])}"
    if rebuild.get("reason"):
        detail += f"{': ' if detail else ''}{rebuild['reason']}"
    return [
        "rebuild",
        code(quoted(rebuild["schema"], rebuild["table"])),
        text(detail),
        text(rebuild["status"]),
    ]


def _budgeted_row(step: str, part: Mapping[str, Any], done_key: str, verb: str) -> list[str]:
    done = part.get(done_key) or []
    detail = f"{verb} {len(done)} table(s)"
    if done:
        shown = ", ".join(done[:5]) + (f" and {len(done) - 5} more" if len(done) > 5 else "")
        detail += f": {shown}"
    if part.get("left"):
        detail += f"; {len(part['left'])} left for the next run (time budget)"
    for failure in part.get("failed") or []:
        detail += f"; failed {failure.get('table', '?')}: {failure.get('error', '')}"
    status = "failed" if part.get("failed") else "partial" if part.get("left") else "ok"
    return [step, "", text(detail), status]


def action_rows(result: Mapping[str, Any]) -> list[list[str]]:
    """Return the Actions rows: what each step changed (or, in a dry run, would change)."""
    dry_run = bool(result.get("dry_run"))
    rows = [_cleanup_row(rule, dry_run) for rule in result.get("cleanup") or []]
    rows += [_rebuild_row(r) for r in result.get("rebuilds") or []]
    for step, done, verb in (
        ("statistics", "analysed", "analysed"),
        ("histograms", "refreshed", "refreshed"),
        ("integrity", "checked", "checked"),
    ):
        part = result.get(step) or {}
        if part.get(done) or part.get("left") or part.get("failed"):  # else nothing to say
            rows.append(_budgeted_row(step, part, done, verb))
    backup = result.get("backup")
    if isinstance(backup, Mapping):
        removed = len(backup.get("removed") or [])
        rows.append(
            [
                "backup",
                code(str(backup.get("path", "")).rsplit("/", 1)[-1]),
                text(f"{backup.get('bytes', 0)} bytes; {removed} old backup(s) removed"),
                "ok",
            ]
        )
    return rows


def note_lines(result: Mapping[str, Any], most: int = 20) -> list[str]:
    """Return the lines worth reading as they are: trends, forecasts, RTO trend, warnings."""
    lines = list(result.get("trend_lines") or [])
    lines += (result.get("capacity") or {}).get("lines") or []
    if result.get("rto_trend"):
        lines.append(result["rto_trend"])
    lines += [f"warning: {w}" for w in (result.get("warnings") or [])[:most]]
    return [f"- {text(line)}" for line in lines]


def step_rows(
    name: str, result: Mapping[str, Any] | None, summary: RunSummary
) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """Return the Skipped, Failures and Timings rows of one database (pure)."""
    runs = {r["step"]: r for r in (result or {}).get("step_runs") or []}
    failed_step = summary.failed_at.get(name)
    why = summary.reasons.get(name) or "see its task log"
    skipped: list[list[str]] = []
    failures: list[list[str]] = []
    timings: list[list[str]] = []
    total = 0.0
    after_failure = False
    for step in summary.steps or list(runs):
        run = runs.get(step)
        if run is None:
            outcome = "not run" if after_failure else "failed"
            if not after_failure:
                failures.append([code(step), text(why)])
            after_failure = True
            timings.append([code(step), _NO_VALUE, outcome, ""])
            continue
        if run.get("skipped"):
            skipped.append([code(step), text(run["skipped"])])
        elapsed = run.get("elapsed_s")
        total += elapsed or 0.0
        outcome = "skipped" if run.get("skipped") else "done"
        timings.append([code(step), seconds(elapsed), outcome, text(run.get("summary") or "")])
    if failed_step and not failures:  # a step the report was not told about
        failures.append([code(failed_step), text(why)])
    if timings:
        done = sum(1 for row in timings if row[2] == "done")
        timings.append(["**total**", f"**{seconds(total)}**", f"{done} of {len(timings)} done", ""])
    return skipped, failures, timings


def database_section(
    name: str, result: Mapping[str, Any] | None, summary: RunSummary, chart: str | None
) -> list[str]:
    """Return one database's section: a status line, then its non-empty tables."""
    lines = ["", f"## {text(name)}", ""]
    step = summary.failed_at.get(name)
    if result is None:
        lines.append(f"**FAILED** at {code(step or 'its first step')}: nothing of it ran.")
    else:
        pre = result.get("preflight") or {}
        status = "**FAILED**" if step else "skipped" if result.get("skipped") else "done"
        lines.append(
            f"{status}{' (dry run: nothing changed)' if result.get('dry_run') else ''}: "
            f"{text(pre.get('flavor'))} {text(pre.get('version'))} at {code(pre.get('server'))}"
            f", schemas {', '.join(code(s) for s in pre.get('schemas') or []) or 'none'}"
        )
    skipped, failures, timings = step_rows(name, result, summary)
    sections = [
        ("Failures", ["Step", "Reason"], failures),
        ("Findings", ["Kind", "Object", "Reason", "Statement"], finding_rows(result or {})),
        ("Actions", ["Step", "Object", "Result", "Status"], action_rows(result or {})),
        ("Skipped", ["Step", "Why"], skipped),
        ("Timings", ["Step", "Elapsed", "Outcome", "Summary"], timings),
    ]
    for title, header, rows in sections:
        if rows:
            lines += ["", f"### {title}", "", *table(header, rows)]
    notes = note_lines(result or {})
    if notes:
        lines += ["", "### Notes", "", *notes]
    if chart:
        lines += ["", "### Capacity forecast", "", f"![{text(name)}]({chart})"]
    return lines


def fenced(body: str) -> list[str]:
    """Return ``body`` as a fenced block that no run of backticks inside can close early."""
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, body, fence]


def render_markdown(summary: RunSummary, charts: Mapping[str, str] | None = None) -> str:
    """Return the run's Markdown report (pure): a header, then one section per database.

    :param charts: each database's capacity chart file name, shown beside its tables.
    """
    charts = charts or {}
    failed = summary.failed
    total = len(summary.selected)
    outcome = f"{total - len(failed)} of {total} database(s) done"
    if failed:
        outcome += f"; failed: {', '.join(text(n) for n in failed)}"
    rows = [["Run", code(summary.run_id)]]
    if summary.moment:
        rows.append([text(summary.moment[0]), text(summary.moment[1])])
    rows.append(["Outcome", outcome])
    if any(r.get("dry_run") for r in summary.results if r):
        rows.append(["Dry run", "yes: what would be done, nothing changed"])
    lines = [f"# {text(summary.dag_id)}", "", *table(["DAG", code(summary.dag_id)], rows)]
    by_name = summary.by_name
    for name in summary.selected:
        lines += database_section(name, by_name.get(name), summary, charts.get(name))
    if summary.text:
        lines += [
            "",
            "<details><summary>The same report as plain text (the task log, Slack)</summary>",
            "",
            *fenced(summary.text),
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"

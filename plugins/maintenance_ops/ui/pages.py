"""HTML of the maintenance pages (pure): fleet, database, run report, and messages.

Server-rendered, self-contained pages: inline CSS and SVG, one small inline script for links
out of the UI's frame, nothing fetched from elsewhere. The Airflow UI shows them in its plugin
frame; they open directly too. Every value from a server, the configuration or a report is
escaped. Links to Airflow's own pages go to the top window (``target="_top"``), links between
these pages stay in the frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from maintenance_ops.ui import URL_PREFIX
from maintenance_ops.ui.fleet import CADENCE_LABELS, FleetRow, RunCell
from maintenance_ops.ui.svg import Band, Series, bar_chart, line_chart, sparkline

CSS = """
body{font:13px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:12px;color:#111827}
h1{font-size:18px;margin:0 0 8px}h2{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;margin:4px 0 10px}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600}td.num{text-align:right;white-space:nowrap}
.badge{display:inline-block;padding:1px 6px;border-radius:9px;font-size:12px;white-space:nowrap}
.healthy,.success,.ok{background:#d1fae5;color:#065f46}
.degraded,.skipped,.dry_run,.running,.queued,.up_for_retry,.refused{background:#fef3c7;color:#92400e}
.critical,.failed,.upstream_failed{background:#fee2e2;color:#991b1b}
.unknown,.none{background:#e5e7eb;color:#374151}
.notice{padding:8px 10px;border-radius:6px;margin:8px 0}
.notice.error{background:#fee2e2;color:#7f1d1d}.notice.info{background:#eff6ff;color:#1e3a8a}
.muted{color:#6b7280}.small{font-size:11px}code,pre{font:12px ui-monospace,monospace}
pre{white-space:pre-wrap;background:#f9fafb;padding:8px;border-radius:6px}
form.filter input,form.filter select{margin-right:6px}
a{color:#1d4ed8;text-decoration:none}a:hover{text-decoration:underline}
.charts{display:flex;flex-wrap:wrap;gap:10px}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def badge(state: str | None, text: str | None = None) -> str:
    """Return a coloured label for a state (``failed``, ``degraded``, ``success``...)."""
    state = state or "none"
    css = "".join(c if c.isalnum() or c == "_" else "_" for c in state)
    return f'<span class="badge {css}">{_e(text or state)}</span>'


# The Airflow UI shows these pages in a sandboxed frame that may not navigate the top window,
# so a link to one of Airflow's own pages (target="_top") is handed to the UI's router in the
# top window instead (same origin: the frame may call its history). Opened directly, links work
# as usual. This is the only script on the pages.
TOP_LINKS = """document.addEventListener("click", function (e) {
  var a = e.target.closest ? e.target.closest("a[target=_top]") : null;
  if (!a || window.top === window) return;
  try {
    window.top.history.pushState({}, "", a.getAttribute("href"));
    window.top.dispatchEvent(new PopStateEvent("popstate", {state: {}}));
    e.preventDefault();
  } catch (err) {}
});"""


def base_of(ui_root: str) -> str:
    """Where these pages live under the api-server's root path (``[api] base_url``)."""
    return f"{ui_root.rstrip('/')}{URL_PREFIX}/"


def page(title: str, body: str, ui_root: str = "/") -> str:
    """Wrap a page body in the document with its style.

    Links between the pages are relative to a ``<base>`` under the api-server's root path, so
    they hold whatever ``[api] base_url`` is and however deep a run id's path goes.
    """
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<base href="{_e(base_of(ui_root))}"><title>{_e(title)}</title><style>{CSS}</style>'
        f"<script>{TOP_LINKS}</script></head><body>{body}</body></html>"
    )


def notice(message: str, kind: str = "error") -> str:
    return f'<div class="notice {kind}" data-kind="{kind}">{_e(message)}</div>'


def message_page(
    title: str, message: str, *, link: tuple[str, str] | None = None, ui_root: str = "/"
) -> str:
    """A page that only says something (not signed in, not found, not configured)."""
    more = f'<p><a href="{_e(link[0])}" target="_top">{_e(link[1])}</a></p>' if link else ""
    return page(title, f"<h1>{_e(title)}</h1>{notice(message, 'info')}{more}", ui_root)


def table(rows: Iterable[Sequence[str]], headers: Sequence[str], css: str = "") -> str:
    """Return a table of already escaped cells."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="muted">none</td></tr>'
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def run_url(ui_root: str, dag_id: str, run_id: str) -> str:
    return f"{ui_root}dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def report_url(dag_id: str, run_id: str, **query: Any) -> str:
    tail = f"?{urlencode({k: v for k, v in query.items() if v is not None})}" if query else ""
    return f"runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}{tail}"


def database_url(name: str) -> str:
    return f"databases/{quote(name, safe='')}"


def _bytes(value: float | None) -> str:
    if not value:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{value:.0f} B"
        value /= 1024
    return str(value)


# --------------------------------------------------------------------------------------------
# fleet
# --------------------------------------------------------------------------------------------


def _run_cell(cell: RunCell | None, ui_root: str) -> str:
    if cell is None:
        return '<span class="muted">no run</span>'
    counts = ", ".join(
        f"{n} {outcome}" for outcome, n in cell.outcomes.items() if outcome not in ("ok",)
    )
    return (
        f'<a href="{_e(run_url(ui_root, cell.dag_id, cell.run_id))}" target="_top" '
        f'title="{_e(cell.run_id)}">{badge(cell.state)}</a> '
        f'<a class="small" href="{_e(report_url(cell.dag_id, cell.run_id))}">report</a>'
        f'<div class="small muted">{_e((cell.at or "")[:16])}'
        f"{'; ' + _e(counts) if counts else ''}</div>"
    )


def _health_cell(row: FleetRow) -> str:
    if row.error:
        return notice(row.error)
    if row.score is None:
        return '<span class="muted">no health samples yet</span>'
    breaches = "; ".join(
        f"{b.get('metric')} {b.get('level')}" for b in row.breaches[:3] if isinstance(b, dict)
    )
    return (
        f'<b class="score">{row.score}</b>/100 {badge(row.status)}'
        f'<div class="small muted">{_e(row.sampled_at)}</div>'
        + (f'<div class="small">{_e(breaches)}</div>' if breaches else "")
    )


def _trend_cell(row: FleetRow) -> str:
    avg = (
        f'<div class="small muted">avg 7 d {row.avg_7d if row.avg_7d is not None else "-"}, '
        f"30 d {row.avg_30d if row.avg_30d is not None else '-'}</div>"
    )
    return (
        sparkline(row.trend_7d, width=84, label=f"{row.database}: worst score per 6 h, 7 days")
        + " "
        + sparkline(row.trend_30d, width=120, label=f"{row.database}: worst score per 6 h, 30 d")
        + avg
    )


def _recovery_cell(row: FleetRow) -> str:
    parts = []
    if row.backup_age_h is not None:
        late = row.rpo_h and row.backup_age_h > row.rpo_h
        parts.append(
            badge("failed" if late else "ok", f"backup {row.backup_age_h:g} h")
            + (f' <span class="small muted">RPO {row.rpo_h:g} h</span>' if row.rpo_h else "")
        )
    elif row.rpo_h:
        parts.append(badge("unknown", "no backup seen"))
    if row.restore:
        rto = row.restore.get("rto_s")
        text = f"RTO {rto:.0f} s" if rto is not None else "restore test"
        text += "" if row.restore["ok"] else ", failed"
        over = rto is not None and rto > row.rto_target_s
        parts.append(
            badge("success" if row.restore["ok"] and not over else "failed", text)
            + f' <span class="small muted">of {row.rto_target_s:.0f} s, '
            f"{_e((row.restore.get('at') or '')[:10])}</span>"
        )
    if row.drill_at:
        parts.append(badge("success" if row.drill_ok else "failed", "DR drill"))
    parts.append(
        f'<div class="small muted">last good drill: {_e((row.drill_last_ok_at or "never")[:10])}'
        "</div>"
    )
    return "<br>".join(parts)


def fleet_rows_html(rows: Sequence[FleetRow], ui_root: str) -> str:
    """Return the fleet table: one row per database, worst first."""
    cadences = list(CADENCE_LABELS)
    body = []
    for row in rows:
        findings = ", ".join(f"{n} {kind}" for kind, n in sorted(row.findings.items())) or "-"
        cells = [
            f'<a class="db" href="{_e(database_url(row.database))}">{_e(row.database)}</a>'
            + ("" if row.enabled else ' <span class="muted small">(disabled)</span>')
            + "".join(f'<div class="small concern">{_e(c)}</div>' for c in row.concerns),
            _health_cell(row),
            _trend_cell(row),
            *(_run_cell(row.runs.get(key), ui_root) for key in cadences),
            _e(findings),
            _e(_bytes(row.reclaimed_bytes)),
            _recovery_cell(row),
        ]
        body.append(
            f'<tr class="fleet-row" data-database="{_e(row.database)}" data-rank="{row.rank}">'
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    headers = [
        "Database",
        "Health",
        "Score 7 d / 30 d",
        *(CADENCE_LABELS[k] for k in cadences),
        "Open findings",
        "Reclaimed",
        "Backup / restore / DR",
    ]
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    empty = (
        f'<tr><td colspan="{len(headers)}" class="muted">no databases configured</td></tr>'
        if not rows
        else ""
    )
    return (
        f'<table class="fleet"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}{empty}'
        "</tbody></table>"
    )


def fleet_page(
    rows: Sequence[FleetRow],
    *,
    ui_root: str,
    generated_at: datetime,
    runs_error: str | None = None,
    build_ms: float | None = None,
) -> str:
    """Return the fleet page."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    body = [
        "<h1>MySQL maintenance: fleet</h1>",
        f'<p class="muted">{len(rows)} database(s): {_e(summary)}. Worst first. '
        f"Generated {generated_at:%Y-%m-%d %H:%M:%S} UTC"
        + (f" in {build_ms:.0f} ms" if build_ms is not None else "")
        + '. <a href="api/fleet">JSON</a></p>',
    ]
    if runs_error:
        body.append(notice(f"Airflow's run records could not be read: {runs_error}"))
    body.append(fleet_rows_html(rows, ui_root))
    return page("MySQL maintenance: fleet", "".join(body), ui_root)


# --------------------------------------------------------------------------------------------
# database
# --------------------------------------------------------------------------------------------


def _downsample(points: Sequence[tuple[datetime, float]], most: int = 400) -> list[Any]:
    if len(points) <= most:
        return list(points)
    step = len(points) / most
    return [points[int(i * step)] for i in range(most)] + [points[-1]]


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def capacity_charts(forecasts: Sequence[dict[str, Any]]) -> list[str]:
    """Draw each capacity forecast of the monthly report with its band and limit."""
    charts = []
    for forecast in forecasts:
        points = []
        for item in forecast.get("points") or []:
            when = _parse_time(item[0])
            if when is not None:
                points.append((when, float(item[1]), float(item[2]), float(item[3])))
        if not points:
            continue
        charts.append(
            line_chart(
                [Series(f"{forecast.get('metric')} forecast", [(t, m) for t, m, _, _ in points])],
                title=f"Capacity forecast {forecast.get('metric')}",
                band=Band("band", [(t, lo, hi) for t, _, lo, hi in points]),
                limit=forecast.get("limit"),
            )
        )
    return charts


def _findings_html(
    latest: dict[str, Any] | None, results: dict[str, dict[str, Any]]
) -> tuple[str, int]:
    rows: list[list[str]] = []
    for breach in (latest or {}).get("breaches") or []:
        rows.append(
            [
                "health",
                _e(breach.get("metric")),
                _e(f"{breach.get('value')} >= {breach.get('level')} {breach.get('threshold')}"),
                "",
            ]
        )
    for finding in (latest or {}).get("details", {}).get("security") or []:
        rows.append(["security", "", _e(finding), ""])
    daily = results.get("daily_maintenance") or {}
    for f in (daily.get("index_analysis") or {}).get("findings") or []:
        rows.append(
            [
                f"indexes ({_e(f.get('kind'))})",
                _e(f"{f.get('schema')}.{f.get('table')}"),
                _e(f.get("reason")),
                f"<code>{_e(f.get('drop_sql'))}</code>" if f.get("drop_sql") else "review",
            ]
        )
    capacity = (results.get("monthly_deep_maintenance") or {}).get("capacity") or {}
    for a in capacity.get("autoinc") or []:
        rows.append(
            [
                "auto-increment",
                _e(f"{a.get('schema')}.{a.get('table')}.{a.get('column')}"),
                _e(
                    f"{float(a.get('used_ratio') or 0):.0%} of {a.get('type')} used; "
                    f"{a.get('exhaustion') or ''}"
                ),  # fmt: skip
                "",
            ]
        )
    for line in capacity.get("lines") or []:
        rows.append(["capacity", "", _e(line), ""])
    html = table(rows, ["Kind", "Object", "Finding", "Statement"], "findings")
    return html, len(rows)


def database_page(
    history: Any,
    results: dict[str, dict[str, Any]],
    *,
    filters: dict[str, str | None],
    outcomes: Sequence[str],
    dag_ids: Sequence[str],
    ui_root: str,
    rto_target_s: float,
) -> str:
    """Return one database's page: charts over time, findings, recovery and the audit log."""
    name = history.database
    body = [
        '<p class="small"><a href="fleet">&larr; fleet</a></p>',
        f"<h1>{_e(name)}</h1>",
        f'<p class="muted">History store {_e(history.history)}; last {history.days} days. '
        f'<a href="api/databases/{quote(name, safe="")}">JSON</a></p>',
    ]
    if history.error:
        body.append(notice(history.error))
    latest = history.latest
    if latest:
        body.append(
            f'<p>Health <b class="score">{latest["score"]}</b>/100 {badge(latest["status"])} '
            f'<span class="muted">at {_e(latest["sampled_at"])}</span></p>'
        )
    elif not history.error:
        body.append(notice("No health samples yet: the health check has not run.", "info"))
    charts = [
        line_chart(
            [Series("score", _downsample(history.series("score")))],
            title="Health score",
            limit=None,
        )
    ]
    for title, metrics, unit in _chart_metrics():
        series = [Series(m, _downsample(history.series(m))) for m in metrics]
        if any(s.points for s in series):
            charts.append(line_chart(series, title=title, unit=unit))
    monthly = results.get("monthly_deep_maintenance") or {}
    charts += capacity_charts((monthly.get("capacity") or {}).get("forecasts") or [])
    restores = [r for r in history.recovery if r["kind"] == "restore_test"]
    charts.append(
        bar_chart(
            [(f"{r['tested_at']:%Y-%m-%d}", r["rto_s"], bool(r["ok"])) for r in restores],
            title="Restore-test RTO",
            target=rto_target_s,
        )
    )
    body.append('<h2>Over time</h2><div class="charts">' + "".join(charts) + "</div>")
    findings, count = _findings_html(latest, results)
    body.append(f"<h2>Current findings ({count})</h2>{findings}")
    drills = [r for r in history.recovery if r["kind"] == "dr_drill"]
    body.append("<h2>Restore tests and drills</h2>")
    body.append(
        table(
            [
                [
                    _e(r["kind"]),
                    _e(r["tested_at"]),
                    badge("success" if r["ok"] else "failed", "ok" if r["ok"] else "failed"),
                    _e("-" if r["rto_s"] is None else f"{r['rto_s']:.0f} s"),
                    _e("-" if r["rpo_s"] is None else f"{r['rpo_s']:.0f} s"),
                    _e(r["tool"]),
                ]
                for r in [*restores, *drills][-20:]
            ],
            ["Kind", "When", "Result", "RTO", "RPO / backup age", "Tool"],
        )
    )
    body.append(_audit_html(history.audit, filters, outcomes, dag_ids, name, ui_root))
    return page(f"MySQL maintenance: {name}", "".join(body), ui_root)


def _chart_metrics() -> Sequence[tuple[str, tuple[str, ...], str]]:
    from maintenance_ops.ui.detail import CHART_METRICS

    return CHART_METRICS


def _options(values: Sequence[str], chosen: str | None) -> str:
    out = ['<option value="">any</option>']
    for value in values:
        selected = " selected" if value == chosen else ""
        out.append(f'<option value="{_e(value)}"{selected}>{_e(value)}</option>')
    return "".join(out)


def _audit_html(
    rows: Sequence[dict[str, Any]],
    filters: dict[str, str | None],
    outcomes: Sequence[str],
    dag_ids: Sequence[str],
    name: str,
    ui_root: str,
) -> str:
    form = (
        f'<form class="filter" method="get" action="{_e(database_url(name))}">'
        f'Outcome <select name="outcome">{_options(outcomes, filters.get("outcome"))}</select>'
        f'DAG <select name="dag_id">{_options(dag_ids, filters.get("dag_id"))}</select>'
        f'Text <input name="q" value="{_e(filters.get("q") or "")}" size="24">'
        '<button type="submit">Filter</button></form>'
    )
    cells = []
    for r in rows:
        run = (
            f'<a href="{_e(report_url(r["dag_id"], r["run_id"]))}">{_e(r["dag_id"])}</a>'
            if r.get("dag_id") and r.get("run_id")
            else _e(r.get("dag_id"))
        )
        seconds = (
            f"{(r['ended_at'] - r['started_at']).total_seconds():.1f} s"
            if r.get("ended_at") and r.get("started_at")
            else "-"
        )
        cells.append(
            [
                _e(r["started_at"]),
                _e(r.get("object_name")),
                f"<code>{_e(r['command'])}</code>",
                badge(r["outcome"]),
                _e("-" if r.get("rows_affected") is None else r["rows_affected"]),
                _e(seconds),
                run,
                _e(r.get("error")),
            ]
        )
    return f"<h2>Audit log ({len(rows)} newest)</h2>{form}" + table(
        cells,
        ["Started", "Object", "Command", "Outcome", "Rows", "Took", "Run", "Error"],
        "audit",
    )


# --------------------------------------------------------------------------------------------
# run report
# --------------------------------------------------------------------------------------------


def _result_tables(result: dict[str, Any]) -> str:
    """Tables of what one database's result found and did: findings, cleanup, rebuilds, checks."""
    parts = []
    findings = (result.get("index_analysis") or {}).get("findings") or []
    if findings:
        parts.append("<h4>Index findings</h4>")
        parts.append(
            table(
                [
                    [
                        _e(f.get("kind")),
                        _e(f"{f.get('schema')}.{f.get('table')}"),
                        _e(f.get("reason")),
                        f"<code>{_e(f.get('drop_sql'))}</code>" if f.get("drop_sql") else "review",
                    ]
                    for f in findings
                ],
                ["Kind", "Table", "Reason", "Statement"],
            )
        )
    cleanup = result.get("cleanup") or []
    if cleanup:
        dry = result.get("dry_run")
        parts.append("<h4>Cleanup</h4>")
        parts.append(
            table(
                [
                    [
                        _e(c.get("rule")),
                        _e(c.get("table")),
                        _e(c.get("dry_run_rows") if dry else c.get("rows_deleted")),
                        _e(c.get("cutoff")),
                        badge(c.get("status")),
                        _e(c.get("reason") or c.get("error") or ""),
                    ]
                    for c in cleanup
                ],
                ["Rule", "Table", "Would remove" if dry else "Rows", "Cutoff", "Status", "Why"],
            )
        )
    rebuilds = result.get("rebuilds") or []
    if rebuilds:
        parts.append("<h4>Rebuilds</h4>")
        parts.append(
            table(
                [
                    [
                        _e(f"{r.get('schema')}.{r.get('table')}"),
                        badge(r.get("status")),
                        _e(_bytes(r.get("reclaimed_bytes"))),
                        _e(r.get("reason") or ""),
                    ]
                    for r in rebuilds
                ],
                ["Table", "Status", "Reclaimed", "Why"],
            )
        )
    checks = [
        (area, c)
        for area, items in ((result.get("readiness") or {}).get("areas") or {}).items()
        for c in items
    ]
    if checks:
        parts.append("<h4>Drill checks</h4>")
        parts.append(
            table(
                [
                    [_e(area), _e(c.get("name")), badge(c.get("status")), _e(c.get("detail"))]
                    for area, c in checks
                ],
                ["Area", "Check", "Status", "Detail"],
            )
        )
    return "".join(parts)


def _audit_of_run(rows: Sequence[dict[str, Any]]) -> str:
    return table(
        [
            [
                _e(r.get("object_name")),
                f"<code>{_e(r['command'])}</code>",
                badge(r["outcome"]),
                _e("-" if r.get("rows_affected") is None else r["rows_affected"]),
                _e(
                    f"{(r['ended_at'] - r['started_at']).total_seconds():.1f} s"
                    if r.get("ended_at") and r.get("started_at")
                    else "-"
                ),
                _e(r.get("error") or ""),
            ]
            for r in rows
        ],
        ["Object", "Action", "Outcome", "Rows", "Took", "Error or reason"],
        "actions",
    )


def run_section(
    name: str,
    state: str | None,
    times: tuple[datetime | None, datetime | None] | None,
    result: dict[str, Any] | None,
    audit: Sequence[dict[str, Any]] | str,
    lines: Sequence[str],
) -> str:
    """One database's part of a run report: state, what was found, done, skipped and failed."""
    took = ""
    if times and times[0] and times[1]:
        took = f" in {(times[1] - times[0]).total_seconds():.1f} s"
    pre = (result or {}).get("preflight") or {}
    head = (
        f'<h3 class="run-db" data-database="{_e(name)}">{_e(name)} {badge(state)}'
        f'<span class="muted small"> {_e(pre.get("flavor") or "")} {_e(pre.get("version") or "")}'
        f"{_e(took)}</span></h3>"
    )
    parts = [head]
    if result is None:
        parts.append(notice("No result in the report: the task failed or did not finish."))
    else:
        summary = result.get("skipped") or result.get("summary")
        if result.get("skipped"):
            parts.append(notice(f"Skipped: {result['skipped']}", "info"))
        elif summary:
            parts.append(f'<p class="summary">{_e(summary)}'
                         f"{' (dry run)' if result.get('dry_run') else ''}</p>")  # fmt: skip
    if isinstance(audit, str):
        parts.append(notice(audit))
    failed = [r for r in audit if isinstance(r, dict) and r["outcome"] in ("failed", "refused")]
    skipped = [r for r in audit if isinstance(r, dict) and r["outcome"] == "skipped"]
    if failed:
        parts.append("<h4>Failures</h4>" + _audit_of_run(failed))
    if skipped:
        parts.append("<h4>Skipped</h4>" + _audit_of_run(skipped))
    if lines:
        parts.append(
            '<ul class="lines">' + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>"
        )
    if result:
        parts.append(_result_tables(result))
    if not isinstance(audit, str) and audit:
        parts.append(f"<details><summary>All actions ({len(audit)})</summary>"
                     f"{_audit_of_run(audit)}</details>")  # fmt: skip
    return '<section class="database">' + "".join(parts) + "</section>"


def run_page(
    dag_id: str,
    run_id: str,
    *,
    state: str | None,
    sections: Sequence[str],
    report_text: str | None,
    ui_root: str,
    note: str | None = None,
) -> str:
    """Return a run's report page: one section per database, then the text report."""
    body = [
        f"<h1>{_e(dag_id)}: maintenance report</h1>",
        f'<p>Run <a href="{_e(run_url(ui_root, dag_id, run_id))}" target="_top">{_e(run_id)}</a> '
        f"{badge(state)} "
        f'<a class="small" href="api/runs/{quote(dag_id, safe="")}/'
        f'{quote(run_id, safe="")}">JSON</a> '
        f'<a class="small" href="fleet">fleet</a></p>',
    ]
    if note:
        body.append(notice(note, "info"))
    body += list(sections)
    if report_text:
        body.append(
            f"<details><summary>Text report</summary><pre>{_e(report_text)}</pre></details>"
        )
    return page(f"{dag_id} {run_id}", "".join(body), ui_root)

"""The Markdown report: a header, then per database its findings, actions, skipped and failed
steps and timings as tables; names from a hostile catalog stay one cell and show as they are.

The step outputs are built the way the operators build them (each result dataclass's
``to_dict``, the operator's own keys, ``elapsed_s`` from the base), then merged by
``merge_steps`` as the ``report`` task does.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from markdown_it import MarkdownIt

from maintenance_ops.core.preflight import PreflightResult
from maintenance_ops.observe.report_markdown import RunSummary, code, render_markdown, text
from maintenance_ops.observe.reports import merge_steps, render_report
from maintenance_ops.upkeep.cleanup import ChildRows, CleanupResult
from maintenance_ops.upkeep.index_analysis import Finding, IndexAnalysis, drop_index_sql
from maintenance_ops.upkeep.performance import Regression
from maintenance_ops.upkeep.rebuild import RebuildResult
from maintenance_ops.upkeep.statistics import StaleTable, StatisticsResult

# Names of tests/fixtures/hostile_catalog.sql, and a pipe, which MySQL allows in a name too.
SCHEMA = "shop|eu"
TICK = "tick`table"
PIPED = "a|b``c"
PCT = "100%_done"
UNICODE = "café_ünïcode"
DAG = "mysql_daily_maintenance"
RUN = "scheduled__2026-11-01T02:00:00+00:00"
STEPS = ["index_analysis", "statistics", "cleanup", "backup"]


def _base(database: str, step: str, elapsed: float, dry_run: bool = False) -> dict[str, Any]:
    """What DatabaseOperator.execute puts in every step's output."""
    preflight = PreflightResult(
        database, DAG, "db1:3306", "mariadb", "10.11.6-MariaDB", [SCHEMA, UNICODE]
    )
    return {
        "database": database,
        "step": step,
        "dry_run": dry_run,
        "preflight": preflight.to_dict(),
        "elapsed_s": elapsed,
    }


def _index_analysis(database: str) -> dict[str, Any]:
    analysis = IndexAnalysis(
        [SCHEMA],
        findings=[
            Finding(
                "duplicate",
                SCHEMA,
                TICK,
                PIPED,
                f"duplicate of `PRIMARY` on {TICK}",
                size_bytes=16384,
                drop_sql=drop_index_sql(SCHEMA, TICK, PIPED),
            ),
            Finding("low_selectivity", SCHEMA, PCT, "idx_pct%", "1 distinct value in 5000 rows"),
        ],
    )
    found = analysis.to_dict()
    return {
        **_base(database, "index_analysis", 0.42),
        "index_analysis": found,
        "summary": "2 index finding(s) (duplicate 1, low_selectivity 1)",
    }


def _statistics(database: str) -> dict[str, Any]:
    stats = StatisticsResult(
        database,
        [SCHEMA],
        dry_run=False,
        ratio=0.1,
        time_budget_s=600,
        selected=[StaleTable(SCHEMA, UNICODE, "never analysed", 10)],
        analysed=[f"{SCHEMA}.{UNICODE}"],
        left=[f"{SCHEMA}.{PCT}"],
    ).to_dict()
    return {
        **_base(database, "statistics", 1.5),
        "statistics": stats,
        "warnings": list(stats["notes"]),
        "summary": "statistics refreshed on 1 table(s)",
    }


def _cleanup(database: str, dry_run: bool = False) -> dict[str, Any]:
    archived = CleanupResult(
        "admin_log",
        f"{SCHEMA}.admin_log",
        "archive",
        "2026-08-03 02:00:00",
        rows_deleted=20,
        rows_archived=20,
        dry_run=dry_run,
        dry_run_rows=20 if dry_run else None,
        child_rows=[ChildRows("admin_notes", "CASCADE", ["fk_note"], "archived", rows=4)],
    ).to_dict()
    deleted = CleanupResult(
        "sessions",
        f"{SCHEMA}.sessions",
        "delete",
        "2026-10-02 02:00:00",
        rows_deleted=30,
        dry_run=dry_run,
        dry_run_rows=30 if dry_run else None,
    ).to_dict()
    return {
        **_base(database, "cleanup", 63.25, dry_run),
        "cleanup": [archived, deleted],
        "warnings": [],
        "summary": "cleanup removed 50 row(s) in 2 rule run(s)",
    }


def _backup(database: str) -> dict[str, Any]:
    return {
        **_base(database, "backup", 0.05),
        "backup": None,
        "summary": "no backup (backup.enabled is off)",
    }


def _mdit() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def _tables(markdown: str) -> dict[str, list[list[str]]]:
    """Parse the document as GitHub would; return each table's rows of cell texts, by the
    heading above it (``database/section``), code cells as the code they show."""
    tokens = _mdit().parse(markdown)
    tables: dict[str, list[list[str]]] = {}
    heading, database, rows, row = "", "", [], []
    capture = False
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            level, title = token.tag, tokens[i + 1].content
            if level == "h2":
                database = title.replace("\\", "")
            heading = {"h1": "header", "h2": ""}.get(level, title)
        elif token.type == "table_open":
            rows = []
        elif token.type == "tr_open":
            row = []
        elif token.type in ("td_open", "th_open"):
            capture = True
        elif token.type == "inline" and capture:
            row.append(_cell_text(token))
            capture = False
        elif token.type == "tr_close":
            rows.append(row)
        elif token.type == "table_close":
            tables[f"{database}/{heading}" if database else heading or "header"] = rows
    return tables


def _cell_text(inline: Any) -> str:
    parts = []
    for child in inline.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "html_inline":
            parts.append(re.sub(r"</?code>", "", child.content))
    return "".join(parts)


def _daily() -> tuple[RunSummary, str]:
    steps = {
        "index_analysis": [_index_analysis("shop"), _index_analysis("crm")],
        "statistics": [_statistics("shop"), _statistics("crm")],
        "cleanup": [_cleanup("shop")],  # crm's cleanup failed
        "backup": [_backup("shop")],
    }
    results, failed_at = merge_steps(["shop", "crm"], steps)
    reasons = {"crm": "[1205] Lock wait timeout exceeded on `shop|eu`.`sessions`"}
    text_report, _ = render_report(DAG, ["shop", "crm"], results, failed_at, reasons)
    summary = RunSummary(
        DAG,
        RUN,
        ["shop", "crm"],
        results,
        steps=STEPS,
        failed_at=failed_at,
        reasons=reasons,
        moment=("Logical date", str(datetime(2026, 11, 1, 2))),
        text=text_report,
    )
    return summary, render_markdown(summary)


def test_the_header_says_which_run_and_its_outcome() -> None:
    _, markdown = _daily()
    assert markdown.startswith(f"# {DAG}\n")
    header = _tables(markdown)["header"]
    assert header == [
        ["DAG", DAG],
        ["Run", RUN],
        ["Logical date", "2026-11-01 02:00:00"],
        ["Outcome", "1 of 2 database(s) done; failed: crm"],
    ]


def test_findings_show_hostile_names_and_the_exact_statement_in_one_cell() -> None:
    _, markdown = _daily()
    findings = _tables(markdown)["shop/Findings"]
    assert findings[0] == ["Kind", "Object", "Reason", "Statement"]
    assert all(len(row) == 4 for row in findings)  # no name split a row
    duplicate, low = findings[1:]
    statement = drop_index_sql(SCHEMA, TICK, PIPED) + ";"
    assert duplicate == [
        "duplicate",
        f"`shop|eu`.`tick``table` index {PIPED}",
        f"duplicate of `PRIMARY` on {TICK}",
        statement,
    ]
    assert statement == "ALTER TABLE `shop|eu`.`tick``table` DROP INDEX `a|b````c`;"
    assert low == ["low_selectivity", "`shop|eu`.`100%_done` index idx_pct%", low[2], "review"]


def test_actions_show_rows_removed_and_what_was_left() -> None:
    _, markdown = _daily()
    actions = _tables(markdown)["shop/Actions"]
    assert actions[1] == [
        "cleanup",
        f"rule admin_log on {SCHEMA}.admin_log",
        "archived 20, deleted 20 row(s) older than 2026-08-03 02:00:00; child rows: "
        "admin_notes CASCADE: 4 archived",
        "ok",
    ]
    assert actions[2][2] == "deleted 30 row(s) older than 2026-10-02 02:00:00"
    assert actions[3] == [
        "statistics",
        "—",
        f"analysed 1 table(s): {SCHEMA}.{UNICODE}; 1 left for the next run (time budget)",
        "partial",
    ]


def test_a_dry_run_says_what_would_be_removed() -> None:
    nothing_stale = {
        **_base("shop", "statistics", 0.2, dry_run=True),
        "statistics": StatisticsResult("shop", [SCHEMA], True, 0.1, 600).to_dict(),
    }
    steps = {"statistics": [nothing_stale], "cleanup": [_cleanup("shop", dry_run=True)]}
    results, failed_at = merge_steps(["shop"], steps)
    markdown = render_markdown(RunSummary(DAG, RUN, ["shop"], results, steps=["cleanup"]))
    assert "| Dry run | yes: what would be done, nothing changed |" in markdown
    assert "statistics" not in markdown  # no table was stale: no action to show
    actions = _tables(markdown)["shop/Actions"]
    assert [row[2].split(" older")[0] for row in actions[1:]] == [
        "would remove 20 row(s)",
        "would remove 30 row(s)",
    ]


def test_a_dry_run_rule_that_would_stop_shows_failed_and_its_reason_once() -> None:
    step = _cleanup("shop", dry_run=True)
    why = "rule 'sessions': a real run would stop at the first chunk holding a referenced row"
    step["cleanup"][1].update(status="failed", warnings=[why])
    step["warnings"] = [why]  # as the cleanup step gathers its rules' warnings
    results, _ = merge_steps(["shop"], {"cleanup": [step]})
    markdown = render_markdown(RunSummary(DAG, RUN, ["shop"], results, steps=["cleanup"]))
    rows = _tables(markdown)["shop/Actions"][1:]
    assert [row[3] for row in rows] == ["ok", "failed"]
    assert markdown.count(why) == 1
    text_report = render_report(DAG, ["shop"], results)[0]
    assert "[failed]" in text_report and text_report.count(why) == 1


def test_a_failed_database_names_its_step_reason_and_what_never_ran() -> None:
    _, markdown = _daily()
    tables = _tables(markdown)
    assert tables["crm/Failures"][1:] == [
        ["cleanup", "[1205] Lock wait timeout exceeded on `shop|eu`.`sessions`"]
    ]
    assert [row[:3] for row in tables["crm/Timings"][1:]] == [
        ["index_analysis", "0.42 s", "done"],
        ["statistics", "1.50 s", "done"],
        ["cleanup", "—", "failed"],
        ["backup", "—", "not run"],
        ["total", "1.92 s", "2 of 4 done"],
    ]
    assert "shop/Failures" not in tables
    assert "## crm\n\n**FAILED**: mariadb" in markdown


def test_timings_total_every_step() -> None:
    _, markdown = _daily()
    assert _tables(markdown)["shop/Timings"][1:] == [
        ["index_analysis", "0.42 s", "done", "2 index finding(s) (duplicate 1, low_selectivity 1)"],
        ["statistics", "1.50 s", "done", "statistics refreshed on 1 table(s)"],
        ["cleanup", "1 min 03 s", "done", "cleanup removed 50 row(s) in 2 rule run(s)"],
        ["backup", "0.05 s", "done", "no backup (backup.enabled is off)"],
        ["total", "1 min 05 s", "4 of 4 done", "—"],
    ]


def test_skipped_steps_say_why() -> None:
    window = "outside the maintenance window 01:00-05:00 UTC"
    steps = {
        "optimize": [{**_base("shop", "optimize", 0.3), "skipped": window}],
        "performance": [
            {
                **_base("shop", "performance", 2.0),
                "performance": {
                    "regressions": [
                        Regression("d1", SCHEMA, "SELECT * FROM `t|x`", 0.01, 0.5, 50, 9).to_dict()
                    ]
                },
                "rto_trend": "RTO trend (1 restore test): 12.0 s",
                "summary": "1 statement regression(s) [performance_schema]",
            }
        ],
    }
    results, failed_at = merge_steps(["shop"], steps)
    summary = RunSummary(
        "mysql_weekly_optimization", RUN, ["shop"], results, steps=list(steps), failed_at=failed_at
    )
    markdown = render_markdown(summary)
    tables = _tables(markdown)
    assert tables["shop/Skipped"][1:] == [["optimize", window]]
    assert tables["shop/Findings"][1] == [
        "regression",
        "SELECT * FROM `t|x`",
        "avg 0.0100 s -> 0.5000 s",
        "—",
    ]
    assert "- RTO trend (1 restore test): 12.0 s" in markdown


def test_rebuilds_show_reclaimed_mib() -> None:
    rebuilds = [
        RebuildResult(SCHEMA, TICK, "rebuilt", reclaimed_bytes=3 * 1048576, duration_s=4.2),
        RebuildResult(SCHEMA, PCT, "skipped", reason="a locking rebuild is not allowed"),
    ]
    output = {
        **_base("shop", "optimize", 5.0),
        "rebuilds": [r.to_dict() for r in rebuilds],
        "reclaimed_bytes": 3 * 1048576,
        "summary": "1 table(s) rebuilt, 3.0 MiB reclaimed",
    }
    results, _ = merge_steps(["shop"], {"optimize": [output]})
    markdown = render_markdown(RunSummary(DAG, RUN, ["shop"], results, steps=["optimize"]))
    assert _tables(markdown)["shop/Actions"][1:] == [
        ["rebuild", f"`{SCHEMA}`.`tick``table`", "reclaimed 3.0 MiB, 4.20 s", "rebuilt"],
        ["rebuild", f"`{SCHEMA}`.`{PCT}`", "a locking rebuild is not allowed", "skipped"],
    ]


def test_a_run_without_a_logical_date_and_a_chart() -> None:
    results, _ = merge_steps(["shop"], {"capacity": [_base("shop", "capacity", 1.0)]})
    summary = RunSummary(
        "mysql_monthly_deep_maintenance",
        "manual__2026-11-01T00:00:00+00:00",
        ["shop"],
        results,
        steps=["capacity"],
        moment=("Run after (no logical date)", "2026-11-01 00:00:00+00:00"),
    )
    markdown = render_markdown(summary, {"shop": "x.shop.capacity.svg"})
    assert ["Run after (no logical date)", "2026-11-01 00:00:00+00:00"] in _tables(markdown)[
        "header"
    ]
    assert markdown.endswith("### Capacity forecast\n\n![shop](x.shop.capacity.svg)\n")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("plain", id="plain"),
        pytest.param("a|b", id="pipe"),
        pytest.param("`x`", id="backticks-at-the-ends"),
        pytest.param("a``b|c```d", id="backtick-runs-and-pipe"),
        pytest.param("a\\|b", id="backslash-before-pipe"),
        pytest.param("<b>&amp;</b>", id="html"),
        pytest.param("50%_%s_%%", id="percent"),
        pytest.param('o\'brien "hi" café', id="quotes-unicode"),
    ],
)
def test_a_cell_shows_any_name_exactly(value: str) -> None:
    source = f"| c | t |\n|---|---|\n| {code(value)} | {text(value)} |\n"
    rows = _tables(source)["header"]
    assert rows[1] == [value, value]


def test_the_plain_text_block_cannot_be_closed_by_a_name() -> None:
    summary, _ = _daily()
    hostile = RunSummary(DAG, RUN, [], [], text="a ```` b\nnext")
    markdown = render_markdown(hostile)
    assert "`````\na ```` b\nnext\n`````" in markdown
    tokens = [t for t in _mdit().parse(markdown) if t.type == "fence"]
    assert tokens[0].content == "a ```` b\nnext\n"
    assert summary.text.splitlines()[0] == f"{DAG}: 1 of 2 database(s) done"


def test_a_database_whose_first_step_failed_has_its_reason_and_no_other_table() -> None:
    results, failed_at = merge_steps(["shop", "z|1"], {"index_analysis": [_index_analysis("shop")]})
    reasons = {"z|1": "[1045] Access denied for user 'maint'@'10.0.0.5' (using password: YES)"}
    summary = RunSummary(
        DAG, RUN, ["shop", "z|1"], results, STEPS[:1], failed_at=failed_at, reasons=reasons
    )
    markdown = render_markdown(summary)
    assert "## z\\|1\n\n**FAILED** at `index_analysis`: nothing of it ran.\n" in markdown
    tables = _tables(markdown)
    assert tables["z|1/Failures"] == [["Step", "Reason"], ["index_analysis", reasons["z|1"]]]
    assert [t for t in tables if t.startswith("z|1/")] == ["z|1/Failures", "z|1/Timings"]
    assert ["Outcome", "1 of 2 database(s) done; failed: z|1"] in tables["header"]

"""The report merges each database's step outputs and names the step a database failed at."""

from __future__ import annotations

from typing import Any

from maintenance_ops.observe.reports import merge_steps, render_report

PRE = {"flavor": "mariadb", "version": "10.11", "server": "db:3306", "schemas": ["app"]}


def _out(database: str, step: str, **extra: Any) -> dict[str, Any]:
    return {"database": database, "step": step, "dry_run": False, "preflight": PRE, **extra}


def test_each_database_gets_its_steps_merged_in_order() -> None:
    steps = {
        "index_analysis": [
            _out(
                "a",
                "index_analysis",
                summary="1 index finding(s)",
                index_analysis={},
                elapsed_s=0.4,
            ),
            _out("b", "index_analysis", summary="0 index finding(s)", index_analysis={}),
        ],
        # One mapped output comes back unwrapped (Airflow's pull of a single value).
        "cleanup": _out(
            "a", "cleanup", summary="cleanup removed 3 row(s)", warnings=["w1"], elapsed_s=2.5
        ),
    }
    merged, failed_at = merge_steps(["a", "b"], steps)
    assert failed_at == {"b": "cleanup"}
    first, second = merged
    assert first["summary"] == "1 index finding(s); cleanup removed 3 row(s)"
    assert first["warnings"] == ["w1"] and first["steps"] == ["index_analysis", "cleanup"]
    assert first["preflight"] == PRE and "step" not in first
    assert second["steps"] == ["index_analysis"]
    # Each step's own summary, skip reason and wall time, for the Markdown report's tables.
    assert first["step_runs"] == [
        {
            "step": "index_analysis",
            "summary": "1 index finding(s)",
            "skipped": None,
            "elapsed_s": 0.4,
        },
        {
            "step": "cleanup",
            "summary": "cleanup removed 3 row(s)",
            "skipped": None,
            "elapsed_s": 2.5,
        },
    ]
    assert "elapsed_s" not in first  # one per step, not the first step's

    text, failed = render_report("mysql_daily_maintenance", ["a", "b"], merged, failed_at)
    assert failed == ["b"]
    assert text.splitlines()[0] == "mysql_daily_maintenance: 1 of 2 database(s) done"
    assert "  a: mariadb 10.11 at db:3306; 1 index finding(s); cleanup removed 3 row(s)" in text
    assert "    - FAILED at cleanup (see the task log of maintain.cleanup [b])" in text


def test_a_database_whose_first_step_failed_and_a_skipped_one() -> None:
    skipped = "outside the maintenance window 01:00-05:00 UTC"
    steps: dict[str, Any] = {
        "optimize": [_out("a", "optimize", skipped=skipped)],
        "performance": [_out("a", "performance", skipped=skipped)],
    }
    merged, failed_at = merge_steps(["a", "z"], steps)
    assert failed_at == {"z": "optimize"} and [m["database"] for m in merged] == ["a"]
    assert merged[0]["skipped"] == skipped
    assert [r["skipped"] for r in merged[0]["step_runs"]] == [skipped, skipped]
    text, failed = render_report("mysql_weekly_optimization", ["a", "z"], merged, failed_at)
    assert failed == ["z"]
    assert f"  a: mariadb 10.11 at db:3306; {skipped}" in text
    assert "  z: FAILED at optimize (see the task log of maintain.optimize [z])" in text
    assert merge_steps(["a"], {"optimize": None}) == ([], {"a": "optimize"})

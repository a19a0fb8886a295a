"""Integrity checks: classification and walk order (pure), corruption on a private server,
resumption across runs on the shared one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from maintenance_ops.core.audit import AuditLog
from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.upkeep.integrity import (
    IntegrityResult,
    check_tables,
    classify_check,
    walk_order,
)
from tests.conftest import Target
from tests.support.accounts import Account, create_account

NOW = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def _rows(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"Msg_type": kind, "Msg_text": text} for kind, text in pairs]


@pytest.mark.parametrize(
    ("rows", "kind"),
    [
        pytest.param(_rows(("status", "OK")), "ok", id="ok"),
        pytest.param(
            _rows(("error", "Size of datafile is: 30000 Should be: 104000"), ("error", "Corrupt")),
            "corrupt",
            id="myisam-truncated",
        ),
        pytest.param(
            _rows(
                ("Warning", "Tablespace is missing for table 'app/gone'"),
                ("Error", 'Got error 194 "Tablespace is missing for a table" from InnoDB'),
                ("error", "Corrupt"),
            ),
            "missing",
            id="innodb-ibd-deleted",
        ),
        pytest.param(_rows(("status", "Table is marked as crashed")), "corrupt", id="crashed"),
        pytest.param(
            _rows(("note", "The storage engine for the table doesn't support check")),
            "unsupported",
            id="engine-cannot-check",
        ),
    ],
)
def test_classify_check(rows: list[dict[str, str]], kind: str) -> None:
    assert classify_check(rows).kind == kind


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [
        pytest.param(None, ["a.x", "a.y", "b.z"], id="first-run"),
        pytest.param(("a", "x"), ["a.y", "b.z", "a.x"], id="resume-wraps"),
        pytest.param(("a", "xx"), ["a.y", "b.z", "a.x"], id="cursor-table-dropped"),
        pytest.param(("b", "z"), ["a.x", "a.y", "b.z"], id="cycle-complete"),
    ],
)
def test_walk_order(cursor: tuple[str, str] | None, expected: list[str]) -> None:
    tables = [("b", "z"), ("a", "y"), ("a", "x")]
    assert [f"{s}.{t}" for s, t in walk_order(tables, cursor)] == expected


def test_result_to_dict_flags_critical() -> None:
    result = IntegrityResult("db", ["s"], False, None)
    result.missing.append({"schema": "s", "table": "t", "msg": "gone"})
    assert result.to_dict()["critical"] is True and result.to_dict()["budget_exhausted"] is False


def _run(conn_id: str, schema: str, history: str, **kw: Any) -> tuple[IntegrityResult, list[Any]]:
    audit = AuditLog(conn_id, history)
    try:
        with MaintenanceSession(conn_id, MaintenanceSettings(), database_name="primary") as s:
            result = check_tables(
                s,
                [schema],
                audit=audit,
                database_name="primary",
                history_schema=history,
                now=NOW,
                **kw,
            )
        return result, audit.read("primary")
    finally:
        audit.close()


DAMAGED_USER = "mmc_integrity"  # the grants.sql account on the damaged server


@pytest.fixture(scope="module")
def damaged() -> Iterator[MySQLInstance]:
    """A private server with a truncated MyISAM data file and a deleted InnoDB .ibd."""
    # Auto-repair on open would fix the MyISAM table before CHECK TABLE could see it.
    spec = InstanceSpec(extra_args=("--myisam-recover-options=OFF", "--aria-recover-options=OFF"))
    inst = MySQLInstance(spec).start()
    try:
        inst.execute("CREATE DATABASE app")
        inst.execute("CREATE TABLE app.m (id INT PRIMARY KEY, v VARCHAR(50)) ENGINE=MyISAM")
        inst.execute("INSERT INTO app.m SELECT seq, REPEAT('x', 40) FROM app.seq_1_to_2000")
        inst.execute("CREATE TABLE app.gone (id INT PRIMARY KEY) ENGINE=InnoDB")
        inst.execute("CREATE TABLE app.ok (id INT PRIMARY KEY) ENGINE=InnoDB")
        inst.stop(keep_files=True)
        folder = os.path.join(inst.datadir, "app")
        with open(os.path.join(folder, "m.MYD"), "r+b") as data:
            data.truncate(30000)
        os.remove(os.path.join(folder, "gone.ibd"))
        inst.start()
        create_account(inst.execute, ["app"], "mmc_hist", port=inst.port, user=DAMAGED_USER)
        yield inst
    finally:
        inst.stop()


def test_corrupt_and_missing_tables_are_critical(
    damaged: MySQLInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = Account(DAMAGED_USER, port=damaged.port)
    monkeypatch.setenv("AIRFLOW_CONN_MMC_DAMAGED", account.conn_json())
    result, audit_rows = _run("mmc_damaged", "app", "mmc_hist", time_budget_s=None, dry_run=False)
    assert result.checked == ["app.gone", "app.m", "app.ok"]
    assert [f["table"] for f in result.corrupt] == ["m"]
    assert "Size of datafile" in result.corrupt[0]["msg"]
    assert [f["table"] for f in result.missing] == ["gone"]
    assert "Tablespace is missing" in result.missing[0]["msg"]
    assert result.critical and not result.budget_exhausted
    assert [r["outcome"] for r in audit_rows] == ["failed", "failed", "ok"]


def test_resumes_across_runs_with_a_tiny_budget(target: Target) -> None:
    for name in ("a", "b", "c"):
        target.sql(f"CREATE TABLE {name} (id INT PRIMARY KEY)")
    args = (target.conn_id, target.schema, target.history_schema)
    schema = target.schema

    dry, audit_rows = _run(*args, time_budget_s=0, dry_run=True)
    assert dry.planned == [f"{schema}.a", f"{schema}.b", f"{schema}.c"]
    assert dry.checked == [] and audit_rows == []

    first, _ = _run(*args, time_budget_s=0, dry_run=False)
    assert first.resumed_from is None and first.checked == [f"{schema}.a"]
    assert first.left == [f"{schema}.b", f"{schema}.c"] and first.budget_exhausted
    second, _ = _run(*args, time_budget_s=0, dry_run=False)
    assert second.resumed_from == f"{schema}.a" and second.checked == [f"{schema}.b"]
    third, _ = _run(*args, time_budget_s=None, dry_run=False)
    assert third.checked == [f"{schema}.c", f"{schema}.a", f"{schema}.b"]
    assert not third.critical and not third.budget_exhausted

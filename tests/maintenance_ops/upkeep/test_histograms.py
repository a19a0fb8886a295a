"""Histograms: column choice and statements (pure), a real refresh into mysql.column_stats,
and a dry run that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from maintenance_ops.core.audit import AuditLog
from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.upkeep.histograms import (
    HistogramResult,
    TablePlan,
    plan_histograms,
    refresh_histograms,
    statements_for,
)
from tests.conftest import Target

MARIADB = Dialect(parse_version("11.4.8-MariaDB-ubu2404-log"))
MARIADB_OLD = Dialect(parse_version("10.6.21-MariaDB"))
MYSQL = Dialect(parse_version("8.0.36"))


def _col(name: str, data_type: str, position: int, *, leads: int = 0, length: int | None = None,
         table: str = "t") -> dict[str, Any]:  # fmt: skip
    return {"schema_name": "s", "table_name": table, "column_name": name, "data_type": data_type,
            "max_length": length, "position": position, "leads_index": leads}  # fmt: skip


def test_plan_picks_unindexed_small_columns_in_order() -> None:
    columns = [
        _col("id", "int", 1, leads=1),
        _col("status", "enum", 2),
        _col("note", "text", 3, length=65535),
        _col("name", "varchar", 4, length=100),
        _col("blobby", "varchar", 5, length=2000),
        _col("created", "datetime", 6),
        _col("price", "decimal", 7),
        _col("x", "int", 1, table="only_pk", leads=1),
    ]
    plans = plan_histograms(reversed(columns), max_columns_per_table=3)
    assert [p.to_dict() for p in plans] == [
        {"schema": "s", "table": "t", "columns": ["status", "name", "created"]}
    ]


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        pytest.param(
            MARIADB,
            ["ANALYZE TABLE `s`.`t` PERSISTENT FOR COLUMNS (`a`, `b``c`) INDEXES ALL"],
            id="mariadb-one-statement",
        ),
        pytest.param(
            MYSQL,
            [
                "ANALYZE TABLE `s`.`t`",
                "ANALYZE TABLE `s`.`t` UPDATE HISTOGRAM ON `a`, `b``c` WITH 100 BUCKETS",
            ],
            id="mysql-plain-analyze-first",
        ),
    ],
)
def test_statements_for(dialect: Dialect, expected: list[str]) -> None:
    assert statements_for(dialect, TablePlan("s", "t", ["a", "b`c"])) == expected


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        pytest.param(MARIADB, {"histogram_size": 254, "histogram_type": "JSON_HB"}, id="11.4"),
        pytest.param(
            MARIADB_OLD, {"histogram_size": 254, "histogram_type": "DOUBLE_PREC_HB"}, id="10.6"
        ),
        pytest.param(MYSQL, {}, id="mysql"),
    ],
)
def test_histogram_session_settings(dialect: Dialect, expected: dict[str, Any]) -> None:
    assert dialect.histogram_session_settings(254) == expected


def test_result_to_dict() -> None:
    result = HistogramResult("db", ["s"], True, None, planned=[TablePlan("s", "t", ["a"])])
    assert result.to_dict()["planned"] == [{"schema": "s", "table": "t", "columns": ["a"]}]


SETUP = [
    "CREATE TABLE orders (id INT PRIMARY KEY, customer INT, status ENUM('new','paid','sent'), "
    "amount DECIMAL(10,2), note TEXT, KEY by_customer (customer))",
    "INSERT INTO orders SELECT seq, seq % 50, ELT(1 + seq % 3, 'new','paid','sent'), seq / 7, "
    "'x' FROM seq_1_to_2000",
    "CREATE TABLE only_key (id INT PRIMARY KEY)",
]


def _column_stats(target: Target) -> list[tuple[Any, ...]]:
    return target.sql(
        "SELECT table_name, column_name, hist_type, histogram IS NOT NULL FROM mysql.column_stats "
        "WHERE db_name = %s ORDER BY table_name, column_name",
        (target.schema,),
    )


def _refresh(target: Target, **kw: Any) -> tuple[HistogramResult, list[dict[str, Any]], Any]:
    audit = AuditLog(target.conn_id, target.history_schema)
    try:
        with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
            result = refresh_histograms(
                session, [target.schema], audit=audit, database_name="primary", **kw
            )
            after = (session.variable("histogram_size"), session.variable("histogram_type"))
        return result, audit.read("primary"), after
    finally:
        audit.close()


def test_dry_run_changes_nothing_then_histograms_are_stored(target: Target) -> None:
    for statement in SETUP:
        target.sql(statement)
    schema = target.schema
    try:
        dry, audit_rows, _ = _refresh(target, dry_run=True, time_budget_s=None)
        assert [p.to_dict() for p in dry.planned] == [
            {"schema": schema, "table": "orders", "columns": ["status", "amount"]}
        ]
        assert dry.refreshed == [] and [r["outcome"] for r in audit_rows] == ["dry_run"]
        assert _column_stats(target) == []

        result, audit_rows, session_after = _refresh(target, dry_run=False, time_budget_s=60)
        assert result.refreshed == [f"{schema}.orders"] and result.failed == []
        assert result.histograms == {f"{schema}.orders": 2}
        stats = {row[1]: row for row in _column_stats(target)}
        assert stats["status"][2:] == ("JSON_HB", 1) and stats["amount"][3] == 1
        assert sorted(stats) == ["amount", "status"]
        index_stats = target.sql(
            "SELECT DISTINCT index_name FROM mysql.index_stats WHERE db_name = %s", (schema,)
        )
        assert sorted(r[0] for r in index_stats) == ["PRIMARY", "by_customer"]  # INDEXES ALL
        assert audit_rows[-1]["outcome"] == "ok"
        with MaintenanceSession(target.conn_id, MaintenanceSettings()) as fresh:
            defaults = (fresh.variable("histogram_size"), fresh.variable("histogram_type"))
        assert session_after == defaults  # the session's settings were restored
    finally:
        # mysql.column_stats is not dropped with the schema.
        target.sql("DELETE FROM mysql.column_stats WHERE db_name = %s", (schema,))
        target.sql("DELETE FROM mysql.index_stats WHERE db_name = %s", (schema,))
        target.sql("DELETE FROM mysql.table_stats WHERE db_name = %s", (schema,))


def test_time_budget_zero_refreshes_nothing(target: Target) -> None:
    for statement in SETUP:
        target.sql(statement)
    result, audit_rows, _ = _refresh(target, dry_run=False, time_budget_s=0)
    assert result.refreshed == [] and audit_rows == []
    assert result.left == [f"{target.schema}.orders"] and result.budget_exhausted

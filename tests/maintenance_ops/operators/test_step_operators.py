"""The step operators: keyword-only, validated in ``__init__``, pooled by weight (no database)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from maintenance_ops.core.exceptions import SafetyAbort, final_reason
from maintenance_ops.operators import (
    MySqlBackupOperator,
    MySqlCapacityPlanOperator,
    MySqlCleanupOperator,
    MySqlHealthCheckOperator,
    MySqlIndexAnalysisOperator,
    MySqlIntegrityCheckOperator,
    MySqlOptimizeTablesOperator,
    MySqlPerformanceAnalysisOperator,
    MySqlRecoveryDrillOperator,
    MySqlReplicaReadinessOperator,
    MySqlRestoreVerifyOperator,
    MySqlStatisticsOperator,
)
from maintenance_ops.operators.daily import CleanupLocked, cleanup_outcome

# Each operator: its step, its default cadence, and whether it is heavy (the maintenance pool).
OPERATORS = [
    pytest.param(MySqlIndexAnalysisOperator, "daily_maintenance", False, id="index-analysis"),
    pytest.param(MySqlStatisticsOperator, "daily_maintenance", False, id="statistics"),
    pytest.param(MySqlCleanupOperator, "daily_maintenance", True, id="cleanup"),
    pytest.param(MySqlBackupOperator, "daily_maintenance", True, id="backup"),
    pytest.param(MySqlOptimizeTablesOperator, "weekly_optimization", True, id="optimize"),
    pytest.param(MySqlPerformanceAnalysisOperator, "weekly_optimization", False, id="performance"),
    pytest.param(MySqlIntegrityCheckOperator, "monthly_deep_maintenance", True, id="integrity"),
    pytest.param(MySqlCapacityPlanOperator, "monthly_deep_maintenance", False, id="capacity"),
    pytest.param(MySqlRestoreVerifyOperator, "backup_testing", True, id="restore-verify"),
    pytest.param(MySqlHealthCheckOperator, "health_check", False, id="health"),
    pytest.param(
        MySqlReplicaReadinessOperator, "disaster_recovery_test", False, id="replica-readiness"
    ),
    pytest.param(MySqlRecoveryDrillOperator, "disaster_recovery_test", True, id="drill"),
]


@pytest.mark.parametrize(("cls", "cadence", "heavy"), OPERATORS)
def test_each_step_defaults_its_cadence_and_pool(cls: Any, cadence: str, heavy: bool) -> None:
    op = cls(task_id="t", database="shop")
    assert (op.cadence, op.database, "database" in op.template_fields) == (cadence, "shop", True)
    assert op.pool == "default_pool"  # no DAG default: a heavy step takes the pool it is given
    pooled = cls(task_id="u", database="shop", default_args={"pool": "mysql_maintenance"})
    assert pooled.pool == ("mysql_maintenance" if heavy else "default_pool")
    assert cls(task_id="v", database="shop", pool="mine").pool == "mine"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda: MySqlCleanupOperator(task_id="t", database=""),
            "database= is empty",
            id="empty-database",
        ),
        pytest.param(
            lambda: MySqlCleanupOperator(task_id="t", database="shop", cadence="nightly"),
            "unknown cadence 'nightly'; pass cadence= one of daily_maintenance",
            id="unknown-cadence",
        ),
        pytest.param(
            lambda: MySqlCleanupOperator(task_id="t", database="shop", rule=" "),
            "rule= must name one of the database's cleanup_rules",
            id="blank-rule",
        ),
        pytest.param(
            lambda: MySqlOptimizeTablesOperator(task_id="t", database="shop", levels=["huge"]),
            "levels= takes a list of low, high, not ['huge']",
            id="unknown-level",
        ),
        pytest.param(
            lambda: MySqlOptimizeTablesOperator(task_id="t", database="shop", levels="high"),
            "levels= takes a list of low, high, not 'high'",
            id="level-as-string",
        ),
        pytest.param(
            lambda: MySqlStatisticsOperator(task_id="t", database="shop", histograms="yes"),
            "histograms= takes True or False",
            id="histograms-not-bool",
        ),
        pytest.param(
            lambda: MySqlRecoveryDrillOperator(
                task_id="t", database="shop", replica_checks_from=""
            ),
            "replica_checks_from= takes the task id of a MySqlReplicaReadinessOperator",
            id="drill-blank-replica-checks-from",
        ),
    ],
)
def test_bad_arguments_are_refused_when_the_dag_is_built(make: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        make()


def test_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError, match="keyword arguments"):
        MySqlCleanupOperator("t", "shop")  # type: ignore[misc]


def test_cleanup_rule_is_templated_and_histograms_make_statistics_heavy() -> None:
    cleanup = MySqlCleanupOperator(task_id="t", database="shop", rule="{{ params.rule }}")
    assert cleanup.template_fields == ("database", "rule")
    heavy = MySqlStatisticsOperator(
        task_id="s", database="shop", histograms=True, default_args={"pool": "mysql_maintenance"}
    )
    assert heavy.pool == "mysql_maintenance"


def _rule(status: str, warning: str = "w") -> dict[str, Any]:
    return {"rule": "r", "table": "s.t", "status": status, "warnings": [warning]}


def test_a_locked_table_is_retryable_and_a_refused_rule_final() -> None:
    locked = cleanup_outcome([_rule("ok"), _rule("skipped_locked", "still locked")], False)
    assert isinstance(locked, CleanupLocked) and final_reason(locked) is None
    assert "rule r on s.t skipped_locked: still locked" in str(locked)
    refused = cleanup_outcome([_rule("skipped_locked"), _rule("refused", "fk")], False)
    assert isinstance(refused, SafetyAbort) and final_reason(refused) is not None
    assert cleanup_outcome([_rule("ok"), _rule("partial")], False) is None
    assert cleanup_outcome([_rule("refused")], True) is None  # a dry run only reports


def test_mysql_conn_id_and_config_file_choose_the_connection_and_the_settings(
    tmp_path: Any,
) -> None:
    config = tmp_path / "team.yaml"
    config.write_text(
        "databases:\n"
        "  - name: shop\n"
        "    conn_id: shop_primary\n"
        "    schemas: [shop]\n"
        "    cleanup_rules: [{name: old, table: t, date_column: d, retention_days: 9}]\n"
    )
    configured = MySqlCleanupOperator(task_id="a", database="shop", config_file=str(config))
    assert configured._settings()[1].conn_id == "shop_primary"
    # Another connection for the configured database: its settings and rules stay.
    moved = MySqlCleanupOperator(
        task_id="b", database="shop", mysql_conn_id="shop_replica", config_file=str(config)
    )
    full, db = moved._settings()
    assert (db.conn_id, db.schemas, [r.name for r in db.cleanup_rules]) == (
        "shop_replica",
        ["shop"],
        ["old"],
    )
    assert full.database("shop") is db
    # A database the file does not list: the default settings on that connection.
    ad_hoc = MySqlIndexAnalysisOperator(
        task_id="c", database="reporting", mysql_conn_id="reporting_db", config_file=str(config)
    )
    full, db = ad_hoc._settings()
    assert (db.name, db.conn_id, db.schemas, db.cleanup_rules) == (
        "reporting",
        "reporting_db",
        [],
        [],
    )
    assert [d.name for d in full.databases] == ["shop", "reporting"]


def test_a_bad_name_with_mysql_conn_id_fails_when_the_dag_is_built() -> None:
    from maintenance_ops.core.exceptions import ConfigError

    with pytest.raises(ConfigError, match="database='x; DROP', mysql_conn_id='c': name 'x; DROP'"):
        MySqlIndexAnalysisOperator(task_id="t", database="x; DROP", mysql_conn_id="c")
    with pytest.raises(ValueError, match="mysql_conn_id= is empty"):
        MySqlIndexAnalysisOperator(task_id="t", database="shop", mysql_conn_id=" ")


class _TaskInstance:
    """Keeps what a step pushes to XCom (the only part of a task instance execute uses here)."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def test_a_step_cut_by_its_timeout_leaves_its_reason_for_the_report() -> None:
    """Airflow's timeout is a BaseException: execute records it like any other failure."""
    from airflow.sdk.exceptions import AirflowTaskTimeout

    class TimesOut(MySqlStatisticsOperator):
        def _settings(self) -> Any:
            raise AirflowTaskTimeout("Timeout, PID: 4242")

    ti = _TaskInstance()
    step = TimesOut(task_id="statistics", database="shop")
    with pytest.raises(AirflowTaskTimeout):
        step.execute({"ti": ti, "params": {}})
    failure = ti.pushed["failure"]
    assert failure["database"] == "shop" and failure["step"] == "statistics", failure
    assert "Timeout" in failure["reason"], failure

"""DAG integrity: every DAG imports, with the spec's schedules, shared defaults and alerting.

The DAG folder is parsed once (module fixture) with every connection pointed at a local
listener that counts connection attempts: parsing must open none.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from maintenance_ops.core.labels import MAP_INDEX_TEMPLATE
from maintenance_ops.observe.alerts import deadline_missed, on_dag_failure, on_failure
from tests.conftest import Target
from tests.dags.conftest import load_dagbag
from tests.support.accounts import Account
from tests.support.receivers import CountingListener

EXPECTED = {  # DESIGN.md's table
    "mysql_daily_maintenance": "0 2 * * *",
    "mysql_weekly_optimization": "0 3 * * 0",
    "mysql_monthly_deep_maintenance": "0 4 1 * *",
    "mysql_backup_testing": "0 5 * * 6",
    "mysql_disaster_recovery_test": "0 6 1 * *",
    "mysql_health_check": "0 * * * *",
}


# Each DAG's steps per database, in order; the cheap ones (catalog reads) outside the pool.
STEPS = {
    "mysql_daily_maintenance": ["index_analysis", "statistics", "cleanup", "backup"],
    "mysql_weekly_optimization": ["optimize", "performance"],
    "mysql_monthly_deep_maintenance": ["optimize", "integrity", "statistics", "capacity"],
    "mysql_backup_testing": ["restore_verify"],
    "mysql_disaster_recovery_test": ["replica_readiness", "drill"],
    "mysql_health_check": ["health_check"],
    "mysql_custom_quarter_hour_health": ["health_check"],
    "mysql_custom_nightly_alpha": ["index_analysis", "statistics", "cleanup", "backup"],
}
CHEAP = {
    ("mysql_daily_maintenance", "index_analysis"),
    ("mysql_daily_maintenance", "statistics"),
    ("mysql_weekly_optimization", "performance"),
    ("mysql_monthly_deep_maintenance", "capacity"),
    ("mysql_health_check", "health_check"),
    ("mysql_disaster_recovery_test", "replica_readiness"),
    ("mysql_custom_quarter_hour_health", "health_check"),
    ("mysql_custom_nightly_alpha", "index_analysis"),
    ("mysql_custom_nightly_alpha", "statistics"),
}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    mp = pytest.MonkeyPatch()
    listener = CountingListener().__enter__()
    # The maintenance account's shape (a non-root login, a password that breaks naive quoting).
    conn = Account("maintenance", port=listener.port).conn_json()
    for conn_id in ("mysql_a", "mysql_b", "mysql_hist", "slack_alerts", "smtp_default"):
        mp.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn)
    config = tmp_path_factory.mktemp("cfg") / "m.yaml"
    config.write_text(
        """
databases:
  - {name: alpha, conn_id: mysql_a}
  - {name: beta, conn_id: mysql_b, history_conn_id: mysql_hist}
custom_schedules:
  quarter_hour_health: {database: beta, task_type: health_check, cron: "*/15 * * * *"}
  nightly_alpha: {database: alpha, task_type: daily, cron: "30 1 * * *", enabled: false}
schedules:
  weekly_optimization: {enabled: false}
maintenance: {retries: 3, pool: mysql_maintenance}
notifications: {slack_conn_id: slack_alerts, emails: [dba@example.com]}
"""
    )
    mp.setenv("MAINTENANCE_CONFIG", str(config))
    bag = load_dagbag()
    yield bag, listener
    listener.__exit__()
    mp.undo()


def test_no_import_errors_and_no_connection_at_parse(parsed: Any) -> None:
    bag, listener = parsed
    assert bag.import_errors == {}
    assert listener.accepted == 0


def test_dag_ids_and_schedules(parsed: Any) -> None:
    bag, _ = parsed
    builtin = {d: bag.dags[d] for d in EXPECTED}
    for dag_id, cron in EXPECTED.items():
        timetable = builtin[dag_id].timetable
        expected = None if dag_id == "mysql_weekly_optimization" else cron  # disabled above
        assert getattr(timetable, "expression", None) == expected, dag_id
    assert bag.dags["mysql_custom_quarter_hour_health"].timetable.expression == "*/15 * * * *"
    assert getattr(bag.dags["mysql_custom_nightly_alpha"].timetable, "expression", None) is None


@pytest.mark.parametrize("dag_id", STEPS)
def test_shared_defaults_on_every_task(parsed: Any, dag_id: str) -> None:
    dag = parsed[0].dags[dag_id]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert "mysql" in dag.tags and dag.doc_md
    assert on_dag_failure in _as_list(dag.on_failure_callback)
    steps = [f"maintain.{step}" for step in STEPS[dag_id]]
    assert [t.task_id for t in dag.tasks] == ["select_databases", *steps, "report"]
    for task in dag.tasks:
        assert on_failure in _as_list(task.on_failure_callback), task.task_id
        assert task.retries == 3, task.task_id
        cheap = (dag_id, task.task_id.removeprefix("maintain.")) in CHEAP
        assert task.pool == ("default_pool" if cheap else "mysql_maintenance"), task.task_id
        assert task.execution_timeout == timedelta(minutes=120)
        assert task.retry_exponential_backoff


@pytest.mark.parametrize("dag_id", STEPS)
def test_steps_run_in_order_per_database_then_the_report(parsed: Any, dag_id: str) -> None:
    dag = parsed[0].dags[dag_id]
    steps = [dag.get_task(f"maintain.{step}") for step in STEPS[dag_id]]
    group = steps[0].task_group
    assert group.group_id == "maintain" and type(group).__name__ == "MappedTaskGroup"
    assert steps[0].upstream_task_ids == {"select_databases"}
    for before, after in zip(steps, steps[1:], strict=False):
        assert before.task_id in after.upstream_task_ids, after.task_id
    for step in steps:
        assert step.task_group is group and step.map_index_template == MAP_INDEX_TEMPLATE
    # The report hears from every step, whatever became of them.
    report = dag.get_task("report")
    assert {s.task_id for s in steps} <= report.upstream_task_ids
    assert report.trigger_rule == "all_done"


def test_deadline_alert_per_dag(parsed: Any) -> None:
    dag = parsed[0].dags["mysql_health_check"]
    alerts = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    (alert,) = alerts
    assert alert.interval == timedelta(minutes=20)
    assert alert.callback.path == f"{deadline_missed.__module__}.{deadline_missed.__qualname__}"
    assert alert.callback.kwargs["notifications"]["slack_conn_id"] == "slack_alerts"


def test_params_have_descriptions_and_validate(parsed: Any) -> None:
    from airflow.sdk.definitions.param import ParamValidationError
    from jsonschema.validators import Draft7Validator, validator_for

    dag = parsed[0].dags["mysql_daily_maintenance"]
    params = dag.params
    for name in ("databases", "dry_run"):
        assert params.get_param(name).description
        # Checked against draft 7's metaschema: a quarter of the default's cost at each parse.
        assert validator_for(params.get_param(name).schema) is Draft7Validator
    good = copy.deepcopy(params)
    good.update({"databases": ["alpha"], "dry_run": True})
    good.validate()
    for bad in ({"databases": ["gamma"]}, {"dry_run": "yes"}, {"databases": "alpha"}):
        candidate = copy.deepcopy(params)
        with pytest.raises(ParamValidationError, match="Invalid input for param"):
            candidate.update(bad)
            candidate.validate()


def test_tasks_take_the_dag_params_at_run_time_not_as_a_copy(parsed: Any) -> None:
    from airflow.sdk.definitions.param import process_params
    from airflow.serialization.serialized_objects import DagSerialization

    from maintenance_ops.operators import MySqlHealthCheckOperator

    for dag in parsed[0].dags.values():
        serialized = DagSerialization.to_dict(dag)["dag"]
        # No task carries a copy of the DAG's params (Airflow validates every copy at parse)...
        assert not [t.task_id for t in dag.tasks if t.params], dag.dag_id
        tasks = [t["__var"] for t in serialized["tasks"]]
        assert not [t["task_id"] for t in tasks if "params" in t], dag.dag_id
        # ...and each still gets them, with the run's conf over the defaults, as the runner does
        # (on a copy: the runner sets the conf's values on the DAG's Param objects).
        shared = dag.params
        try:
            for task in dag.tasks:
                dag.params = copy.deepcopy(shared)
                assert process_params(dag, task, {}, suppress_exception=False) == {
                    "databases": [],
                    "dry_run": False,
                }
                merged = process_params(dag, task, {"dry_run": True}, suppress_exception=False)
                assert merged["dry_run"] is True
        finally:
            dag.params = shared
    # A task's own params stay, beside the DAG's.
    dag = parsed[0].dags["mysql_health_check"]
    own = MySqlHealthCheckOperator(
        task_id="own_params", database="alpha", dag=dag, params={"probe": 1}
    )
    try:
        assert dict(own.params) == {"probe": 1}
        assert process_params(dag, own, {}, suppress_exception=False) == {
            "databases": [],
            "dry_run": False,
            "probe": 1,
        }
    finally:
        dag.task_dict.pop("own_params")
        dag.task_group.children.pop("own_params")


def test_custom_schedule_params_offer_only_its_database(parsed: Any) -> None:
    param = parsed[0].dags["mysql_custom_quarter_hour_health"].params.get_param("databases")
    assert param.schema["items"]["enum"] == ["beta"]


@pytest.mark.parametrize(
    ("config", "key"),
    [
        pytest.param(
            "databases: [{name: a, conn_id: c, colour: red}]",
            "databases[0].colour",
            id="unknown-key",
        ),
        pytest.param(
            "schedules: {health_check: {cron: 'every hour'}}",
            "schedules.health_check.cron",
            id="bad-cron",
        ),
        pytest.param(
            "databases: [{name: 'x; DROP', conn_id: c}]", "databases[0].name", id="hostile-name"
        ),
    ],
)
def test_bad_config_is_an_import_error_naming_the_key(
    config: str, key: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(config)
    monkeypatch.setenv("MAINTENANCE_CONFIG", str(path))
    with CountingListener() as listener:
        monkeypatch.setenv("AIRFLOW_CONN_C", Account("maintenance", port=listener.port).conn_json())
        bag = load_dagbag()
    assert listener.accepted == 0
    assert len(bag.import_errors) == 8  # every DAG file reads the configuration
    for error in bag.import_errors.values():
        assert f"bad.yaml: {key}" in error


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def test_target_fixture_is_not_needed_to_parse(target: Target) -> None:
    """Parsing works with the shared server up too (sanity for the fixture set-up)."""
    assert load_dagbag().import_errors == {}

from __future__ import annotations

from pathlib import Path

import pytest

from maintenance_ops.core.cadences import CADENCES
from maintenance_ops.core.config import DEFAULT_CONFIG_PATH, load_config, parse_config
from maintenance_ops.core.exceptions import ConfigError

GOOD_DB = "databases: [{name: main, conn_id: mysql_main}]\n"


def test_default_config_carries_the_spec_values() -> None:
    config = load_config(DEFAULT_CONFIG_PATH)
    assert {k: s.cron for k, s in config.schedules.items()} == {
        c.key: c.default_cron for c in CADENCES
    }
    t = config.thresholds
    assert (t.connection_warning_pct, t.connection_critical_pct) == (80, 95)
    assert (t.query_time_warning_s, t.query_time_critical_s) == (2, 5)
    assert (t.replication_lag_warning_s, t.replication_lag_critical_s) == (5, 30)
    assert (t.cpu_warning_pct, t.memory_warning_pct, t.disk_warning_pct) == (80, 85, 85)
    rules = {r.table: r for r in config.databases[0].cleanup_rules}
    assert rules["django_session"].retention_days == 30
    assert rules["django_session"].cleanup_type == "delete"
    assert rules["django_admin_log"].retention_days == 90
    assert rules["django_admin_log"].cleanup_type == "archive"


def test_schedules_merge_key_by_key() -> None:
    config = parse_config(GOOD_DB + "schedules: {health_check: {cron: '*/15 * * * *'}}")
    assert config.schedules["health_check"].cron == "*/15 * * * *"
    assert config.schedules["health_check"].deadline_minutes == 20
    assert config.schedules["daily_maintenance"].cron == "0 2 * * *"


def test_threshold_overrides_per_database() -> None:
    config = parse_config(
        "databases: [{name: a, conn_id: c, thresholds: {replication_lag_warning_s: 1}}]"
    )
    merged = config.thresholds_for("a")
    assert merged.replication_lag_warning_s == 1
    assert merged.replication_lag_critical_s == 30


BAD_CONFIGS = [
    pytest.param(
        "schedules: {daily_maintenance: {cron: '61 2 * * *'}}",
        "schedules.daily_maintenance.cron",
        "not a valid cron expression",
        id="bad-cron",
    ),
    pytest.param("databses: []", "databses", "unknown key", id="unknown-top-key"),
    pytest.param(
        GOOD_DB.replace("}]", ", colour: red}]"),
        "databases[0].colour",
        "unknown key",
        id="unknown-nested-key",
    ),
    pytest.param(
        "databases: [{name: a, conn_id: c, cleanup_rules: [{name: r, table: 'users; DROP TABLE x',"
        " date_column: d, retention_days: 3}]}]",
        "databases[0].cleanup_rules[0].table",
        "'users; DROP TABLE x' is not a valid identifier",
        id="hostile-table-name",
    ),
    pytest.param(
        "databases: [{name: a, conn_id: c, cleanup_rules: [{name: r, table: t,"
        " date_column: 'd`) OR 1=1 --', retention_days: 3}]}]",
        "databases[0].cleanup_rules[0].date_column",
        "not a valid identifier",
        id="hostile-column-name",
    ),
    pytest.param(
        "databases: [{name: a, conn_id: c, cleanup_rules: [{name: r, table: t, date_column: d,"
        " retention_days: -30}]}]",
        "databases[0].cleanup_rules[0].retention_days",
        "greater than 0",
        id="negative-retention",
    ),
    pytest.param(
        "databases: [{name: a, conn_id: c, restore_target: {type: nfs}}]",
        "databases[0].restore_target.type",
        "'ephemeral' or 'scratch'",
        id="unknown-target-conn-type",
    ),
    pytest.param(
        "databases: [{name: a, conn_id: c}, {name: a, conn_id: d}]",
        "databases",
        "duplicate database name 'a'",
        id="duplicate-database",
    ),
    pytest.param(
        "databases: [{name: a, conn_id: c}\n", "YAML syntax error at line 2", "", id="yaml-syntax"
    ),
    pytest.param(
        GOOD_DB + "custom_schedules: {x: {database: main, task_type: vacuum, cron: '0 * * * *'}}",
        "custom_schedules.x.task_type",
        "unknown task type 'vacuum'",
        id="unknown-task-type",
    ),
    pytest.param(
        GOOD_DB + "custom_schedules: {x: {database: other, task_type: daily, cron: '0 * * * *'}}",
        "custom_schedules.x.database",
        "not a configured database",
        id="custom-schedule-unknown-db",
    ),
    pytest.param(
        GOOD_DB + "thresholds: {connection_warning_pct: 99, connection_critical_pct: 90}",
        "thresholds",
        "connection_warning_pct=99.0 is above",
        id="warning-above-critical",
    ),
    pytest.param(
        GOOD_DB + "maintenance: {window: {start: '01:00', end: '05:00', timezone: Mars/Base}}",
        "maintenance.window.timezone",
        "unknown time zone",
        id="bad-timezone",
    ),
    pytest.param(
        "databases: [{name: a, conn_id: 'bad conn id'}]",
        "databases[0].conn_id",
        "not a valid Airflow connection id",
        id="bad-conn-id",
    ),
    pytest.param(
        "databases: [{name: a, conn_id: c, cleanup_rules: [{name: r, table: t, date_column: d,"
        " retention_days: 3, where: 'x = 1; DROP TABLE t'}]}]",
        "databases[0].cleanup_rules[0].where",
        "may not contain ';'",
        id="where-with-second-statement",
    ),
    pytest.param(
        "databases: [{name: a, conn_id: c, cleanup_rules: [{name: r, table: t, date_column: d,"
        " retention_days: 3, where: \"status = 'done') OR (1=1\"}]}]",
        "databases[0].cleanup_rules[0].where",
        "closes a parenthesis it did not open",
        id="where-escaping-its-parentheses",
    ),
    pytest.param(
        "databases: [{name: a, conn_id: c, cleanup_rules: [{name: r, table: t, date_column: d,"
        " retention_days: 3, where: 'id IN (SELECT id FROM other)'}]}]",
        "databases[0].cleanup_rules[0].where",
        "may not contain a subquery",
        id="where-with-subquery",
    ),
    pytest.param("- just\n- a list\n", "expected a mapping", "", id="not-a-mapping"),
    pytest.param(
        GOOD_DB + "maintenance: {step_timeout_minutes: {cleanp: 90}}",
        "maintenance.step_timeout_minutes",
        "unknown step(s) 'cleanp'; the steps are index_analysis, statistics, cleanup,",
        id="step-timeout-unknown-step",
    ),
    pytest.param(
        GOOD_DB + "maintenance: {step_timeout_minutes: {cleanup: 0}}",
        "maintenance.step_timeout_minutes.cleanup",
        "greater than 0",
        id="step-timeout-zero",
    ),
]


def _the_error(text: str) -> str:
    """The one error of ``text``: the load's, or the one cleanup rule set aside at load."""
    try:
        config = parse_config(text, "maint.yaml")
    except ConfigError as exc:
        return str(exc)
    (error,) = [e for db in config.databases for e in db.invalid_rules.values()]
    return error


@pytest.mark.parametrize(("text", "key", "message"), BAD_CONFIGS)
def test_bad_config_is_one_line_naming_the_key(text: str, key: str, message: str) -> None:
    error = _the_error(text)
    assert "\n" not in error
    assert error.startswith("maint.yaml: ")
    assert key in error
    assert message in error


def test_a_bad_rule_is_set_aside_and_the_rest_loads() -> None:
    # One bad rule must not stop the health check (or any other database's work): it is set
    # aside with its one-line error, for the cleanup step that would run it to fail on.
    config = parse_config(
        GOOD_DB.replace(
            "}]",
            ", cleanup_rules: [{name: keep, table: t, date_column: d, retention_days: 3}, "
            "{name: broken, table: t, date_column: d, retention_days: 0}]}, "
            "{name: other, conn_id: mysql_other}]",
        ),
        "maint.yaml",
    )
    main, other = config.databases
    assert [r.name for r in main.cleanup_rules] == ["keep"]
    assert list(main.invalid_rules) == ["broken"]
    assert main.invalid_rules["broken"].startswith(
        "maint.yaml: databases[0].cleanup_rules[1].retention_days: "
    )
    assert other.invalid_rules == {}


def test_missing_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(
        ConfigError, match=r"nope\.yaml: configuration file not found.*MAINTENANCE_CONFIG"
    ):
        load_config(missing)


def test_config_is_reread_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(GOOD_DB)
    assert load_config(path).databases[0].name == "main"
    path.write_text("databases: [{name: other, conn_id: c}]\n")
    import os

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert load_config(path).databases[0].name == "other"


def test_unchanged_file_is_validated_once(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(GOOD_DB)
    assert load_config(path) is load_config(path)  # the DAG files of one folder share it


def test_rewrite_within_the_same_mtime_is_reread_when_the_size_changed(tmp_path: Path) -> None:
    import os

    path = tmp_path / "m.yaml"
    path.write_text(GOOD_DB)
    mtime = path.stat().st_mtime_ns
    assert load_config(path).databases[0].name == "main"
    path.write_text("databases: [{name: a_longer_name, conn_id: mysql_other}]\n")
    os.utime(path, ns=(mtime, mtime))  # a coarse clock: the rewrite kept the modification time
    assert load_config(path).databases[0].name == "a_longer_name"


def test_unknown_database_lookup_names_the_configured_ones() -> None:
    config = parse_config(GOOD_DB)
    with pytest.raises(ConfigError, match="unknown database 'x'; configured databases: main"):
        config.database("x")


def test_each_step_takes_its_own_timeout_else_the_common_one() -> None:
    from datetime import timedelta

    settings = parse_config(
        GOOD_DB + "maintenance: {execution_timeout_minutes: 60, "
        "step_timeout_minutes: {cleanup: 90, optimize: 240}}"
    ).maintenance
    assert settings.step_timeout("cleanup") == timedelta(minutes=90)
    assert settings.step_timeout("optimize") == timedelta(hours=4)
    assert settings.step_timeout("backup") == timedelta(minutes=60)
    assert parse_config(GOOD_DB).maintenance.step_timeout_minutes == {}


def test_unknown_step_error_names_every_step_and_the_fix() -> None:
    from maintenance_ops.core.cadences import STEP_NAMES

    error = _the_error(GOOD_DB + "maintenance: {step_timeout_minutes: {vacuum: 5}}")
    assert error.endswith(f"the steps are {', '.join(STEP_NAMES)}: correct the name or remove it")
    assert {"cleanup", "optimize", "drill", "health_check"} <= set(STEP_NAMES)

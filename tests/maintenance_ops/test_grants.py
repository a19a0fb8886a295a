"""``include/sql/grants.sql`` gives exactly what the DAGs need; the preflight names what is missing.

The accounts are per test on the shared server (users are global, grants are per account, so
nothing of the server's own settings changes), built from grants.sql by the same code the
``target`` fixture uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from maintenance_ops.cadences import BY_KEY, CADENCES
from maintenance_ops.config import BackupSettings, Database, MaintenanceSettings, Replica
from maintenance_ops.dialect import parse_version
from maintenance_ops.grants import (
    CADENCE_TAGS,
    account_statements,
    grants_file,
    matrix_markdown,
    parse_grants,
)
from maintenance_ops.preflight import run_preflight
from maintenance_ops.session import MaintenanceSession
from maintenance_ops.sqlfiles import load_sql
from tests.conftest import REPO, run_sql
from tests.support.accounts import create_account, drop_account

MARIADB = parse_version("10.11.19-MariaDB")
CONN_ID = "mmc_limited"


def test_every_grant_says_who_needs_it_and_why() -> None:
    grants = grants_file()
    assert len(grants) >= 20
    for grant in grants:
        assert grant.needs and grant.reason
    for tag in CADENCE_TAGS.values():
        assert any(g.needed_by({tag}) for g in grants), tag


def test_a_grant_without_a_needs_line_is_refused() -> None:
    from maintenance_ops.exceptions import ConfigError

    with pytest.raises(ConfigError, match="no `-- needs:` line"):
        parse_grants("GRANT SELECT ON `app`.* TO 'maintenance'@'%';")
    with pytest.raises(ConfigError, match="bad needs line"):
        parse_grants("-- needs: dayly | typo\nGRANT SELECT ON `app`.* TO 'maintenance'@'%';")


def test_the_readme_grants_table_is_grants_sql() -> None:
    readme = (REPO / "README.md").read_text()
    assert matrix_markdown() in readme, "README's grants table differs: paste matrix_markdown()"


def test_grants_sql_runs_as_written_on_mariadb() -> None:
    """The file an administrator runs, with its example names, on the real server."""
    user = f"mmc_{uuid.uuid4().hex[:10]}"
    statements = [
        s.replace("'maintenance'@'%'", f"'{user}'@'%'")
        for s in _file_statements()
    ]
    try:
        for statement in statements:
            run_sql(statement)
        shown = " ".join(r[0] for r in run_sql(f"SHOW GRANTS FOR '{user}'@'%'"))
        assert "SLAVE MONITOR" in shown and "SHOW_ROUTINE" not in shown
        assert "`mysql`.`proc`" in shown and "`mysql`.`column_stats`" in shown
    finally:
        run_sql(f"DROP USER IF EXISTS '{user}'@'%'")


def _file_statements() -> list[str]:
    lines = [ln for ln in load_sql("grants").splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@pytest.fixture(scope="module")
def schemas() -> Iterator[tuple[str, str]]:
    schema = f"mmc_g_{uuid.uuid4().hex[:10]}"
    history = f"{schema}_h"
    run_sql(f"CREATE DATABASE `{schema}`")
    run_sql(f"CREATE DATABASE `{history}`")
    yield schema, history
    run_sql(f"DROP DATABASE IF EXISTS `{schema}`")
    run_sql(f"DROP DATABASE IF EXISTS `{history}`")


def _preflight(cadence_key: str, db: Database):
    with MaintenanceSession(CONN_ID, MaintenanceSettings()) as session:
        return run_preflight(
            session, BY_KEY[cadence_key], db, window=None, now=datetime.now(UTC), dry_run=False
        )


def _database(schema: str, history: str) -> Database:
    return Database(
        name="app_db",
        conn_id=CONN_ID,
        schemas=[schema],
        history_schema=history,
        backup=BackupSettings(enabled=True, location="file:///tmp/unused"),
        replicas=[Replica(name="r1", conn_id="unused_replica")],
    )


def _grant_cases() -> list[object]:
    """One case per grant statement that MariaDB runs (as ``PRIV ON scope`` fragments)."""
    cases = []
    for grant in grants_file():
        if not grant.condition.applies(MARIADB):
            continue
        text = grant.sql("X", "S", "H").split(" ON ", 1)[0].removeprefix("GRANT ")
        text = text.removeprefix(grant.condition.wrap("").split(" ")[0]).strip()
        scope = grant.scope
        cases.append(pytest.param(grant, id=f"{text} ON {scope}".replace(" ", "_")))
    return cases


@pytest.mark.parametrize("grant", _grant_cases())
def test_each_revoked_grant_is_named_by_the_preflight_of_each_cadence_that_needs_it(
    grant, schemas: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The privilege matrix: leave out one grant, and exactly the cadences needing it say so."""
    schema, history = schemas
    statement = grant.sql("ACC", schema, history)
    skip = statement.split(" TO ")[0]
    account = create_account(run_sql, [schema], history, skip=[skip])
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", account.conn_json())
    db = _database(schema, history)
    try:
        for cadence in CADENCES:
            missing = _preflight(cadence.key, db).missing_privileges
            features = {"backups"} if cadence.key in ("daily_maintenance", "backup_testing") else set()
            if cadence.key in ("health_check", "disaster_recovery_test"):
                features.add("replicas")
            needed = grant.needed_by({CADENCE_TAGS[cadence.key], *features})
            expected = {
                f"{p} ON " + _scope_text(grant.scope_for(schema, history))
                for p in grant.privileges
            }
            if needed:
                assert set(missing) == expected, cadence.key
            else:
                assert missing == [], cadence.key
    finally:
        drop_account(run_sql, account)


def _scope_text(scope: str) -> str:
    db, table = scope.split(".", 1)
    return "*.*" if db == "*" else f"`{db}`." + ("*" if table == "*" else f"`{table}`")


def test_the_full_account_passes_every_preflight(
    schemas: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    schema, history = schemas
    account = create_account(run_sql, [schema], history)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", account.conn_json())
    try:
        for cadence in CADENCES:
            result = _preflight(cadence.key, _database(schema, history))
            assert result.missing_privileges == [], cadence.key
            assert result.schemas == [schema]
    finally:
        drop_account(run_sql, account)


def test_account_statements_for_one_version_leave_out_other_flavors() -> None:
    mariadb = account_statements("m", "%", "pw", ["app"], "_h", MARIADB)
    mysql = account_statements("m", "%", "pw", ["app"], "_h", parse_version("8.4.2"))
    assert "GRANT SLAVE MONITOR ON *.* TO 'm'@'%'" in " ".join(mariadb)
    assert not any("SHOW_ROUTINE" in s for s in mariadb)
    assert any("SHOW_ROUTINE" in s for s in mysql)
    assert not any("mysql`.`proc" in s for s in mysql)


def test_a_dag_run_stops_at_the_preflight_naming_the_privilege(
    target, monkeypatch: pytest.MonkeyPatch, write_config
) -> None:
    from maintenance_ops.audit import AuditLog
    from tests.conftest import target_database
    from tests.dags.conftest import run_dag
    from tests.support.receivers import SlackReceiver

    target.sql(f"CREATE TABLE `{target.schema}`.t (id INT PRIMARY KEY)")
    run_sql(f"REVOKE PROCESS ON *.* FROM '{target.account.user}'@'%'")
    with SlackReceiver() as slack:
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", slack.conn_uri)
        write_config(
            {
                "databases": [target_database(target, "app_db")],
                "notifications": {"slack_conn_id": "slack_alerts"},
            }
        )
        dag_run = run_dag("mysql_health_check")
    assert str(dag_run.state) == "failed"
    (alert,) = [t for t in slack.texts() if "maintain" in t]
    assert "lacks PROCESS ON *.* (the process list" in alert
    assert "include/sql/grants.sql" in alert
    rows = AuditLog(target.conn_id, target.history_schema).read(run_id=dag_run.run_id)
    assert [(r["command"], r["outcome"]) for r in rows] == [
        ("preflight mysql_health_check", "failed")
    ]

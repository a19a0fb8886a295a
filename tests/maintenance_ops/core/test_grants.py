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

from maintenance_ops.core.cadences import BY_KEY, CADENCES
from maintenance_ops.core.config import BackupSettings, Database, MaintenanceSettings, Replica
from maintenance_ops.core.dialect import parse_version
from maintenance_ops.core.grants import (
    CADENCE_TAGS,
    EXAMPLE_ACCOUNT,
    ONCALL_ACCOUNT,
    RUNBOOK_TAGS,
    account_statements,
    grants_file,
    matrix_markdown,
    oncall_grants_file,
    oncall_matrix_markdown,
    parse_grants,
    super_covers,
)
from maintenance_ops.core.preflight import run_preflight
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.core.sqlfiles import load_sql
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
    from maintenance_ops.core.exceptions import ConfigError

    with pytest.raises(ConfigError, match="no `-- needs:` line"):
        parse_grants("GRANT SELECT ON `app`.* TO 'maintenance'@'%';")
    with pytest.raises(ConfigError, match="bad needs line"):
        parse_grants("-- needs: dayly | typo\nGRANT SELECT ON `app`.* TO 'maintenance'@'%';")


def test_the_readme_grants_table_is_grants_sql() -> None:
    readme = (REPO / "README.md").read_text()
    assert matrix_markdown() in readme, "README's grants table differs: paste matrix_markdown()"
    assert oncall_matrix_markdown() in readme, (
        "README's on-call grants table differs: paste oncall_matrix_markdown()"
    )


def test_the_two_sections_are_parsed_apart() -> None:
    """Every GRANT of the file belongs to exactly one account's list, with its own tags."""
    text = load_sql("grants")
    maintenance, oncall = grants_file(), oncall_grants_file()
    assert len(maintenance) == text.count(f"TO {EXAMPLE_ACCOUNT}")
    assert len(oncall) == text.count(f"TO {ONCALL_ACCOUNT}")
    assert all(g.needs <= set(RUNBOOK_TAGS) for g in oncall)
    assert all(not (g.needs & set(RUNBOOK_TAGS)) for g in maintenance)
    for tag in RUNBOOK_TAGS:
        assert any(g.needed_by({tag}) for g in oncall), tag
    # The maintenance account keeps no ADMIN privilege; the on-call one has them per flavor.
    assert not any("ADMIN" in p for g in maintenance for p in g.privileges)
    mariadb_oncall = {p for g in oncall if g.condition.applies(MARIADB) for p in g.privileges}
    assert {"CONNECTION ADMIN", "READ_ONLY ADMIN", "REPLICATION SLAVE ADMIN"} <= mariadb_oncall
    assert "SYSTEM_VARIABLES_ADMIN" not in mariadb_oncall
    mysql_oncall = {
        p for g in oncall if g.condition.applies(parse_version("8.0.40")) for p in g.privileges
    }
    assert {"CONNECTION_ADMIN", "SYSTEM_VARIABLES_ADMIN", "REPLICATION_SLAVE_ADMIN"} <= mysql_oncall
    assert "READ_ONLY ADMIN" not in mysql_oncall


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "-- needs: failover | promote\nGRANT SUPER ON *.* TO 'maintenance'@'%';",
            "bad needs line",
            id="runbook-tag-on-maintenance",
        ),
        pytest.param(
            "GRANT PROCESS ON *.* TO 'oncall'@'%';",
            "no `-- needs:` line",
            id="oncall-without-needs",
        ),
    ],
)
def test_each_section_has_its_own_tags(text: str, message: str) -> None:
    from maintenance_ops.core.exceptions import ConfigError

    with pytest.raises(ConfigError, match=message):
        parse_grants(text)
    oncall = "-- needs: daily | a cadence\nGRANT PROCESS ON *.* TO 'oncall'@'%';"
    with pytest.raises(ConfigError, match="bad needs line"):
        parse_grants(oncall, account=ONCALL_ACCOUNT, known_tags=frozenset(RUNBOOK_TAGS))


def test_grants_sql_runs_as_written_on_mariadb() -> None:
    """The file an administrator runs, with its example names, on the real server."""
    user = f"mmc_{uuid.uuid4().hex[:10]}"
    oncall = f"{user}_oc"
    statements = [
        s.replace("'maintenance'@'%'", f"'{user}'@'%'").replace("'oncall'@'%'", f"'{oncall}'@'%'")
        for s in _file_statements()
    ]
    try:
        for statement in statements:
            run_sql(statement)
        shown = " ".join(r[0] for r in run_sql(f"SHOW GRANTS FOR '{user}'@'%'"))
        assert "SLAVE MONITOR" in shown and "SHOW_ROUTINE" not in shown
        assert "`mysql`.`proc`" in shown and "`mysql`.`column_stats`" in shown
        assert "ADMIN" not in shown
        shown = " ".join(r[0] for r in run_sql(f"SHOW GRANTS FOR '{oncall}'@'%'"))
        for privilege in ("CONNECTION ADMIN", "READ_ONLY ADMIN", "REPLICATION SLAVE ADMIN"):
            assert privilege in shown
        assert "SYSTEM_VARIABLES_ADMIN" not in shown and "SUPER" not in shown
        # Created locked: the placeholder password logs nobody in.
        locked = run_sql(
            "SELECT JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv"
            " WHERE User = %s AND Host = '%%'",
            (oncall,),
        )
        assert locked == [("1",)]
    finally:
        run_sql(f"DROP USER IF EXISTS '{user}'@'%'")
        run_sql(f"DROP USER IF EXISTS '{oncall}'@'%'")


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
            features = (
                {"backups"} if cadence.key in ("daily_maintenance", "backup_testing") else set()
            )
            if cadence.key in ("health_check", "disaster_recovery_test"):
                features.add("replicas")
            needed = grant.needed_by({CADENCE_TAGS[cadence.key], *features})
            expected = {
                f"{p} ON " + _scope_text(grant.scope_for(schema, history)) for p in grant.privileges
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
    from maintenance_ops.core.audit import AuditLog
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
    (alert,) = [t for t in slack.texts() if "maintain.health_check failed" in t]
    assert "lacks PROCESS ON *.* (the process list" in alert
    assert "include/sql/grants.sql" in alert
    rows = AuditLog(target.conn_id, target.history_schema).read(run_id=dag_run.run_id)
    assert [(r["command"], r["outcome"]) for r in rows] == [
        ("preflight mysql_health_check", "failed")
    ]


@pytest.mark.parametrize(
    ("privilege", "version", "covered"),
    [
        pytest.param("CONNECTION ADMIN", "10.11.19-MariaDB", True, id="mariadb-kill"),
        pytest.param("READ_ONLY ADMIN", "10.6.18-MariaDB", True, id="mariadb-10.6-read-only"),
        pytest.param("READ_ONLY ADMIN", "10.11.19-MariaDB", False, id="mariadb-10.11-read-only"),
        pytest.param("PROCESS", "10.11.19-MariaDB", False, id="mariadb-process"),
        pytest.param("SYSTEM_VARIABLES_ADMIN", "8.0.40", True, id="mysql-read-only"),
        pytest.param("REPLICATION CLIENT", "8.4.2", False, id="mysql-replica-status"),
    ],
)
def test_what_super_still_covers_for_the_runbooks(
    privilege: str, version: str, covered: bool
) -> None:
    assert super_covers(privilege, parse_version(version)) is covered

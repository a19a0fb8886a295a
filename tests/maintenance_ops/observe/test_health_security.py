"""The security audit on a private server: grants.sql's own accounts are explained, not penalised.

The accounts are created exactly as ``include/sql/grants.sql`` says (both from any host, ``%``);
the health check connects as the maintenance account. Any other ``%`` account with global
privileges, and anything the package's accounts hold beyond grants.sql, is still a finding.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.grants import account_statements, oncall_grants_file
from maintenance_ops.core.instance import MySQLInstance
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.observe.health import HealthSample, collect, score
from tests.support.accounts import PASSWORD, Account, create_account

USER = "mmc_audit"


@pytest.fixture(scope="module")
def server() -> Iterator[MySQLInstance]:
    instance = MySQLInstance().start()
    try:
        instance.execute("CREATE DATABASE app")
        create_account(instance.execute, ["app"], "_maintenance", user=USER)
        for statement in account_statements(
            "oncall", "%", PASSWORD, ["app"], "_maintenance", grants=oncall_grants_file()
        ):
            instance.execute(statement)
        yield instance
    finally:
        instance.stop()


def _audit(server: MySQLInstance, monkeypatch: pytest.MonkeyPatch) -> HealthSample:
    monkeypatch.setenv("AIRFLOW_CONN_MMC_AUDIT", Account(USER, port=server.port).conn_json())
    with MaintenanceSession("mmc_audit", MaintenanceSettings(), database_name="app") as session:
        return collect(session, "app", [], ["app"])


def test_grants_sql_accounts_cost_no_points(
    server: MySQLInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = _audit(server, monkeypatch)
    assert sample.security == []
    assert score([], sample).score == 100
    maintenance, oncall = sorted(sample.security_explained)  # 'mmc_audit' before 'oncall'
    assert maintenance.startswith(
        f"'{USER}'@'%' is this package's maintenance account (include/sql/grants.sql) and "
        "needs, from any host: PROCESS for the process list and INNODB_TRX"
    )
    assert oncall.startswith("'oncall'@'%' is this package's on-call account")
    assert "no penalty" in score([], sample).reasons[-1]


def test_other_any_host_accounts_and_extra_grants_are_still_flagged(
    server: MySQLInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.execute("CREATE USER 'intruder'@'%' IDENTIFIED BY 'x1-long-enough'")
    server.execute("GRANT PROCESS, FILE ON *.* TO 'intruder'@'%'")
    server.execute(f"GRANT SHUTDOWN ON *.* TO '{USER}'@'%'")
    try:
        sample = _audit(server, monkeypatch)
    finally:
        server.execute("DROP USER 'intruder'@'%'")
        server.execute(f"REVOKE SHUTDOWN ON *.* FROM '{USER}'@'%'")
    assert sorted(sample.security) == [
        "account 'intruder'@'%' has global privileges from any host: PROCESS, FILE",
        f"account '{USER}'@'%' has global privileges from any host: SHUTDOWN (beyond what "
        "grants.sql gives the maintenance account)",
    ]
    assert [n.split()[0] for n in sample.security_explained] == ["'oncall'@'%'"]
    assert score([], sample).score == 90


def test_the_oncall_user_is_the_login_of_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from maintenance_ops.core.config import Database
    from maintenance_ops.operators.health import HealthCheckOperator

    monkeypatch.setenv("AIRFLOW_CONN_MMC_PAGER", Account("pager").conn_json())
    operator = HealthCheckOperator(task_id="maintain", database="app", cadence="health_check")
    with_oncall = Database(name="app", conn_id="mmc_app", oncall_conn_id="mmc_pager")
    assert operator._oncall_user(with_oncall) == "pager"
    undefined = Database(name="app", conn_id="mmc_app", oncall_conn_id="mmc_undefined")
    assert operator._oncall_user(undefined) is None  # the audit then knows grants.sql's name
    assert operator._oncall_user(Database(name="app", conn_id="mmc_app")) is None

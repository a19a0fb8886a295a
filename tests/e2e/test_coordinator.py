"""The coordinator (``python -m maintenance_ops schedules|pause|unpause|trigger`` and its Python
API) against the real api-server of the shared Celery stack (``celery_stack`` in conftest.py).

Every effect is read back through the REST API as the stack's admin, not through the code under
test. The tests leave each DAG's paused state as they found it; the runs they create on paused
DAGs stay queued and never execute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from maintenance_ops.coordinator import (
    Coordinator,
    RunTimeout,
    UnknownChoice,
    get_maintenance_coordinator,
)
from tests.support.airflow_stack import AirflowStack

from .conftest import DAG_IDS, CeleryStack

HEALTH = "mysql_health_check"
MONTHLY = "mysql_monthly_deep_maintenance"  # no test unpauses it: its runs here never execute
WRONG = "Wr0ng-Passw0rd-Value"

pytestmark = pytest.mark.e2e


def _env(stack: AirflowStack, **settings: str) -> dict[str, str]:
    """The caller's environment with only the given API settings (none inherited)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIRFLOW_API") and k != "AIRFLOW__API__BASE_URL"
    }
    return {**env, **settings}


def _admin(stack: AirflowStack) -> dict[str, str]:
    return {
        "AIRFLOW_API_URL": stack.api_url,
        "AIRFLOW_API_USER": stack.admin_user,
        "AIRFLOW_API_PASSWORD": stack.admin_password,
    }


def _cli(env: dict[str, str], *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "maintenance_ops", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    for secret in (env.get("AIRFLOW_API_PASSWORD"), env.get("AIRFLOW_API_TOKEN")):
        assert not secret or secret not in done.stdout + done.stderr
    return done


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _runs(stack: AirflowStack, dag_id: str) -> set[str]:
    body = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")
    return {r["dag_run_id"] for r in body["dag_runs"]}


def _paused(stack: AirflowStack, dag_id: str) -> bool:
    return bool(stack.api("GET", f"/api/v2/dags/{dag_id}")["is_paused"])


@pytest.fixture
def stack(celery_stack: CeleryStack) -> Iterator[AirflowStack]:
    """The shared stack; every DAG's paused state is put back afterwards."""
    stack = celery_stack.stack
    before = {dag_id: _paused(stack, dag_id) for dag_id in DAG_IDS}
    yield stack
    for dag_id, paused in before.items():
        if _paused(stack, dag_id) != paused:
            stack.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused})


@pytest.fixture
def coordinator(stack: AirflowStack) -> Iterator[Coordinator]:
    with get_maintenance_coordinator(
        stack.api_url, username=stack.admin_user, password=stack.admin_password
    ) as coordinator:
        yield coordinator


def test_schedules_lists_the_six_cadences_with_their_paused_state(stack: AirflowStack) -> None:
    stack.pause(MONTHLY)
    schedules = _json(_cli(_env(stack, **_admin(stack)), "schedules", "--format", "json"))
    assert [s["dag_id"] for s in schedules] == list(DAG_IDS)
    assert schedules[0]["cadence"] == "daily_maintenance"
    for schedule in schedules:
        assert schedule["found"] is True, schedule
        assert schedule["paused"] is _paused(stack, schedule["dag_id"]), schedule
    monthly = {s["dag_id"]: s for s in schedules}[MONTHLY]
    assert (monthly["paused"], monthly["next_run"]) == (True, None)


def test_pause_and_unpause_flip_is_paused(stack: AirflowStack) -> None:
    env = _env(stack, **_admin(stack))
    unpaused = _json(_cli(env, "unpause", "health_check", "--format", "json"))
    assert (unpaused["dag_id"], unpaused["paused"]) == (HEALTH, False)
    assert _paused(stack, HEALTH) is False
    paused = _cli(env, "pause", HEALTH)
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.startswith(f"health_check ({HEALTH}): paused")
    assert _paused(stack, HEALTH) is True


def test_trigger_a_dry_run_of_one_database(stack: AirflowStack) -> None:
    stack.pause(MONTHLY)
    before = _runs(stack, MONTHLY)
    argv = "trigger monthly --database secondary --dry-run --format json".split()
    done = _cli(_env(stack, **_admin(stack)), *argv)
    created = _json(done)
    assert f"note: {MONTHLY} is paused" in done.stderr
    assert (created["dag_id"], created["dag_paused"]) == (MONTHLY, True)
    assert _runs(stack, MONTHLY) - before == {created["dag_run_id"]}
    run = stack.get_run(MONTHLY, created["dag_run_id"])
    assert run["conf"] == {"dry_run": True, "databases": ["secondary"]}
    assert (run["run_type"], run["logical_date"], run["state"]) == ("manual", None, "queued")
    assert "dry run" in run["note"]


def test_unknown_choices_fail_clearly_and_create_nothing(
    stack: AirflowStack, coordinator: Coordinator
) -> None:
    stack.pause(MONTHLY)
    before = _runs(stack, MONTHLY)
    env = _env(stack, **_admin(stack))

    database = _cli(env, "trigger", MONTHLY, "--database", "primary", "--database", "tertiary")
    assert database.returncode == 2
    assert (
        f"unknown database(s) 'tertiary' for {MONTHLY}: configured there: primary, secondary"
        in database.stderr
    )
    cadence = _cli(env, "trigger", "fortnightly", "--database", "primary")
    assert cadence.returncode == 2
    assert "unknown cadence 'fortnightly': choose one of daily_maintenance" in cadence.stderr
    # Waiting on a paused DAG could only time out: refused before the run is created.
    waiting = _cli(env, "trigger", MONTHLY, "--wait", "--timeout", "5")
    assert waiting.returncode == 2 and f"{MONTHLY} is paused" in waiting.stderr
    with pytest.raises(UnknownChoice, match="'tertiary'"):
        coordinator.trigger_manual_maintenance("tertiary", "monthly_deep_maintenance")
    with pytest.raises(UnknownChoice, match="unknown cadence 'mysql_monthly'"):
        coordinator.enable_schedule("mysql_monthly")

    assert _runs(stack, MONTHLY) == before
    assert _paused(stack, MONTHLY) is True


def test_wrong_credentials_fail_clearly_without_the_secret(stack: AirflowStack) -> None:
    wrong = _admin(stack) | {"AIRFLOW_API_PASSWORD": WRONG}
    done = _cli(_env(stack, **wrong), "pause", MONTHLY)
    assert done.returncode == 3
    assert "refused the login of user 'admin' (HTTP 401" in done.stderr, done.stderr
    assert "check AIRFLOW_API_USER and AIRFLOW_API_PASSWORD" in done.stderr

    token = _cli(_env(stack, AIRFLOW_API_URL=stack.api_url, AIRFLOW_API_TOKEN=WRONG), "schedules")
    assert token.returncode == 3
    assert (
        "GET /api/v2/dags -> 403" in token.stderr and "token is invalid or expired" in token.stderr
    )

    anonymous = _cli(_env(stack, AIRFLOW_API_URL=stack.api_url), "schedules")
    assert anonymous.returncode == 3 and "this server needs credentials" in anonymous.stderr


def test_the_simple_auth_managers_password_file_and_base_url(
    stack: AirflowStack, celery_stack: CeleryStack
) -> None:
    # The password file the simple auth manager keeps ({"admin": "..."}), and Airflow's own
    # [api] base_url instead of AIRFLOW_API_URL: `status` reads the DAGs through them too.
    env = _env(
        stack,
        AIRFLOW__API__BASE_URL=stack.api_url,
        AIRFLOW_API_PASSWORD_FILE=str(stack.passwords_file),
        MAINTENANCE_CONFIG=str(celery_stack.config),
        # the databases' connections, as the stack's own processes have them: every source
        # readable, so `status` exits 0 (3 when one cannot be read)
        **{k: v for k, v in stack.env.items() if k.startswith("AIRFLOW_CONN_MMC_E2E_")},
    )
    done = _cli(env, "status", "--format", "json", timeout=120)
    airflow = _json(done)["airflow"]
    assert stack.admin_password not in done.stdout + done.stderr
    assert "error" not in airflow, airflow
    assert airflow["api"] == stack.api_url
    assert [d["dag_id"] for d in airflow["dags"]] == list(DAG_IDS)


def test_status_through_the_python_api(
    stack: AirflowStack,
    coordinator: Coordinator,
    celery_stack: CeleryStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAINTENANCE_CONFIG", str(celery_stack.config))
    report = coordinator.status()
    assert report["airflow"]["api"] == stack.api_url
    dags = {d["dag_id"]: d for d in report["airflow"]["dags"]}
    assert list(dags) == list(DAG_IDS)
    assert all(d["paused"] is _paused(stack, dag_id) for dag_id, d in dags.items()), dags
    assert [d["database"] for d in report["databases"]] == ["primary", "secondary"]
    assert report["schedules"]["health_check"]["cron"] == "* * * * *"


def test_trigger_and_wait_returns_the_report(stack: AirflowStack, coordinator: Coordinator) -> None:
    coordinator.enable_schedule("health_check")
    # A run cannot finish in 0.2 s: the wait gives up, names the run, and the run goes on.
    with pytest.raises(RunTimeout) as caught:
        coordinator.trigger_manual_maintenance(
            "secondary", "health_check", dry_run=True, wait=True, timeout_s=0.2
        )
    pending = caught.value.run
    assert pending.state in ("queued", "running")
    assert pending.conf == {"dry_run": True, "databases": ["secondary"]}
    assert f"{pending.dag_run_id} of {HEALTH} is still {pending.state} after 0.2 s" in str(
        caught.value
    )

    argv = "trigger health_check --database primary --dry-run --wait --timeout 240 --format json"
    done = _cli(_env(stack, **_admin(stack)), *argv.split(), timeout=300)
    run = _json(done)
    assert run["state"] == "success", stack.task_instances(HEALTH, run["dag_run_id"])
    assert run["report"]["dag_id"] == HEALTH
    assert [d["database"] for d in run["report"]["databases"]] == ["primary"]
    assert run["report"]["text"].startswith(f"{HEALTH}: 1 of 1 database(s) done")

    # The first run went on after its wait gave up; following it again gets its own report.
    first = coordinator.wait_for_run(HEALTH, pending.dag_run_id, timeout_s=240, poll_s=1)
    assert first.state == "success" and first.report is not None
    assert [d["database"] for d in first.report["databases"]] == ["secondary"]

"""The maintenance pages (plugins/maintenance_ops_ui.py) on a real api-server and in Chromium.

Two parts:

- **HTTP**: a private api-server (nothing else: no DAG runs needed) with the plugin and a
  configuration of four databases: three whose history root wrote into a history schema on the
  shared server (read by the code as the grants.sql account), and one whose history store is a
  closed port. The data endpoints refuse a request without a token (401) or with a bad one,
  answer with their shapes, and show the unreachable store as such.
- **Browser**: on the shared Celery stack (tests/e2e/conftest.py), after a real health-check
  run over both databases (the one DAG cheap enough for the time budget; the others' runs by
  other tests of the stack show too), headless Chromium signs in, opens the "MySQL maintenance"
  entry (the fleet page in the UI's frame), a database page, the "Maintenance report" tab of
  that run, and follows a run link out of the frame to the UI's run page; screenshots go to
  ``test-artifacts/ui/``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import mysql_connect, run_sql
from tests.support.accounts import Account, create_account, drop_account
from tests.support.airflow_stack import AirflowStack, free_port
from tests.support.history_seed import sample_fleet, seed
from tests.support.ui_server import plugin_api_server

from .conftest import CeleryStack
from .test_ui import _css, _screenshot, _wait, browser, signed_in  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e

PREFIX = "/mysql-maintenance"
DAILY, HEALTH = "mysql_daily_maintenance", "mysql_health_check"
PROFILES = sample_fleet()


@dataclass
class UIStack:
    stack: AirflowStack
    history: str

    def get(self, path: str, token: str | None = None, **params: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(
            f"{self.stack.api_url}{path}", headers=headers, params=params, timeout=60
        )


@pytest.fixture(scope="module")
def ui_stack(mysql_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIStack]:
    """A private api-server with the plugin, over seeded history and one unreachable store."""
    work = tmp_path_factory.mktemp("ui-plugin")
    token = uuid.uuid4().hex[:10]
    schema, history = f"mmc_ui_{token}", f"mmc_ui_{token}_hist"
    run_sql(f"CREATE DATABASE `{schema}`")
    account: Account = create_account(run_sql, [schema], history)
    conn = mysql_connect()
    try:
        seed(conn.cursor(), history, PROFILES, datetime.now(UTC).replace(tzinfo=None), days=3)
        conn.commit()
    finally:
        conn.close()
    dbs = [{"name": p.name, "conn_id": "mmc_ui_db", "history_schema": history} for p in PROFILES]
    config = work / "maintenance.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "databases": [*dbs, {"name": "lost", "conn_id": "mmc_ui_lost"}],
                "notifications": {"enable_deadlines": False},
            }
        )
    )
    lost = {"conn_type": "mysql", "host": "127.0.0.1", "port": free_port(), "login": "x"}
    stack = plugin_api_server(
        work, config, {"mmc_ui_db": account.conn_json(), "mmc_ui_lost": json.dumps(lost)}
    )
    try:
        with stack:
            yield UIStack(stack, history)
    finally:
        drop_account(run_sql, account)
        for name in (schema, history):
            run_sql(f"DROP DATABASE IF EXISTS `{name}`")


PATHS = (
    "/api/fleet",
    "/api/databases/shop",
    f"/api/runs/{DAILY}/manual__x",
    "/fleet",
    "/databases/shop",
    f"/runs/{DAILY}/manual__x",
)


def test_no_token_no_data(ui_stack: UIStack) -> None:
    for path in PATHS:
        anonymous = ui_stack.get(PREFIX + path)
        assert anonymous.status_code == 401, (path, anonymous.text[:300])
        forged = ui_stack.get(PREFIX + path, token="eyJhbGciOiJIUzUxMiJ9.e30.c2lnbmF0dXJl")
        assert forged.status_code in (401, 403), (path, forged.text[:300])
        for body in (anonymous.text, forged.text):
            assert "shop" not in body and "score" not in body, path
    # The pages say how to sign in; the data endpoints answer JSON.
    assert "Sign in" in ui_stack.get(f"{PREFIX}/fleet").text
    assert ui_stack.get(f"{PREFIX}/api/fleet").json() == {"detail": "Not authenticated"}


def test_the_plugin_registers_its_views(ui_stack: UIStack) -> None:
    plugins = ui_stack.stack.api("GET", "/api/v2/plugins")["plugins"]
    (ours,) = [p for p in plugins if p["name"] == "mysql_maintenance_ui"]
    views = {v["destination"]: v for v in ours["external_views"]}
    assert set(views) == {"nav", "dag_run", "task_instance"}
    assert views["nav"]["href"] == f"{PREFIX}/fleet"
    assert views["dag_run"]["href"] == f"{PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}"
    assert ours["fastapi_apps"][0]["url_prefix"] == PREFIX


def test_fleet_endpoint_worst_first_and_the_unreachable_store(ui_stack: UIStack) -> None:
    token = ui_stack.stack.token()
    resp = ui_stack.get(f"{PREFIX}/api/fleet", token)
    assert resp.status_code == 200, resp.text[:500]
    body = resp.json()
    assert set(body) == {"generated_at", "build_ms", "runs_error", "databases"}
    assert body["runs_error"] is None
    rows = {r["database"]: r for r in body["databases"]}
    # Critical and failed drills first (by score), then the unreachable store, then healthy.
    assert [r["database"] for r in body["databases"]] == ["shop", "worn", "lost", "calm"]
    shop = rows["shop"]
    assert (shop["score"], shop["status"], shop["rank"]) == (40, "critical", 0)
    assert shop["restore"]["ok"] is False
    assert shop["findings"] == {"health": 1, "security": 1}
    assert len(shop["trend_30d"]) == 120 and shop["trend_7d"][-1] == 40
    assert rows["lost"]["error"].startswith("history store unreachable: ")
    assert rows["lost"]["score"] is None
    assert rows["calm"]["drill_last_ok_at"] is not None
    # The same page as HTML, authenticated by the UI's cookie instead of a header.
    page = requests.get(
        f"{ui_stack.stack.api_url}{PREFIX}/fleet", cookies={"_token": token}, timeout=60
    )
    assert page.status_code == 200
    assert page.text.count('class="fleet-row"') == 4
    assert "history store unreachable" in page.text and 'class="spark"' in page.text


def test_database_endpoint_and_page(ui_stack: UIStack) -> None:
    token = ui_stack.stack.token()
    resp = ui_stack.get(f"{PREFIX}/api/databases/shop", token, days=2, outcome="skipped")
    assert resp.status_code == 200, resp.text[:500]
    body = resp.json()
    assert body["error"] is None and body["latest"]["score"] == 40
    # Hourly samples over the last 2 days (the oldest one in or out by the seconds elapsed).
    assert len(body["series"]["score"]) in (48, 49)
    assert len(body["series"]["disk_pct"]) == len(body["series"]["score"])
    assert len(body["series"]["replica_lag_s"]) == len(body["series"]["score"])
    assert body["audit"] == []  # no run wrote skipped rows in this history
    assert [r["kind"] for r in body["recovery"]].count("restore_test") == 3
    lost = ui_stack.get(f"{PREFIX}/api/databases/lost", token).json()
    assert lost["error"].startswith("history store unreachable: ")
    assert ui_stack.get(f"{PREFIX}/api/databases/nope", token).status_code == 404
    html = requests.get(
        f"{ui_stack.stack.api_url}{PREFIX}/databases/lost", cookies={"_token": token}, timeout=60
    )
    assert html.status_code == 200 and "history store unreachable" in html.text
    unknown_run = ui_stack.get(f"{PREFIX}/api/runs/{DAILY}/manual__x", token)
    assert unknown_run.status_code == 404


# --------------------------------------------------------------------------------------------
# the browser, after real runs on the Celery stack
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def health_run(celery_stack: CeleryStack) -> str:
    """A real health-check run over both databases (the one DAG cheap enough for the budget)."""
    stack = celery_stack.stack
    started = time.monotonic()
    stack.unpause(HEALTH)
    run_id = stack.trigger(HEALTH)
    stack.wait_for_run(HEALTH, run_id, timeout=240)
    print(f"health run: {time.monotonic() - started:.1f} s")
    return run_id


def _count(driver: Any, selector: str, count: int, what: str) -> list[Any]:
    """Wait until ``count`` elements match ``selector`` and return them."""
    return list(
        _wait(
            driver, lambda d: (found := _css(d, selector)) and len(found) == count and found, what
        )
    )


def _frame(driver: Any, title: str) -> None:
    frame = _wait(driver, lambda d: (_css(d, f"iframe[title='{title}']") or [None])[0], title)
    driver.switch_to.frame(frame)


def test_pages_in_the_airflow_ui(
    signed_in: Any,  # noqa: F811 - the fixture imported from test_ui
    celery_stack: CeleryStack,
    health_run: str,
) -> None:
    stack = celery_stack.stack
    driver = signed_in
    driver.get(f"{stack.api_url}/plugin/mysql-maintenance")
    _frame(driver, "MySQL maintenance")
    rows = _count(driver, "tr.fleet-row", 2, "the fleet table's two rows")
    shown = {r.get_attribute("data-database"): r for r in rows}
    assert set(shown) == {"primary", "secondary"}
    for row in shown.values():
        score = row.find_element("css selector", "b.score").text
        assert 0 <= int(score) <= 100
        spark = row.find_element("css selector", "svg.spark")
        assert int(spark.get_attribute("data-points")) >= 1
        links = row.find_elements("css selector", "a[target=_top]")
        assert any(f"/dags/{HEALTH}/runs/" in (a.get_attribute("href") or "") for a in links)
    driver.switch_to.default_content()
    _screenshot(driver, "plugin-01-fleet")

    _frame(driver, "MySQL maintenance")
    shown["primary"].find_element("css selector", "a.db").click()
    _wait(driver, lambda d: "primary" in d.find_element("tag name", "h1").text, "database page")
    charts = _css(driver, "svg.chart")
    assert int(charts[0].get_attribute("data-points")) >= 1  # the health score over time
    audit = driver.find_element("css selector", "table.audit").text
    assert "health sample" in audit and f"preflight {HEALTH}" in audit
    driver.switch_to.default_content()
    _screenshot(driver, "plugin-02-database")

    run_id = health_run
    driver.get(f"{stack.api_url}/dags/{HEALTH}/runs/{run_id}/plugin/mysql-maintenance-report")
    _frame(driver, "Maintenance report")
    sections = _count(driver, "h3.run-db", 2, "the report's two databases")
    driver.switch_to.default_content()
    _screenshot(driver, "plugin-03-run-report")
    _frame(driver, "Maintenance report")
    assert {s.get_attribute("data-database") for s in sections} == {"primary", "secondary"}
    assert run_id in driver.find_element("tag name", "h1").find_element("xpath", "..").text
    for section in _css(driver, "section.database"):
        assert "success" in section.find_element("css selector", "h3").text
        assert section.find_element("css selector", "p.summary").text.strip()
        # Every action of the run on this database, from its audit log (collapsed).
        actions = section.find_element("css selector", "table.actions")
        assert f"preflight {HEALTH}" in actions.get_attribute("textContent")
    driver.switch_to.default_content()

    # On a mapped task instance, the tab shows only the database that map index ran on.
    ti = next(
        t
        for t in stack.task_instances(HEALTH, run_id)
        if t["task_id"].startswith("maintain") and t["map_index"] == 0
    )
    driver.get(
        f"{stack.api_url}/dags/{HEALTH}/runs/{run_id}/tasks/{ti['task_id']}/mapped/0"
        "/plugin/mysql-maintenance-task-report"
    )
    _frame(driver, "Maintenance report")
    (only,) = _count(driver, "h3.run-db", 1, "the task instance's one database")
    assert only.get_attribute("data-database") == ti["rendered_map_index"]
    driver.switch_to.default_content()

    # A link to Airflow's own run page leaves the plugin's frame for the UI's run page.
    driver.get(f"{stack.api_url}/plugin/mysql-maintenance")
    _frame(driver, "MySQL maintenance")
    run_link = f"a[target=_top][href*='/dags/{HEALTH}/runs/']"
    _count(driver, f"tr[data-database=primary] {run_link}", 1, "the health run's link")[0].click()
    driver.switch_to.default_content()
    _wait(driver, lambda d: f"/dags/{HEALTH}/runs/" in d.current_url, "the UI's run page")


def test_run_endpoint_after_a_real_run(celery_stack: CeleryStack, health_run: str) -> None:
    stack = celery_stack.stack
    run_id = health_run
    resp = requests.get(
        f"{stack.api_url}{PREFIX}/api/runs/{HEALTH}/{run_id}",
        headers={"Authorization": f"Bearer {stack.token()}"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text[:500]
    body = resp.json()
    assert (body["dag_id"], body["run_id"], body["maintenance_run"]) == (HEALTH, run_id, True)
    names = {d["database"]: d for d in body["databases"]}
    assert set(names) == {"primary", "secondary"}
    for database in names.values():
        assert database["summary"].startswith("health ")
        assert [a["command"] for a in database["audit"]][:2] == [
            f"preflight {HEALTH}",
            "health sample",
        ]
    assert (
        requests.get(f"{stack.api_url}{PREFIX}/api/runs/{HEALTH}/{run_id}", timeout=60).status_code
        == 401
    )

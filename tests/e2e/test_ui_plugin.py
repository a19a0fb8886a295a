"""The maintenance pages (plugins/maintenance_ops_ui.py) on a real api-server and in Chromium.

Two parts:

- **HTTP**: a private api-server (nothing else: no DAG runs needed) with the plugin and a
  configuration of four databases: three whose history root wrote into a history schema on the
  shared server (read by the code as the grants.sql account), and one whose history store is a
  closed port. The data endpoints refuse a request without a token (401), with a bad one,
  and from a signed-in user the auth manager does not let read DAGs (403: a simple-auth-manager
  user configured without a role); they answer with their shapes, and show the unreachable
  store as such.
- **Browser**: ``make demo``'s runs of every DAG (its embedded primary and replica, the demo
  shop, the grants.sql account and configuration, then its own ``run_all`` loop of
  ``dag.test()``, in a child process writing to a private api-server's metadata database);
  headless Chromium signs in, opens the "MySQL maintenance" entry (the fleet page in the UI's
  frame), the database page, the "Maintenance report" tab of the daily run and of a mapped
  task, and follows a run link out of the frame to the UI's run page; screenshots go to
  ``test-artifacts/ui/``. The module takes about 5 min on 2 cores (the six DAGs ~2.5 min).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import requests
import yaml

from maintenance_ops.core.labels import database_of
from tests.conftest import REPO, mysql_connect, run_sql
from tests.support.accounts import Account, create_account, drop_account
from tests.support.airflow_stack import AirflowStack, free_port
from tests.support.history_seed import sample_fleet, seed
from tests.support.ui_server import plugin_api_server

from .test_ui import _css, _screenshot, _sign_in, _wait, browser  # noqa: F401 - fixtures

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
    # A second user, configured without a role: the simple auth manager signs them in but
    # authorizes nothing (its `_is_authorized` refuses a user without a role), so they may not
    # read DAGs. (Its lowest role, viewer, may read every DAG.)
    users = stack.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    stack.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = f"{users},{NO_ROLE}:"
    try:
        with stack:
            yield UIStack(stack, history)
    finally:
        drop_account(run_sql, account)
        for name in (schema, history):
            run_sql(f"DROP DATABASE IF EXISTS `{name}`")


NO_ROLE = "no_role"

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


def _token_of(stack: AirflowStack, username: str) -> str:
    """Sign ``username`` in with the password the api-server generated for them."""
    password = json.loads(stack.passwords_file.read_text())[username]
    resp = requests.post(
        f"{stack.api_url}/auth/token",
        json={"username": username, "password": password},
        timeout=30,
    )
    assert resp.status_code in (200, 201), resp.text[:300]
    return str(resp.json()["access_token"])


def test_signed_in_without_permission_to_read_dags_no_data(ui_stack: UIStack) -> None:
    token = _token_of(ui_stack.stack, NO_ROLE)
    # Airflow itself refuses this user the DAGs: the plugin must too, not only anonymous users.
    assert ui_stack.get("/api/v2/dags", token).status_code == 403
    assert ui_stack.get("/api/v2/dags", ui_stack.stack.token()).status_code == 200
    for path in PATHS:
        refused = ui_stack.get(PREFIX + path, token)
        assert refused.status_code == 403, (path, refused.status_code, refused.text[:300])
        assert "shop" not in refused.text and "score" not in refused.text, path
        # The same through the UI's cookie, as the pages in the UI's frame send it.
        page = requests.get(
            f"{ui_stack.stack.api_url}{PREFIX}{path}", cookies={"_token": token}, timeout=60
        )
        assert page.status_code == 403, (path, page.text[:300])
    assert "Forbidden" in ui_stack.get(f"{PREFIX}/api/fleet", token).json()["detail"]
    assert "Not allowed" in ui_stack.get(f"{PREFIX}/fleet", token).text


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
# the browser, after `make demo`'s runs of every DAG
# --------------------------------------------------------------------------------------------

# run_all is `make demo`'s own loop over the six DAGs (dag.test() each, a summary per DAG); it
# runs in a child process so that its runs land in the api-server's metadata database.
RUN_ALL = (
    "import sys; from pathlib import Path; from maintenance_ops.demo import run_all; "
    "sys.exit(run_all(sys.stdout, Path(sys.argv[1])))"
)


@dataclass
class DemoStack:
    stack: AirflowStack
    runs: dict[str, str]  # DAG id -> the run id of its one run
    summary: str  # what run_all printed


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """`make demo` on its embedded servers, its runs of every DAG seen by a private api-server.

    The demo's own pieces, in its order (maintenance_ops.demo.main stops its servers when it
    ends, the pages need them after): the embedded primary and replica, the demo shop, the
    grants.sql account, the demo configuration, then run_all.
    """
    from maintenance_ops import demo
    from maintenance_ops.core.cadences import CADENCES

    work = tmp_path_factory.mktemp("ui-demo")
    out = io.StringIO()
    begin = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "DEMO_DIR", work / "demo")
        (work / "demo").mkdir()
        url, instances = demo._embedded_target(out)
        try:
            conn = demo._connect(url)
            demo.load_demo_data(conn, datetime.now().replace(microsecond=0))
            account = demo.create_maintenance_account(conn, url)
            conn.close()
            config = work / "maintenance.yaml"
            config.write_text(yaml.safe_dump(demo.demo_config(replica=True), sort_keys=False))
            replica = json.dumps(json.loads(account) | {"port": instances[1].port})
            stack = plugin_api_server(
                work, config, {demo.DEMO_CONN_ID: account, demo.DEMO_REPLICA_CONN_ID: replica}
            )
            # dag.test() stores the DAGs it runs as the bundle of this folder.
            stack.env["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
            with stack:
                started = time.monotonic()
                done = subprocess.run(
                    [sys.executable, "-c", RUN_ALL, str(work / "demo.log")],
                    env=stack.env,
                    cwd=str(work),
                    capture_output=True,
                    text=True,
                    timeout=900,
                    check=False,
                )
                print(
                    f"demo set-up {started - begin:.0f} s, every DAG "
                    f"{time.monotonic() - started:.0f} s"
                )
                assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
                runs = {}
                for cadence in CADENCES:
                    found = stack.api("GET", f"/api/v2/dags/{cadence.dag_id}/dagRuns")
                    (run,) = found["dag_runs"]
                    assert run["state"] == "success", run
                    runs[cadence.dag_id] = run["dag_run_id"]
                yield DemoStack(stack, runs, done.stdout)
        finally:
            for instance in reversed(instances):
                instance.stop()


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


def test_pages_in_the_airflow_ui_after_every_dag_ran(
    browser: Any,  # noqa: F811 - the fixture imported from test_ui
    demo_stack: DemoStack,
) -> None:
    stack, driver = demo_stack.stack, browser
    _sign_in(driver, demo_stack)
    driver.get(f"{stack.api_url}/plugin/mysql-maintenance")
    _frame(driver, "MySQL maintenance")
    (row,) = _count(driver, "tr.fleet-row", 1, "the fleet table's one row")
    assert row.get_attribute("data-database") == "demo"
    assert 0 <= int(row.find_element("css selector", "b.score").text) <= 100
    assert int(row.find_element("css selector", "svg.spark").get_attribute("data-points")) >= 1
    # The last run of every cadence, each a link to its run page in the UI.
    links = [a.get_attribute("href") or "" for a in row.find_elements("css selector", "a")]
    for dag_id, run_id in demo_stack.runs.items():
        assert any(f"/dags/{dag_id}/runs/{quote(run_id, safe='')}" in h for h in links), dag_id
    text = row.text
    # The duplicate index and the auto-increment near its maximum are open findings; the
    # cleanup reclaimed space; the backup was restore-tested (RTO) and the drill passed today.
    assert "indexes" in text and "auto-increment" in text, text
    assert "RTO " in text and "DR drill" in text and "backup " in text, text
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    assert f"last good drill: {today}" in text or "last good drill: 20" in text, text
    assert "no run" not in text, text
    driver.switch_to.default_content()
    _screenshot(driver, "plugin-01-fleet")

    _frame(driver, "MySQL maintenance")
    row.find_element("css selector", "a.db").click()
    _wait(driver, lambda d: "demo" in d.find_element("tag name", "h1").text, "database page")
    charts = {c.get_attribute("aria-label"): c for c in _css(driver, "svg.chart")}
    points = {title: int(c.get_attribute("data-points") or 0) for title, c in charts.items()}
    # The score over time, the server's metrics, and the restore test's RTO, each drawn.
    assert points["Health score"] >= 1 and points["Restore-test RTO"] >= 1, points
    # One sample so far: the newest value is a dot, the restore test's bar is drawn.
    assert charts["Health score"].find_elements("css selector", "circle.last")
    assert charts["Restore-test RTO"].find_elements("css selector", "rect.bar")
    assert len([n for n in points.values() if n]) >= 3, points
    findings = driver.find_element("css selector", "table.findings").text
    assert "idx_customer_dup" in findings and "DROP INDEX" in findings, findings
    audit = driver.find_element("css selector", "table.audit").get_attribute("textContent")
    for expected in ("health sample", "index analysis", "preflight mysql_backup_testing"):
        assert expected in audit, expected
    driver.switch_to.default_content()
    _screenshot(driver, "plugin-02-database")

    run_id = demo_stack.runs[DAILY]
    driver.get(f"{stack.api_url}/dags/{DAILY}/runs/{run_id}/plugin/mysql-maintenance-report")
    _frame(driver, "Maintenance report")
    (section,) = _count(driver, "section.database", 1, "the daily report's one database")
    heading = section.find_element("css selector", "h3.run-db")
    assert heading.get_attribute("data-database") == "demo" and "success" in heading.text
    report = section.get_attribute("textContent")
    assert "django_session" in report and "idx_customer_dup" in report, report[:2000]
    actions = section.find_element("css selector", "table.actions").get_attribute("textContent")
    assert f"preflight {DAILY}" in actions
    driver.switch_to.default_content()
    _screenshot(driver, "plugin-03-run-report")

    # On a mapped task instance, the tab shows the database that map index ran on, whatever
    # its label in the grid says besides.
    (ti,) = [
        t for t in stack.task_instances(HEALTH, demo_stack.runs[HEALTH]) if t["map_index"] == 0
    ]
    label = ti["rendered_map_index"]
    assert label == "demo" or label.startswith("demo · "), label
    driver.get(
        f"{stack.api_url}/dags/{HEALTH}/runs/{demo_stack.runs[HEALTH]}/tasks/{ti['task_id']}"
        "/mapped/0/plugin/mysql-maintenance-task-report"
    )
    _frame(driver, "Maintenance report")
    (only,) = _count(driver, "h3.run-db", 1, "the task instance's one database")
    assert only.get_attribute("data-database") == database_of(label) == "demo"
    driver.switch_to.default_content()

    # A link to Airflow's own run page leaves the plugin's frame for the UI's run page.
    driver.get(f"{stack.api_url}/plugin/mysql-maintenance")
    _frame(driver, "MySQL maintenance")
    run_link = f"a[target=_top][href*='/dags/{HEALTH}/runs/']"
    _count(driver, f"tr[data-database=demo] {run_link}", 1, "the health run's link")[0].click()
    driver.switch_to.default_content()
    _wait(driver, lambda d: f"/dags/{HEALTH}/runs/" in d.current_url, "the UI's run page")


def test_run_endpoint_after_every_dag_ran(demo_stack: DemoStack) -> None:
    stack = demo_stack.stack
    for dag_id, run_id in demo_stack.runs.items():
        resp = requests.get(
            f"{stack.api_url}{PREFIX}/api/runs/{dag_id}/{run_id}",
            headers={"Authorization": f"Bearer {stack.token()}"},
            timeout=60,
        )
        assert resp.status_code == 200, (dag_id, resp.text[:500])
        body = resp.json()
        assert (body["dag_id"], body["run_id"], body["maintenance_run"]) == (dag_id, run_id, True)
        (database,) = body["databases"]
        assert database["database"] == "demo" and database["state"] == "success", database
        assert database["summary"], database
        assert f"preflight {dag_id}" in [a["command"] for a in database["audit"]], dag_id
        assert (
            requests.get(
                f"{stack.api_url}{PREFIX}/api/runs/{dag_id}/{run_id}", timeout=60
            ).status_code
            == 401
        )

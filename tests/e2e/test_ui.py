"""The Airflow UI in headless Chromium: sign in, the six DAGs, the trigger form's params.

Airflow 3's UI is a React app: every check waits for the element it needs (never a sleep).
Screenshots go to ``test-artifacts/ui/`` (or ``$MMC_TEST_ARTIFACTS/ui``); the path is printed.
Chromium and its driver are Debian's (``chromium``, ``chromium-driver``; scripts/setup.sh).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

from .conftest import DAG_IDS, CeleryStack

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("MMC_TEST_ARTIFACTS") or REPO / "test-artifacts") / "ui"
WAIT_S = 60
PARAMS = ("databases", "dry_run")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven through chromedriver (no browser download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not os.access(binary, os.X_OK):
            pytest.fail(f"{binary} is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1600,1400")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, condition: Callable[[Any], Any], what: str) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(condition)
    except TimeoutException:
        shot = _screenshot(driver, "timeout-" + "-".join(what.split()[:4]))
        pytest.fail(f"UI: {what} did not appear within {WAIT_S} s (screenshot: {shot})")


def _screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def _sign_in(driver: Any, celery_stack: CeleryStack) -> None:
    stack = celery_stack.stack
    driver.get(f"{stack.api_url}/")
    # The simple auth manager sends an anonymous visitor to its own login page.
    username = _wait(driver, lambda d: (_css(d, "input[name=username]") or [None])[0], "login")
    _screenshot(driver, "01-login")
    username.send_keys(stack.admin_user)
    _css(driver, "input[name=password]")[0].send_keys(stack.admin_password)
    _css(driver, "button[type=submit]")[0].click()
    _wait(driver, lambda d: "/auth/login" not in d.current_url, "the page after signing in")


def _cards(driver: Any) -> dict[str, dict[str, Any]]:
    """Return what the DAG list shows per DAG: its tags and its schedule."""
    from selenium.webdriver.common.by import By

    shown = {}
    for card in _css(driver, "[data-testid=dag-card]"):
        dag_id = card.find_element(By.CSS_SELECTOR, "[data-testid=dag-id]").text.strip()
        # Each tag is a link that filters the list by it.
        tags = card.find_elements(By.CSS_SELECTOR, "a[href*='tags=']")
        schedule = card.find_elements(By.CSS_SELECTOR, "[data-testid=schedule] p")
        shown[dag_id] = {
            "tags": {t.text.strip() for t in tags if t.text.strip()},
            "schedule": schedule[0].text.strip() if schedule else "",
        }
    return shown


@pytest.fixture(scope="module")
def signed_in(browser: Any, celery_stack: CeleryStack) -> Any:
    """The browser, signed in once as the stack's admin (the session cookie is kept)."""
    _sign_in(browser, celery_stack)
    return browser


def test_sign_in_and_see_the_six_dags(signed_in: Any, celery_stack: CeleryStack) -> None:
    stack = celery_stack.stack
    browser = signed_in
    browser.get(f"{stack.api_url}/dags")

    # Wait until every card has rendered its id, tags and schedule.
    def all_cards(driver: Any) -> dict[str, dict[str, Any]] | None:
        cards = _cards(driver)
        complete = all(v["tags"] and v["schedule"] for v in cards.values())
        return cards if set(DAG_IDS) <= set(cards) and complete else None

    shown = _wait(browser, all_cards, f"the DAG list with {', '.join(DAG_IDS)}")
    _screenshot(browser, "02-dag-list")

    dags = {d["dag_id"]: d for d in stack.api("GET", "/api/v2/dags?limit=100")["dags"]}
    for dag_id in DAG_IDS:
        assert shown[dag_id]["tags"] == {t["name"] for t in dags[dag_id]["tags"]}, dag_id
        assert shown[dag_id]["schedule"] == dags[dag_id]["timetable_summary"], dag_id
    assert shown["mysql_health_check"]["schedule"] == "* * * * *"  # from the test's config
    assert shown["mysql_daily_maintenance"]["schedule"] == celery_stack.daily_cron


def _field_row_text(field: Any, title: str, levels: int = 8) -> str:
    """Return the text of the form row around ``field``: the nearest ancestor showing its title.

    A text field points at its help text with aria-describedby, a multi-select does not; the
    row (label, control, help text) is what a user sees either way.
    """
    node = field
    for _ in range(levels):
        node = node.find_element("xpath", "..")
        if title in node.text:
            return str(node.text)
    return ""


def test_trigger_form_shows_the_params_with_descriptions(
    signed_in: Any, celery_stack: CeleryStack
) -> None:
    stack = celery_stack.stack
    browser = signed_in
    dag_id = "mysql_daily_maintenance"
    details = stack.api("GET", f"/api/v2/dags/{dag_id}/details")
    browser.get(f"{stack.api_url}/dags/{dag_id}")
    button = _wait(
        browser,
        lambda d: next(
            (b for b in _css(d, "[data-testid=trigger-dag-button]") if b.is_enabled()), None
        ),
        "the Trigger button",
    )
    button.click()

    def param_fields(driver: Any) -> list[Any] | None:
        found = [_css(driver, f"[name=element_{p}]") for p in PARAMS]
        return [f[0] for f in found] if all(found) else None

    fields = _wait(browser, param_fields, f"the trigger form's params {', '.join(PARAMS)}")
    _screenshot(browser, "03-trigger-form")

    for param, field in zip(PARAMS, fields, strict=True):
        described = details["params"][param]
        shown = _field_row_text(field, described["schema"]["title"])
        assert described["description"], f"param {param!r} has no description"
        assert described["description"] in shown, f"param {param!r} is shown without a description"
    body = browser.find_element("tag name", "body").text
    for title in ("Databases", "Dry run"):
        assert title in body

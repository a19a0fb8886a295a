"""The coordinator's pure parts: arguments, cadence and database choices, settings, bounded calls.

Calls against a real api-server are in tests/e2e/test_coordinator.py; here the only servers are
a closed port and a socket that accepts and never answers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from maintenance_ops.__main__ import _run_text, _schedules_text, parse_args
from maintenance_ops.coordinator import (
    AirflowApi,
    AirflowApiError,
    AirflowUnreachable,
    ApiSettings,
    Coordinator,
    ManualRun,
    Schedule,
    UnknownChoice,
    check_databases,
    configured_databases,
    database_list,
    get_maintenance_coordinator,
    resolve_cadence,
)
from maintenance_ops.core.config import Config
from maintenance_ops.core.exceptions import ConfigError
from maintenance_ops.dag_parts import params

SECRET = "s3cret-Pa55word"


def _closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


class _Html(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>not Airflow</html>")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def html_server() -> Iterator[str]:
    """Some other web server, where the API's base URL was expected."""
    server = HTTPServer(("127.0.0.1", 0), _Html)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "daily_maintenance", ("daily_maintenance", "mysql_daily_maintenance"), id="key"
        ),
        pytest.param(
            "weekly", ("weekly_optimization", "mysql_weekly_optimization"), id="task-type"
        ),
        pytest.param("mysql_health_check", ("health_check", "mysql_health_check"), id="dag-id"),
        pytest.param(
            "mysql_custom_shop_nightly",
            ("custom:shop_nightly", "mysql_custom_shop_nightly"),
            id="custom",
        ),
    ],
)
def test_a_cadence_is_named_by_key_task_type_or_dag_id(
    name: str, expected: tuple[str, str]
) -> None:
    assert resolve_cadence(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("hourly", id="unknown"),
        pytest.param("mysql_custom_", id="custom-without-name"),
        pytest.param("", id="empty"),
    ],
)
def test_an_unknown_cadence_names_every_choice(name: str) -> None:
    with pytest.raises(UnknownChoice) as caught:
        resolve_cadence(name)
    message = str(caught.value)
    assert f"unknown cadence {name!r}" in message
    for key in ("daily_maintenance", "weekly_optimization", "health_check", "mysql_custom_<name>"):
        assert key in message


def test_the_databases_a_dag_accepts_come_from_its_param_schema() -> None:
    # The shape GET /api/v2/dags/{id}/details returns: each param's dump, built by the DAGs' own
    # dag_parts.params from the configuration.
    config = Config.model_validate(
        {"databases": [{"name": "shop", "conn_id": "a"}, {"name": "crm", "conn_id": "b"}]}
    )
    details = {"params": {k: p.dump() for k, p in params(config).items()}}
    assert configured_databases(details) == ["shop", "crm"]
    only = {"params": {k: p.dump() for k, p in params(config, databases=["crm"]).items()}}
    assert configured_databases(only) == ["crm"]
    assert configured_databases({"params": None}) == []

    check_databases("mysql_daily_maintenance", ["crm", "shop"], ["shop", "crm"])
    with pytest.raises(UnknownChoice) as caught:
        check_databases("mysql_daily_maintenance", ["shop", "shopp"], ["shop", "crm"])
    assert str(caught.value).startswith(
        "unknown database(s) 'shopp' for mysql_daily_maintenance: configured there: shop, crm"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(None, [], id="none-means-every-enabled"),
        pytest.param("shop", ["shop"], id="one"),
        pytest.param(["shop", "crm", "shop"], ["shop", "crm"], id="each-once-in-order"),
    ],
)
def test_database_list(given: str | list[str] | None, expected: list[str]) -> None:
    assert database_list(given) == expected


def test_an_empty_database_name_is_refused() -> None:
    with pytest.raises(UnknownChoice, match="non-empty strings"):
        database_list(["shop", " "])


def test_trigger_arguments() -> None:
    args = parse_args(
        ["trigger", "daily", "--database", "a", "--database", "b", "--dry-run", "--wait"]
    )
    assert (args.cadence, args.databases, args.dry_run, args.wait) == (
        "daily",
        ["a", "b"],
        True,
        True,
    )
    assert args.timeout is None and args.format == "text"
    assert parse_args(["trigger", "daily", "--wait", "--timeout", "2.5"]).timeout == 2.5
    assert parse_args(["schedules", "--format", "json"]).format == "json"
    assert parse_args(["pause", "mysql_weekly_optimization"]).cadence == "mysql_weekly_optimization"
    status = parse_args(["status", "--schedules", "--format", "json"])
    assert (status.command, status.schedules, status.format) == ("status", True, "json")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        pytest.param(
            ["trigger", "daily", "--timeout", "5"],
            "--timeout applies to --wait",
            id="timeout-without-wait",
        ),
        pytest.param(
            ["trigger", "daily", "--wait", "--timeout", "0"],
            "not a positive number",
            id="zero-timeout",
        ),
        pytest.param(
            ["trigger", "daily", "--wait", "--timeout", "soon"],
            "not a positive number",
            id="not-a-number",
        ),
        pytest.param(["pause"], "CADENCE", id="pause-without-cadence"),
        pytest.param(
            ["trigger", "daily", "--password", "x"],
            "unrecognized arguments",
            id="no-password-option",
        ),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(argv)
    assert caught.value.code == 2
    assert says in capsys.readouterr().err


def test_settings_come_from_the_environment_in_order() -> None:
    both = {"AIRFLOW_API_URL": "http://api:8080/", "AIRFLOW__API__BASE_URL": "http://base:9090"}
    assert ApiSettings.from_environment(both).url == "http://api:8080"
    # Airflow's own [api] base_url is used when AIRFLOW_API_URL is not set (issue 18, item 10).
    base = ApiSettings.from_environment({"AIRFLOW__API__BASE_URL": "http://base:9090/airflow/"})
    assert (base.url, base.url_source) == ("http://base:9090/airflow", "AIRFLOW__API__BASE_URL")
    user = ApiSettings.from_environment(
        {**both, "AIRFLOW_API_USER": "ops", "AIRFLOW_API_PASSWORD": SECRET}
    )
    assert (user.username, user.password, user.token) == ("ops", SECRET, None)
    token = ApiSettings.from_environment({**both, "AIRFLOW_API_TOKEN": " tok\n"})
    assert token.token == "tok"


def test_a_password_file_plain_or_the_simple_auth_managers(tmp_path: Path) -> None:
    plain = tmp_path / "password"
    plain.write_text(SECRET + "\n")
    env = {"AIRFLOW_API_URL": "http://api", "AIRFLOW_API_USER": "ops"}
    settings = ApiSettings.from_environment({**env, "AIRFLOW_API_PASSWORD_FILE": str(plain)})
    assert (settings.username, settings.password) == ("ops", SECRET)

    generated = tmp_path / "simple_auth_manager_passwords.json.generated"
    generated.write_text(json.dumps({"admin": SECRET}))
    alone = ApiSettings.from_environment(
        {"AIRFLOW_API_URL": "http://api", "AIRFLOW_API_PASSWORD_FILE": str(generated)}
    )
    assert (alone.username, alone.password) == ("admin", SECRET)

    generated.write_text(json.dumps({"admin": SECRET, "viewer": SECRET}))
    with pytest.raises(ConfigError) as caught:
        ApiSettings.from_environment(
            {"AIRFLOW_API_URL": "http://api", "AIRFLOW_API_PASSWORD_FILE": str(generated)}
        )
    assert "users admin, viewer: set AIRFLOW_API_USER" in str(caught.value)
    assert SECRET not in str(caught.value)

    with pytest.raises(ConfigError, match="cannot read AIRFLOW_API_PASSWORD_FILE="):
        ApiSettings.from_environment({**env, "AIRFLOW_API_PASSWORD_FILE": str(tmp_path / "none")})


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    settings = ApiSettings("http://api:8080", username="ops", password=SECRET)
    coordinator = get_maintenance_coordinator("http://api:8080", token=SECRET)
    try:
        assert SECRET not in repr(settings)
        assert SECRET not in repr(coordinator) and "a token" in repr(coordinator)
    finally:
        coordinator.close()
    with pytest.raises(ConfigError) as caught:
        ApiSettings(f"http://ops:{SECRET}@api:8080")
    assert "contains credentials" in str(caught.value) and SECRET not in str(caught.value)
    with pytest.raises(ConfigError, match="must look like http://HOST:PORT"):
        ApiSettings("api:8080")


def test_bad_input_is_refused_before_any_call() -> None:
    # Nothing listens at the URL: an unknown cadence or database name fails as such, first.
    with get_maintenance_coordinator(_closed_url()) as coordinator:
        with pytest.raises(UnknownChoice, match="unknown cadence 'hourly'"):
            coordinator.trigger_manual_maintenance("shop", "hourly")
        with pytest.raises(UnknownChoice, match="non-empty strings"):
            coordinator.trigger_manual_maintenance([""], "daily")
        with pytest.raises(UnknownChoice, match="unknown cadence"):
            coordinator.disable_schedule("mysql_hourly")
        with pytest.raises(
            AirflowUnreachable, match="Airflow API unreachable at http://127.0.0.1:"
        ):
            coordinator.schedules()


def test_every_call_is_bounded(silent_server: str) -> None:
    api = AirflowApi(ApiSettings(silent_server, username="ops", password=SECRET), timeout_s=0.5)
    begin = time.monotonic()
    with Coordinator(api) as coordinator, pytest.raises(AirflowUnreachable) as caught:
        coordinator.schedules()
    assert time.monotonic() - begin < 5
    message = str(caught.value)
    assert "POST /auth/token had no answer within 0.5 s" in message and SECRET not in message


def test_text_output() -> None:
    schedules = [
        Schedule(
            "daily_maintenance", "mysql_daily_maintenance", True, paused=True, schedule="0 2 * * *"
        ),
        Schedule(
            "health_check",
            "mysql_health_check",
            True,
            paused=False,
            schedule="0 * * * *",
            next_run="2026-12-03T16:00:00Z",
        ),
        Schedule("backup_testing", "mysql_backup_testing", False),
    ]
    before = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)
    assert _schedules_text(schedules, before).splitlines() == [
        "daily_maintenance (mysql_daily_maintenance): paused, schedule 0 2 * * *",
        "health_check (mysql_health_check): active, schedule 0 * * * *, next run 2026-12-03T16:00:00Z",
        "backup_testing (mysql_backup_testing): not on the server (not parsed yet, or an import error)",
    ]
    # A next run already past (just unpaused) starts at once: say so, the run is real.
    after = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    assert (
        _schedules_text(schedules, after)
        .splitlines()[1]
        .endswith("next run 2026-12-03T16:00:00Z (due now: Airflow starts it at once)")
    )
    body = {
        "dag_id": "mysql_health_check",
        "dag_run_id": "manual__2026-12-03T15:00:00+00:00",
        "state": "success",
        "conf": {"dry_run": True},
    }
    run = ManualRun.from_api("http://api:8080", body)
    assert (
        run.url
        == "http://api:8080/dags/mysql_health_check/runs/manual__2026-12-03T15%3A00%3A00%2B00%3A00"
    )
    assert (
        _run_text(run).splitlines()[-1]
        == "  no report: the report task returned none (see its log)"
    )
    done = ManualRun(
        **{**run.to_dict(), "report": {"text": "mysql_health_check: 1 of 1 database(s) done"}}
    )
    assert _run_text(done).splitlines()[-1] == "mysql_health_check: 1 of 1 database(s) done"


def test_a_url_that_is_not_the_api_server_says_so(html_server: str) -> None:
    with get_maintenance_coordinator(html_server) as coordinator:
        with pytest.raises(AirflowApiError) as caught:
            coordinator.schedules()
    assert str(caught.value).startswith(
        f"GET /api/v2/dags at {html_server} answered 200 with no JSON (text/html): is this the "
        "api-server's base URL?"
    )

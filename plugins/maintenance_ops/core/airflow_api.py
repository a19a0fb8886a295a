"""Airflow's REST API (v2), from outside a task: where it is, a JWT login, bounded calls.

Where and as whom (:meth:`ApiSettings.from_environment`): ``AIRFLOW_API_URL``, else Airflow's
``[api] base_url``, else ``http://localhost:8080``; ``AIRFLOW_API_TOKEN`` (or
``AIRFLOW_API_TOKEN_FILE``), else ``AIRFLOW_API_USER`` with ``AIRFLOW_API_PASSWORD`` (or
``AIRFLOW_API_PASSWORD_FILE``) exchanged for a JWT at ``POST /auth/token``. A password or a
token never appears in a repr, a message or an exception. The coordinator, ``status`` and the
alerts' run links use this one client.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from maintenance_ops.core.exceptions import ConfigError, MaintenanceError

if TYPE_CHECKING:
    import httpx

API_URL_ENV = "AIRFLOW_API_URL"
BASE_URL_ENV = "AIRFLOW__API__BASE_URL"  # Airflow's own [api] base_url
TOKEN_ENV = "AIRFLOW_API_TOKEN"
TOKEN_FILE_ENV = "AIRFLOW_API_TOKEN_FILE"
USER_ENV = "AIRFLOW_API_USER"
PASSWORD_ENV = "AIRFLOW_API_PASSWORD"
PASSWORD_FILE_ENV = "AIRFLOW_API_PASSWORD_FILE"
DEFAULT_API_URL = "http://localhost:8080"
CREDENTIALS_HINT = (
    f"set {TOKEN_ENV} (or {TOKEN_FILE_ENV}), or {USER_ENV} with {PASSWORD_ENV} "
    f"(or {PASSWORD_FILE_ENV})"
)

HTTP_TIMEOUT_S = 30.0
"""Every HTTP call's limit (connect, read, write): a hung API server cannot hang a caller."""


class AirflowApiError(MaintenanceError):
    """Airflow's REST API refused or failed a call."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AirflowAuthError(AirflowApiError):
    """The API refused the credentials or the token (401), or the user's permissions (403)."""


class AirflowUnreachable(AirflowApiError):
    """The API server did not answer (refused, unknown host, timed out)."""


class NotFound(AirflowApiError):
    """The API answered 404: no such DAG, run or XCom."""


class DagNotFound(NotFound):
    """The API server does not know the DAG (not parsed yet, or its file failed to import)."""


# ---------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ApiSettings:
    """Where the API server is and how to authenticate; secrets stay out of the repr.

    :param url: the API server's base URL (the UI's address), without credentials.
    :param username: a user of Airflow's auth manager, for ``POST /auth/token``.
    :param password: that user's password (never shown).
    :param token: a JWT to use as is instead of logging in (never shown).
    :param url_source: where ``url`` came from, for messages.
    """

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    url_source: str = "the caller"

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if "@" in parts.netloc:  # never echo it: the part before "@" may be a password
            raise ConfigError(
                f"the Airflow API URL from {self.url_source} contains credentials: remove them "
                f"from the URL and {CREDENTIALS_HINT}"
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"the Airflow API URL from {self.url_source} must look like http://HOST:PORT "
                f"(got {self.url!r}); set {API_URL_ENV}"
            )
        object.__setattr__(self, "url", self.url.rstrip("/"))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        """Read the settings from the environment (and Airflow's ``[api] base_url``).

        :raises ConfigError: a credentials file cannot be read, or the URL is malformed.
        """
        env = os.environ if environ is None else environ
        url, source = _api_url(env)
        token = env.get(TOKEN_ENV) or _read_secret_file(env, TOKEN_FILE_ENV)
        username = env.get(USER_ENV) or None
        password = env.get(PASSWORD_ENV)
        if password is None and env.get(PASSWORD_FILE_ENV):
            username, password = _password_from_file(env, username)
        return cls(
            url=url,
            username=username,
            password=password,
            token=token.strip() if token else None,
            url_source=source,
        )

    def describe_credentials(self) -> str:
        """Say how calls authenticate, without any secret."""
        if self.token:
            return "a token"
        if self.username:
            return f"user {self.username!r}"
        return "no credentials"


def _api_url(env: Mapping[str, str]) -> tuple[str, str]:
    if env.get(API_URL_ENV):
        return env[API_URL_ENV], API_URL_ENV
    if env.get(BASE_URL_ENV):
        return env[BASE_URL_ENV], BASE_URL_ENV
    try:  # airflow.cfg (or a _CMD/_SECRET variant); importing Airflow costs seconds
        from airflow.configuration import conf

        configured = conf.get("api", "base_url", fallback="") or ""
    except Exception:  # noqa: BLE001 - no readable Airflow configuration: use the default
        configured = ""
    if configured:
        return configured, "Airflow's [api] base_url"
    return DEFAULT_API_URL, f"the default (set {API_URL_ENV} or [api] base_url)"


def _read_secret_file(env: Mapping[str, str], variable: str) -> str | None:
    path = env.get(variable)
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read {variable}={path}: {exc.strerror or type(exc).__name__}; "
            "point it at a readable file"
        ) from None


def _password_from_file(env: Mapping[str, str], username: str | None) -> tuple[str | None, str]:
    """Read a password file: the password itself, or the simple auth manager's JSON file.

    ``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated`` maps users to passwords: the
    entry of ``AIRFLOW_API_USER`` is used, or the only entry when no user is set.
    """
    text = _read_secret_file(env, PASSWORD_FILE_ENV) or ""
    try:
        entries = json.loads(text)
    except ValueError:
        entries = None
    if not isinstance(entries, dict):
        return username, text.rstrip("\r\n")
    if username is None and len(entries) == 1:
        username = next(iter(entries))
    if username is None or not isinstance(entries.get(username), str):
        users = ", ".join(sorted(map(str, entries))) or "none"
        raise ConfigError(
            f"{PASSWORD_FILE_ENV} holds passwords of users {users}: set {USER_ENV} to one of them"
        )
    return username, entries[username]


# ---------------------------------------------------------------------------------- client


class AirflowApi:
    """A small client of Airflow's REST API v2: a JWT, bounded calls, errors that say the fix.

    :param settings: where the API server is and the credentials.
    :param timeout_s: the limit of every HTTP call.
    """

    def __init__(self, settings: ApiSettings, *, timeout_s: float = HTTP_TIMEOUT_S) -> None:
        import httpx

        self.settings = settings
        self.timeout_s = timeout_s
        self._token = settings.token
        self._http = httpx.Client(
            base_url=settings.url,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            follow_redirects=False,
        )

    @property
    def url(self) -> str:
        """The API server's base URL."""
        return self.settings.url

    def __repr__(self) -> str:
        return f"AirflowApi({self.url!r}, {self.settings.describe_credentials()})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> AirflowApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """Call ``method path`` and return the decoded JSON body ({} when empty).

        :param missing_ok: return None on 404 instead of raising.
        :raises AirflowAuthError: 401 (after one fresh login) or 403.
        :raises AirflowUnreachable: no answer within the timeout.
        :raises AirflowApiError: any other error status, with the server's detail.
        """
        if self._token is None and self.settings.username:
            self._token = self._login()
        response = self._send(method, path, body, params)
        if _token_refused(response) and self.settings.username and not self.settings.token:
            self._token = self._login()  # our JWT expired: log in again, once
            response = self._send(method, path, body, params)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code in (401, 403):
            raise self._auth_error(response, f"{method} {path}")
        if response.status_code == 404:
            raise NotFound(
                f"{method} {path} -> 404 at {self.url}: {_detail(response)}", status_code=404
            )
        if response.is_error:
            raise AirflowApiError(
                f"{method} {path} -> {response.status_code} at {self.url}: {_detail(response)}",
                status_code=response.status_code,
            )
        return self._json(response, f"{method} {path}") if response.content else {}

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, params: dict[str, Any] | None
    ) -> httpx.Response:
        import httpx

        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            return self._http.request(method, path, json=body, params=params, headers=headers)
        except httpx.TimeoutException:
            raise AirflowUnreachable(
                f"Airflow API unreachable at {self.url}: {method} {path} had no answer within "
                f"{self.timeout_s:g} s; check that the api-server runs there"
            ) from None
        except httpx.HTTPError as exc:
            raise AirflowUnreachable(
                f"Airflow API unreachable at {self.url} ({method} {path}): "
                f"{type(exc).__name__}: {exc}; set {API_URL_ENV} (or [api] base_url) to the "
                "api-server's address"
            ) from None

    def _login(self) -> str:
        """Exchange the user and password for a JWT (``POST /auth/token``)."""
        body = {"username": self.settings.username, "password": self.settings.password or ""}
        response = self._send("POST", "/auth/token", body, None)
        who = f"user {self.settings.username!r}"
        if response.status_code in (400, 401, 403, 422):
            raise AirflowAuthError(
                f"Airflow at {self.url} refused the login of {who} (HTTP "
                f"{response.status_code}: {_detail(response)}): check {USER_ENV} and "
                f"{PASSWORD_ENV} (or {PASSWORD_FILE_ENV})",
                status_code=response.status_code,
            )
        if response.status_code in (404, 405):
            raise AirflowAuthError(
                f"Airflow at {self.url} has no POST /auth/token (its auth manager issues tokens "
                f"another way): set {TOKEN_ENV} to a token from it",
                status_code=response.status_code,
            )
        if response.is_error:
            raise AirflowApiError(
                f"POST /auth/token -> {response.status_code} at {self.url}: {_detail(response)}",
                status_code=response.status_code,
            )
        body = self._json(response, "POST /auth/token")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AirflowApiError(f"POST /auth/token at {self.url} returned no access_token")
        return token

    def _json(self, response: httpx.Response, call: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise AirflowApiError(
                f"{call} at {self.url} answered {response.status_code} with no JSON "
                f"({response.headers.get('content-type', 'no content type')}): is this the "
                f"api-server's base URL? Set {API_URL_ENV} (or [api] base_url)",
                status_code=response.status_code,
            ) from None

    def _auth_error(self, response: httpx.Response, call: str) -> AirflowAuthError:
        code = response.status_code
        detail = _detail(response)
        if self.settings.token and _token_refused(response):
            fix = f"the token is invalid or expired: get a new one, or {CREDENTIALS_HINT}"
        elif code == 403:
            fix = (
                f"{self.settings.describe_credentials()} may not do this: give the user a role "
                "that may (the DAG's pause and trigger rights) or use another user"
            )
        elif self.settings.token:
            fix = f"the token is invalid or expired: get a new one, or {CREDENTIALS_HINT}"
        elif self.settings.username:
            fix = f"the login of user {self.settings.username!r} was not accepted"
        else:
            fix = f"this server needs credentials: {CREDENTIALS_HINT}"
        return AirflowAuthError(
            f"{call} -> {code} at {self.url} ({detail}): {fix}", status_code=code
        )


def _token_refused(response: httpx.Response) -> bool:
    """Whether the API refused the bearer token itself (Airflow 3.3: 403 "Invalid JWT token")."""
    code = response.status_code
    return code == 401 or (code == 403 and "token" in _detail(response).lower())


def _detail(response: httpx.Response) -> str:
    """Return the server's error detail, short (FastAPI's ``detail``, else the body)."""
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text
    text = detail if isinstance(detail, str) else json.dumps(detail, default=str)
    return text[:500] or response.reason_phrase


def run_page_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The run's page in the Airflow UI at ``base_url``."""
    return f"{base_url.rstrip('/')}/dags/{path_segment(dag_id)}/runs/{path_segment(run_id)}"


def path_segment(part: str) -> str:
    """Quote one path segment (run ids contain ':' and '+')."""
    return quote(part, safe="")

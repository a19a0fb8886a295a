"""One connection lookup: a connection id resolved the way Airflow resolves it where we run.

Inside a task (the task runner set up its supervisor channel: ``task_runner.SUPERVISOR_COMMS``,
the test the Task SDK itself makes) the SDK's lookup is used: the worker's ``AIRFLOW_CONN_*``
variables and its ``[workers] secrets_backend``, then Airflow's API server (which reads the
configured secrets backend, its environment and the metadata database). A task never opens the
metadata database itself.

Everywhere else (``python -m maintenance_ops status``, the runbooks, the demo) the SDK would
read only environment variables, so connections added with ``airflow connections add`` were
invisible. There the chain Airflow core uses is asked, in its order: the configured
``[secrets] backend``, ``AIRFLOW_CONN_<ID>``, then the metadata database. A source that cannot
be read (an unmigrated or unreachable metadata database) is named with the reason in the error,
never silently taken for "not defined" as core's own loop does.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.exceptions import ConfigError

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ["ConnectionNotDefined", "add_command", "get_connection", "in_task"]

MYSQL_EXAMPLE = "--conn-type mysql --conn-host HOST --conn-port 3306 --conn-login USER"


class ConnectionNotDefined(ConfigError):
    """No source Airflow reads defines the connection id; the message says where it looked."""


def in_task() -> bool:
    """Return whether this process runs a task (or other SDK workload) with a supervisor.

    The Task SDK's own test (``ensure_secrets_backend_loaded`` in
    ``airflow/sdk/execution_time/supervisor.py``): the task runner's module is loaded and its
    ``SUPERVISOR_COMMS`` is set. ``dag.test()`` sets it too, for each task it runs.
    """
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


def add_command(conn_id: str, example: str = MYSQL_EXAMPLE) -> str:
    """Return how to define ``conn_id``: the CLI command and the environment variable."""
    return (
        f"add it with `airflow connections add {conn_id} {example} --conn-password ...` (or in "
        f"the UI, or your secrets backend), or set AIRFLOW_CONN_{conn_id.upper()} (a URI or JSON)"
    )


def get_connection(conn_id: str, *, example: str = MYSQL_EXAMPLE) -> Connection:
    """Return Airflow connection ``conn_id``, looked up as Airflow does in this process.

    :param example: the ``airflow connections add`` options after the id shown in the error
        (``--conn-password`` is appended).
    :raises ConnectionNotDefined: naming the id, where it looked and how to define it.
    """
    if in_task():
        return _from_task_sdk(conn_id, example)
    return _from_airflow_chain(conn_id, example)


def _from_task_sdk(conn_id: str, example: str) -> Connection:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConnectionNotDefined(
            f"Airflow connection {conn_id!r} is not defined for this task (the task asked the "
            f"worker's AIRFLOW_CONN_{conn_id.upper()} and secrets backend, then Airflow's API "
            "server: its secrets backend, environment and metadata database); "
            + add_command(conn_id, example)
        ) from None


def _from_airflow_chain(conn_id: str, example: str) -> Connection:
    """Ask the server chain in order, as Airflow's scheduler and API server do.

    ``airflow.sdk.configuration.ensure_secrets_loaded()`` with its default search path: the
    ``[secrets] backend``, then environment variables, then ``MetastoreBackend`` (the SDK's
    chain for ``_AIRFLOW_PROCESS_CONTEXT=server``; core's ``get_connection_from_secrets`` walks
    the same list). Connections come back as the SDK's class, never encrypted with Fernet.
    """
    from airflow.sdk.configuration import ensure_secrets_loaded
    from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

    looked: list[str] = []
    unread = False
    for backend in ensure_secrets_loaded():
        where = _source(backend, conn_id)
        try:
            found = backend.get_connection(conn_id=conn_id)
        except AirflowSecretsBackendAccessDenied:
            raise  # an authoritative deny: Airflow does not fall through to the next source
        except Exception as exc:  # noqa: BLE001 - named in the error, the next source is asked
            looked.append(f"{where}, which could not be read ({_reason(exc, backend)})")
            unread = True
            continue
        if found is not None:
            return _as_sdk_connection(found, where)
        looked.append(where)
    verdict = "was not found (a source could not be read)" if unread else "is not defined"
    where = "; ".join(looked)
    raise ConnectionNotDefined(
        f"Airflow connection {conn_id!r} {verdict}: looked in {where}; "
        + add_command(conn_id, example)
    )


def _source(backend: Any, conn_id: str) -> str:
    """Name where a backend looks, for the error (the database URL without its password)."""
    kind = type(backend).__name__
    if kind == "EnvironmentVariablesBackend":
        return f"the environment (AIRFLOW_CONN_{conn_id.upper()})"
    if kind == "MetastoreBackend":
        return f"the metadata database ({_metadata_url()})"
    return f"the secrets backend {type(backend).__module__}.{kind} ([secrets] backend)"


def _metadata_url() -> str:
    try:
        from airflow import settings

        engine = settings.engine
        return engine.url.render_as_string(hide_password=True) if engine else "not configured"
    except Exception:  # noqa: BLE001 - only a label for the error
        return "[database] sql_alchemy_conn"


def _reason(exc: BaseException, backend: Any) -> str:
    """Say why a source failed without its values: a parse error may quote a whole URI."""
    if type(backend).__name__ == "MetastoreBackend":
        driver = getattr(exc, "orig", None)  # SQLAlchemy's wrapper: the driver's own message
        text = str(driver if driver is not None else exc)
        first = text.splitlines()[0] if text else ""
        hint = (
            ": run `airflow db migrate` with this AIRFLOW_HOME, or point "
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN at the deployment's database"
        )
        return f"{type(exc).__name__}: {first}{hint}"
    return f"{type(exc).__name__}; check its value or settings"


def _as_sdk_connection(found: Any, where: str) -> Connection:
    """Copy a core ``airflow.models.Connection`` into the SDK's class every caller expects."""
    from airflow.sdk import Connection

    if isinstance(found, Connection):
        return found
    try:
        password, extra = found.password, found.extra  # decrypted here (Fernet)
    except Exception as exc:  # noqa: BLE001 - the message would not help; the fix does
        raise ConfigError(
            f"Airflow connection {found.conn_id!r} in {where} could not be decrypted "
            f"({type(exc).__name__}): use the [core] fernet_key it was stored with"
        ) from None
    return Connection(
        conn_id=found.conn_id,
        conn_type=found.conn_type,
        description=found.description,
        host=found.host,
        schema=found.schema,
        login=found.login,
        password=password,
        port=found.port,
        extra=extra,
    )

"""The spec's programmatic interface, on Airflow's REST API: status, schedules, manual runs.

The specification's ``get_maintenance_coordinator()`` returns an object that shows the
maintenance status, enables and disables a schedule and triggers "maintenance of database X at
cadence Y". Here each of those is a call to Airflow's own REST API (v2) with Airflow's
authentication, so it works against any deployment the way the UI does::

    from maintenance_ops.coordinator import get_maintenance_coordinator

    with get_maintenance_coordinator() as coordinator:
        coordinator.disable_schedule("weekly_optimization")  # PATCH is_paused=true
        run = coordinator.trigger_manual_maintenance("shop", "daily", dry_run=True, wait=True)
        print(run.state, run.report["text"])

A schedule is a DAG's pause switch (the cron itself lives in the configuration). A cadence is
named by its configuration key (``daily_maintenance``), its task type (``daily``) or its DAG id
(``mysql_daily_maintenance``); a custom schedule by its DAG id (``mysql_custom_<name>``).

Where and as whom: :class:`~maintenance_ops.core.airflow_api.ApiSettings` (the client and its
errors live in the core, as ``status`` and the alerts' run links use them too; they are
re-exported here). A password or a token never appears in a repr, a message or an exception.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from maintenance_ops.core.airflow_api import (
    HTTP_TIMEOUT_S,
    AirflowApi,
    AirflowApiError,
    AirflowAuthError,
    AirflowUnreachable,
    ApiSettings,
    DagNotFound,
    NotFound,
    path_segment,
    run_page_url,
)
from maintenance_ops.core.cadences import BY_DAG_ID, BY_KEY, BY_TASK_TYPE, CADENCES
from maintenance_ops.core.exceptions import MaintenanceError

if TYPE_CHECKING:
    pass

__all__ = [
    "AirflowApi",
    "AirflowApiError",
    "AirflowAuthError",
    "AirflowUnreachable",
    "ApiSettings",
    "Coordinator",
    "DagNotFound",
    "ManualRun",
    "NotFound",
    "RunTimeout",
    "Schedule",
    "UnknownChoice",
    "get_maintenance_coordinator",
]

WAIT_TIMEOUT_S = 3600.0
"""How long ``wait=True`` follows a run by default; the run goes on in Airflow after it."""
POLL_S = 2.0
REPORT_TASK_ID = "report"
"""The task whose return value (XCom ``return_value``) is a run's report (dag_parts.report)."""
TERMINAL_STATES = frozenset({"success", "failed"})
CUSTOM_PREFIX = "mysql_custom_"


class CoordinatorError(MaintenanceError):
    """A coordinator call could not be done; the message names what and the fix."""


class UnknownChoice(CoordinatorError, ValueError):
    """An unknown cadence or database was named; nothing was changed."""


class RunTimeout(CoordinatorError, TimeoutError):
    """A waited-for run did not finish in time; it goes on in Airflow. ``run`` is its last state."""

    def __init__(self, message: str, run: ManualRun) -> None:
        super().__init__(message)
        self.run = run


# ---------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Schedule:
    """One maintenance DAG's schedule as the API server sees it."""

    cadence: str
    """The configuration key (``daily_maintenance``) or ``custom:<name>``."""
    dag_id: str
    found: bool
    """False when the server does not know the DAG (not parsed yet, or an import error)."""
    paused: bool | None = None
    schedule: str | None = None
    next_run: str | None = None
    """When the next scheduled run is due; None while paused."""
    has_import_errors: bool = False

    @classmethod
    def from_api(cls, cadence: str, dag: Mapping[str, Any]) -> Schedule:
        """Build from a ``DAGResponse`` body."""
        paused = bool(dag.get("is_paused"))
        return cls(
            cadence=cadence,
            dag_id=str(dag["dag_id"]),
            found=True,
            paused=paused,
            schedule=dag.get("timetable_summary"),
            next_run=None if paused else dag.get("next_dagrun_run_after"),
            has_import_errors=bool(dag.get("has_import_errors")),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class ManualRun:
    """A run the coordinator triggered (or followed) and, once finished, its report."""

    dag_id: str
    dag_run_id: str
    state: str
    conf: dict[str, Any]
    url: str
    """The run's page in the Airflow UI."""
    run_after: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    dag_paused: bool = False
    """The DAG is paused: the run stays queued until it is unpaused."""
    report: dict[str, Any] | None = None
    """The ``report`` task's return value once the run finished (None if it returned none)."""

    @classmethod
    def from_api(
        cls, base_url: str, run: Mapping[str, Any], *, dag_paused: bool = False
    ) -> ManualRun:
        """Build from a ``DAGRunResponse`` body."""
        dag_id, run_id = str(run["dag_id"]), str(run["dag_run_id"])
        return cls(
            dag_id=dag_id,
            dag_run_id=run_id,
            state=str(run.get("state")),
            conf=dict(run.get("conf") or {}),
            url=run_page_url(base_url, dag_id, run_id),
            run_after=run.get("run_after"),
            start_date=run.get("start_date"),
            end_date=run.get("end_date"),
            dag_paused=dag_paused,
        )

    @property
    def finished(self) -> bool:
        """Whether the run reached success or failed."""
        return self.state in TERMINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


# ---------------------------------------------------------------------------------- choices


def cadence_choices() -> str:
    """Name the accepted cadences, for errors and help."""
    return ", ".join(f"{c.key} ({c.task_type}, {c.dag_id})" for c in CADENCES)


def resolve_cadence(cadence: str) -> tuple[str, str]:
    """Return ``(cadence key, dag id)`` for a key, task type, DAG id or custom DAG id (pure).

    A custom schedule's DAG id (``mysql_custom_<name>``) is accepted here and checked on the
    server by the caller.

    :raises UnknownChoice: naming every accepted cadence.
    """
    name = cadence.strip() if isinstance(cadence, str) else ""
    found = BY_KEY.get(name) or BY_TASK_TYPE.get(name) or BY_DAG_ID.get(name)
    if found is not None:
        return found.key, found.dag_id
    if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        return f"custom:{name[len(CUSTOM_PREFIX) :]}", name
    raise UnknownChoice(
        f"unknown cadence {cadence!r}: choose one of {cadence_choices()}, or a custom "
        f"schedule's DAG id ({CUSTOM_PREFIX}<name>)"
    )


def database_list(database: str | Sequence[str] | None) -> list[str]:
    """Return the requested database names, in order, once each; empty means every one.

    :raises UnknownChoice: a name that is empty or not a string.
    """
    if database is None:
        return []
    names = [database] if isinstance(database, str) else list(database)
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad:
        raise UnknownChoice(
            f"database names must be non-empty strings (got {bad!r}); name configured "
            "databases, or none for every enabled one"
        )
    return list(dict.fromkeys(n.strip() for n in names))


def configured_databases(details: Mapping[str, Any]) -> list[str]:
    """Return the database names a DAG accepts, from its ``databases`` param's schema.

    The DAG builds the param from the deployment's configuration (dag_parts.params): its
    ``items.enum`` lists the configured databases (a custom schedule's: its one database).
    """
    param = (details.get("params") or {}).get("databases") or {}
    schema = param.get("schema") or {}
    names = (schema.get("items") or {}).get("enum") or schema.get("examples") or []
    return [str(n) for n in names]


def check_databases(dag_id: str, requested: Sequence[str], configured: Sequence[str]) -> None:
    """Refuse names the DAG does not know (pure).

    :raises UnknownChoice: naming the unknown and the configured databases.
    """
    unknown = [n for n in requested if n not in configured]
    if unknown:
        raise UnknownChoice(
            f"unknown database(s) {', '.join(map(repr, unknown))} for {dag_id}: configured "
            f"there: {', '.join(configured) or 'none'} (the `databases:` of the deployment's "
            "configuration)"
        )


# ---------------------------------------------------------------------------------- coordinator


class Coordinator:
    """Maintenance status, schedules and manual runs through Airflow's REST API.

    :param api: the REST client (see :func:`get_maintenance_coordinator`).
    """

    def __init__(self, api: AirflowApi) -> None:
        self.api = api

    def __repr__(self) -> str:
        return f"Coordinator({self.api!r})"

    def close(self) -> None:
        """Close the API client."""
        self.api.close()

    def __enter__(self) -> Coordinator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ status and schedules

    def status(self) -> dict[str, Any]:
        """Return what ``python -m maintenance_ops status --schedules --format json`` prints.

        Health per database from the history stores of the local configuration
        (``MAINTENANCE_CONFIG``), state per DAG from the API.
        """
        from maintenance_ops.core.config import load_config
        from maintenance_ops.observe.status import collect_status

        return collect_status(load_config(), schedules=True, api=self.api)

    def schedules(self) -> list[Schedule]:
        """Return the six cadence DAGs, then any custom schedule's, with their paused state."""
        dags = {d["dag_id"]: d for d in self._maintenance_dags()}
        out = [
            Schedule.from_api(c.key, dags[c.dag_id])
            if c.dag_id in dags
            else Schedule(c.key, c.dag_id, found=False)
            for c in CADENCES
        ]
        out.extend(
            Schedule.from_api(f"custom:{dag_id[len(CUSTOM_PREFIX) :]}", dag)
            for dag_id, dag in sorted(dags.items())
            if dag_id.startswith(CUSTOM_PREFIX)
        )
        return out

    def _maintenance_dags(self) -> Iterator[dict[str, Any]]:
        offset, limit = 0, 100
        while True:
            page = self.api.call(
                "GET",
                "/api/v2/dags",
                params={"dag_id_pattern": "mysql_", "limit": limit, "offset": offset},
            )
            dags = list(page.get("dags") or [])
            yield from dags
            offset += len(dags)
            if not dags or offset >= int(page.get("total_entries") or 0):
                return

    def disable_schedule(self, cadence: str) -> Schedule:
        """Pause the cadence's DAG: no new scheduled runs (a running one finishes)."""
        return self._set_paused(cadence, True)

    def enable_schedule(self, cadence: str) -> Schedule:
        """Unpause the cadence's DAG: the scheduler creates its runs again."""
        return self._set_paused(cadence, False)

    def _set_paused(self, cadence: str, paused: bool) -> Schedule:
        key, dag_id = resolve_cadence(cadence)
        self._dag(dag_id)  # a clear "not on this server" before the PATCH
        dag = self.api.call(
            "PATCH", f"/api/v2/dags/{path_segment(dag_id)}", body={"is_paused": paused}
        )
        return Schedule.from_api(key, dag)

    def _dag(self, dag_id: str, *, details: bool = False) -> dict[str, Any]:
        path = f"/api/v2/dags/{path_segment(dag_id)}" + ("/details" if details else "")
        dag = self.api.call("GET", path, missing_ok=True)
        if dag is None:
            raise DagNotFound(
                f"DAG {dag_id} is not on the Airflow server at {self.api.url}: the dag-processor "
                "has not parsed it yet, or its file failed to import (see Import errors in the "
                "UI or GET /api/v2/importErrors)",
                status_code=404,
            )
        return dict(dag)

    # ------------------------------------------------------------------ manual runs

    def trigger_manual_maintenance(
        self,
        database: str | Sequence[str] | None,
        cadence: str,
        dry_run: bool = False,
        *,
        wait: bool = False,
        timeout_s: float = WAIT_TIMEOUT_S,
        poll_s: float = POLL_S,
    ) -> ManualRun:
        """Trigger a manual run of ``cadence`` on ``database`` and return the run.

        Names are checked against the DAG's configured databases before anything is created.

        :param database: a configured database, a list of them, or None for every enabled one.
        :param cadence: a cadence key, task type or DAG id (see :func:`resolve_cadence`).
        :param dry_run: the run only shows what it would do.
        :param wait: follow the run until it finishes and return it with its report; the DAG
            must be unpaused (a paused DAG's runs stay queued).
        :param timeout_s: how long ``wait`` follows the run.
        :param poll_s: how often ``wait`` reads the run's state.
        :raises UnknownChoice: unknown cadence or database; nothing was created.
        :raises RunTimeout: the run did not finish within ``timeout_s`` (it goes on).
        """
        _, dag_id = resolve_cadence(cadence)
        names = database_list(database)
        if wait and timeout_s <= 0:
            raise UnknownChoice(f"timeout_s must be positive (got {timeout_s!r})")
        details = self._dag(dag_id, details=True)
        check_databases(dag_id, names, configured_databases(details))
        paused = bool(details.get("is_paused"))
        if wait and paused:
            raise CoordinatorError(
                f"{dag_id} is paused, so a run of it stays queued and waiting would only time "
                f"out: unpause it first (python -m maintenance_ops unpause {dag_id}), or "
                "trigger without waiting; nothing was triggered"
            )
        conf: dict[str, Any] = {"dry_run": bool(dry_run)}
        if names:
            conf["databases"] = names
        body = {
            # Required by the schema, null for a manual run: its time is its run_after.
            "logical_date": None,
            "conf": conf,
            "note": "Manual maintenance (maintenance_ops coordinator)"
            + (", dry run" if dry_run else ""),
        }
        created = self.api.call("POST", f"/api/v2/dags/{path_segment(dag_id)}/dagRuns", body=body)
        run = ManualRun.from_api(self.api.url, created, dag_paused=paused)
        if not wait:
            return run
        return self.wait_for_run(dag_id, run.dag_run_id, timeout_s=timeout_s, poll_s=poll_s)

    def get_run(self, dag_id: str, run_id: str) -> ManualRun:
        """Return one run's current state."""
        run = self.api.call(
            "GET", f"/api/v2/dags/{path_segment(dag_id)}/dagRuns/{path_segment(run_id)}"
        )
        return ManualRun.from_api(self.api.url, run)

    def wait_for_run(
        self, dag_id: str, run_id: str, *, timeout_s: float = WAIT_TIMEOUT_S, poll_s: float = POLL_S
    ) -> ManualRun:
        """Follow a run until it finishes; return it with its report.

        :raises RunTimeout: still not finished after ``timeout_s`` (the run goes on).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.get_run(dag_id, run_id)
            if run.finished:
                return _with_report(run, self.report(dag_id, run_id))
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunTimeout(
                    f"run {run_id} of {dag_id} is still {run.state} after {timeout_s:g} s; it "
                    f"goes on in Airflow: follow it at {run.url}",
                    run,
                )
            time.sleep(min(poll_s, left))

    def report(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        """Return the run's report (the ``report`` task's return value), or None if none."""
        path = (
            f"/api/v2/dags/{path_segment(dag_id)}/dagRuns/{path_segment(run_id)}/taskInstances/"
            f"{REPORT_TASK_ID}/xcomEntries/return_value"
        )
        entry = self.api.call("GET", path, missing_ok=True)
        if entry is None:
            return None
        value = entry.get("value")
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return {"text": value}
        return value if isinstance(value, dict) else {"value": value}


def _with_report(run: ManualRun, report: dict[str, Any] | None) -> ManualRun:
    return replace(run, report=report)


def get_maintenance_coordinator(
    url: str | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    timeout_s: float = HTTP_TIMEOUT_S,
    environ: Mapping[str, str] | None = None,
) -> Coordinator:
    """Return a :class:`Coordinator` for the API server the environment names.

    Arguments override the environment (:meth:`ApiSettings.from_environment`).

    :param url: the API server's base URL.
    :param username: log in as this user (with ``password``).
    :param password: the user's password.
    :param token: use this JWT instead of logging in.
    :param timeout_s: the limit of every HTTP call.
    :param environ: read these variables instead of ``os.environ``.
    """
    settings = ApiSettings.from_environment(environ)
    if url or username or password or token:
        settings = ApiSettings(
            url=url or settings.url,
            username=username or (None if token else settings.username),
            password=password if password is not None else settings.password,
            token=token or (None if username else settings.token),
            url_source="the url argument" if url else settings.url_source,
        )
    return Coordinator(AirflowApi(settings, timeout_s=timeout_s))

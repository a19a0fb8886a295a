"""Maintained tables as Airflow assets: the events the steps emit, the refresh assets trigger.

**Emitted.** When the cleanup deletes or archives rows of a table, or the optimize step rebuilds
one, the step's task emits an asset event for that table through an asset alias (the tables are
known only at run time): ``mysql-maintenance://<database>/<schema>/<table>``, each part
URL-quoted (``%``, quotes, backticks, unicode), ``<database>`` the configured database name. A
dry run and a run that changed nothing emit none; a failed task emits none (Airflow records a
task's asset events only when it succeeds).

Why not ``mysql://``: the MySQL provider owns that scheme and rewrites it as a server address
(``mysql://primary/shop/orders`` becomes ``mysql://primary:3306/shop/orders``, with the asset's
*name* still the string written), so the URI would claim a host ``primary`` on port 3306, and a
consumer declaring the rewritten form would name a different asset. No provider registers
``mysql-maintenance``: Airflow keeps it as written (name = URI).

**Consumed.** A database's ``statistics_on_assets`` maps assets (a load DAG's output, or the
URIs above) to the tables they change; the DAG ``mysql_statistics_on_assets`` runs when any of
them is updated and refreshes the statistics of the tables behind the assets that triggered
that run, per database (:func:`tables_to_refresh`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import Asset, AssetAlias, task

from maintenance_ops.core.exceptions import ConfigError

if TYPE_CHECKING:
    from datetime import datetime

    from maintenance_ops.core.audit import AuditLog
    from maintenance_ops.core.config import Config
    from maintenance_ops.core.session import MaintenanceSession
    from maintenance_ops.upkeep.statistics import StatisticsResult

log = logging.getLogger(__name__)

SCHEME = "mysql-maintenance"
CLEANUP_ALIAS = "mysql_maintenance_cleanup"
"""The asset alias the cleanup step's events go through (schedule a DAG on it to hear them all)."""
REBUILD_ALIAS = "mysql_maintenance_rebuild"
"""The asset alias the optimize step's rebuild events go through."""
DAG_ID = "mysql_statistics_on_assets"


def load_uri_handlers() -> None:
    """Load the providers' asset URI handlers now, once for this process and its forks.

    The first ``Asset`` with a URI in a process discovers every provider's URI normalizer;
    ``mysql_statistics_on_assets`` builds its schedule from assets, so a dag-processor child
    parsing it pays that at every parse unless the manager (the preload) called this first
    (measured in a forked child: 0.29-1.09 s per parse without, 0.02-0.07 s with).
    """
    Asset(f"{SCHEME}://preload/schema/table")


def table_asset_uri(database: str, schema: str, table: str) -> str:
    """Return the asset URI of one table: ``mysql-maintenance://<database>/<schema>/<table>``.

    Every part is URL-quoted with nothing kept safe, so a ``/``, ``%``, quote, backtick or
    non-ASCII letter in a name can neither split the path nor reach Airflow unencoded.
    """
    parts = [quote(part, safe="") for part in (database, schema, table)]
    if not all(parts):
        raise ValueError(f"asset URI of {database!r}/{schema!r}/{table!r}: a part is empty")
    return f"{SCHEME}://{parts[0]}/{parts[1]}/{parts[2]}"


def emit_table_event(
    context: Mapping[str, Any], alias: str, uri: str, extra: dict[str, Any]
) -> None:
    """Add an event for the table asset ``uri`` to the task's outlet events through ``alias``.

    An ``execute`` called without Airflow's task context (no ``outlet_events``) has nowhere to
    send it: the event is logged instead.
    """
    events = context.get("outlet_events")
    if events is None:
        log.info("no outlet events in this context: asset event for %s not emitted", uri)
        return
    events[AssetAlias(alias)].add(Asset(uri), extra=extra)


def with_alias(kwargs: dict[str, Any], alias: str) -> dict[str, Any]:
    """Return operator ``kwargs`` with the asset alias ``alias`` added to its ``outlets``."""
    outlets = kwargs.get("outlets") or []
    outlets = list(outlets) if isinstance(outlets, list | tuple) else [outlets]
    return {**kwargs, "outlets": [*outlets, AssetAlias(alias)]}


def split_table(name: str) -> tuple[str, str]:
    """Split a configured ``schema.table`` at its first dot (schema names hold none)."""
    schema, dot, table = name.partition(".")
    if not (schema and dot and table):
        raise ConfigError(
            f"statistics_on_assets: {name!r} is not `schema.table`; name the table with its schema"
        )
    return schema, table


def configured_assets(config: Config) -> list[str]:
    """Return every asset the enabled databases' ``statistics_on_assets`` name, in order, once."""
    found: dict[str, None] = {}
    for db in config.databases:
        if db.enabled:
            found.update((refresh.asset, None) for refresh in db.statistics_on_assets)
    return list(found)


def _asset(value: str) -> Asset:
    """Return the asset a ``statistics_on_assets`` entry names, or a ConfigError saying why not."""
    try:
        return Asset(value)
    except ValueError as exc:  # a provider's URI check (mysql:// needs a host and a table, ...)
        raise ConfigError(
            f"statistics_on_assets: asset {value!r} is refused by Airflow ({exc}); write the "
            "URI (or name) exactly as the producing DAG declares it"
        ) from None


def asset_schedule(config: Config) -> Any:
    """Return the schedule ``Asset(a) | Asset(b) | ...`` of the configured assets, or None."""
    assets = [_asset(uri) for uri in configured_assets(config)]
    if not assets:
        return None
    schedule: Any = assets[0]
    for asset in assets[1:]:
        schedule = schedule | asset
    return schedule


def triggered_keys(assets: Iterable[Any]) -> set[str]:
    """Return the names and URIs of the assets in ``context["triggering_asset_events"]``.

    Iterating that mapping yields the triggering assets (and the aliases they came through,
    which have no URI and are ignored).
    """
    keys: set[str] = set()
    for asset in assets:
        uri = getattr(asset, "uri", None)
        if uri is not None:
            keys.update((uri, asset.name))
    return keys


def tables_to_refresh(config: Config, triggered: set[str]) -> list[dict[str, Any]]:
    """Return ``[{"database": name, "tables": ["schema.table", ...]}]`` for the triggered assets.

    A configured asset matches when its name or its normalized URI is among ``triggered``
    (:func:`triggered_keys`). Each table is listed once per database, in configuration order;
    databases with nothing to refresh are left out (pure).
    """
    chosen = []
    for db in config.databases:
        if not db.enabled:
            continue
        tables: dict[str, None] = {}
        for refresh in db.statistics_on_assets:
            if refresh.asset in triggered or _asset(refresh.asset).uri in triggered:
                tables.update((name, None) for name in refresh.tables)
        if tables:
            chosen.append({"database": db.name, "tables": list(tables)})
    return chosen


def dag_kwargs(config: Config, *, doc_md: str | None = None) -> dict[str, Any]:
    """Return the ``@dag`` arguments of ``mysql_statistics_on_assets`` (None: no DAG)."""
    from maintenance_ops.dag_parts import START_DATE, default_args, params
    from maintenance_ops.observe.alerts import on_dag_failure

    schedule = asset_schedule(config)
    if schedule is None:
        return {}
    return {
        "dag_id": DAG_ID,
        "description": "Refresh the statistics of the tables behind updated assets",
        "schedule": schedule,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(config),
        "params": {"dry_run": params(config)["dry_run"]},
        "tags": ["mysql", "maintenance", "assets"],
        "on_failure_callback": on_dag_failure,
        "doc_md": doc_md,
    }


@task
def choose_tables(**context: Any) -> list[dict[str, Any]]:
    """Return the tables behind the assets that triggered this run, per database."""
    from maintenance_ops.core.config import load_config

    events = context.get("triggering_asset_events") or {}
    triggered = triggered_keys(events)
    chosen = tables_to_refresh(load_config(), triggered)
    log.info(
        "Triggering assets: %s; tables to refresh: %s",
        ", ".join(sorted(triggered)) or "none (a manual run refreshes nothing)",
        "; ".join(f"{c['database']}: {', '.join(c['tables'])}" for c in chosen) or "none",
    )
    return chosen


def refresh_tables(
    session: MaintenanceSession,
    tables: Sequence[str],
    schemas: Sequence[str],
    audit: AuditLog,
    database_name: str,
    *,
    dry_run: bool,
    time_budget_s: float | None,
    now: datetime,
) -> StatisticsResult:
    """Run ``ANALYZE TABLE`` on the named tables, stale or not, within a time budget.

    Every table must be a base table of one of ``schemas`` (the database's maintained
    schemas): anything else is a :class:`ConfigError` before any table is analysed.
    """
    import time

    from maintenance_ops.core.sqlfiles import load_sql
    from maintenance_ops.upkeep import statistics as st

    started = time.monotonic()
    wanted = [split_table(name) for name in dict.fromkeys(tables)]
    outside = [f"{s}.{t}" for s, t in wanted if s not in schemas]
    catalog = {
        (row["schema_name"], row["table_name"])
        for schema in sorted({s for s, _ in wanted if s in schemas})
        for row in session.query(load_sql("table_stats_state"), (schema,))
    }
    missing = [f"{s}.{t}" for s, t in wanted if (s, t) not in catalog and s in schemas]
    problems = []
    if outside:
        problems.append(
            f"table(s) outside its maintained schemas ({', '.join(schemas) or 'none'}): "
            + ", ".join(outside)
        )
    if missing:
        problems.append(f"table(s) not found: {', '.join(missing)}")
    if problems:
        raise ConfigError(
            f"{database_name}: statistics_on_assets names {'; '.join(problems)}; nothing was "
            "analysed. Fix the tables under the database's statistics_on_assets"
        )
    result = st.StatisticsResult(
        database_name, sorted({s for s, _ in wanted}), dry_run, 0.0, time_budget_s
    )
    result.examined = len(wanted)
    result.selected = [st.StaleTable(s, t, "its asset was updated", 0) for s, t in wanted]
    st.analyze_selected(
        session, audit, result, now=now, started=started, time_budget_s=time_budget_s
    )
    return result

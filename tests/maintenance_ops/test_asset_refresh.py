"""Table assets: the URIs the steps emit, and which tables an asset-triggered run refreshes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.api.datamodels._generated import (
    AssetAliasReferenceAssetEventDagRun,
    AssetEventDagRunReference,
    AssetReferenceAssetEventDagRun,
)
from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

from maintenance_ops.asset_refresh import (
    CLEANUP_ALIAS,
    asset_schedule,
    configured_assets,
    emit_table_event,
    refresh_tables,
    split_table,
    table_asset_uri,
    tables_to_refresh,
    triggered_keys,
    with_alias,
)
from maintenance_ops.core.audit import AuditLog
from maintenance_ops.core.config import MaintenanceSettings, parse_config
from maintenance_ops.core.exceptions import ConfigError
from maintenance_ops.core.session import MaintenanceSession
from tests.conftest import Target

CONFIG = """
databases:
  - name: shop
    conn_id: mysql_shop
    statistics_on_assets:
      - {asset: "s3://lake/orders.parquet", tables: [sales.orders, sales.order_lines]}
      - {asset: "mysql-maintenance://shop/sales/sessions", tables: [sales.sessions]}
      - {asset: "orders_loaded", tables: [sales.orders, sales.totals]}
  - name: crm
    conn_id: mysql_crm
    statistics_on_assets:
      - {asset: "s3://lake/orders.parquet", tables: [crm.customers]}
  - name: old
    conn_id: mysql_old
    enabled: false
    statistics_on_assets:
      - {asset: "s3://lake/orders.parquet", tables: [legacy.orders]}
"""


@pytest.mark.parametrize(
    ("schema", "table", "uri"),
    [
        pytest.param("sales", "orders", "mysql-maintenance://shop/sales/orders", id="plain"),
        pytest.param("s", "100%", "mysql-maintenance://shop/s/100%25", id="percent"),
        pytest.param("s", "we`ird'\"", "mysql-maintenance://shop/s/we%60ird%27%22", id="quotes"),
        pytest.param("s", "tablé_ü", "mysql-maintenance://shop/s/tabl%C3%A9_%C3%BC", id="unicode"),
        pytest.param("s", "a/b.c", "mysql-maintenance://shop/s/a%2Fb.c", id="slash-dot"),
        pytest.param("s", "%s %%", "mysql-maintenance://shop/s/%25s%20%25%25", id="format"),
    ],
)
def test_table_uri_quotes_each_part_and_airflow_keeps_it(schema: str, table: str, uri: str) -> None:
    assert table_asset_uri("shop", schema, table) == uri
    asset = Asset(uri)
    assert (asset.uri, asset.name) == (uri, uri)  # no provider rewrites the scheme
    assert uri.isascii()
    parts = urlsplit(uri)
    assert [unquote(p) for p in (parts.netloc, *parts.path.split("/")[1:])] == [
        "shop",
        schema,
        table,
    ]


def test_the_mysql_scheme_would_be_rewritten_by_the_provider() -> None:
    """Why the URIs are not ``mysql://``: the provider reads the database name as a host."""
    asset = Asset("mysql://shop/sales/orders")
    assert asset.uri == "mysql://shop:3306/sales/orders"
    assert asset.name == "mysql://shop/sales/orders"  # name and URI part ways


def test_an_empty_part_is_refused() -> None:
    with pytest.raises(ValueError, match="a part is empty"):
        table_asset_uri("shop", "", "orders")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("sales.orders", ("sales", "orders"), id="plain"),
        pytest.param("sales.a.b", ("sales", "a.b"), id="dot-in-table"),
        pytest.param("s.we`ird%", ("s", "we`ird%"), id="hostile"),
    ],
)
def test_split_table(name: str, expected: tuple[str, str]) -> None:
    assert split_table(name) == expected


@pytest.mark.parametrize("name", ["orders", ".orders", "sales.", ""])
def test_split_table_refuses_a_name_without_schema(name: str) -> None:
    with pytest.raises(ConfigError, match="is not `schema.table`"):
        split_table(name)


def test_configured_assets_are_unique_and_skip_disabled_databases() -> None:
    config = parse_config(CONFIG)
    assert configured_assets(config) == [
        "s3://lake/orders.parquet",
        "mysql-maintenance://shop/sales/sessions",
        "orders_loaded",
    ]
    schedule = asset_schedule(config)
    assert type(schedule).__name__ == "AssetAny"
    assert {a.uri for a in schedule.objects} == set(configured_assets(config))


def test_no_configured_asset_means_no_schedule() -> None:
    assert asset_schedule(parse_config("databases: [{name: a, conn_id: c}]")) is None


def _event(name: str, uri: str, aliases: tuple[str, ...] = ()) -> AssetEventDagRunReference:
    return AssetEventDagRunReference(
        asset=AssetReferenceAssetEventDagRun(name=name, uri=uri, extra={}),
        extra={"rows_deleted": 3},
        source_task_id="maintain.cleanup",
        source_dag_id="mysql_daily_maintenance",
        source_run_id="manual__x",
        source_map_index=0,
        source_aliases=[AssetAliasReferenceAssetEventDagRun(name=a) for a in aliases],
        timestamp=datetime(2026, 6, 15, tzinfo=UTC),
    )


def test_selection_reads_the_triggering_events_context() -> None:
    """The context's ``triggering_asset_events`` as the task runner builds it."""
    config = parse_config(CONFIG)
    sessions = "mysql-maintenance://shop/sales/sessions"
    events = TriggeringAssetEventsAccessor.build([_event(sessions, sessions, (CLEANUP_ALIAS,))])
    assert triggered_keys(events) == {sessions}  # the alias is no asset
    assert tables_to_refresh(config, triggered_keys(events)) == [
        {"database": "shop", "tables": ["sales.sessions"]}
    ]


def test_one_asset_refreshes_its_tables_on_every_enabled_database() -> None:
    config = parse_config(CONFIG)
    lake = "s3://lake/orders.parquet"
    events = TriggeringAssetEventsAccessor.build([_event(lake, lake), _event(lake, lake)])
    assert tables_to_refresh(config, triggered_keys(events)) == [
        {"database": "shop", "tables": ["sales.orders", "sales.order_lines"]},
        {"database": "crm", "tables": ["crm.customers"]},
    ]


def test_assets_match_by_name_and_tables_are_listed_once() -> None:
    config = parse_config(CONFIG)
    lake = "s3://lake/orders.parquet"
    events = TriggeringAssetEventsAccessor.build(
        [_event("orders_loaded", "orders_loaded"), _event(lake, lake)]
    )
    chosen = tables_to_refresh(config, triggered_keys(events))
    assert chosen[0] == {
        "database": "shop",
        "tables": ["sales.orders", "sales.order_lines", "sales.totals"],
    }


def test_no_triggering_event_refreshes_nothing() -> None:
    config = parse_config(CONFIG)
    assert tables_to_refresh(config, triggered_keys(TriggeringAssetEventsAccessor.build([]))) == []
    assert tables_to_refresh(config, {"s3://elsewhere/x"}) == []


def test_with_alias_keeps_the_callers_outlets() -> None:
    mine = Asset("s3://x/y")
    kwargs = with_alias({"task_id": "t", "outlets": [mine]}, CLEANUP_ALIAS)
    assert kwargs["outlets"] == [mine, AssetAlias(CLEANUP_ALIAS)]
    assert with_alias({}, CLEANUP_ALIAS)["outlets"] == [AssetAlias(CLEANUP_ALIAS)]


def test_an_asset_airflow_refuses_is_a_config_error_naming_it() -> None:
    config = parse_config(
        "databases: [{name: a, conn_id: c, statistics_on_assets: "
        "[{asset: 'mysql://nohost', tables: [s.t]}]}]"
    )
    with pytest.raises(ConfigError, match="asset 'mysql://nohost' is refused by Airflow"):
        asset_schedule(config)


def _refresh(target: Target, tables: list[str], dry_run: bool = False) -> tuple[Any, list[Any]]:
    audit = AuditLog(target.conn_id, target.history_schema)
    try:
        with MaintenanceSession(
            target.conn_id, MaintenanceSettings(), database_name="primary"
        ) as session:
            result = refresh_tables(
                session,
                tables,
                [target.schema],
                audit,
                "primary",
                dry_run=dry_run,
                time_budget_s=60,
                now=datetime(2026, 6, 15),
            )
        return result, audit.read("primary")
    finally:
        audit.close()


HOSTILE = "we`ird %s 100% \"q\" 'é'"


def test_refresh_tables_analyses_the_named_tables_stale_or_not(target: Target) -> None:
    for table in ("fresh", HOSTILE, "other"):
        target.sql(f"CREATE TABLE `{table.replace('`', '``')}` (id INT PRIMARY KEY)")
    target.sql(f"ANALYZE TABLE `{target.schema}`.fresh")  # statistics current: analysed anyway
    names = [f"{target.schema}.fresh", f"{target.schema}.{HOSTILE}"]

    dry, dry_rows = _refresh(target, names, dry_run=True)
    assert dry.analysed == [] and {r["outcome"] for r in dry_rows} == {"dry_run"}

    result, rows = _refresh(target, [*names, names[0]])  # a table named twice: analysed once
    assert sorted(result.analysed) == sorted(names)
    analysed = [r["object_name"] for r in rows if r["outcome"] == "ok"]
    assert sorted(analysed) == sorted(names)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        pytest.param(["{schema}.fresh", "{schema}.gone"], "not found: {schema}.gone", id="missing"),
        pytest.param(["{schema}.fresh", "mysql.user"], "outside its maintained", id="outside"),
    ],
)
def test_refresh_tables_checks_every_table_before_analysing_any(
    target: Target, tables: list[str], message: str
) -> None:
    target.sql("CREATE TABLE fresh (id INT PRIMARY KEY)")
    wanted = [t.format(schema=target.schema) for t in tables]
    with pytest.raises(ConfigError, match=message.format(schema=target.schema)):
        _refresh(target, wanted)
    audit = AuditLog(target.conn_id, target.history_schema)
    try:
        assert audit.read("primary") == []  # nothing analysed
    finally:
        audit.close()


def test_an_event_goes_to_the_alias_of_the_outlet_events() -> None:
    from airflow.sdk.execution_time.context import OutletEventAccessors

    events = OutletEventAccessors()
    uri = table_asset_uri("shop", "app", "100%")
    emit_table_event({"outlet_events": events}, CLEANUP_ALIAS, uri, {"rows_deleted": 4})
    (added,) = events[AssetAlias(CLEANUP_ALIAS)].asset_alias_events
    assert (added.source_alias_name, added.dest_asset_key.uri) == (CLEANUP_ALIAS, uri)
    assert added.extra == {"rows_deleted": 4}
    emit_table_event({}, CLEANUP_ALIAS, uri, {})  # outside Airflow: logged, not raised

"""Every DAG on real schemas, as the maintenance account grants.sql creates, checked against
the catalog.

Two catalogs (tests/support/catalogs.py): Chinook, a public sample database nobody here wrote
(foreign keys, composite keys), and our hostile catalog (every foreign-key action, views,
triggers, routines, events, partitions, FULLTEXT, generated columns, a table without a primary
key, and names with a backtick, quotes, ``%``, ``%s``, ``%%``, unicode, reserved words, a dot and
64 characters). Each is loaded once per module (and per xdist worker) into its own schema; the
code under test connects as a private account built from include/sql/grants.sql for that schema
and its history schema; root only loads and inspects.

A run must be green and its findings must match the catalog: every table analysed, checked,
dumped, restored and counted; every view, routine, trigger and event in the backup manifest and
found again by the restore test; no suggested DROP INDEX that leaves a foreign key without an
index; retention cleanup removes exactly the expired rows of the tables it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.identifiers import qualified
from tests.conftest import MYSQL_URL, mysql_connect, run_sql
from tests.dags.conftest import run_dag, task_states
from tests.support.accounts import Account, create_account, drop_account
from tests.support.catalogs import CHINOOK, HOSTILE, Catalog, drop, unique_schema

CATALOGS = [pytest.param(CHINOOK, id="chinook"), pytest.param(HOSTILE, id="hostile")]
CONN_ID = "mmc_real_schema"
KINDS = ("views", "routines", "triggers", "events")


@dataclass(frozen=True)
class Loaded:
    """A catalog loaded into its own schema, and the maintenance account's connection to it."""

    catalog: Catalog
    schema: str
    history: str
    account: Account

    def name(self, table: str) -> str:
        """``schema.table`` as results and manifests name a table."""
        return f"{self.schema}.{table}"

    def count(self, table: str, where: str = "") -> int:
        """``COUNT(*)`` as root (the name quoted by the one guard; no bound values)."""
        return int(run_sql(f"SELECT COUNT(*) FROM {qualified(self.schema, table)} {where}")[0][0])


@pytest.fixture(scope="module", params=CATALOGS)
def loaded(request: pytest.FixtureRequest, mysql_server: str) -> Iterator[Loaded]:
    """Load one catalog into a fresh schema (shared by this module's tests on this worker)."""
    catalog: Catalog = request.param
    schema = unique_schema(f"mmc_{catalog.name}")
    history = f"{schema}_hist"
    catalog.load(schema)
    account = None
    try:
        account = create_account(run_sql, [schema], history)
        yield Loaded(catalog, schema, history, account)
    finally:
        if account:
            drop_account(run_sql, account)
        drop(schema)
        drop(history)


@pytest.fixture
def configure(
    loaded: Loaded,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., None]:
    """Point the Airflow connection at the maintenance account; write the database's config.

    ``configure(extra={...}, **database)``: top-level sections, and keys of the database entry.
    """
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", loaded.account.conn_json())

    def write(*, extra: dict[str, Any] | None = None, **database: Any) -> None:
        write_config(
            {
                **(extra or {}),
                "databases": [
                    {
                        "name": loaded.catalog.name,
                        "conn_id": CONN_ID,
                        "schemas": [loaded.schema],
                        "history_schema": loaded.history,
                        **database,
                    }
                ],
                "notifications": {"send_reports": False, "report_dir": str(tmp_path / "reports")},
            }
        )

    return write


def _run_green(dag_id: str, history: str) -> tuple[Any, dict[str, Any]]:
    """Run ``dag_id``; assert every task succeeded; return the run and the database's result.

    A failure names the failed tasks and the audit log's failed actions with their errors.
    """
    dag_run = run_dag(dag_id)
    failed = {k: v for k, v in task_states(dag_run).items() if v != "success"}
    assert str(dag_run.state) == "success" and not failed, (
        f"{dag_id} not green: {failed}; failed actions: {_failed_actions(history, dag_run)}"
    )
    (result,) = _results(dag_run)
    return dag_run, result


def _results(dag_run: Any) -> list[dict[str, Any]]:
    """Each database's result: its steps' outputs merged, as the run's report returned them."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(
                run_id=dag_run.run_id,
                dag_ids=dag_run.dag_id,
                task_ids="report",
                key="return_value",
            )
        ).all()
        (report,) = [XComModel.deserialize_value(row) for row in rows]
        return list(report["databases"])


def _failed_actions(history: str, dag_run: Any, url: str = MYSQL_URL) -> list[dict[str, Any]]:
    """Audit-log rows of the run that failed or never finished (read as root)."""
    conn = mysql_connect(url=url)
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'maintenance_log'",
            (history,),
        )
        if not cur.fetchone()[0]:
            return [{"error": f"no audit log in {history}"}]
        cur.execute(
            "SELECT command, object_name, outcome, error "
            f"FROM {qualified(history, 'maintenance_log')} "
            "WHERE run_id = %s AND outcome IN ('failed', 'running')",
            (dag_run.run_id,),
        )
        rows = cur.fetchall()
    finally:
        conn.close()
    return [dict(zip(("command", "object", "outcome", "error"), r, strict=True)) for r in rows]


# --------------------------------------------------------------------------------------------
# The catalogs are what their descriptions say
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("catalog", CATALOGS)
def test_each_catalog_loads_as_described(catalog: Catalog, mysql_server: str) -> None:
    schema = unique_schema(f"mmc_{catalog.name}_x")
    catalog.load(schema)
    try:
        assert _describe(schema) == _expected(catalog)
    finally:
        drop(schema)


def _expected(catalog: Catalog) -> dict[str, Any]:
    return {
        "rows": catalog.rows,
        "views": set(catalog.views),
        "procedures": set(catalog.procedures),
        "functions": set(catalog.functions),
        "triggers": catalog.triggers,
        "events": set(catalog.events),
        "foreign_keys": {(f.name, f.table, f.parent, f.on_delete) for f in catalog.foreign_keys},
        "no_primary_key": set(catalog.no_primary_key),
        "partitioned": set(catalog.partitioned),
        "fulltext": set(catalog.fulltext),
        "generated_columns": set(catalog.generated_columns),
        "manual_statistics": set(catalog.manual_statistics),
    }


def _describe(schema: str) -> dict[str, Any]:
    """What the server shows of ``schema``, in the shape of :func:`_expected` (as root)."""

    def names(sql: str) -> set[Any]:
        return {r[0] if len(r) == 1 else tuple(r) for r in run_sql(sql, (schema,))}

    tables = names(
        "SELECT TABLE_NAME FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE'"
    )
    with_pk = names(
        "SELECT TABLE_NAME FROM information_schema.TABLE_CONSTRAINTS "
        "WHERE TABLE_SCHEMA = %s AND CONSTRAINT_TYPE = 'PRIMARY KEY'"
    )
    routines = names(
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = %s"
    )
    return {
        "rows": {
            t: int(run_sql(f"SELECT COUNT(*) FROM {qualified(schema, t)}")[0][0]) for t in tables
        },
        "views": names("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s"),
        "procedures": {n for n, kind in routines if kind == "PROCEDURE"},
        "functions": {n for n, kind in routines if kind == "FUNCTION"},
        "triggers": dict(
            names(
                "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = %s"
            )
        ),
        "events": names("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s"),
        "foreign_keys": names(
            "SELECT CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME, DELETE_RULE "
            "FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s"
        ),
        "no_primary_key": tables - with_pk,
        "partitioned": names(
            "SELECT DISTINCT TABLE_NAME FROM information_schema.PARTITIONS "
            "WHERE TABLE_SCHEMA = %s AND PARTITION_NAME IS NOT NULL"
        ),
        "fulltext": names(
            "SELECT DISTINCT TABLE_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = %s AND INDEX_TYPE = 'FULLTEXT'"
        ),
        "generated_columns": names(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND IS_GENERATED = 'ALWAYS'"
        ),
        "manual_statistics": names(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "AND LOWER(CREATE_OPTIONS) LIKE '%%stats_auto_recalc=0%%'"
        ),
    }


# --------------------------------------------------------------------------------------------
# Daily: index analysis, statistics, retention cleanup
# --------------------------------------------------------------------------------------------


def _cleanup_rules(catalog: Catalog) -> list[dict[str, Any]]:
    """One rule per retention table: the first archives (90 days), the others delete (365).

    Chinook has none: every dated table of it (Invoice, Employee) has foreign-key children,
    and a rule on such a parent is refused by design.
    """
    return [
        {
            "name": t.table,
            "table": t.table,
            "date_column": t.date_column,
            "retention_days": 90 if i == 0 else 365,
            "cleanup_type": "archive" if i == 0 else "delete",
        }
        for i, t in enumerate(catalog.retention)
    ]


def test_daily(loaded: Loaded, configure: Callable[..., None]) -> None:
    catalog = loaded.catalog
    configure(cleanup_rules=_cleanup_rules(catalog))
    dag_run, result = _run_green("mysql_daily_maintenance", loaded.history)
    assert _failed_actions(loaded.history, dag_run) == []

    # Index analysis saw every table; the tables without a primary key are the catalog's.
    analysis = result["index_analysis"]
    assert analysis["tables"] >= len(catalog.tables), analysis["notes"]
    missing_pk = {f["table"] for f in analysis["findings"] if f["kind"] == "no_primary_key"}
    assert missing_pk == set(catalog.no_primary_key)
    assert {f["table"] for f in analysis["findings"]} <= _all_tables(loaded)
    # Applying every suggested DROP leaves each foreign key an index to use.
    drops: dict[str, set[str]] = {}
    for finding in analysis["findings"]:
        if finding.get("drop_sql"):
            drops.setdefault(finding["table"], set()).add(finding["index"])
    assert _foreign_keys_left_without_index(loaded.schema, drops) == []

    # Statistics: every table examined, none failed or skipped, only catalog tables analysed,
    # and every table InnoDB does not refresh itself (all the hostile names) was analysed.
    stats = result["statistics"]
    assert stats["examined"] >= len(catalog.tables), stats
    assert stats["failed"] == [] and stats["skipped"] == [], stats
    analysed = set(stats["analysed"])
    assert analysed <= {loaded.name(t) for t in _all_tables(loaded)}
    assert {loaded.name(t) for t in catalog.manual_statistics} <= analysed, stats["selected"]

    # Cleanup: exactly the expired rows are gone; archived rows are kept; nothing else moved.
    cleanup = {r["rule"]: r for r in result["cleanup"]}
    assert set(cleanup) == {t.table for t in catalog.retention}
    for table in catalog.retention:
        rule = cleanup[table.table]
        cutoff = datetime.fromisoformat(rule["cutoff"])
        older = f"WHERE `{table.date_column}` < '{cutoff}'"
        assert loaded.count(table.table, older) == 0, rule
        assert rule["rows_deleted"] > 0, rule
        kept = loaded.count(table.table)
        if rule["mode"] == "archive":
            assert loaded.count(f"{table.table}_archive") == rule["rows_deleted"]
        assert kept + rule["rows_deleted"] == catalog.rows[table.table], rule
    untouched = set(catalog.tables) - {t.table for t in catalog.retention}
    assert {t: loaded.count(t) for t in untouched} == {t: catalog.rows[t] for t in untouched}


def _all_tables(loaded: Loaded) -> set[str]:
    """The schema's base tables now (the catalog's, plus any archive table a cleanup made)."""
    return {
        r[0]
        for r in run_sql(
            "SELECT TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE'",
            (loaded.schema,),
        )
    }


def _foreign_keys_left_without_index(schema: str, drops: dict[str, set[str]]) -> list[str]:
    """Foreign keys (either side) no remaining index would serve once ``drops`` are applied."""
    columns: dict[tuple[str, str], list[str]] = {}
    for table, index, column in run_sql(
        "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        (schema,),
    ):
        columns.setdefault((table, index), []).append(column)
    needs: dict[tuple[str, str, str], list[str]] = {}
    for name, table, column, parent, parent_column in run_sql(
        "SELECT CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, "
        "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE TABLE_SCHEMA = %s AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY ORDINAL_POSITION",
        (schema,),
    ):
        needs.setdefault((name, "child", table), []).append(column)
        needs.setdefault((name, "parent", parent), []).append(parent_column)
    broken = []
    for (name, side, table), wanted in sorted(needs.items()):
        left = [c for (t, i), c in columns.items() if t == table and i not in drops.get(t, set())]
        if not any(c[: len(wanted)] == wanted for c in left):
            broken.append(f"{name} ({side} {table}: {', '.join(wanted)})")
    return broken


# --------------------------------------------------------------------------------------------
# Weekly and monthly: fragmentation, rebuilds, performance, integrity, histograms, capacity
# --------------------------------------------------------------------------------------------

# Every table counts as big enough to analyse and rebuild (the catalogs are small). Other tests
# share the server and hold transactions open; the long-transaction guard is tested elsewhere.
OPTIMIZE_ALL = {"min_table_size_mb": 0, "max_transaction_age_s": 86400}


def test_weekly(loaded: Loaded, configure: Callable[..., None]) -> None:
    configure(extra={"optimization": OPTIMIZE_ALL})
    dag_run, result = _run_green("mysql_weekly_optimization", loaded.history)
    assert _failed_actions(loaded.history, dag_run) == []
    tables = {loaded.name(t) for t in _all_tables(loaded)}
    assert {f"{e['schema']}.{e['table']}" for e in result["fragmentation"]} <= tables
    assert [r for r in result["rebuilds"] if r["status"] == "failed"] == []


def test_monthly(loaded: Loaded, configure: Callable[..., None]) -> None:
    # The weekly test may have rebuilt tables of the shared schema on this worker: forget those
    # rebuilds, so every table is due by age again (as on a first monthly run).
    if _has_audit_log(loaded.history):
        run_sql(
            f"DELETE FROM {qualified(loaded.history, 'maintenance_log')} "
            "WHERE command LIKE 'ALTER TABLE %% FORCE%%'"
        )
    configure(extra={"optimization": OPTIMIZE_ALL})
    dag_run, result = _run_green("mysql_monthly_deep_maintenance", loaded.history)
    assert _failed_actions(loaded.history, dag_run) == []
    tables = {loaded.name(t) for t in loaded.catalog.tables}

    # Every table rebuilt once (none was ever rebuilt, so all are due by age) or skipped
    # with a reason; none failed.
    rebuilds = {f"{r['schema']}.{r['table']}": r for r in result["rebuilds"]}
    assert tables <= set(rebuilds), sorted(tables - set(rebuilds))
    unexplained = {
        n: (r["status"], r.get("reason"))
        for n, r in rebuilds.items()
        if not (r["status"] == "rebuilt" or (r["status"] == "skipped" and r.get("reason")))
    }
    assert unexplained == {}
    # CHECK TABLE on every table, none corrupt, missing or in error.
    integrity = result["integrity"]
    assert tables <= set(integrity["checked"]), sorted(tables - set(integrity["checked"]))
    assert (integrity["corrupt"], integrity["missing"], integrity["errors"]) == ([], [], [])
    # Histograms: nothing failed; only catalog tables touched.
    histograms = result["histograms"]
    assert histograms["failed"] == [], histograms["failed"]
    assert set(histograms["refreshed"]) <= {loaded.name(t) for t in _all_tables(loaded)}
    # The data survived the rebuilds.
    assert {t: loaded.count(t) for t in loaded.catalog.tables if t not in _retention(loaded)} == {
        t: n for t, n in loaded.catalog.rows.items() if t not in _retention(loaded)
    }


def _has_audit_log(history: str) -> bool:
    return bool(
        run_sql(
            "SELECT COUNT(*) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'maintenance_log'",
            (history,),
        )[0][0]
    )


def _retention(loaded: Loaded) -> set[str]:
    return {t.table for t in loaded.catalog.retention}


# --------------------------------------------------------------------------------------------
# Health check
# --------------------------------------------------------------------------------------------


def test_health_check(loaded: Loaded, configure: Callable[..., None]) -> None:
    configure()
    dag_run, result = _run_green("mysql_health_check", loaded.history)
    assert _failed_actions(loaded.history, dag_run) == []
    sizes = result["sample"]["sizes"]
    assert sizes.get(loaded.schema, 0) > 0, sizes


# --------------------------------------------------------------------------------------------
# Backup testing: a backup of everything, restored and compared object by object
# --------------------------------------------------------------------------------------------


def test_backup_testing(loaded: Loaded, configure: Callable[..., None], tmp_path: Path) -> None:
    from maintenance_ops.recovery.restore import load_manifest

    catalog = loaded.catalog
    configure(
        backup={"enabled": True, "location": (tmp_path / "backups").as_uri()},
        restore_target={"buffer_pool_mb": 128},
    )
    dag_run, result = _run_green("mysql_backup_testing", loaded.history)
    assert _failed_actions(loaded.history, dag_run) == []
    test = result["restore_test"]
    manifest = load_manifest(test["backup_path"])
    assert manifest is not None

    # The manifest lists every object of the catalog, and counted every table.
    expected = _expected_objects(loaded)
    listed = _object_names(manifest["objects"])
    for kind in ("tables", *KINDS):
        assert expected[kind] <= listed[kind], (kind, sorted(expected[kind] - listed[kind]))
    assert expected["tables"] <= set(manifest["row_counts"]), manifest["row_counts"]
    for table in catalog.tables - _retention(loaded):
        assert manifest["row_counts"][loaded.name(table)] == catalog.rows[table], table

    # The restore test found every one of them again and every check passed.
    restored = _object_names(test["objects"])
    for kind in ("tables", *KINDS):
        assert expected[kind] <= restored[kind], (kind, sorted(expected[kind] - restored[kind]))
    failed = [c for c in test["checks"] if c["status"] == "fail"]
    assert test["ok"] and failed == [], failed
    checks = {c["name"]: c for c in test["checks"]}
    for name in ("objects", "row_counts", "check_table"):
        assert checks[name]["status"] == "pass", checks.get(name)


def _expected_objects(loaded: Loaded) -> dict[str, set[str]]:
    catalog = loaded.catalog
    return {
        "tables": {loaded.name(t) for t in catalog.tables},
        "views": {loaded.name(v) for v in catalog.views},
        "routines": {loaded.name(r) for r in catalog.routines},
        "triggers": {loaded.name(t) for t in catalog.triggers},
        "events": {loaded.name(e) for e in catalog.events},
    }


def _object_names(objects: dict[str, list[Any]]) -> dict[str, set[str]]:
    """``schema.name`` per kind from a manifest's or restore result's ``objects``.

    Entries are ``schema.name`` strings, routines with `` (PROCEDURE)``/`` (FUNCTION)`` after
    the name; an entry may also be a dict with a ``name`` (and a definition checksum).
    """
    names: dict[str, set[str]] = {kind: set() for kind in ("tables", *KINDS)}
    for kind, entries in objects.items():
        for entry in entries:
            name = entry["name"] if isinstance(entry, dict) else entry
            if kind == "routines" and name.endswith(")"):
                name = name.rsplit(" (", 1)[0]
            names.setdefault(kind, set()).add(name)
    return names


# --------------------------------------------------------------------------------------------
# Disaster-recovery drill: needs a binlog, so both catalogs go on a private server
# --------------------------------------------------------------------------------------------


def test_disaster_recovery_drill(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maintenance_ops.core.config import BackupSettings, MaintenanceSettings
    from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
    from maintenance_ops.core.session import MaintenanceSession
    from maintenance_ops.recovery.backup import take_backup
    from maintenance_ops.recovery.restore import load_manifest

    # One database holding both catalogs: one drill (one scratch server, one PITR) covers both.
    with MySQLInstance(InstanceSpec(binlog=True), base_dir=tmp_path / "srv") as server:
        loaded = {}
        for catalog in (CHINOOK, HOSTILE):
            schema = unique_schema(f"mmc_{catalog.name}")
            catalog.load(schema, server.url())
            loaded[schema] = catalog
        history = "mmc_dr_history"
        account = create_account(server.execute, list(loaded), history, port=server.port)
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", account.conn_json())
        backup = {"enabled": True, "location": (tmp_path / "backups").as_uri()}
        write_config(
            {
                "databases": [
                    {
                        "name": "catalogs",
                        "conn_id": CONN_ID,
                        "schemas": list(loaded),
                        "history_schema": history,
                        "backup": backup,
                        "restore_target": {"buffer_pool_mb": 128},
                    }
                ],
                "notifications": {"send_reports": False, "report_dir": str(tmp_path / "reports")},
                "disaster_recovery": {"notification_test": False, "pitr_marker_gap_s": 1.0},
            }
        )
        with MaintenanceSession(CONN_ID, MaintenanceSettings()) as session:
            taken = take_backup(
                session,
                conn_id=CONN_ID,
                database_name="catalogs",
                schemas=list(loaded),
                history_schema=history,
                settings=BackupSettings(**backup),
            )
        dag_run = run_dag("mysql_disaster_recovery_test")
        failed = {k: v for k, v in task_states(dag_run).items() if v != "success"}
        assert not failed, (failed, _failed_actions(history, dag_run, server.url()))
        (result,) = _results(dag_run)

    readiness = result["readiness"]
    assert readiness["verdict"] == "ready", readiness["reasons"]
    pitr = {c["name"]: c["status"] for c in readiness["areas"]["pitr"]}
    assert {"restore", "markers"} <= set(pitr), readiness["areas"]["pitr"]
    assert set(pitr.values()) == {"pass"}, readiness["areas"]["pitr"]
    # The backup the drill recovered from holds every object of both catalogs.
    listed = _object_names((load_manifest(taken.path.path) or {})["objects"])
    for schema, catalog in loaded.items():
        expected = _expected_objects(Loaded(catalog, schema, history, account))
        for kind in ("tables", *KINDS):
            assert expected[kind] <= listed[kind], (kind, sorted(expected[kind] - listed[kind]))

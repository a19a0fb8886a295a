"""Foreign-key-aware cleanup: the pure plan and builders, then the real server as the
maintenance account (``target.conn_id``); root only builds the fixtures."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from maintenance_ops.core.audit import AuditLog
from maintenance_ops.core.config import CleanupRule, MaintenanceSettings
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.observe.reports import detail_lines
from maintenance_ops.upkeep.cleanup import CleanupResult, run_cleanup_rule
from maintenance_ops.upkeep.cleanup_fk import (
    ForeignKey,
    ForeignKeyPlan,
    build_child_copy,
    build_group_count,
    cascade_order,
    foreign_keys_from_rows,
    hidden_referencing_keys,
    plan_foreign_keys,
)
from tests.conftest import Target
from tests.maintenance_ops.upkeep.test_cleanup import kill_mid_runs
from tests.support.catalogs import CHINOOK
from tests.support.catalogs import HOSTILE as HOSTILE_CATALOG

BASE = datetime(2024, 1, 1)
CUTOFF = BASE + timedelta(hours=50)  # orders are one per hour from BASE: ids 1..50 are older
ROOT = ("app", "orders")


def _rule(**kw: Any) -> CleanupRule:
    base = {"name": "orders", "table": "orders", "date_column": "created", "retention_days": 30}
    return CleanupRule(**{**base, **kw})


def _fk(name: str, child: str, parent: str, action: str, cols: tuple[str, ...] = ("pid",)):
    return ForeignKey(name, ("app", child), cols, ("app", parent), ("id",) * len(cols), action)


# --------------------------------------------------------------------------------------------
# Pure: catalog rows, order, decisions, builders
# --------------------------------------------------------------------------------------------


def test_foreign_keys_from_rows_groups_columns_in_order() -> None:
    def row(pos: int, child_col: str, parent_col: str) -> dict[str, Any]:
        return {
            "child_schema": "app",
            "child_table": "lines",
            "constraint_name": "fk_lines",
            "child_column": child_col,
            "position": pos,
            "parent_schema": "app",
            "parent_table": "orders",
            "parent_column": parent_col,
            "on_delete": "cascade",
        }

    assert foreign_keys_from_rows([row(2, "b", "y"), row(1, "a", "x")]) == [
        ForeignKey("fk_lines", ("app", "lines"), ("a", "b"), ROOT, ("x", "y"), "CASCADE")
    ]


def test_cascade_order_parents_first_and_cycles() -> None:
    edges = [
        _fk("fk_notes", "notes", "items", "CASCADE"),
        _fk("fk_items", "items", "orders", "CASCADE"),
        _fk("fk_flags", "notes", "orders", "CASCADE"),  # a diamond: notes under both
        _fk("fk_tags", "tags", "orders", "SET NULL"),
    ]
    order, cycles = cascade_order(ROOT, edges)
    assert order == [("app", "items"), ("app", "notes")] and cycles == []
    _, cycles = cascade_order(ROOT, [_fk("fk_self", "orders", "orders", "CASCADE")])
    assert cycles == ["app.orders (`fk_self`) -> app.orders"]


@pytest.mark.parametrize(
    ("rule", "edges", "expected"),
    [
        pytest.param(
            _rule(cleanup_type="archive"),
            [_fk("fk_items", "items", "orders", "CASCADE")],
            "would also delete rows of app.items (constraint `fk_items` (ON DELETE CASCADE)) "
            "without archiving them; name them to archive with it: archive_children: [items]",
            id="archive-cascade-unnamed",
        ),
        pytest.param(
            _rule(),
            [_fk("fk_items", "items", "orders", "CASCADE")],
            "to delete them with their parents set allow_cascade_delete: [items], or keep a "
            "copy: cleanup_type: archive with archive_children: [items]",
            id="delete-cascade-unallowed",
        ),
        pytest.param(
            _rule(cleanup_type="archive", archive_children=["items"]),
            [
                _fk("fk_items", "items", "orders", "CASCADE"),
                _fk("fk_notes", "notes", "items", "CASCADE"),
            ],
            "would also delete rows of app.notes (constraint `fk_notes` (ON DELETE CASCADE))",
            id="grandchild-unnamed",
        ),
        pytest.param(
            _rule(allow_cascade_delete=True),
            [
                _fk("fk_items", "items", "orders", "CASCADE"),
                _fk("fk_tags", "tags", "items", "SET NULL"),
            ],
            "would rewrite the references of app.tags (constraint `fk_tags` (ON DELETE SET "
            "NULL)) to NULL; to accept that set allow_set_null: [tags]",
            id="set-null-under-a-cascade",
        ),
        pytest.param(
            _rule(allow_cascade_delete=True),
            [_fk("fk_self", "orders", "orders", "CASCADE")],
            "would cascade back into rows being cleaned, whatever their age",
            id="self-cascade",
        ),
    ],
)
def test_plan_refuses_naming_child_constraint_and_key(
    rule: CleanupRule, edges: list[ForeignKey], expected: str
) -> None:
    plan = plan_foreign_keys(rule, ROOT, edges)
    assert plan.refusal.startswith("rule 'orders': deleting rows of app.orders ")
    assert expected in plan.refusal


def test_plan_accepts_named_children_and_warns_about_unknown_names() -> None:
    edges = [
        _fk("fk_items", "items", "orders", "CASCADE"),
        _fk("fk_notes", "notes", "items", "CASCADE"),
        _fk("fk_tags", "tags", "orders", "SET NULL"),
        _fk("fk_ship", "shipments", "orders", "RESTRICT"),
    ]
    rule = _rule(
        cleanup_type="archive",
        archive_children={"items": "items_old", "nope": None},
        allow_cascade_delete=["notes"],
        allow_set_null=["tags"],
        archive_schema="arc",
    )
    plan = plan_foreign_keys(rule, ROOT, edges)
    assert plan.refusal == ""
    assert plan.archives == {("app", "items"): ("arc", "items_old")}
    assert [(g.table[1], g.action, g.handling) for g in plan.groups()] == [
        ("items", "CASCADE", "archived"),
        ("notes", "CASCADE", "deleted"),
        ("tags", "SET NULL", "set null"),
        ("shipments", "RESTRICT", "blocks"),
    ]
    assert plan.warnings == [
        "rule 'orders': archive_children names ['nope'], which no foreign key of app.orders "
        "reaches; remove them from the rule"
    ]


PLAN = ForeignKeyPlan(
    ROOT,
    [
        _fk("fk_items", "items", "orders", "CASCADE", ("order_id",)),
        ForeignKey(
            "fk_notes",
            ("app", "notes"),
            ("o", "l"),
            ("app", "items"),
            ("order_id", "id"),
            "CASCADE",
        ),
    ],
    [("app", "items"), ("app", "notes")],
    {("app", "notes"): ("app", "notes_archive")},
)
CHUNK = ("`created` < %s AND `id` > %s AND `id` <= %s", [CUTOFF, 10, 20])


def test_builders_nest_the_parent_chunk_level_by_level() -> None:
    items = PLAN.groups()[0]
    assert build_group_count(PLAN, items, CHUNK, lock=True) == (
        "SELECT COUNT(*) AS n FROM `app`.`items` WHERE `order_id` IN (SELECT `id` FROM "
        "`app`.`orders` WHERE `created` < %s AND `id` > %s AND `id` <= %s) FOR UPDATE",
        [CUTOFF, 10, 20],
    )
    assert build_group_count(PLAN, None, CHUNK) == (
        "SELECT COUNT(*) AS n FROM `app`.`orders` WHERE " + CHUNK[0],
        CHUNK[1],
    )
    assert build_child_copy(PLAN, ("app", "notes"), ["id", "o", "l"], CHUNK) == (
        "INSERT INTO `app`.`notes_archive` (`id`, `o`, `l`) SELECT `id`, `o`, `l` FROM "
        "`app`.`notes` WHERE (`o`, `l`) IN (SELECT `order_id`, `id` FROM `app`.`items` WHERE "
        "`order_id` IN (SELECT `id` FROM `app`.`orders` WHERE `created` < %s AND `id` > %s "
        "AND `id` <= %s))",
        [CUTOFF, 10, 20],
    )


def test_config_children_keys() -> None:
    rule = _rule(cleanup_type="archive", archive_children=["it%ems", "no`tes", "ünï"])
    assert rule.archive_children == {"it%ems": None, "no`tes": None, "ünï": None}
    with pytest.raises(ValueError, match="needs cleanup_type: archive"):
        _rule(archive_children=["items"])
    with pytest.raises(ValueError, match="listed twice"):
        _rule(cleanup_type="archive", archive_children=["a", "a"])
    with pytest.raises(ValueError, match="1-64 characters"):
        _rule(allow_set_null=["x" * 65])
    with pytest.raises(ValueError, match="not a valid identifier"):
        _rule(cleanup_type="archive", archive_children={"items": "bad name"})


# --------------------------------------------------------------------------------------------
# Real server, as the maintenance account
# --------------------------------------------------------------------------------------------


@pytest.fixture
def session(target: Target) -> Iterator[MaintenanceSession]:
    settings = MaintenanceSettings(innodb_lock_wait_timeout_s=1, lock_wait_timeout_s=2)
    with MaintenanceSession(target.conn_id, settings, database_name="primary") as s:
        yield s


def _run(session: MaintenanceSession, target: Target, rule: CleanupRule, **kw: Any):
    kw.setdefault("cutoff", CUTOFF)
    kw.setdefault("chunk_size", 7)
    kw.setdefault("chunk_time_s", None)  # fixed chunks: the tests count them
    return run_cleanup_rule(session, rule, schema=target.schema, database_name="primary", **kw)


# Orders 1..100, one per hour; each has 3 items, each item one note; tags point at every
# order (SET NULL); one shipment points at order 30 (RESTRICT).
CHILDREN = {
    "items": (
        "CREATE TABLE order_items (id INT PRIMARY KEY, order_id INT NOT NULL, qty INT, "
        "CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id) "
        "ON DELETE CASCADE)",
        "INSERT INTO order_items SELECT seq, (seq + 2) DIV 3, seq MOD 5 FROM seq_1_to_300",
    ),
    "notes": (
        "CREATE TABLE item_notes (id INT PRIMARY KEY, item_id INT NOT NULL, body VARCHAR(20), "
        "CONSTRAINT fk_notes_item FOREIGN KEY (item_id) REFERENCES order_items (id) "
        "ON DELETE CASCADE)",
        "INSERT INTO item_notes SELECT seq, seq, CONCAT('note ', seq) FROM seq_1_to_300",
    ),
    "tags": (
        "CREATE TABLE order_tags (id INT PRIMARY KEY, order_id INT NULL, "
        "CONSTRAINT fk_tags_order FOREIGN KEY (order_id) REFERENCES orders (id) "
        "ON DELETE SET NULL)",
        "INSERT INTO order_tags SELECT seq, seq FROM seq_1_to_100",
    ),
    "shipments": (
        "CREATE TABLE shipments (id INT PRIMARY KEY, order_id INT NOT NULL, "
        "CONSTRAINT fk_ship_order FOREIGN KEY (order_id) REFERENCES orders (id) "
        "ON DELETE RESTRICT)",
        "INSERT INTO shipments VALUES (1, 30)",
    ),
}


def _orders(target: Target, *children: str) -> None:
    target.sql("CREATE TABLE orders (id INT PRIMARY KEY, created DATETIME NOT NULL)")
    target.sql(
        "INSERT INTO orders SELECT seq, %s + INTERVAL seq - 1 HOUR FROM seq_1_to_100", (BASE,)
    )
    for child in children:
        for statement in CHILDREN[child]:
            target.sql(statement)


def _rows(target: Target, table: str) -> list[tuple[Any, ...]]:
    quoted = "`" + table.replace("`", "``") + "`"
    return target.sql(f"SELECT * FROM {quoted} ORDER BY 1")


def _snapshot(target: Target, *tables: str) -> dict[str, list[tuple[Any, ...]]]:
    return {t: _rows(target, t) for t in tables}


def _children(result: CleanupResult) -> list[tuple[str, str, int, str]]:
    return [(c.table.split(".", 1)[1], c.action, c.rows, c.handling) for c in result.child_rows]


@pytest.mark.parametrize(
    ("mode", "fix"),
    [
        pytest.param("archive", "archive_children: [order_items]", id="archive"),
        pytest.param("delete", "allow_cascade_delete: [order_items]", id="delete"),
    ],
)
def test_cascade_parent_is_refused_before_any_write(
    session: MaintenanceSession, target: Target, mode: str, fix: str
) -> None:
    _orders(target, "items")
    before = _snapshot(target, "orders", "order_items")
    audit = AuditLog(target.conn_id, target.history_schema)
    result = _run(session, target, _rule(cleanup_type=mode), audit=audit)
    assert result.status == "refused"
    message = result.warnings[-1]
    assert f"{target.schema}.order_items (constraint `fk_items_order` (ON DELETE CASCADE))" in (
        message
    )
    assert fix in message
    assert _snapshot(target, "orders", "order_items") == before
    assert not target.sql("SHOW TABLES LIKE 'orders_archive'")
    assert [r["outcome"] for r in audit.read()] == ["refused"]
    audit.close()


def test_archive_children_multi_level_loses_nothing(
    session: MaintenanceSession, target: Target
) -> None:
    _orders(target, "items", "notes")
    tables = ("orders", "order_items", "item_notes")
    before = _snapshot(target, *tables)
    only_items = _rule(cleanup_type="archive", archive_children=["order_items"])
    refused = _run(session, target, only_items)
    assert refused.status == "refused"
    assert "item_notes (constraint `fk_notes_item` (ON DELETE CASCADE))" in refused.warnings[-1]

    rule = _rule(cleanup_type="archive", archive_children=["order_items", "item_notes"])
    result = _run(session, target, rule)
    assert (result.status, result.rows_archived, result.chunks) == ("ok", 50, 8)
    assert _children(result) == [
        ("order_items", "CASCADE", 150, "archived"),
        ("item_notes", "CASCADE", 150, "archived"),
    ]
    assert [c.archive_table for c in result.child_rows] == [
        f"{target.schema}.order_items_archive",
        f"{target.schema}.item_notes_archive",
    ]
    after = _snapshot(target, *tables)
    archived = _snapshot(target, *(f"{t}_archive" for t in tables))
    for table in tables:
        kept, copied = after[table], archived[f"{table}_archive"]
        assert len(before[table]) == len(kept) + len(copied), table
        assert sorted(kept + copied) == before[table], table
    assert [r[0] for r in archived["orders_archive"]] == list(range(1, 51))
    assert {r[1] for r in archived["order_items_archive"]} == set(range(1, 51))
    assert [r[0] for r in archived["item_notes_archive"]] == list(range(1, 151))
    again = _run(session, target, rule)
    assert (again.status, again.rows_archived, _children(again)[0][2]) == ("ok", 0, 0)


def test_sigkill_mid_run_loses_no_child_row_and_rerun_resumes(
    session: MaintenanceSession, target: Target
) -> None:
    target.sql("CREATE TABLE orders (id INT PRIMARY KEY, created DATETIME NOT NULL)")
    target.sql(
        "INSERT INTO orders SELECT seq, %s + INTERVAL seq - 1 MINUTE FROM seq_1_to_3000", (BASE,)
    )
    for child in ("items", "notes"):
        create, fill = CHILDREN[child]
        target.sql(create)
        target.sql(fill.replace("seq_1_to_300", "seq_1_to_9000"))
    tables = ("orders", "order_items", "item_notes")
    before = _snapshot(target, *tables)
    cutoff = BASE + timedelta(minutes=2000)

    def nothing_lost() -> None:
        for table in tables:
            kept, archived = _rows(target, table), _rows(target, f"{table}_archive")
            assert sorted(kept + archived) == before[table], table

    rule = _rule(cleanup_type="archive", archive_children=["order_items", "item_notes"])
    kill_mid_runs(target, rule.model_dump(by_alias=True), cutoff, nothing_lost)
    result = _run(session, target, rule, cutoff=cutoff)
    assert result.status == "ok"
    nothing_lost()
    assert len(_rows(target, "orders_archive")) == 2000
    assert len(_rows(target, "item_notes_archive")) == 3 * 2000


def test_delete_with_allowed_cascade_reports_child_rows(
    session: MaintenanceSession, target: Target
) -> None:
    _orders(target, "items", "notes")
    rule = _rule(allow_cascade_delete=["order_items", "item_notes"])
    result = _run(session, target, rule)
    assert (result.status, result.rows_deleted) == ("ok", 50)
    assert _children(result) == [
        ("order_items", "CASCADE", 150, "deleted"),
        ("item_notes", "CASCADE", 150, "deleted"),
    ]
    assert len(_rows(target, "order_items")) == len(_rows(target, "item_notes")) == 150


@pytest.mark.parametrize("mode", ["delete", "archive"])
def test_set_null_children_refused_unless_allowed(
    session: MaintenanceSession, target: Target, mode: str
) -> None:
    _orders(target, "tags")
    before = _snapshot(target, "orders", "order_tags")
    refused = _run(session, target, _rule(cleanup_type=mode))
    assert refused.status == "refused"
    assert (
        f"would rewrite the references of {target.schema}.order_tags (constraint "
        "`fk_tags_order` (ON DELETE SET NULL)) to NULL; to accept that set "
        "allow_set_null: [order_tags]"
    ) in refused.warnings[-1]
    assert _snapshot(target, "orders", "order_tags") == before
    result = _run(session, target, _rule(cleanup_type=mode, allow_set_null=["order_tags"]))
    assert (result.status, result.rows_deleted) == ("ok", 50)
    assert _children(result) == [("order_tags", "SET NULL", 50, "set null")]
    tags = _rows(target, "order_tags")
    assert len(tags) == 100 and [t[0] for t in tags if t[1] is None] == list(range(1, 51))


@pytest.mark.parametrize("mode", ["delete", "archive"])
def test_restrict_child_stops_the_rule_naming_the_constraint(
    session: MaintenanceSession, target: Target, mode: str
) -> None:
    _orders(target, "shipments")
    before = _rows(target, "orders")
    audit = AuditLog(target.conn_id, target.history_schema)
    dry = _run(session, target, _rule(cleanup_type=mode), audit=audit, dry_run=True)
    assert dry.status == "failed"  # predicted: the audit row says dry_run, nothing failed yet
    assert [r["outcome"] for r in audit.read()] == ["dry_run"]
    result = _run(session, target, _rule(cleanup_type=mode), audit=audit)
    # Chunks of 7: ids 1..28 go in four chunks; the chunk holding order 30 is refused.
    assert (result.status, result.rows_deleted, result.chunks) == ("failed", 28, 4)
    message = result.warnings[-1]
    assert f"rows still referenced by {target.schema}.shipments (constraint `fk_ship_order` " in (
        message
    )
    assert "(ON DELETE RESTRICT)" in message and "[1451]" in message
    assert "the rule stopped after 28 rows in 4 chunks" in message
    assert "Fix: clean the child table [shipments] first" in message
    kept = _rows(target, "orders")
    assert [r[0] for r in kept] == list(range(29, 101))
    if mode == "archive":
        assert sorted(kept + _rows(target, "orders_archive")) == before
    assert sorted(r["outcome"] for r in audit.read()) == ["dry_run", "failed"]
    audit.close()


def test_dry_run_counts_child_rows_per_table_and_action(
    session: MaintenanceSession, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    _orders(target, "items", "notes", "tags", "shipments")
    tables = ("orders", "order_items", "item_notes", "order_tags", "shipments")
    before = _snapshot(target, *tables)
    rule = _rule(
        cleanup_type="archive",
        archive_children=["order_items"],
        allow_cascade_delete=["item_notes"],
        allow_set_null=True,
    )
    log = logging.getLogger("test_cleanup_fk_dry_run")
    with caplog.at_level(logging.INFO, logger=log.name):
        result = _run(session, target, rule, dry_run=True, log=log)
    # The RESTRICT child still references a row: a real run would stop there, so the dry run
    # says so instead of "ok".
    assert (result.status, result.dry_run_rows, result.rows_deleted) == ("failed", 50, 0)
    assert _children(result) == [
        ("order_items", "CASCADE", 150, "archived"),
        ("item_notes", "CASCADE", 150, "deleted"),
        ("order_tags", "SET NULL", 50, "set null"),
        ("shipments", "RESTRICT", 1, "blocks"),
    ]
    assert result.child_rows[0].constraints == ["fk_items_order"]
    assert _snapshot(target, *tables) == before
    assert not target.sql("SHOW TABLES LIKE '%archive'")
    summary = caplog.records[-1].getMessage()
    assert "would remove 50; child rows: " in summary
    assert f"{target.schema}.order_items CASCADE 150 archived" in summary
    assert f"{target.schema}.shipments RESTRICT 1 blocks" in summary
    report = detail_lines({"dry_run": True, "cleanup": [result.to_dict()]})[0]
    assert report.startswith(f"cleanup orders on {target.schema}.orders: would remove 50 row(s)")
    assert f"[failed]; child rows: {target.schema}.order_items CASCADE 150 archived, " in report
    assert result.warnings[-1] == (
        f"rule 'orders': a real run would stop at the first chunk holding a referenced row: "
        f"1 row(s) of {target.schema}.shipments (`fk_ship_order`, ON DELETE RESTRICT) still "
        "reference rows it would delete. Fix: clean the child table "
        f"[{target.schema}.shipments] first (a rule of its own listed before this one, if it "
        "has a date column), or narrow this rule's where to rows no child references (over "
        "this table's own columns: a where cannot read the child), or make the constraint ON "
        "DELETE CASCADE and list the child in archive_children (an archive rule) or "
        "allow_cascade_delete (a delete rule)"
    )
    refused = _run(session, target, _rule(), dry_run=True)  # the counts show what is at stake
    assert (refused.status, refused.dry_run_rows) == ("refused", 50)
    assert _children(refused)[:2] == [
        ("order_items", "CASCADE", 150, "deleted"),
        ("item_notes", "CASCADE", 150, "deleted"),
    ]


# Hostile names on the child side: `%` (the driver's format character), a backtick, unicode,
# spaces; in tables, columns and constraint names. The rule's own table is a configured name.
HOSTILE = [
    "CREATE TABLE orders (`i%d` INT PRIMARY KEY, created DATETIME NOT NULL)",
    "CREATE TABLE `it%ems` (`id` INT PRIMARY KEY, `ord%s er` INT NOT NULL, "
    "CONSTRAINT `fk%s``it` FOREIGN KEY (`ord%s er`) REFERENCES orders (`i%d`) ON DELETE CASCADE)",
    "CREATE TABLE `no``tes` (`id` INT PRIMARY KEY, `ítem` INT NOT NULL, `b%%ody` VARCHAR(9), "
    "CONSTRAINT `fk_ñ%` FOREIGN KEY (`ítem`) REFERENCES `it%ems` (`id`) ON DELETE CASCADE)",
    "CREATE TABLE `標籤` (`id` INT PRIMARY KEY, `ord%er` INT NULL, CONSTRAINT `fk_標籤` "
    "FOREIGN KEY (`ord%er`) REFERENCES orders (`i%d`) ON DELETE SET NULL)",
]


def test_hostile_child_names(session: MaintenanceSession, target: Target) -> None:
    for statement in HOSTILE:
        target.sql(statement)  # no args: the driver's % step does not run
    target.sql(
        "INSERT INTO orders SELECT seq, %s + INTERVAL seq - 1 HOUR FROM seq_1_to_100", (BASE,)
    )
    target.sql("INSERT INTO `it%ems` SELECT seq, (seq + 1) DIV 2 FROM seq_1_to_200")
    target.sql("INSERT INTO `no``tes` SELECT seq, seq, 'x%' FROM seq_1_to_200")
    target.sql("INSERT INTO `標籤` SELECT seq, seq FROM seq_1_to_100")
    tables = ("orders", "it%ems", "no`tes", "標籤")
    before = _snapshot(target, *tables)
    rule = _rule(cleanup_type="archive", archive_children=["it%ems"])
    refused = _run(session, target, rule)
    assert refused.status == "refused"
    assert (
        f"{target.schema}.no`tes (constraint `fk_ñ%` (ON DELETE CASCADE))" in (refused.warnings[-1])
    )
    rule = _rule(
        cleanup_type="archive",
        archive_children={"it%ems": "items_old", "no`tes": None},
        allow_set_null=["標籤"],
        where="`i%d` % 2 = 1 OR `i%d` % 2 = 0",  # % in a name and as an operator
    )
    dry = _run(session, target, rule, dry_run=True)
    assert _children(dry) == [
        ("it%ems", "CASCADE", 100, "archived"),
        ("no`tes", "CASCADE", 100, "archived"),
        ("標籤", "SET NULL", 50, "set null"),
    ]
    assert dry.child_rows[0].constraints == ["fk%s`it"]
    result = _run(session, target, rule)
    assert (result.status, result.rows_archived) == ("ok", 50)
    assert _children(result) == _children(dry)
    for table, archive in (("orders", "orders_archive"), ("it%ems", "items_old")):
        assert sorted(_rows(target, table) + _rows(target, archive)) == before[table]
    assert sorted(_rows(target, "no`tes") + _rows(target, "no`tes_archive")) == before["no`tes"]
    assert [r[1] for r in _rows(target, "標籤")].count(None) == 50


# --------------------------------------------------------------------------------------------
# Real schemas: the hostile catalog and Chinook (tests/support/catalogs.py)
# --------------------------------------------------------------------------------------------


def _count(target: Target, sql: str, *args: Any) -> int:
    return int(target.sql(sql, args or None)[0][0])


def test_hostile_catalog_customers_cascade_set_null_and_restrict_grandchild(
    session: MaintenanceSession, target: Target
) -> None:
    HOSTILE_CATALOG.load(target.schema)
    cutoff = target.sql("SELECT UTC_TIMESTAMP() - INTERVAL 300 DAY")[0][0]
    old = "SELECT id FROM customers WHERE created_at < %s"
    rule = {"name": "customers", "table": "customers", "date_column": "created_at"}
    only_cascade = CleanupRule(
        **rule, retention_days=300, cleanup_type="archive", archive_children=["order"]
    )
    refused = _run(session, target, only_cascade, cutoff=cutoff)
    assert refused.status == "refused"
    assert (
        f"{target.schema}.support_tickets (constraint `fk_ticket_customer`"
        in (refused.warnings[-1])
    )
    full = only_cascade.model_copy(update={"allow_set_null": ["support_tickets"]})
    dry = _run(session, target, full, cutoff=cutoff, dry_run=True)
    orders = _count(target, f"SELECT COUNT(*) FROM `order` WHERE customer_id IN ({old})", cutoff)
    lines = _count(
        target,
        "SELECT COUNT(*) FROM `select` WHERE order_id IN "
        f"(SELECT id FROM `order` WHERE customer_id IN ({old}))",
        cutoff,
    )
    tickets = _count(
        target, f"SELECT COUNT(*) FROM support_tickets WHERE customer_id IN ({old})", cutoff
    )
    assert dry.dry_run_rows == _count(target, f"SELECT COUNT(*) FROM ({old}) AS o", cutoff) > 0
    assert _children(dry) == [
        ("order", "CASCADE", orders, "archived"),
        ("support_tickets", "SET NULL", tickets, "set null"),
        ("select", "RESTRICT", lines, "blocks"),
    ]
    assert orders > 0 and lines > 0 and tickets > 0
    assert dry.status == "failed"  # the grandchild's lines would stop it, as below
    assert (
        f"{lines} row(s) of {target.schema}.select (`fk_line_order`, ON DELETE RESTRICT)"
        in (dry.warnings[-1])
    )
    tables = ("customers", "order", "select", "support_tickets")
    before = _snapshot(target, *tables)
    # Order lines (RESTRICT under the CASCADE) block the first chunk: nothing is written.
    blocked = _run(session, target, full, cutoff=cutoff)
    assert (blocked.status, blocked.rows_deleted) == ("failed", 0)
    assert (
        f"{target.schema}.select (constraint `fk_line_order` (ON DELETE RESTRICT))"
        in (blocked.warnings[-1])
    )
    assert _snapshot(target, *tables) == before
    assert not _rows(target, "customers_archive") and not _rows(target, "order_archive")
    # Once the lines are gone (their own rule, in real life), the rule archives everything.
    target.sql(
        f"DELETE FROM `select` WHERE order_id IN (SELECT id FROM `order` WHERE customer_id IN "
        f"({old}))",
        (cutoff,),
    )
    result = _run(session, target, full, cutoff=cutoff)
    assert (result.status, result.rows_archived) == ("ok", dry.dry_run_rows)
    assert _children(result)[:2] == _children(dry)[:2]
    for table in ("customers", "order"):
        assert sorted(_rows(target, table) + _rows(target, f"{table}_archive")) == before[table]
    assert _count(target, "SELECT COUNT(*) FROM support_tickets") == len(before["support_tickets"])


def test_chinook_invoice_cleanup_names_the_invoice_line_key(
    session: MaintenanceSession, target: Target
) -> None:
    CHINOOK.load(target.schema)
    cutoff = target.sql("SELECT MIN(InvoiceDate) + INTERVAL 365 DAY FROM Invoice")[0][0]
    rule = CleanupRule(
        name="invoices", table="Invoice", date_column="InvoiceDate", retention_days=365
    )
    dry = _run(session, target, rule, cutoff=cutoff, dry_run=True)
    lines = _count(
        target,
        "SELECT COUNT(*) FROM InvoiceLine WHERE InvoiceId IN "
        "(SELECT InvoiceId FROM Invoice WHERE InvoiceDate < %s)",
        cutoff,
    )
    assert _children(dry) == [("InvoiceLine", "NO ACTION", lines, "blocks")] and lines > 0
    assert dry.status == "failed"  # the dry run predicts the real run's stop, below
    assert (
        f"{lines} row(s) of {target.schema}.InvoiceLine (`FK_InvoiceLineInvoiceId`, "
        "ON DELETE NO ACTION) still reference rows it would delete"
    ) in dry.warnings[-1]
    before = _snapshot(target, "Invoice", "InvoiceLine")
    result = _run(session, target, rule, cutoff=cutoff)
    assert (result.status, result.rows_deleted) == ("failed", 0)
    assert (
        "InvoiceLine (constraint `FK_InvoiceLineInvoiceId` (ON DELETE NO ACTION))"
        in (result.warnings[-1])
    )
    assert _snapshot(target, "Invoice", "InvoiceLine") == before
    # The message's last fix, followed: the key made CASCADE, the child archived with its parents.
    assert (
        "make the constraint ON DELETE CASCADE and list the child in archive_children"
        in (dry.warnings[-1])
    )
    target.sql("ALTER TABLE InvoiceLine DROP FOREIGN KEY FK_InvoiceLineInvoiceId")
    target.sql(
        "ALTER TABLE InvoiceLine ADD CONSTRAINT FK_InvoiceLineInvoiceId FOREIGN KEY (InvoiceId) "
        "REFERENCES Invoice (InvoiceId) ON DELETE CASCADE"
    )
    fixed = CleanupRule(
        **{**rule.model_dump(), "cleanup_type": "archive", "archive_children": ["InvoiceLine"]}
    )
    dry = _run(session, target, fixed, cutoff=cutoff, dry_run=True)
    assert dry.status == "ok" and _children(dry) == [("InvoiceLine", "CASCADE", lines, "archived")]
    result = _run(session, target, fixed, cutoff=cutoff)
    assert (result.status, result.rows_archived) == ("ok", dry.dry_run_rows)
    for table in ("Invoice", "InvoiceLine"):
        assert sorted(_rows(target, table) + _rows(target, f"{table}_archive")) == before[table]


def test_hidden_referencing_keys_counts_per_parent() -> None:
    visible = [_fk("fk_seen", "items", "orders", "CASCADE")]
    rows = [
        {"id": "app/fk_seen", "child": "app/items", "parent": "app/orders"},
        {"id": "other/fk_hidden", "child": "other/invoices", "parent": "app/orders"},
        {"id": "app/fk_elsewhere", "child": "app/x", "parent": "app/customers"},
    ]
    tables = [("app", "orders")]
    hidden = hidden_referencing_keys(rows, tables, visible)
    assert hidden == ["fk_hidden on other.invoices references app.orders"]
    assert hidden_referencing_keys(rows[:1], tables, visible) == []
    # An undecodable name is never a false alarm: counts per parent, not names.
    odd = [{"id": "app/fk_@0j@0jseen", "child": "app/items", "parent": "app/orders"}]
    assert hidden_referencing_keys(odd, tables, visible) == []


@pytest.mark.parametrize("action", ["CASCADE", "RESTRICT"])
def test_a_child_in_a_schema_the_account_cannot_see_is_refused(
    session: MaintenanceSession, target: Target, action: str
) -> None:
    """information_schema hides it from the account; InnoDB's catalog still lists it."""
    from tests.conftest import run_sql

    _orders(target)
    hidden_schema = f"{target.schema}_other"
    run_sql(f"CREATE DATABASE `{hidden_schema}`")
    try:
        run_sql(
            f"CREATE TABLE `{hidden_schema}`.invoices (id INT PRIMARY KEY, order_id INT, "
            f"CONSTRAINT fk_invoice_order FOREIGN KEY (order_id) REFERENCES "
            f"`{target.schema}`.orders (id) ON DELETE {action})"
        )
        run_sql(f"INSERT INTO `{hidden_schema}`.invoices VALUES (1, 1)")
        before = _snapshot(target, "orders")
        result = _run(session, target, _rule(cleanup_type="delete"))
        assert result.status == "refused"
        assert "cannot see" in result.warnings[-1]
        assert f"fk_invoice_order on {hidden_schema}.invoices" in result.warnings[-1]
        assert _snapshot(target, "orders") == before
        assert run_sql(f"SELECT COUNT(*) FROM `{hidden_schema}`.invoices") == [(1,)]
    finally:
        run_sql(f"DROP DATABASE IF EXISTS `{hidden_schema}`")


@pytest.mark.parametrize(
    ("children", "rule", "walk", "removed"),
    [
        pytest.param(
            ("items",),
            {"cleanup_type": "archive", "archive_children": ["order_items"]},
            ["id"],
            50,
            id="tracked-children-walk-the-primary-key",
        ),
        # A RESTRICT child is not locked per chunk: the walk may use the date index.
        pytest.param(
            ("shipments",),
            {"cleanup_type": "archive"},
            ["created", "id"],
            28,
            id="restrict-only-date-index",
        ),
    ],
)
def test_walk_key_on_a_table_with_a_date_index(
    session: MaintenanceSession,
    target: Target,
    children: tuple[str, ...],
    rule: dict[str, Any],
    walk: list[str],
    removed: int,
) -> None:
    _orders(target, *children)
    target.sql("ALTER TABLE orders ADD KEY by_created (created)")
    result = _run(session, target, _rule(**rule))
    assert (result.walk_key, result.rows_deleted) == (walk, removed)

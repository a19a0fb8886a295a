"""Index analysis: the pure rules on tricky definitions, then real schemas on real servers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.upkeep.cleanup_fk import ForeignKey
from maintenance_ops.upkeep.index_analysis import (
    PERFORMANCE_SCHEMA_OFF,
    Finding,
    IndexAnalysis,
    IndexColumn,
    IndexDef,
    KeyNeed,
    TableInfo,
    UsageRecord,
    accumulate_usage,
    analyze_indexes,
    decode_table_name,
    detect,
    drop_index_sql,
    find_low_selectivity,
    find_missing_primary_keys,
    find_table_findings,
    indexes_from_statistics,
    key_needs,
    may_serve,
    plan_table,
    render_findings,
    review_hidden,
    serves,
    unused_reason,
)
from tests.conftest import Target
from tests.support.accounts import create_account

T0 = datetime(2026, 1, 1, 2, 0)


def col(spec: str) -> IndexColumn:
    """Parse ``name``, ``name(10)`` or ``name DESC`` into a key part."""
    descending = spec.endswith(" DESC")
    spec = spec.removesuffix(" DESC")
    if spec.endswith(")"):
        name, length = spec[:-1].split("(")
        return IndexColumn(name, int(length), descending)
    return IndexColumn(spec, None, descending)


def idx(name: str, *cols: str, kind: str = "", visible: bool = True) -> IndexDef:
    """Build an index of table s.t; ``kind`` is "", "unique", "primary" or an index type."""
    return IndexDef(
        "s",
        "t",
        name,
        tuple(col(c) for c in cols),
        unique=kind in ("unique", "primary"),
        primary=kind == "primary",
        index_type=kind if kind in ("FULLTEXT", "SPATIAL", "HASH") else "BTREE",
        visible=visible,
    )


PK = idx("PRIMARY", "id", kind="primary")


def in_catalog_order(indexes: list[IndexDef]) -> list[IndexDef]:
    """Give each index its position in the list, as the catalog's order would."""
    return [replace(index, position=n) for n, index in enumerate(indexes)]


@pytest.mark.parametrize(
    ("indexes", "expected"),
    [
        pytest.param(
            [PK, idx("k1", "a"), idx("k2", "a")],
            {("duplicate", "k2", "k1")},
            id="exact-duplicate-keeps-the-original",
        ),
        pytest.param(
            [PK, idx("z_original", "a"), idx("a_copy", "a")],
            {("duplicate", "a_copy", "z_original")},
            id="original-kept-whatever-its-name",
        ),
        pytest.param(
            [PK, idx("k1", "a"), idx("k2", "a"), idx("k3", "a"), idx("kb", "b"), idx("kb2", "b")],
            {("duplicate", "k2", "k1"), ("duplicate", "k3", "k1"), ("duplicate", "kb2", "kb")},
            id="several-duplicates",
        ),
        pytest.param(
            [PK, idx("ia", "a"), idx("iab", "a", "b")],
            {("redundant", "ia", "iab")},
            id="left-prefix",
        ),
        pytest.param(
            [PK, idx("ia", "a"), idx("iab", "a", "b"), idx("iabc", "a", "b", "c")],
            {("redundant", "ia", "iabc"), ("redundant", "iab", "iabc")},
            id="chain-names-the-surviving-cover",
        ),
        pytest.param(
            [PK, idx("ia", "A"), idx("iab", "a", "B")],
            {("redundant", "ia", "iab")},
            id="column-names-case-insensitive",
        ),
        pytest.param(
            [PK, idx("p10", "c(10)"), idx("p20d", "c(20)", "d")],
            {("redundant", "p10", "p20d")},
            id="shorter-prefix-covered-by-longer-prefix",
        ),
        pytest.param(
            [PK, idx("p20", "c(20)"), idx("p10d", "c(10)", "d")],
            set(),
            id="longer-prefix-not-covered-by-shorter",
        ),
        pytest.param(
            [PK, idx("full", "c"), idx("p10d", "c(10)", "d")],
            set(),
            id="whole-column-not-covered-by-prefix",
        ),
        pytest.param(
            [PK, idx("p10", "c(10)"), idx("fulld", "c", "d")],
            {("redundant", "p10", "fulld")},
            id="prefix-covered-by-whole-column",
        ),
        pytest.param(
            [PK, idx("p10", "c(10)"), idx("p20", "c(20)")],
            {("redundant", "p10", "p20")},
            id="same-column-different-prefix-lengths",
        ),
        pytest.param(
            [PK, idx("asc", "a"), idx("desc_b", "a DESC", "b")],
            set(),
            id="mixed-directions-not-redundant",
        ),
        pytest.param(
            [PK, idx("da", "a DESC"), idx("dab", "a DESC", "b"), idx("da2", "a DESC")],
            {("redundant", "da2", "dab"), ("redundant", "da", "dab")},
            id="same-descending-direction-both-copies-prefixes",
        ),
        pytest.param(
            [PK, idx("a_then_b_desc", "a", "b DESC"), idx("a_then_b", "a", "b")],
            set(),
            id="desc-second-column-not-duplicate",
        ),
        pytest.param(
            [PK, idx("uk_a", "a", kind="unique"), idx("iab", "a", "b")],
            set(),
            id="unique-never-redundant-to-non-unique",
        ),
        pytest.param(
            [PK, idx("uk_a", "a", kind="unique"), idx("uk_ab", "a", "b", kind="unique")],
            set(),
            id="unique-prefix-of-unique-kept",
        ),
        pytest.param(
            [PK, idx("a_uk", "a", "b", kind="unique"), idx("b_plain", "a", "b")],
            {("duplicate", "b_plain", "a_uk")},
            id="non-unique-repeating-unique-is-duplicate",
        ),
        pytest.param(
            [PK, idx("a_plain", "a", "b"), idx("z_uk", "a", "b", kind="unique")],
            {("duplicate", "a_plain", "z_uk")},
            id="unique-kept-even-when-later-by-name",
        ),
        pytest.param(
            [PK, idx("ka", "a"), idx("uk_ab", "a", "b", kind="unique")],
            {("redundant", "ka", "uk_ab")},
            id="non-unique-prefix-of-unique",
        ),
        pytest.param(
            [PK, idx("uk_id", "id", kind="unique")],
            {("duplicate", "uk_id", "PRIMARY")},
            id="unique-duplicate-of-primary-key",
        ),
        pytest.param(
            [PK, idx("uk1", "a", kind="unique"), idx("uk2", "a", kind="unique")],
            {("duplicate", "uk2", "uk1")},
            id="unique-duplicate-of-unique",
        ),
        pytest.param(
            [PK, idx("k_id", "id")],
            {("duplicate", "k_id", "PRIMARY")},
            id="secondary-repeats-primary-key",
        ),
        pytest.param(
            [idx("PRIMARY", "a", "b", kind="primary"), idx("ka", "a"), idx("kba", "b", "a")],
            {("redundant", "ka", "PRIMARY")},
            id="prefix-of-composite-primary-key-but-not-permutation",
        ),
        pytest.param(
            [PK, idx("k_x", "x"), idx("k_x_id", "x", "id")],
            {("duplicate", "k_x_id", "k_x")},
            id="innodb-appends-primary-key",
        ),
        pytest.param(
            [PK, idx("ft", "title", kind="FULLTEXT"), idx("k_title", "title(20)")],
            set(),
            id="fulltext-not-compared-with-btree",
        ),
        pytest.param(
            [
                PK,
                idx("ft_ab", "a", "b", kind="FULLTEXT"),
                idx("ft_ba", "b", "a", kind="FULLTEXT"),
                idx("ft_a", "a", kind="FULLTEXT"),
            ],
            {("duplicate", "ft_ba", "ft_ab")},
            id="fulltext-duplicate-any-order-never-prefix",
        ),
        pytest.param(
            [
                PK,
                idx("sp", "g", kind="SPATIAL"),
                idx("sp2", "g", kind="SPATIAL"),
                idx("k_g", "g(32)"),
            ],
            {("duplicate", "sp2", "sp")},
            id="spatial-only-with-spatial",
        ),
        pytest.param(
            [PK, idx("h_a", "a", kind="HASH"), idx("b_ab", "a", "b")],
            set(),
            id="hash-not-a-left-prefix",
        ),
        pytest.param(
            [PK, idx("ka", "a"), idx("kab", "a", "b", visible=False)],
            set(),
            id="ignored-index-is-no-cover",
        ),
        pytest.param(
            [PK, idx("ka", "a", visible=False), idx("kab", "a", "b")],
            {("redundant", "ka", "kab")},
            id="ignored-index-can-be-redundant",
        ),
        pytest.param(
            [PK, idx("a_ignored", "a", visible=False), idx("b_visible", "a")],
            {("duplicate", "a_ignored", "b_visible")},
            id="duplicate-keeps-the-visible-one",
        ),
        pytest.param(
            [PK, idx("uk", "a", kind="unique", visible=False), idx("k_a", "a")],
            set(),
            id="visible-copy-of-ignored-unique-kept",
        ),
        pytest.param(
            [PK, idx("select", "order"), idx("from", "order", "group")],
            {("redundant", "select", "from")},
            id="reserved-word-names",
        ),
    ],
)
def test_duplicate_and_redundant_rules(
    indexes: list[IndexDef], expected: set[tuple[str, str, str]]
) -> None:
    findings = find_table_findings(in_catalog_order(indexes))
    assert {(f.kind, f.index, f.covered_by) for f in findings} == expected
    assert_runnable(findings, indexes, [])
    for f in findings:
        assert f.drop_sql == drop_index_sql("s", "t", f.index or "")
        assert f.index in f.reason and (f.covered_by or "") in f.reason.replace(
            "the primary key", "PRIMARY"
        )


def test_non_innodb_tables_do_not_append_the_primary_key() -> None:
    indexes = [PK, idx("k_x", "x"), idx("k_x_id", "x", "id")]
    findings = find_table_findings(indexes, clustered=False)
    assert [(f.kind, f.index, f.covered_by) for f in findings] == [("redundant", "k_x", "k_x_id")]


def test_drop_sql_quotes_reserved_words_and_backticks() -> None:
    assert drop_index_sql("shop", "order", "we`ird") == (
        "ALTER TABLE `shop`.`order` DROP INDEX `we``ird`"
    )
    findings = find_table_findings([PK, idx("select", "order"), idx("from", "order", "group")])
    assert findings[0].drop_sql == "ALTER TABLE `s`.`t` DROP INDEX `select`"
    assert findings[0].reason == "select (order) is a left prefix of from (order, group)"


@pytest.mark.parametrize(
    ("tables", "indexes", "expected"),
    [
        pytest.param([TableInfo("s", "t")], [PK], [], id="has-primary-key"),
        pytest.param([TableInfo("s", "t")], [], ["hidden row id"], id="no-index-at-all"),
        pytest.param(
            [TableInfo("s", "t")],
            [idx("uk", "a", kind="unique")],
            ["unique key uk"],
            id="unique-but-no-primary",
        ),
        pytest.param(
            [TableInfo("s", "t", engine="Aria")], [], ["no primary key: add one"], id="aria"
        ),
    ],
)
def test_missing_primary_keys(
    tables: list[TableInfo], indexes: list[IndexDef], expected: list[str]
) -> None:
    findings = find_missing_primary_keys(tables, indexes)
    assert len(findings) == len(expected)
    for finding, text in zip(findings, expected, strict=True):
        assert finding.kind == "no_primary_key" and finding.drop_sql is None
        assert text in finding.reason


def test_low_selectivity_threshold_and_minimum_rows() -> None:
    def card(name: str, n: int, kind: str = "") -> IndexDef:
        return IndexDef("s", "t", name, (col("a"),), unique=kind == "unique", cardinality=n)

    big = {("s", "t"): TableInfo("s", "t", rows=1_000_000)}
    indexes = [card("flag", 2), card("country", 2000), card("uk", 2, "unique")]
    found = find_low_selectivity(indexes, big, max_selectivity=0.001, min_rows=10_000)
    assert [(f.index, f.action, f.drop_sql) for f in found] == [("flag", "review", None)]
    assert "2 distinct values in about 1000000 rows" in found[0].reason
    small = {("s", "t"): TableInfo("s", "t", rows=5_000)}
    assert find_low_selectivity(indexes, small, min_rows=10_000) == []


@pytest.mark.parametrize(
    ("previous", "reads", "boot", "expected_total", "expected_last_used"),
    [
        pytest.param(None, 0, T0, 0, None, id="first-reading-unread"),
        pytest.param(None, 5, T0, 5, "now", id="first-reading-read"),
        pytest.param(UsageRecord(T0, T0, T0, 10, 10, T0), 15, T0, 15, "now", id="counter-grew"),
        pytest.param(UsageRecord(T0, T0, T0, 10, 10, T0), 10, T0, 10, T0, id="counter-unchanged"),
        pytest.param(
            UsageRecord(T0, T0, T0, 10, 10, T0),
            3,
            T0 + timedelta(days=2),
            13,
            "now",
            id="restart-counts-from-zero",
        ),
        pytest.param(
            UsageRecord(T0, T0, T0, 10, 10, T0),
            0,
            T0 + timedelta(days=2),
            10,
            T0,
            id="restart-without-reads-is-not-use",
        ),
        pytest.param(
            UsageRecord(T0, T0, T0, 10, 10, T0), 4, T0, 14, "now", id="truncate-resets-counter"
        ),
        pytest.param(
            UsageRecord(T0, T0, T0, 10, 10, T0),
            10,
            T0 + timedelta(seconds=2),
            10,
            T0,
            id="boot-time-jitter-is-no-restart",
        ),
    ],
)
def test_accumulate_usage(
    previous: UsageRecord | None,
    reads: int,
    boot: datetime,
    expected_total: int,
    expected_last_used: object,
) -> None:
    now = T0 + timedelta(days=3)
    record = accumulate_usage(previous, reads, now, boot)
    assert record.total_reads == expected_total
    assert record.last_reads == reads and record.server_boot == boot
    assert record.last_used == (now if expected_last_used == "now" else expected_last_used)
    assert record.first_seen == (previous.first_seen if previous else now)


@pytest.mark.parametrize(
    ("record", "days_later", "unused"),
    [
        pytest.param(UsageRecord(T0, T0, T0, 0, 0, None), 6, False, id="not-watched-long-enough"),
        pytest.param(UsageRecord(T0, T0, T0, 0, 0, None), 7, True, id="never-read-in-period"),
        pytest.param(
            UsageRecord(T0, T0, T0, 0, 1, T0 + timedelta(days=5)), 8, False, id="read-recently"
        ),
        pytest.param(
            UsageRecord(T0, T0, T0, 0, 1, T0 + timedelta(days=1)), 9, True, id="read-long-ago"
        ),
    ],
)
def test_unused_decision(record: UsageRecord, days_later: int, unused: bool) -> None:
    reason = unused_reason(record, T0 + timedelta(days=days_later), observation_days=7)
    assert (reason is not None) == unused


def test_a_restart_does_not_make_a_used_index_look_unused() -> None:
    """Readings over 10 days with a restart on day 5: reads before it are not forgotten."""
    record = accumulate_usage(None, 0, T0, T0)
    record = accumulate_usage(record, 40, T0 + timedelta(days=4), T0)
    after_restart = T0 + timedelta(days=5)
    record = accumulate_usage(record, 0, T0 + timedelta(days=6), after_restart)
    assert record.total_reads == 40
    assert unused_reason(record, T0 + timedelta(days=10), 7) is None


def test_detect_flags_an_index_once_and_never_constraints_as_unused() -> None:
    """kab is the cover of the redundant ka: it is kept, not also dropped as unused."""
    indexes = in_catalog_order(
        [PK, idx("ka", "a"), idx("kab", "a", "b"), idx("uk", "u", kind="unique"), idx("kc", "c")]
    )
    never = UsageRecord(T0, T0, T0, 0, 0, None)
    usage = {("s", "t", i.name): never for i in indexes}
    findings = detect(indexes, [TableInfo("s", "t")], usage=usage, now=T0 + timedelta(days=8))
    assert [(f.kind, f.index, f.action) for f in findings] == [
        ("redundant", "ka", "drop"),
        ("unused", "kc", "drop"),
    ]


# --------------------------------------------------------------------------------------------
# Foreign keys, AUTO_INCREMENT and the joint decision of a table's DROPs
# --------------------------------------------------------------------------------------------

LATER = T0 + timedelta(days=8)
NEVER = UsageRecord(T0, T0, T0, 0, 0, None)  # watched 8 days, never read, server up throughout
RESTARTED = UsageRecord(T0, T0, T0 + timedelta(days=5), 0, 0, None)  # restart inside the window


def fk(
    name: str, columns: tuple[str, ...], *, table: str = "t", parent: str = "p", ref: str = "id"
) -> ForeignKey:
    """A foreign key of ``s.table`` referencing ``s.parent``."""
    return ForeignKey(name, ("s", table), columns, ("s", parent), (ref,) * len(columns), "CASCADE")


def assert_runnable(findings: list[Finding], indexes: list[IndexDef], needs: list[KeyNeed]) -> None:
    """Every DROP together (and every unused index under review) leaves each need an index."""
    named = [f.index for f in findings if f.index]
    assert len(named) == len(set(named)), "an index is in two findings"
    gone = {f.index for f in findings if f.action == "drop" or f.kind == "unused"}
    assert not {f.covered_by for f in findings} & gone, "a kept index is also dropped"
    primary = next((i for i in indexes if i.primary), None)
    left = [i for i in indexes if i.name not in gone]
    for need in needs:
        if any(serves(i, need) for i in indexes):
            assert any(serves(i, need) for i in left), need.what
        else:
            assert not any(may_serve(i, need, primary) for i in indexes if i.name in gone)


@pytest.mark.parametrize(
    ("indexes", "fks", "auto", "record", "expected"),
    [
        pytest.param(
            [PK, idx("fk_a", "a"), idx("kb", "b")],
            [fk("fk_a", ("a",))],
            [],
            NEVER,
            {("unused", "kb", "drop", None)},
            id="an-index-only-a-foreign-key-reads-is-not-unused",
        ),
        pytest.param(
            [PK, idx("k_a_c", "a", "c"), idx("k_a_b", "a", "b")],
            [fk("fk_a", ("a",))],
            [],
            NEVER,
            {("unused", "k_a_b", "drop", None)},
            id="one-of-two-unused-foreign-key-indexes-stays-the-original",
        ),
        pytest.param(
            [PK, idx("ix_a", "a"), idx("fk_a", "a")],
            [fk("fk_a", ("a",))],
            [],
            None,
            {("duplicate", "ix_a", "drop", "fk_a")},
            id="duplicate-keeps-the-index-named-after-the-foreign-key",
        ),
        pytest.param(
            [PK, idx("fk_a", "a"), idx("uk_a", "a", kind="unique")],
            [fk("fk_a", ("a",))],
            [],
            None,
            {("duplicate", "fk_a", "drop", "uk_a")},
            id="a-unique-key-is-kept-before-the-foreign-key-name",
        ),
        pytest.param(
            [PK, idx("k1", "a"), idx("k2", "a")],
            [],
            [],
            NEVER,
            {("duplicate", "k2", "drop", "k1")},
            id="never-drop-a-duplicate-and-its-original-as-unused",
        ),
        pytest.param(
            [PK, idx("k_x", "x"), idx("k_x_id", "x", "id")],
            [fk("fk_x_id", ("x", "id"))],
            [],
            None,
            {("duplicate", "k_x", "drop", "k_x_id")},
            id="duplicate-keeps-the-one-that-declares-the-foreign-key-columns",
        ),
        pytest.param(
            [PK, idx("p_a", "a(10)", "c"), idx("k_a", "a")],
            [fk("fk_a", ("a",))],
            [],
            NEVER,
            {("unused", "p_a", "drop", None)},
            id="a-prefix-index-never-serves-a-foreign-key",
        ),
        pytest.param(
            [PK, idx("d_a", "a DESC"), idx("d_ab", "a DESC", "b")],
            [fk("fk_a", ("a",))],
            [],
            NEVER,
            {("redundant", "d_a", "review", "d_ab")},
            id="no-sure-server-every-possible-one-stays",
        ),
        pytest.param(
            [PK, idx("k_code", "code"), idx("kb", "b")],
            [fk("fk_c", ("code",), table="c", parent="t", ref="code")],
            [],
            NEVER,
            {("unused", "kb", "drop", None)},
            id="the-referenced-side-keeps-its-index",
        ),
        pytest.param(
            [idx("PRIMARY", "tenant", "id", kind="primary"), idx("k_id", "id")],
            [],
            ["id"],
            NEVER,
            set(),
            id="the-auto-increment-column-keeps-its-index",
        ),
        pytest.param(
            [PK, idx("k_id_x", "id", "x")],
            [],
            ["id"],
            NEVER,
            {("unused", "k_id_x", "drop", None)},
            id="auto-increment-served-by-the-primary-key",
        ),
        pytest.param(
            [PK, idx("kb", "b")],
            [],
            [],
            RESTARTED,
            {("unused", "kb", "review", None)},
            id="a-restart-inside-the-window-makes-unused-a-review",
        ),
        pytest.param(
            [PK, idx("k_a_c", "a", "c"), idx("k_a_b", "a", "b")],
            [fk("fk_a", ("a",))],
            [],
            RESTARTED,
            {("unused", "k_a_b", "review", None)},
            id="unused-under-review-counts-as-gone-for-foreign-keys",
        ),
        pytest.param(
            [PK, idx("k_a", "a"), idx("k_ab", "a", "b"), idx("fk_a", "a")],
            [fk("fk_a", ("a",))],
            [],
            NEVER,
            {("redundant", "k_a", "drop", "k_ab"), ("redundant", "fk_a", "drop", "k_ab")},
            id="duplicates-both-prefixes-of-a-wider-index-both-name-it",
        ),
        pytest.param(
            [PK, idx("k_x", "x"), idx("k_xy", "x", "y"), idx("k_x_id", "x", "id")],
            [],
            [],
            None,
            {("duplicate", "k_x_id", "drop", "k_x")},
            id="a-kept-original-whose-copy-the-wider-index-cannot-cover-stays",
        ),
    ],
)
def test_joint_decision(
    indexes: list[IndexDef],
    fks: list[ForeignKey],
    auto: list[str],
    record: UsageRecord | None,
    expected: set[tuple[str, str, str, str | None]],
) -> None:
    indexes = in_catalog_order(indexes)
    needs = key_needs(fks, [("s", "t", column) for column in auto]).get(("s", "t"), [])
    usage = {("s", "t", i.name): record for i in indexes} if record else None
    findings = plan_table(indexes, needs, usage=usage, now=LATER)
    assert {(f.kind, f.index, f.action, f.covered_by) for f in findings} == expected
    for finding in findings:
        expected_sql = drop_index_sql("s", "t", finding.index or "")
        assert finding.drop_sql == (expected_sql if finding.action == "drop" else None)
    assert_runnable(findings, indexes, needs)


@pytest.mark.parametrize(
    ("index", "sure", "possible"),
    [
        pytest.param(idx("k", "a", "b"), True, True, id="same-columns"),
        pytest.param(idx("k", "A", "B", "c"), True, True, id="wider-any-case"),
        pytest.param(idx("k", "b", "a"), False, False, id="other-order"),
        pytest.param(idx("k", "a"), False, False, id="narrower"),
        pytest.param(idx("k", "a(10)", "b"), False, True, id="column-prefix"),
        pytest.param(idx("k", "a DESC", "b"), False, True, id="descending"),
        pytest.param(idx("k", "a", "b", kind="unique"), True, True, id="unique"),
        pytest.param(idx("k", "a", "b", visible=False), True, True, id="ignored-still-serves"),
        pytest.param(idx("k", "a", "b", kind="FULLTEXT"), False, False, id="fulltext"),
        pytest.param(idx("k", "a"), False, False, id="no-appended-key-without-primary"),
    ],
)
def test_which_index_serves_a_foreign_key(index: IndexDef, sure: bool, possible: bool) -> None:
    [need] = key_needs([fk("f", ("a", "b"))])[("s", "t")]
    assert (serves(index, need), may_serve(index, need, None)) == (sure, possible)


def test_innodb_appended_primary_key_may_serve() -> None:
    [need] = key_needs([fk("f", ("a", "b"))])[("s", "t")]
    primary = idx("PRIMARY", "b", kind="primary")
    assert may_serve(idx("k", "a"), need, primary) and not serves(idx("k", "a"), need)


def test_a_kept_review_names_the_need() -> None:
    indexes = in_catalog_order([PK, idx("d_a", "a DESC"), idx("d_ab", "a DESC", "b")])
    needs = key_needs([fk("fk_a", ("a",))])[("s", "t")]
    [finding] = plan_table(indexes, needs)
    assert finding.reason.endswith(
        "keep it: foreign key fk_a (a) needs it and no other remaining index serves it"
    )


def test_low_selectivity_is_a_review_naming_the_foreign_key() -> None:
    flag = replace(idx("fk_flag", "flag"), cardinality=2)
    needs = key_needs([fk("fk_flag", ("flag",))])[("s", "t")]
    table = TableInfo("s", "t", rows=1_000_000)
    [finding] = plan_table(in_catalog_order([PK, flag]), needs, table=table)
    assert (finding.kind, finding.action, finding.drop_sql) == ("low_selectivity", "review", None)
    assert finding.reason.endswith("; foreign key fk_flag (flag) may use it")


def test_needs_on_both_sides_of_a_foreign_key() -> None:
    key = ForeignKey("fk`%s", ("s", "child"), ("a", "B"), ("s2", "parent"), ("x", "y"), "RESTRICT")
    needs = key_needs([key], [("s", "child", "Id")])
    assert [(n.columns, n.constraint) for n in needs[("s", "child")]] == [
        (("a", "b"), "fk`%s"),
        (("id",), None),
    ]
    [parent] = needs[("s2", "parent")]
    assert parent.columns == ("x", "y") and parent.constraint is None
    assert parent.what == "foreign key fk`%s of child (a, B) referencing parent (x, y)"


def test_unseen_foreign_keys_turn_their_tables_drops_into_reviews() -> None:
    statement = drop_index_sql("s", "t", "k")
    findings = [
        Finding("unused", "s", "t", "k", "k (a): no reads", None, statement),
        Finding("unused", "s", "u", "k", "k (a): no reads", None, drop_index_sql("s", "u", "k")),
        Finding("low_selectivity", "s", "t", "f", "f (b): 2 distinct values"),
    ]
    reviewed = review_hidden(findings, {("s", "t"): ["fk_x on o.c references s.t"]})
    assert [(f.table, f.action) for f in reviewed] == [
        ("t", "review"),
        ("u", "drop"),
        ("t", "review"),
    ]
    assert reviewed[0].reason.startswith("k (a): no reads; review: the table is referenced by ")
    assert "(fk_x on o.c references s.t)" in reviewed[0].reason
    assert reviewed[1:] == findings[1:]


def test_statistics_rows_become_index_definitions() -> None:
    def row(index: str, seq: int, column: str, **kw: object) -> dict[str, object]:
        base = {
            "TABLE_SCHEMA": "s",
            "TABLE_NAME": "t",
            "INDEX_NAME": index,
            "SEQ_IN_INDEX": seq,
            "COLUMN_NAME": column,
            "SUB_PART": None,
            "COLLATION": "A",
            "NON_UNIQUE": 1,
            "INDEX_TYPE": "BTREE",
            "CARDINALITY": 7,
        }
        return {**base, **kw}

    rows = [
        row("k", 2, "b", COLLATION="D"),
        row("k", 1, "a", SUB_PART=10, IGNORED="YES"),
        row("PRIMARY", 1, "id", NON_UNIQUE=0, IGNORED="NO"),
        row("v", 1, "c", IS_VISIBLE="NO"),
        row("ft", 1, "body", INDEX_TYPE="FULLTEXT", COLLATION=None, CARDINALITY=None),
    ]
    by_name = {i.name: i for i in indexes_from_statistics(rows)}
    assert by_name["k"].columns == (IndexColumn("a", 10), IndexColumn("b", None, True))
    assert by_name["k"].visible is False and by_name["v"].visible is False
    assert by_name["PRIMARY"].primary and by_name["PRIMARY"].unique
    assert by_name["ft"].index_type == "FULLTEXT" and by_name["ft"].cardinality is None


@pytest.mark.parametrize(
    ("stored", "name"),
    [
        pytest.param("orders", "orders", id="plain"),
        pytest.param("my@002dtable", "my-table", id="encoded"),
        pytest.param("logs#P#p2024", "logs", id="partition"),
        pytest.param("a@0024b#p#p1#sp#s0", "a$b", id="subpartition"),
    ],
)
def test_decode_table_name(stored: str, name: str) -> None:
    assert decode_table_name(stored) == name


def test_render_and_to_dict() -> None:
    statement = drop_index_sql("s", "t", "ka")
    finding = Finding(
        "redundant", "s", "t", "ka", "ka (a) is a left prefix of kab (a, b)", 2 << 20, statement
    )
    review = Finding("low_selectivity", "s", "t", "kf", "kf (flag) has 2 distinct values", 1 << 20)
    analysis = IndexAnalysis(["s"], [finding, review], tables=1, indexes=3, notes=["note one"])
    text = render_findings(analysis)
    assert "1 redundant" in text and "note: note one" in text and "[2.0 MiB]" in text
    assert "(1 to drop, 1 to review)" in text
    lines = text.splitlines()
    assert lines[2].startswith("redundant       drop   s.t.ka: ")
    assert lines[3].strip() == statement + ";"
    assert lines[4].startswith("low_selectivity review s.t.kf: ") and len(lines) == 5
    data = analysis.to_dict()
    assert data["counts"]["redundant"] == 1 and data["reclaimable_bytes"] == 2 << 20
    assert data["actions"] == {"drop": 1, "review": 1}
    assert [(f["index"], f["action"], f["drop_sql"]) for f in data["findings"]] == [
        ("ka", "drop", statement),
        ("kf", "review", None),
    ]


# --------------------------------------------------------------------------------------------
# Real servers
# --------------------------------------------------------------------------------------------

PLANTED = """
CREATE TABLE t_dup (id INT PRIMARY KEY, c VARCHAR(20), KEY k_c (c), KEY k_c_copy (c));
CREATE TABLE t_red (id INT PRIMARY KEY, d DATE, e INT, KEY k_d (d), KEY k_d_e (d, e));
CREATE TABLE t_nopk (x INT, KEY k_x (x));
CREATE TABLE t_clean (
    id INT PRIMARY KEY, email VARCHAR(100), a INT, b INT, `order` INT, body TEXT,
    title VARCHAR(200), UNIQUE KEY uk_email (email), KEY k_ab (a, b),
    KEY `select` (`order`, a), KEY k_title (title(20)), FULLTEXT KEY ft_body (body),
    KEY k_desc (a DESC, b), KEY k_ign (b) IGNORED);
CREATE TABLE t_low (id INT PRIMARY KEY, flag TINYINT, KEY k_flag (flag));
INSERT INTO t_low SELECT seq, seq MOD 2 FROM seq_1_to_10000;
ANALYZE TABLE t_low
"""


def _plant(sql_runner, script: str) -> None:  # type: ignore[no-untyped-def]
    for statement in script.split(";"):
        if statement.strip():
            sql_runner(statement)


def test_planted_cases_on_the_shared_server(target: Target) -> None:
    _plant(target.sql, PLANTED)
    with MaintenanceSession(target.conn_id, MaintenanceSettings()) as session:
        ps_on = bool(int(session.query_one("SELECT @@performance_schema AS p")["p"]))
        result = analyze_indexes(
            session,
            [target.schema],
            history_schema=target.history_schema,
            now=datetime.now(UTC),
            min_rows=5000,
        )
    found = {(f.kind, f.table, f.index) for f in result.findings}
    assert found == {
        ("duplicate", "t_dup", "k_c_copy"),
        ("redundant", "t_red", "k_d"),
        ("no_primary_key", "t_nopk", None),
        ("low_selectivity", "t_low", "k_flag"),
    }
    assert (result.tables, result.indexes) == (5, 17)
    dup = next(f for f in result.findings if f.kind == "duplicate")
    assert dup.drop_sql == f"ALTER TABLE `{target.schema}`.`t_dup` DROP INDEX `k_c_copy`"
    assert dup.size_bytes == 16384  # one InnoDB page
    if not ps_on:
        assert PERFORMANCE_SCHEMA_OFF in result.notes
    assert result.to_dict()["counts"] == {
        "duplicate": 1,
        "redundant": 1,
        "unused": 0,
        "no_primary_key": 1,
        "low_selectivity": 1,
    }


@pytest.mark.slow
def test_unused_index_on_a_server_with_performance_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = InstanceSpec(extra_args=("--performance-schema=ON",))
    with MySQLInstance(spec) as inst:
        account = create_account(inst.execute, ["app"], "_maint", port=inst.port)
        monkeypatch.setenv("AIRFLOW_CONN_MMC_PS_TARGET", account.conn_json())
        inst.execute("CREATE DATABASE app")
        inst.execute(
            "CREATE TABLE app.t (id INT PRIMARY KEY, a INT, b INT, c INT, "
            "KEY k_used (a), KEY k_unused (b), UNIQUE KEY uk_c (c), KEY k_c_dup (c))"
        )
        inst.execute("INSERT INTO app.t VALUES (1, 1, 1, 1), (2, 2, 2, 2)")
        with MaintenanceSession("mmc_ps_target", MaintenanceSettings()) as session:
            first = analyze_indexes(session, ["app"], history_schema="_maint", now=T0)
            assert first.performance_schema and not first.notes
            assert [f.kind for f in first.findings] == ["duplicate"]  # too early for unused
            session.query("SELECT * FROM app.t FORCE INDEX (k_used) WHERE a = 1")
            later = analyze_indexes(
                session, ["app"], history_schema="_maint", now=T0 + timedelta(days=8)
            )
        stored = inst.execute(
            "SELECT index_name, total_reads > 0 FROM _maint.index_usage ORDER BY index_name"
        )
    found = {(f.kind, f.index) for f in later.findings}
    assert found == {("duplicate", "k_c_dup"), ("unused", "k_unused")}
    assert "no reads in 8.0 days" in next(f.reason for f in later.findings if f.kind == "unused")
    assert dict(stored)["k_used"] == 1 and dict(stored)["k_unused"] == 0

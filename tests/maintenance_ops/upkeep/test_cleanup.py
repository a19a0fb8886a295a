"""Tests for maintenance_ops.upkeep.cleanup: pure planning and builders, then the real server."""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import MySQLdb
import pytest

from maintenance_ops.core.audit import AuditLog
from maintenance_ops.core.config import CleanupRule, MaintenanceSettings
from maintenance_ops.core.exceptions import ConfigError
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.core.throttle import Limits, Throttle
from maintenance_ops.upkeep.cleanup import (
    ChunkSizer,
    ChunkSpec,
    CleanupResult,
    Partition,
    WalkKey,
    build_boundary,
    build_boundary_at,
    build_copy,
    build_count,
    build_delete,
    choose_walk_key,
    eta_s,
    expired_partitions,
    filter_sql,
    normalize_cutoff,
    partition_function,
    run_cleanup_rule,
    staging_name,
)
from tests.conftest import MYSQL_URL, Target

BASE = datetime(2024, 1, 1)
CUTOFF = datetime(2024, 1, 1, 10, 0)  # rows are one per minute from BASE: 600 are older


# --------------------------------------------------------------------------------------------
# Pure: keys, partitions, builders
# --------------------------------------------------------------------------------------------


def _idx(name: str, seq: int, col: str, *, unique: bool, nullable: bool = False, sub: Any = None):
    return {
        "index_name": name,
        "non_unique": 0 if unique else 1,
        "seq_in_index": seq,
        "column_name": col,
        "sub_part": sub,
        "is_nullable": "YES" if nullable else "NO",
    }


def _indexes(**columns: list[str]) -> list[dict[str, Any]]:
    """Index rows: each name's columns in order (PRIMARY unique, the others not)."""
    return [
        _idx(name, seq, col, unique=name == "PRIMARY")
        for name, cols in columns.items()
        for seq, col in enumerate(cols, 1)
    ]


@pytest.mark.parametrize(
    ("rows", "allow", "expected"),
    [
        pytest.param(
            [_idx("PRIMARY", 2, "seq", unique=True), _idx("PRIMARY", 1, "tenant", unique=True)],
            False,
            WalkKey(("tenant", "seq"), "PRIMARY", True, "primary"),
            id="composite-primary-in-order",
        ),
        pytest.param(
            [_idx("by_date", 1, "created", unique=False), _idx("uk", 1, "code", unique=True)],
            False,
            WalkKey(("code",), "uk", True, "unique"),
            id="unique-not-null-stands-in",
        ),
        pytest.param(
            [_idx("uk", 1, "code", unique=True, nullable=True)],
            False,
            None,
            id="unique-nullable-refused",
        ),
        pytest.param(
            [_idx("uk", 1, "code", unique=True, sub=10)], False, None, id="unique-prefix-refused"
        ),
        pytest.param([], False, None, id="no-index-refused"),
        pytest.param(
            [_idx("by_date", 1, "created", unique=False)],
            True,
            WalkKey(("created",), "by_date", False, "date"),
            id="fallback-date-index",
        ),
        pytest.param([], True, WalkKey(("created",), None, False, "date"), id="fallback-no-index"),
        pytest.param(
            _indexes(PRIMARY=["id"], by_date=["created"]),
            False,
            WalkKey(("created", "id"), "by_date", True, "date_primary"),
            id="primary-with-date-index-walks-the-date-index",
        ),
        pytest.param(
            _indexes(PRIMARY=["id", "created"], a=["created", "kind"], b=["created", "id"]),
            False,
            WalkKey(("created", "id"), "b", True, "date_primary"),
            id="date-index-in-primary-key-order-only",
        ),
        pytest.param(
            _indexes(PRIMARY=["id"], by_date=["created", "kind"]),
            False,
            WalkKey(("id",), "PRIMARY", True, "primary"),
            id="date-index-with-other-columns-is-not-walked",
        ),
    ],
)
def test_choose_walk_key(rows: list[dict[str, Any]], allow: bool, expected: WalkKey | None) -> None:
    assert choose_walk_key(rows, "created", allow_no_primary_key=allow) == expected


@pytest.mark.parametrize(
    ("method", "expression", "expected"),
    [
        pytest.param("RANGE COLUMNS", "`created`", "COLUMNS", id="range-columns"),
        pytest.param("RANGE", "to_days(`created`)", "TO_DAYS", id="to-days"),
        pytest.param("RANGE", "unix_timestamp(`created`)", "UNIX_TIMESTAMP", id="unix-ts"),
        pytest.param("RANGE", "TO_SECONDS( `Created` )", "TO_SECONDS", id="case-and-spaces"),
        pytest.param("RANGE", "year(`created`)", "YEAR", id="year"),
        pytest.param("RANGE", "to_days(`other`)", None, id="other-column"),
        pytest.param("RANGE", "month(`created`)", None, id="not-monotonic"),
        pytest.param("RANGE COLUMNS", "`created`,`id`", None, id="multi-column"),
        pytest.param("HASH", "`created`", None, id="hash"),
        pytest.param("LIST", "to_days(`created`)", None, id="list"),
    ],
)
def test_partition_function(method: str, expression: str, expected: str | None) -> None:
    assert partition_function(method, expression, "created") == expected


def test_expired_partitions_leading_only_and_never_the_last() -> None:
    parts = [Partition("p1", "100"), Partition("p2", "200"), Partition("p3", "300")]
    assert [p.name for p in expired_partitions(parts, "TO_DAYS", CUTOFF, 200)] == ["p1", "p2"]
    assert [p.name for p in expired_partitions(parts, "TO_DAYS", CUTOFF, 199)] == ["p1"]
    assert [p.name for p in expired_partitions(parts, "TO_DAYS", CUTOFF, 10_000)] == ["p1", "p2"]
    assert expired_partitions(parts, "TO_DAYS", CUTOFF, None) == []
    with_max = [Partition("p1", "100"), Partition("pmax", None)]
    assert [p.name for p in expired_partitions(with_max, "TO_DAYS", CUTOFF, 500)] == ["p1"]


def test_expired_partitions_range_columns_literals() -> None:
    parts = [
        Partition("p0", "'2024-01-01'"),
        Partition("p1", "'2024-01-01 10:00:00'"),
        Partition("p2", "'2024-01-02'"),
        Partition("pmax", None),
    ]
    assert [p.name for p in expired_partitions(parts, "COLUMNS", CUTOFF, None)] == ["p0", "p1"]
    odd = [Partition("p0", "'not a date'"), Partition("pmax", None)]
    assert expired_partitions(odd, "COLUMNS", CUTOFF, None) == []


SPEC = ChunkSpec(
    "app", "events", WalkKey(("id",), "PRIMARY", True, "primary"), "created", None, CUTOFF
)
COMPOSITE = ChunkSpec(
    "app",
    "events",
    WalkKey(("tenant", "seq"), "PRIMARY", True, "primary"),
    "created",
    "kind LIKE 'tmp%'",
    CUTOFF,
)


def test_build_boundary_first_chunk() -> None:
    assert build_boundary(SPEC, None, 1000) == (
        "SELECT `id` FROM (SELECT `id` FROM `app`.`events` FORCE INDEX (`PRIMARY`) "
        "WHERE `created` < %s ORDER BY `id` LIMIT %s) AS chunk ORDER BY `id` DESC LIMIT 1",
        [CUTOFF, 1000],
    )


def test_build_boundary_composite_after_last() -> None:
    sql, args = build_boundary(COMPOSITE, ("acme", 7), 500)
    assert sql == (
        "SELECT `tenant`, `seq` FROM (SELECT `tenant`, `seq` FROM `app`.`events` "
        "FORCE INDEX (`PRIMARY`) WHERE `created` < %s AND (kind LIKE 'tmp%%') "
        "AND (`tenant` > %s OR (`tenant` = %s AND `seq` > %s)) ORDER BY `tenant`, `seq` "
        "LIMIT %s) AS chunk ORDER BY `tenant` DESC, `seq` DESC LIMIT 1"
    )
    assert args == [CUTOFF, "acme", "acme", 7, 500]


def test_build_boundary_at_reads_one_key_at_an_offset() -> None:
    date_walk = ChunkSpec(
        "app",
        "events",
        WalkKey(("created", "id"), "by_date", True, "date_primary"),
        "created",
        None,
        CUTOFF,
    )
    sql, args = build_boundary_at(date_walk, (BASE, 7), 500)
    assert sql == (
        "SELECT `created`, `id` FROM `app`.`events` FORCE INDEX (`by_date`) "
        "WHERE `created` < %s AND (`created` > %s OR (`created` = %s AND `id` > %s)) "
        "ORDER BY `created`, `id` LIMIT 1 OFFSET %s"
    )
    assert args == [CUTOFF, BASE, BASE, 7, 499]


@pytest.mark.parametrize(
    ("target_s", "chunks", "expected"),
    [
        # 1000 rows in 0.1 s: 10,000 rows/s, 5,000 rows in 0.5 s, but at most double.
        pytest.param(
            0.5, [(1000, 0.1), (2000, 0.1), (4000, 1.0)], [2000, 4000, 2000], id="up-then-down"
        ),
        pytest.param(0.5, [(1000, 4.0), (125, 20.0)], [125, 10], id="slow-down-to-the-minimum"),
        pytest.param(
            0.5,
            [(1000, 0.001)] * 8,
            [2000, 4000, 8000, 16_000, 32_000, 64_000, 100_000, 100_000],
            id="doubling-capped-at-maximum",
        ),
        pytest.param(0.5, [(0, 0.0), (1000, 0.5)], [1000, 1000], id="empty-chunk-changes-nothing"),
        pytest.param(None, [(1000, 0.01), (1000, 9.0)], [1000, 1000], id="no-target-fixed"),
    ],
)
def test_chunk_sizer_adapts_to_the_target_time(
    target_s: float | None, chunks: list[tuple[int, float]], expected: list[int]
) -> None:
    sizer = ChunkSizer(1000, target_s, minimum=10, maximum=100_000)
    assert [sizer.update(rows, seconds) for rows, seconds in chunks] == expected


def test_build_delete_and_copy_repeat_the_predicate() -> None:
    assert build_delete(SPEC, (10,), (20,)) == (
        "DELETE `app`.`events` FROM `app`.`events` FORCE INDEX (`PRIMARY`) "
        "WHERE `created` < %s AND `id` > %s AND `id` <= %s",
        [CUTOFF, 10, 20],
    )
    sql, args = build_copy(COMPOSITE, "`arc`.`events_archive`", ["tenant", "seq"], None, ("b", 3))
    assert sql == (
        "INSERT INTO `arc`.`events_archive` (`tenant`, `seq`) SELECT `tenant`, `seq` FROM "
        "`app`.`events` FORCE INDEX (`PRIMARY`) WHERE `created` < %s AND (kind LIKE 'tmp%%') AND "
        "(`tenant` < %s OR (`tenant` = %s AND `seq` <= %s))"
    )
    assert args == [CUTOFF, "b", "b", 3]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param("kind LIKE 'tmp%'", "kind LIKE 'tmp%%'", id="literal"),
        pytest.param("`a%b` LIKE '%x'", "`a%b` LIKE '%%x'", id="name-left-to-the-layer"),
        pytest.param("`a``%` = 1 OR c = '%'", "`a``%` = 1 OR c = '%%'", id="doubled-backtick"),
    ],
)
def test_filter_sql_doubles_percent_outside_names(where: str, expected: str) -> None:
    assert filter_sql(where) == expected


def test_build_count_without_date_predicate_for_staging() -> None:
    staging = ChunkSpec("app", "x", SPEC.key, "created", None, None)
    assert build_count(staging) == ("SELECT COUNT(*) AS n FROM `app`.`x` WHERE 1 = 1", [])


def test_normalize_cutoff_and_eta() -> None:
    aware = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert normalize_cutoff(aware) == datetime(2024, 1, 1, 10, 0)
    assert normalize_cutoff(date(2024, 1, 2)) == datetime(2024, 1, 2)
    assert eta_s(100, 1100, 50.0) == 20.0
    assert eta_s(100, None, 50.0) is None
    assert eta_s(2000, 1000, 50.0) == 0.0
    assert staging_name("x" * 70) == ("_mmc_xchg_" + "x" * 70)[:64]


def test_hostile_where_is_refused_by_config() -> None:
    with pytest.raises(ValueError, match="may not contain"):
        CleanupRule(
            name="r", table="t", date_column="d", retention_days=1, where="1=1; DROP TABLE t"
        )
    # The filter: spliced as "created < %s AND (<filter>)" it matched the whole table.
    with pytest.raises(ValueError, match="closes a parenthesis it did not open"):
        CleanupRule(
            name="r", table="t", date_column="d", retention_days=1, where="status = 'done') OR (1=1"
        )
    with pytest.raises(ValueError):
        CleanupRule(name="r", table="t`; DROP TABLE t", date_column="d", retention_days=1)


# --------------------------------------------------------------------------------------------
# Real server
# --------------------------------------------------------------------------------------------


def _settings(**kw: Any) -> MaintenanceSettings:
    return MaintenanceSettings(**{"innodb_lock_wait_timeout_s": 1, "lock_wait_timeout_s": 2, **kw})


@pytest.fixture
def session(target: Target) -> Iterator[MaintenanceSession]:
    with MaintenanceSession(target.conn_id, _settings(), database_name="primary") as s:
        yield s


def _rule(**kw: Any) -> CleanupRule:
    base = {"name": "events", "table": "events", "date_column": "created", "retention_days": 30}
    return CleanupRule(**{**base, **kw})


def _run(session: MaintenanceSession, target: Target, rule: CleanupRule, **kw: Any):
    kw.setdefault("cutoff", CUTOFF)
    kw.setdefault("chunk_size", 70)
    kw.setdefault("chunk_time_s", None)  # fixed chunks: most tests count them
    return run_cleanup_rule(session, rule, schema=target.schema, database_name="primary", **kw)


def _make_events(target: Target, rows: int = 1000, *, pk: str = "PRIMARY KEY (id)") -> None:
    """One row per minute from BASE; every 7th is 'tmp'; ids 1..rows."""
    target.sql(
        "CREATE TABLE events (id BIGINT NOT NULL, created DATETIME NOT NULL, "
        "kind VARCHAR(20) NOT NULL, payload VARCHAR(64) NULL, "
        f"{pk + ', ' if pk else ''}KEY by_created (created)) ENGINE=InnoDB"
    )
    target.sql(
        "INSERT INTO events SELECT seq, %s + INTERVAL seq - 1 MINUTE, "
        "IF(seq MOD 7 = 0, 'tmp', 'keep'), MD5(seq) FROM seq_1_to_" + str(int(rows)),
        (BASE,),
    )


def _rows(target: Target, table: str) -> list[tuple[Any, ...]]:
    return target.sql(f"SELECT * FROM `{table}` ORDER BY 1, 2")


def _count(target: Target, table: str, where: str = "1=1") -> int:
    return int(target.sql(f"SELECT COUNT(*) FROM `{table}` WHERE {where}")[0][0])


def test_delete_removes_exactly_the_expired_rows(
    session: MaintenanceSession, target: Target
) -> None:
    _make_events(target)
    audit = AuditLog(target.conn_id, target.history_schema)
    result = _run(session, target, _rule(), audit=audit)
    assert result.status == "ok"
    assert result.rows_deleted == 600 and result.rows_archived == 0
    assert result.chunks == math.ceil(600 / 70)
    assert _count(target, "events") == 400
    assert _count(target, "events", "created < '2024-01-01 10:00'") == 0
    assert result.walk_key == ["id"]  # 60 % expired: along the primary key (READ COMMITTED)
    log = audit.read("primary")
    assert [(r["outcome"], r["rows_affected"]) for r in log] == [("ok", 600)]
    assert log[0]["command"] == "cleanup delete rule events cutoff 2024-01-01 10:00:00"
    audit.close()
    again = _run(session, target, _rule())
    assert (again.status, again.rows_deleted, again.chunks) == ("ok", 0, 0)


def test_progress_is_logged_after_the_first_chunk_then_at_the_interval(
    session: MaintenanceSession, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    # A short run shows its rate and ETA early, not only in the closing line.
    _make_events(target)
    with caplog.at_level(logging.INFO, logger="maintenance_ops.upkeep.cleanup"):
        result = _run(session, target, _rule(), progress_every_s=3600)
    lines = [r.getMessage() for r in caplog.records if "rows done of ~" in r.getMessage()]
    assert result.chunks > 2
    # The first chunk's line, then the closing one: none in between (interval not reached).
    assert len(lines) == 2, lines
    assert lines[0].startswith("cleanup events ") and " 70 rows done of ~600" in lines[0]
    assert lines[1].endswith("ETA 0s") and " 600 rows done" in lines[1]


def test_archive_moves_exact_rows_without_duplicates(
    session: MaintenanceSession, target: Target
) -> None:
    _make_events(target)
    before = _rows(target, "events")
    result = _run(session, target, _rule(cleanup_type="archive"))
    assert (result.status, result.rows_archived, result.rows_deleted) == ("ok", 600, 600)
    assert result.archive_table == f"{target.schema}.events_archive"
    assert result.walk_key == ["created", "id"]  # through by_created, in its own order
    after, archived = _rows(target, "events"), _rows(target, "events_archive")
    assert len(before) == len(after) + len(archived)
    assert _count(target, "events_archive") == int(
        target.sql("SELECT COUNT(DISTINCT id) FROM events_archive")[0][0]
    )
    assert sorted(after + archived) == before
    assert archived == [r for r in before if r[1] < CUTOFF]
    create = target.sql("SHOW CREATE TABLE events_archive")[0][1]
    assert "PRIMARY KEY (`id`)" in create


def test_dry_run_changes_nothing_and_counts_exactly(
    session: MaintenanceSession, target: Target
) -> None:
    _make_events(target)
    before = _rows(target, "events")
    audit = AuditLog(target.conn_id, target.history_schema)
    rule = _rule(cleanup_type="archive", where="kind = 'tmp'")
    result = _run(session, target, rule, dry_run=True, audit=audit)
    assert result.dry_run and result.dry_run_rows == 85  # multiples of 7 up to 600
    assert (result.rows_deleted, result.chunks) == (0, 0)
    assert _rows(target, "events") == before
    assert not target.sql("SHOW TABLES LIKE 'events_archive'")
    assert [(r["outcome"], r["rows_affected"]) for r in audit.read()] == [("dry_run", 85)]
    audit.close()


def test_backfill_cutoff_deletes_only_older_rows(
    session: MaintenanceSession, target: Target
) -> None:
    _make_events(target)
    # A run for an earlier logical date: its cutoff is earlier, so it removes less.
    early = CUTOFF - timedelta(hours=5)
    result = _run(session, target, _rule(), cutoff=early.replace(tzinfo=UTC))
    assert result.rows_deleted == 300
    assert result.walk_key == ["created", "id"]  # 30 % expired: through the date index
    assert _count(target, "events") == 700
    assert _count(target, "events", "created >= '2024-01-01 05:00'") == 700
    assert _run(session, target, _rule(), cutoff=early).rows_deleted == 0  # re-run: nothing new
    assert _run(session, target, _rule()).rows_deleted == 300


HOSTILE = ["x'); DROP TABLE events; --", "a%sb", "back`tick", "quote\\'", "100%", "zz"]


def test_composite_key_hostile_values_and_percent_filter(
    session: MaintenanceSession, target: Target
) -> None:
    target.sql(
        "CREATE TABLE events (tenant VARCHAR(40) NOT NULL, seq INT NOT NULL, "
        "created DATETIME NOT NULL, kind VARCHAR(20) NOT NULL, PRIMARY KEY (tenant, seq))"
    )
    for tenant in HOSTILE:
        target.sql(
            "INSERT INTO events SELECT %s, seq, %s + INTERVAL seq MINUTE, "
            "IF(seq MOD 3 = 0, 'tmp-x', 'keep') FROM seq_1_to_200",
            (tenant, BASE + timedelta(hours=-1)),
        )
    before = _rows(target, "events")
    rule = _rule(cleanup_type="archive", where="kind LIKE 'tmp%'")
    result = _run(session, target, rule, chunk_size=23)
    expected = [r for r in before if r[2] < CUTOFF and r[3].startswith("tmp")]
    assert result.rows_archived == len(expected) == 6 * 66
    assert _rows(target, "events_archive") == sorted(expected)
    assert sorted(_rows(target, "events") + _rows(target, "events_archive")) == before
    assert result.walk_key == ["tenant", "seq"]


class FakeClock:
    """Each reading is ``step`` seconds after the previous: every chunk "takes" ``step``."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.parametrize(
    ("first", "step", "chunks", "largest"),
    [
        # Fast chunks: sizes double (10, 20, 40, 80, 160 = 310 rows); the last takes the 290 left.
        pytest.param(10, 0.01, 6, 290, id="fast-chunks-grow"),
        # Slow chunks (5 s for 200 rows: 20 in 0.5 s): 200, 20, then the minimum 10 until done.
        pytest.param(200, 5.0, 2 + 38, 200, id="slow-chunks-shrink"),
    ],
)
def test_chunk_size_adapts_to_the_chunk_time(
    session: MaintenanceSession, target: Target, first: int, step: float, chunks: int, largest: int
) -> None:
    _make_events(target)
    result = _run(
        session, target, _rule(), chunk_size=first, chunk_time_s=0.5, clock=FakeClock(step)
    )
    assert (result.status, result.rows_deleted) == ("ok", 600)
    assert (result.chunks, result.largest_chunk) == (chunks, largest)
    # A rule's batch_size pins the size whatever the clock says.
    pinned = _run(
        session,
        target,
        _rule(batch_size=70),
        cutoff=CUTOFF + timedelta(minutes=300),
        chunk_time_s=0.5,
        clock=FakeClock(0.01),
    )
    assert (pinned.rows_deleted, pinned.chunks, pinned.largest_chunk) == (300, 5, 70)


@pytest.mark.parametrize(
    ("mode", "walk"),
    [
        pytest.param("delete", ["session_key"], id="delete-half-expired-walks-the-key"),
        pytest.param("archive", ["expire_date", "session_key"], id="archive-walks-the-date"),
    ],
)
def test_random_keys_with_default_chunk_times(
    session: MaintenanceSession, target: Target, mode: str, walk: list[str]
) -> None:
    """Django's session table: random varchar(40) keys, expiry in no relation to them."""
    target.sql(
        "CREATE TABLE sessions (session_key VARCHAR(40) NOT NULL PRIMARY KEY, "
        "session_data LONGTEXT NOT NULL, expire_date DATETIME(6) NOT NULL, "
        "KEY sessions_expire_date (expire_date)) ENGINE=InnoDB"
    )
    target.sql(
        "INSERT INTO sessions SELECT SHA1(seq), REPEAT(MD5(seq), 3), "
        "%s + INTERVAL seq * 1000 MICROSECOND FROM seq_1_to_3000",
        (BASE,),
    )
    before = target.sql("SELECT * FROM sessions ORDER BY session_key")
    cutoff = BASE + timedelta(microseconds=1_500_500)  # 1500 rows are older
    rule = _rule(table="sessions", date_column="expire_date", cleanup_type=mode)
    result = _run(session, target, rule, cutoff=cutoff, chunk_size=100, chunk_time_s=0.5)
    assert (result.status, result.rows_deleted) == ("ok", 1500)
    assert result.walk_key == walk
    after = target.sql("SELECT * FROM sessions ORDER BY session_key")
    assert after == [r for r in before if r[2] >= cutoff]
    if mode == "archive":
        archived = target.sql("SELECT * FROM sessions_archive ORDER BY session_key")
        assert archived == [r for r in before if r[2] < cutoff]


def _while_a_chunk_sleeps(
    session: MaintenanceSession,
    target: Target,
    cutoff: datetime,
    statement: str,
    args: tuple[Any, ...] = (),
) -> tuple[int, CleanupResult]:
    """Run the delete rule while the application runs ``statement`` (1 s lock wait timeout)
    once the first chunk's DELETE sleeps in a trigger on row 41; return its rows and result."""
    target.sql(
        "CREATE TRIGGER events_slow BEFORE DELETE ON events FOR EACH ROW "
        "BEGIN IF OLD.id = 41 THEN DO SLEEP(3); END IF; END"
    )
    outcome: dict[str, Any] = {}

    def clean() -> None:
        outcome["result"] = _run(session, target, _rule(), cutoff=cutoff)

    worker = threading.Thread(target=clean)
    worker.start()
    app = MySQLdb.connect(**_conn_args(target))
    app.autocommit(True)
    cur = app.cursor()
    cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
    try:
        for _ in range(100):
            cur.execute(  # the trigger's sleep in this test's schema (others share the server)
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'User sleep' "
                "AND DB = %s AND INFO = 'DO SLEEP(3)'",
                (target.schema,),
            )
            if cur.fetchone()[0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the chunk never reached row 41")
        changed = int(cur.execute(statement, args))
    finally:
        app.close()
        worker.join()
    return changed, outcome["result"]


def test_delete_chunks_keep_no_lock_on_live_rows_they_read_past(
    session: MaintenanceSession, target: Target
) -> None:
    """READ COMMITTED chunks: while a chunk's DELETE is still running, the application updates
    a live row the DELETE already read past, in the same key range. Under REPEATABLE READ that
    row stays locked until the chunk commits and the update fails with 1205."""
    _make_events(target)
    # Live rows among the first chunk's: even ids up to 100 are a year younger.
    target.sql(
        "UPDATE events SET created = created + INTERVAL 1 YEAR WHERE id MOD 2 = 0 AND id <= 100"
    )
    updated, result = _while_a_chunk_sleeps(
        session, target, CUTOFF, "UPDATE events SET payload = 'app' WHERE id = 20"
    )
    assert updated == 1
    # 550 of 1000 rows expired (>= PRIMARY_WALK_SHARE): the key is walked.
    assert (result.status, result.rows_deleted, result.walk_key) == ("ok", 550, ["id"])
    assert _count(target, "events", "created < '2024-01-01 10:00'") == 0


def test_delete_chunks_take_no_gap_locks(session: MaintenanceSession, target: Target) -> None:
    """READ COMMITTED chunks: while a chunk's DELETE is still running, the application inserts
    a row into the date range the DELETE already read. Under REPEATABLE READ that gap stays
    locked until the chunk commits and the insert fails with 1205. The row arrived behind the
    walk: the next run takes it. (A cutoff 5 h in: 30 % expired, walked through the date
    index.)"""
    _make_events(target)
    cutoff = BASE + timedelta(hours=5)
    late = BASE + timedelta(minutes=20, seconds=30)  # between rows 21 and 22
    inserted, result = _while_a_chunk_sleeps(
        session, target, cutoff, "INSERT INTO events VALUES (5000, %s, 'late', 'app')", (late,)
    )
    assert inserted == 1
    assert (result.status, result.rows_deleted, result.walk_key) == ("ok", 300, ["created", "id"])
    assert _count(target, "events", "id = 5000") == 1
    assert _run(session, target, _rule(), cutoff=cutoff).rows_deleted == 1


def test_table_without_primary_key_is_refused_by_name(
    session: MaintenanceSession, target: Target
) -> None:
    _make_events(target, 100, pk="")
    result = _run(session, target, _rule())
    assert result.status == "refused"
    message = result.warnings[0]
    assert f"table {target.schema}.events has no primary key" in message
    assert "allow_no_primary_key: true on rule 'events'" in message
    assert _count(target, "events") == 100


@pytest.mark.parametrize("mode", ["delete", "archive"])
def test_table_without_primary_key_opt_in_walks_the_date(
    session: MaintenanceSession, target: Target, mode: str
) -> None:
    _make_events(target, 1000, pk="")
    target.sql("INSERT INTO events SELECT * FROM events WHERE id <= 50")  # duplicate rows too
    before = _rows(target, "events")
    result = _run(session, target, _rule(cleanup_type=mode, allow_no_primary_key=True))
    assert (result.status, result.rows_deleted) == ("ok", 650)
    assert result.walk_key == ["created"]
    assert _count(target, "events") == 400
    if mode == "archive":
        assert sorted(_rows(target, "events") + _rows(target, "events_archive")) == before


def test_missing_table_and_column_are_refused(session: MaintenanceSession, target: Target) -> None:
    assert "does not exist" in _run(session, target, _rule()).warnings[0]
    _make_events(target, 10)
    result = _run(session, target, _rule(date_column="nope"))
    assert result.status == "refused"
    assert "has no column 'nope'" in result.warnings[0]


def test_time_budget_stops_cleanly_and_next_run_continues(
    session: MaintenanceSession, target: Target
) -> None:
    _make_events(target)
    throttle = Throttle(None, Limits(), budget_s=0.0)
    first = _run(session, target, _rule(), throttle=throttle)
    assert (first.status, first.rows_deleted, first.chunks) == ("partial", 70, 1)
    assert "time budget exhausted" in first.warnings[0]
    second = _run(session, target, _rule())
    assert (second.status, second.rows_deleted) == ("ok", 530)


def _partitioned(target: Target, partition_by: str) -> None:
    target.sql(
        "CREATE TABLE events (id BIGINT NOT NULL, created DATETIME NOT NULL, "
        "kind VARCHAR(20) NOT NULL, payload VARCHAR(64) NULL, PRIMARY KEY (id, created)) "
        + partition_by
    )
    target.sql(
        "INSERT INTO events SELECT seq, %s + INTERVAL seq - 1 MINUTE, "
        "IF(seq MOD 7 = 0, 'tmp', 'keep'), MD5(seq) FROM seq_1_to_1000",
        (BASE,),
    )


TO_DAYS_HOURS = (
    "PARTITION BY RANGE (TO_SECONDS(created)) ("
    "PARTITION p03 VALUES LESS THAN (TO_SECONDS('2024-01-01 03:00')), "
    "PARTITION p06 VALUES LESS THAN (TO_SECONDS('2024-01-01 06:00')), "
    "PARTITION p12 VALUES LESS THAN (TO_SECONDS('2024-01-01 12:00')), "
    "PARTITION pmax VALUES LESS THAN MAXVALUE)"
)
COLUMNS_HOURS = (
    "PARTITION BY RANGE COLUMNS (created) ("
    "PARTITION p03 VALUES LESS THAN ('2024-01-01 03:00:00'), "
    "PARTITION p06 VALUES LESS THAN ('2024-01-01 06:00:00'), "
    "PARTITION p12 VALUES LESS THAN ('2024-01-01 12:00:00'), "
    "PARTITION pmax VALUES LESS THAN (MAXVALUE))"
)


@pytest.mark.parametrize(
    ("partition_by", "mode"),
    [
        pytest.param(TO_DAYS_HOURS, "delete", id="range-function-delete"),
        pytest.param(COLUMNS_HOURS, "archive", id="range-columns-archive"),
    ],
)
def test_partitioned_table_is_cleaned_by_partition(
    session: MaintenanceSession, target: Target, partition_by: str, mode: str
) -> None:
    _partitioned(target, partition_by)
    before = _rows(target, "events")
    dry = _run(session, target, _rule(cleanup_type=mode), dry_run=True)
    assert (dry.dry_run_rows, dry.partitions_planned) == (600, ["p03", "p06"])
    audit = AuditLog(target.conn_id, target.history_schema)
    result = _run(session, target, _rule(cleanup_type=mode), audit=audit)
    assert result.status == "ok"
    assert result.partitions_dropped == ["p03", "p06"]
    assert result.rows_deleted == 600
    # p12's expired rows go row by row; in archive mode each exchanged partition is drained.
    drained = 2 * math.ceil(180 / 70) if mode == "archive" else 0
    assert result.chunks == math.ceil(240 / 70) + drained
    names = [
        r[0]
        for r in target.sql(
            "SELECT PARTITION_NAME FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME = 'events' ORDER BY PARTITION_ORDINAL_POSITION",
            (target.schema,),
        )
    ]
    assert names == ["p12", "pmax"]
    assert _count(target, "events") == 400
    log = audit.read()
    assert [r["rows_affected"] for r in log] == [600, 180, 180]  # the rule's row opens first
    assert "DROP PARTITION `p03`" in log[1]["command"]
    audit.close()
    if mode == "archive":
        archived = _rows(target, "events_archive")
        assert result.rows_archived == 600
        assert sorted(archived) == [r for r in before if r[1] < CUTOFF]
        assert not target.sql("SHOW TABLES LIKE %s", (staging_name("events"),))
        assert "PARTITION" not in target.sql("SHOW CREATE TABLE events_archive")[0][1]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_filter_naming_a_missing_column_is_refused_before_any_write(
    session: MaintenanceSession, target: Target, dry_run: bool
) -> None:
    _make_events(target)
    before = _rows(target, "events")
    rule = _rule(cleanup_type="archive", where="kind = 'tmp' AND Ghost IS NULL")
    result = _run(session, target, rule, dry_run=dry_run)
    assert result.status == "refused"
    assert "has no column 'Ghost' that rule 'events''s where filter names" in result.warnings[0]
    assert _rows(target, "events") == before
    assert not target.sql("SHOW TABLES LIKE 'events_archive'")
    # Column names compare as the server compares them: case-insensitively.
    upper = _run(session, target, _rule(where="KIND = 'tmp'"))
    assert (upper.status, upper.rows_deleted) == ("ok", 85)


def test_partitions_off_and_where_filter_use_rows(
    session: MaintenanceSession, target: Target
) -> None:
    _partitioned(target, TO_DAYS_HOURS)
    off = _run(session, target, _rule(partitions="off", where="kind = 'tmp'"))
    assert (off.partitions_dropped, off.rows_deleted) == ([], 85)
    filtered = _run(session, target, _rule(where="kind = 'keep'"))
    assert filtered.partitions_dropped == []
    assert "partitions not dropped: the rule has a where filter" in filtered.warnings
    assert _count(target, "events") == 400


def test_row_locks_make_chunks_retry_and_never_block_the_application(
    session: MaintenanceSession, target: Target
) -> None:
    _make_events(target, 300)
    holder = MySQLdb.connect(**_conn_args(target))
    holder.cursor().execute("START TRANSACTION")
    holder.cursor().execute("SELECT * FROM events WHERE id = 50 FOR UPDATE")
    outcome: dict[str, Any] = {}

    def clean() -> None:
        rule = _rule(cleanup_type="archive")
        started = time.monotonic()
        outcome["result"] = _run(session, target, rule, chunk_size=100, lock_retries=2)
        outcome["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=clean)
    worker.start()
    time.sleep(0.3)  # the chunk now holds ids 1..49 and waits for 50
    app = MySQLdb.connect(**_conn_args(target))
    app.autocommit(True)
    app.cursor().execute("SET SESSION innodb_lock_wait_timeout = 50")
    started = time.monotonic()
    app.cursor().execute("UPDATE events SET payload = 'app' WHERE id = 10")
    blocked = time.monotonic() - started
    worker.join()
    result: CleanupResult = outcome["result"]
    assert blocked < 1.0 + 0.5, f"application waited {blocked:.2f}s behind the cleanup"
    assert result.status == "skipped_locked"
    assert result.rows_deleted == 0
    assert "still locked after 3 attempts" in result.warnings[0]
    assert 3.0 <= outcome["seconds"] < 8.0  # 3 waits of 1s + backoff 0.5s + 1s
    assert _count(target, "events") == 300
    holder.rollback()
    holder.close()
    app.close()
    again = _run(session, target, _rule(cleanup_type="archive"), chunk_size=100)
    assert (again.status, again.rows_archived) == ("ok", 300)
    assert target.sql("SELECT payload FROM events_archive WHERE id = 10") == [("app",)]


def _conn_args(target: Target, *, maintenance: bool = False) -> dict[str, Any]:
    """Root's connection arguments (an application session), or the maintenance account's."""
    from urllib.parse import urlparse

    url = urlparse(MYSQL_URL)
    args = {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 3306,
        "user": url.username or "root",
        "passwd": url.password or "",
        "db": target.schema,
    }
    account = getattr(target, "account", None)
    if maintenance and account is not None:
        args.update(user=account.user, passwd=account.password)
    return args


# Runs one cleanup rule in a child interpreter with a direct connection (no Airflow import,
# so a child starts in well under a second); prints a line at every checkpoint.
CHILD = textwrap.dedent(
    """
    import sys, time, json, MySQLdb
    from datetime import datetime
    from maintenance_ops.upkeep.cleanup import run_cleanup_rule
    from maintenance_ops.core.config import CleanupRule, MaintenanceSettings
    from maintenance_ops.core.dialect import Dialect, parse_version
    from maintenance_ops.core.session import MaintenanceSession
    from maintenance_ops.core.throttle import Throttle

    args = json.loads(sys.argv[1])

    class DirectSession(MaintenanceSession):
        def open(self):
            self.conn = MySQLdb.connect(**args["conn"], charset="utf8mb4")
            self.conn.autocommit(True)
            self.dialect = Dialect(parse_version(self.query_one("SELECT VERSION() AS v")["v"]))

    def tick():
        print("chunk", flush=True)
        time.sleep(0.005)  # keep the child from running far ahead of the parent's reads
        return True

    rule = CleanupRule(**args["rule"])
    with DirectSession("direct", MaintenanceSettings()) as session:
        run_cleanup_rule(session, rule, schema=args["conn"]["db"],
                         cutoff=datetime.fromisoformat(args["cutoff"]), database_name="primary",
                         throttle=Throttle(None, window=tick), chunk_size=37,
                         chunk_time_s=None)
    print("done", flush=True)
    """
)


def kill_mid_runs(
    target: Target,
    rule: dict[str, Any],
    cutoff: datetime,
    check: Callable[[], None],
    after_chunks: Sequence[int] = (3, 7, 11, 15),
) -> None:
    """Run ``rule`` in a child as the maintenance account and SIGKILL it at a random instant
    after each count of chunks (cumulative rows stay well before the end); ``check`` after each.
    """
    import json

    rng = random.Random(4)
    payload = json.dumps(
        {"conn": _conn_args(target, maintenance=True), "cutoff": cutoff.isoformat(), "rule": rule}
    )
    for chunks_before_kill in after_chunks:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, payload],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert child.stdout is not None
        seen = 0
        while seen < chunks_before_kill:
            line = child.stdout.readline()
            assert line, "child ended before it could be killed"
            seen += line.startswith("chunk")
        time.sleep(rng.uniform(0, 0.01))  # land anywhere, inside a chunk's transaction too
        child.send_signal(signal.SIGKILL)
        child.wait()
        check()


def test_sigkill_mid_run_then_rerun_loses_and_duplicates_nothing(
    session: MaintenanceSession, target: Target
) -> None:
    _make_events(target, 3000)
    cutoff = BASE + timedelta(minutes=2000)
    before = _rows(target, "events")
    expired = [r for r in before if r[1] < cutoff]

    def nothing_lost() -> None:
        source, archive = _rows(target, "events"), _rows(target, "events_archive")
        assert len(before) == len(source) + len(archive)
        assert sorted(source + archive) == before

    # About 54 chunks in all: the four runs together stop well before the end.
    rule = {"name": "events", "table": "events", "date_column": "created", "retention_days": 1}
    kill_mid_runs(target, {**rule, "cleanup_type": "archive"}, cutoff, nothing_lost)
    result = _run(session, target, _rule(cleanup_type="archive"), cutoff=cutoff)
    assert result.status == "ok"
    source, archive = _rows(target, "events"), _rows(target, "events_archive")
    assert archive == expired
    assert len(before) == len(source) + len(archive)
    assert int(target.sql("SELECT COUNT(DISTINCT id) FROM events_archive")[0][0]) == len(expired)


def test_config_refuses_hostile_identifiers() -> None:
    with pytest.raises((ValueError, ConfigError)):
        CleanupRule(name="r", table="t", date_column="d) OR (1=1", retention_days=1)

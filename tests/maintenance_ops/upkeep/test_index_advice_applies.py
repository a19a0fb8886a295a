"""Index advice a DBA can run blindly: every suggested DROP, applied in order, works.

Each catalog is loaded as root into its own schema, with extra indexes that overlap its
foreign-key indexes (duplicates, redundant prefixes, an FK-named copy, unused ones); the
analysis runs as the maintenance account that include/sql/grants.sql creates; then every
``drop`` finding's statement is run in order, as root, on that schema. Each must succeed, the
foreign keys must be exactly those of before, and each must still have an index on both sides.

The catalogs: Chinook (tests/support/catalogs.py, a public sample database), the shared hostile
catalog, and a small schema of this module's own whose index, table, column and constraint
names hold a backtick, quotes, ``%``, ``%s``, ``%%``, unicode, reserved words and 64 characters.

Unused-index detection needs performance_schema, which the shared server has off (and its
global settings are not ours to change): those runs use a private server started with it on,
read the counters once, read through one index, and read again eight days of logical time
later. The shared server runs the default analysis through the ``target`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import MySQLdb
import pytest

from maintenance_ops.core.config import MaintenanceSettings
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.core.session import MaintenanceSession
from maintenance_ops.upkeep.index_analysis import (
    IndexAnalysis,
    analyze_indexes,
    drop_index_sql,
    render_findings,
)
from tests.conftest import MYSQL_URL, Target, run_sql
from tests.support.accounts import create_account
from tests.support.catalogs import HOSTILE, load_chinook, unique_schema

Runner = Callable[[str], list[tuple[Any, ...]]]  # one statement as root, sent as written
CONN_ID = "mmc_index_advice"
LONG = "ix_" + "x" * 59 + "é%"  # 64 characters
LONG_FK = "fk_" + "y" * 59 + "%s"  # 64 characters
LONG_TABLE = "t64_" + "z" * 58 + "`'"  # 64 characters

# Indexes a real Chinook grows: each overlaps an index a foreign key uses.
CHINOOK_EXTRAS = """
CREATE INDEX `ix_genre` ON `Track` (`GenreId`);
CREATE INDEX `ix_album_name` ON `Track` (`AlbumId`, `Name`);
CREATE INDEX `ix_mediatype_track` ON `Track` (`MediaTypeId`, `TrackId`);
CREATE INDEX `FK_InvoiceLineTrackId` ON `InvoiceLine` (`TrackId`);
CREATE INDEX `ix_customer_date` ON `Invoice` (`CustomerId`, `InvoiceDate`);
CREATE UNIQUE INDEX `uq_artist_title` ON `Album` (`ArtistId`, `Title`);
CREATE INDEX `ix_reports_name` ON `Employee` (`ReportsTo`, `LastName`);
CREATE INDEX `ix_email` ON `Customer` (`Email`);
CREATE INDEX `ix_country` ON `Customer` (`Country`)
"""
CHINOOK_READS = "SELECT COUNT(*) FROM `Customer` FORCE INDEX (`ix_country`) WHERE `Country` = 'USA'"

# What the analysis must advise on Chinook with unused-index detection on (min_rows 1000).
CHINOOK_DROPS = {
    ("duplicate", "Track", "ix_genre", "IFK_TrackGenreId"),  # the original kept, not by name
    ("duplicate", "Track", "ix_mediatype_track", "IFK_TrackMediaTypeId"),
    ("duplicate", "InvoiceLine", "IFK_InvoiceLineTrackId", "FK_InvoiceLineTrackId"),  # FK-named
    ("redundant", "Track", "IFK_TrackAlbumId", "ix_album_name"),
    ("redundant", "Invoice", "IFK_InvoiceCustomerId", "ix_customer_date"),
    ("redundant", "Album", "IFK_AlbumArtistId", "uq_artist_title"),
    ("redundant", "Employee", "IFK_EmployeeReportsTo", "ix_reports_name"),
    ("redundant", "PlaylistTrack", "IFK_PlaylistTrackPlaylistId", "PRIMARY"),
    ("unused", "Customer", "ix_email", None),
}


def hostile_names_sql(schema: str) -> list[str]:
    """Return the statements of the hostile-names schema (names quoted by hand, on purpose)."""
    q = "`" + schema + "`"
    return [
        f"CREATE DATABASE {q} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        # The parent: referenced by its primary key and by a non-unique index (MariaDB allows
        # it), which has two copies: an exact one, and one that InnoDB stores the same way.
        f"""CREATE TABLE {q}.`par%ent` (
            `id%s` INT NOT NULL, `cöde` VARCHAR(20) NOT NULL, `x` INT NULL,
            PRIMARY KEY (`id%s`), KEY `k_code%%` (`cöde`), KEY `k_code%` (`cöde`),
            KEY `select` (`cöde`, `id%s`), KEY `o'q"x` (`x`)) ENGINE=InnoDB""",
        # The child: its AUTO_INCREMENT column is not first in the primary key, so `k_id` is
        # needed; an FK-named index, an exact copy of it and a wider index starting alike.
        f"""CREATE TABLE {q}.`ch``ild` (
            `id` INT NOT NULL AUTO_INCREMENT, `par%ent_id` INT NOT NULL,
            `o'q"col` INT NOT NULL, `cöde` VARCHAR(20) NULL, `n` INT NULL,
            PRIMARY KEY (`o'q"col`, `id`), KEY `k_id` (`id`),
            KEY `fk_ch``ild_par%ent` (`par%ent_id`), KEY `%s` (`par%ent_id`),
            KEY `from` (`par%ent_id`, `cöde`), KEY `k_cöde` (`cöde`), KEY `%%n` (`n`),
            CONSTRAINT `fk_ch``ild_par%ent` FOREIGN KEY (`par%ent_id`)
                REFERENCES `par%ent` (`id%s`) ON DELETE CASCADE,
            CONSTRAINT `fk_%%code` FOREIGN KEY (`cöde`) REFERENCES `par%ent` (`cöde`)
                ON DELETE SET NULL) ENGINE=InnoDB""",
        # A reserved word, and names of exactly 64 characters.
        f"""CREATE TABLE {q}.`order` (
            `group` INT NOT NULL PRIMARY KEY, `par%ent_id` INT NOT NULL,
            KEY `{LONG}` (`par%ent_id`),
            CONSTRAINT `{LONG_FK}` FOREIGN KEY (`par%ent_id`) REFERENCES `par%ent` (`id%s`)
                ON DELETE RESTRICT) ENGINE=InnoDB""",
        f"""CREATE TABLE {q}.`{LONG_TABLE.replace("`", "``")}` (
            `id` INT NOT NULL PRIMARY KEY, `e"mail` VARCHAR(100) NOT NULL,
            UNIQUE KEY `uq'e` (`e"mail`), KEY `ü%s` (`e"mail`)) ENGINE=InnoDB""",
        f"INSERT INTO {q}.`par%ent` VALUES (1, 'a', 1), (2, 'b', 2)",
        f"INSERT INTO {q}.`ch``ild` (`par%ent_id`, `o'q\"col`, `cöde`, `n`) VALUES (1, 1, 'a', 1)",
        f"INSERT INTO {q}.`order` VALUES (1, 1), (2, 2)",
    ]


Loader = Callable[[str, Runner, str], None]  # (schema, root runner, server URL)


def load_grown_chinook(schema: str, run: Runner, server: str = MYSQL_URL) -> None:
    """Load Chinook into ``schema`` (replacing it) and add :data:`CHINOOK_EXTRAS`."""
    load_chinook(schema, server)
    for statement in CHINOOK_EXTRAS.split(";"):
        run(statement.replace("ON `", f"ON `{schema}`.`"))


def load_hostile_names(schema: str, run: Runner, server: str = MYSQL_URL) -> None:
    """Create the hostile-names schema as ``schema`` (replacing it)."""
    run(f"DROP DATABASE IF EXISTS `{schema}`")
    for statement in hostile_names_sql(schema):
        run(statement)


HOSTILE_READS = "SELECT COUNT(*) FROM `par%ent` FORCE INDEX (`o'q\"x`) WHERE `x` = 1"
HOSTILE_NAME_DROPS = {
    ("duplicate", "par%ent", "k_code%", "k_code%%"),  # the original, not the first by name
    ("duplicate", "par%ent", "select", "k_code%%"),
    ("redundant", "ch`ild", "fk_ch`ild_par%ent", "from"),
    ("redundant", "ch`ild", "%s", "from"),
    ("duplicate", LONG_TABLE, "ü%s", "uq'e"),
    ("unused", "ch`ild", "%%n", None),
}


# --------------------------------------------------------------------------------------------
# Helpers: catalog facts as root, the analysis as the account, applying the advice
# --------------------------------------------------------------------------------------------


def foreign_keys(run: Runner, schema: str) -> set[tuple[str, ...]]:
    """Every foreign key touching ``schema``: (name, child, columns, parent, referenced)."""
    rows = run(
        "SELECT CONSTRAINT_NAME, TABLE_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION),"
        " REFERENCED_TABLE_NAME,"
        " GROUP_CONCAT(REFERENCED_COLUMN_NAME ORDER BY ORDINAL_POSITION)"
        " FROM information_schema.KEY_COLUMN_USAGE"
        f" WHERE TABLE_SCHEMA = '{schema}' AND REFERENCED_TABLE_NAME IS NOT NULL"
        " GROUP BY CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME"
    )
    return {tuple(str(v) for v in row) for row in rows}


def index_columns(run: Runner, schema: str) -> dict[tuple[str, str], list[list[str]]]:
    """Each table's BTREE indexes as whole-column lists (prefix indexes left out)."""
    rows = run(
        "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS"
        f" WHERE TABLE_SCHEMA = '{schema}' AND INDEX_TYPE = 'BTREE'"
        " ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
    )
    indexes: dict[tuple[str, str], list[str]] = {}
    prefixed: set[tuple[str, str]] = set()
    for table, index, column, sub_part in rows:
        indexes.setdefault((table, index), []).append(column.lower())
        if sub_part is not None:
            prefixed.add((table, index))
    result: dict[tuple[str, str], list[list[str]]] = {}
    for (table, index), columns in indexes.items():
        if (table, index) not in prefixed:
            result.setdefault((schema, table), []).append(columns)
    return result


def unserved(run: Runner, schema: str) -> list[str]:
    """Foreign keys of ``schema`` without an index starting with their columns, on either side."""
    indexes = index_columns(run, schema)
    missing = []
    for name, child, columns, parent, referenced in foreign_keys(run, schema):
        for table, cols in ((child, columns), (parent, referenced)):
            wanted = cols.lower().split(",")
            if not any(c[: len(wanted)] == wanted for c in indexes.get((schema, table), [])):
                missing.append(f"{name} on {table} ({cols})")
    return missing


def apply_advice(run: Runner, analysis: IndexAnalysis) -> list[str]:
    """Run every ``drop`` finding's statement in order; return them (all must succeed)."""
    applied = []
    for finding in analysis.findings:
        if finding.action == "drop":
            assert finding.drop_sql
            run(finding.drop_sql)
            applied.append(finding.drop_sql)
    return applied


def analyse(conn_id: str, schema: str, history: str, now: datetime) -> IndexAnalysis:
    """Run the analysis as the account behind ``conn_id``, as the daily task does."""
    with MaintenanceSession(conn_id, MaintenanceSettings()) as session:
        return analyze_indexes(
            session,
            [schema],
            history_schema=history,
            now=now,
            max_selectivity=0.01,
            min_rows=1000,
        )


def check_applies(run: Runner, schema: str, analysis: IndexAnalysis) -> list[str]:
    """Apply the advice; assert the foreign keys are intact and each still has its indexes."""
    assert all(f.drop_sql is None for f in analysis.findings if f.action == "review")
    assert all(f.action == "review" for f in analysis.findings if f.kind == "low_selectivity")
    before = foreign_keys(run, schema)
    assert before and unserved(run, schema) == []
    applied = apply_advice(run, analysis)
    assert foreign_keys(run, schema) == before
    assert unserved(run, schema) == []
    return applied


def drops(analysis: IndexAnalysis) -> set[tuple[str, str, str | None, str | None]]:
    """The ``drop`` findings as (kind, table, index, kept index)."""
    return {
        (f.kind, f.table, f.index, f.covered_by) for f in analysis.findings if f.action == "drop"
    }


def report(title: str, analysis: IndexAnalysis, applied: list[str]) -> None:
    """Print the findings and what applying them did (run with -s to read it)."""
    print(f"\n==== {title}\n{render_findings(analysis)}")
    print(f"applied {len(applied)} statement(s) in order: no error, every foreign key intact")


# --------------------------------------------------------------------------------------------
# A private server with performance_schema on: unused-index detection
# --------------------------------------------------------------------------------------------


@dataclass
class Server:
    """The private server."""

    inst: MySQLInstance

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        return self.inst.execute(sql)

    def observe(
        self, prefix: str, load: Loader, reads: str, monkeypatch: pytest.MonkeyPatch
    ) -> tuple[str, IndexAnalysis, IndexAnalysis]:
        """Load a schema; as its maintenance account read the counters, then (after ``reads``
        as root) read them again eight days of logical time later; return both analyses."""
        schema = unique_schema(prefix)
        history = f"{schema}_hist"
        load(schema, self.run, self.inst.url())
        account = create_account(self.inst.execute, [schema], history, port=self.inst.port)
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", account.conn_json())
        start = datetime.now(UTC)
        first = analyse(CONN_ID, schema, history, start)
        assert first.performance_schema, first.notes
        conn = self.inst.connect(schema)
        try:
            conn.cursor().execute(reads)
        finally:
            conn.close()
        return schema, first, analyse(CONN_ID, schema, history, start + timedelta(days=8))


@pytest.fixture(scope="module")
def ps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    spec = InstanceSpec(extra_args=("--performance-schema=ON",))
    with MySQLInstance(spec, base_dir=tmp_path_factory.mktemp("ps")) as inst:
        yield Server(inst)


@pytest.mark.slow
def test_chinook_advice_applies_with_unused_detection(
    ps_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema, first, later = ps_server.observe(
        "mmc_chinook_idx", load_grown_chinook, CHINOOK_READS, monkeypatch
    )
    assert [f for f in first.findings if f.kind == "unused"] == []  # not watched long enough
    assert drops(later) == CHINOOK_DROPS
    reviews = {(f.kind, f.index) for f in later.findings if f.action == "review"}
    assert {kind for kind, _ in reviews} <= {"low_selectivity"}, reviews
    applied = check_applies(ps_server.run, schema, later)
    assert len(applied) == len(CHINOOK_DROPS)
    report(f"Chinook ({ps_server.inst.version}), unused-index detection on", later, applied)


@pytest.mark.slow
def test_hostile_names_advice_applies_with_unused_detection(
    ps_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema, _, later = ps_server.observe(
        "mmc_names_idx", load_hostile_names, HOSTILE_READS, monkeypatch
    )
    assert drops(later) == HOSTILE_NAME_DROPS
    # Indexes only foreign keys or the AUTO_INCREMENT column read are never "unused".
    reported = {f.index for f in later.findings}
    assert not reported & {"k_id", "k_cöde", LONG, "k_code%%", "from"}
    assert "o'q\"x" not in reported  # read between the two observations
    applied = check_applies(ps_server.run, schema, later)
    report("hostile names, unused-index detection on", later, applied)


@pytest.mark.slow
def test_hostile_catalog_advice_applies_with_unused_detection(
    ps_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema, _, later = ps_server.observe(
        "mmc_hostile_idx", lambda name, _, url: HOSTILE.load(name, url), "SELECT 1", monkeypatch
    )
    applied = check_applies(ps_server.run, schema, later)
    report("the hostile catalog, unused-index detection on", later, applied)


def load_hidden_child(schema: str, run: Runner, server: str = MYSQL_URL) -> None:
    """A parent in ``schema`` whose non-primary index a child in another schema references."""
    run(f"CREATE DATABASE `{schema}`")
    run(f"CREATE TABLE `{schema}`.`parent` (id INT PRIMARY KEY, code INT, KEY k_code (code))")
    run(f"CREATE DATABASE `{schema}_other`")
    run(
        f"CREATE TABLE `{schema}_other`.`child` (id INT PRIMARY KEY, code INT, KEY k (code), "
        f"CONSTRAINT fk_unseen FOREIGN KEY (code) REFERENCES `{schema}`.`parent` (code))"
    )


@pytest.mark.slow
def test_a_foreign_key_the_account_cannot_see_makes_drops_a_review(
    ps_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account has no grant on the child's schema: its catalog shows no foreign key."""
    schema, _, later = ps_server.observe(
        "mmc_unseen_idx", load_hidden_child, "SELECT 1", monkeypatch
    )
    [finding] = later.findings
    assert (finding.kind, finding.index, finding.action) == ("unused", "k_code", "review")
    assert f"fk_unseen on {schema}_other.child references {schema}.parent" in finding.reason
    with pytest.raises(MySQLdb.OperationalError) as refused:  # what the advice avoided
        ps_server.run(drop_index_sql(schema, "parent", "k_code"))
    assert refused.value.args[0] == 1553


# --------------------------------------------------------------------------------------------
# The shared server (performance_schema off): the default analysis, as target.conn_id
# --------------------------------------------------------------------------------------------


def test_chinook_advice_applies_on_the_shared_server(target: Target) -> None:
    load_grown_chinook(target.schema, run_sql)
    analysis = analyse(target.conn_id, target.schema, target.history_schema, datetime.now(UTC))
    assert drops(analysis) == {d for d in CHINOOK_DROPS if d[0] != "unused"}
    check_applies(run_sql, target.schema, analysis)


def test_hostile_names_advice_applies_on_the_shared_server(target: Target) -> None:
    load_hostile_names(target.schema, run_sql)
    analysis = analyse(target.conn_id, target.schema, target.history_schema, datetime.now(UTC))
    assert drops(analysis) == {d for d in HOSTILE_NAME_DROPS if d[0] != "unused"}
    check_applies(run_sql, target.schema, analysis)

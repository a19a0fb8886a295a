"""Real schemas for the tests: Chinook (a public sample database) and our hostile catalog.

Each loader builds one catalog in a schema named by the caller, as root, so a test (or a
module) loads its own copy under a unique name and runs in parallel with others::

    schema = unique_schema("chinook")
    load_chinook(schema)
    try:
        ...                       # run the DAGs against it as the maintenance account
    finally:
        drop(schema)

:data:`CHINOOK` and :data:`HOSTILE` describe what each catalog holds (tables and their row
counts, views, routines, triggers, events, foreign keys and their ON DELETE action, and the
special tables), so a test can check a run's findings against the catalog rather than against
numbers copied from an earlier run. ``tests/dags/test_real_schemas.py`` checks that these
descriptions match what the server shows after loading.

Both loaders feed the SQL to the ``mariadb`` client (argv, no shell; the schema name is written
into the SQL text after validation, never into argv), which also runs the ``DELIMITER``
blocks of the hostile catalog's routines and triggers.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import urlparse

from maintenance_ops.core.identifiers import validate_identifier
from tests.conftest import MYSQL_URL, REPO, mysql_connect

CHINOOK_SQL = REPO.parent / "shared" / "fixtures" / "chinook" / "Chinook_MySql.sql"
HOSTILE_SQL = REPO / "tests" / "fixtures" / "hostile_catalog.sql"
SCHEMA_PLACEHOLDER = "__SCHEMA__"
LOAD_TIMEOUT_S = 120.0

# Chinook names its database in exactly these three statements.
_CHINOOK_DATABASE = re.compile(r"^(DROP DATABASE IF EXISTS|CREATE DATABASE|USE) `Chinook`;$", re.M)


@dataclass(frozen=True)
class ForeignKey:
    """One foreign key: ``table`` (the child) references ``parent``; what a parent delete does."""

    name: str
    table: str
    parent: str
    on_delete: str  # as information_schema.REFERENTIAL_CONSTRAINTS.DELETE_RULE shows it


@dataclass(frozen=True)
class RetentionTable:
    """A table with old rows and no foreign-key children: what a cleanup rule can work on."""

    table: str
    date_column: str


@dataclass(frozen=True)
class Catalog:
    """What one catalog holds, by object kind (names exactly as the server shows them)."""

    name: str
    rows: dict[str, int]
    """Every base table and its row count right after loading."""
    views: frozenset[str] = frozenset()
    procedures: frozenset[str] = frozenset()
    functions: frozenset[str] = frozenset()
    triggers: dict[str, str] = field(default_factory=dict)
    """Trigger name -> the table it is on."""
    events: frozenset[str] = frozenset()
    foreign_keys: tuple[ForeignKey, ...] = ()
    no_primary_key: frozenset[str] = frozenset()
    partitioned: frozenset[str] = frozenset()
    fulltext: frozenset[str] = frozenset()
    generated_columns: frozenset[tuple[str, str]] = frozenset()
    manual_statistics: frozenset[str] = frozenset()
    """Tables with STATS_AUTO_RECALC=0: stale until an ANALYZE TABLE (the daily refresh)."""
    retention: tuple[RetentionTable, ...] = ()

    @property
    def tables(self) -> frozenset[str]:
        """The base tables."""
        return frozenset(self.rows)

    @property
    def routines(self) -> frozenset[str]:
        """Procedures and functions together."""
        return self.procedures | self.functions

    def load(self, schema: str, server: str = MYSQL_URL) -> None:
        """Load this catalog into ``schema`` (replacing it) on ``server``, as that URL's user."""
        LOADERS[self.name](schema, server)


CHINOOK = Catalog(
    name="chinook",
    rows={
        "Album": 347,
        "Artist": 275,
        "Customer": 59,
        "Employee": 8,
        "Genre": 25,
        "Invoice": 412,
        "InvoiceLine": 2240,
        "MediaType": 5,
        "Playlist": 18,
        "PlaylistTrack": 8715,
        "Track": 3503,
    },
    foreign_keys=tuple(
        ForeignKey(name, table, parent, "NO ACTION")
        for name, table, parent in [
            ("FK_AlbumArtistId", "Album", "Artist"),
            ("FK_CustomerSupportRepId", "Customer", "Employee"),
            ("FK_EmployeeReportsTo", "Employee", "Employee"),
            ("FK_InvoiceCustomerId", "Invoice", "Customer"),
            ("FK_InvoiceLineInvoiceId", "InvoiceLine", "Invoice"),
            ("FK_InvoiceLineTrackId", "InvoiceLine", "Track"),
            ("FK_PlaylistTrackPlaylistId", "PlaylistTrack", "Playlist"),
            ("FK_PlaylistTrackTrackId", "PlaylistTrack", "Track"),
            ("FK_TrackAlbumId", "Track", "Album"),
            ("FK_TrackGenreId", "Track", "Genre"),
            ("FK_TrackMediaTypeId", "Track", "MediaType"),
        ]
    ),
)

TABLE_64 = "t64_exactly_sixty_four_characters_long_the_longest_name_allowed_"
HOSTILE_NAMES = frozenset(
    {
        "tick`table",
        "o'brien",
        'say "hi"',
        "café_ünïcode",
        "100%_done",
        "fmt_%s_log",
        "discount%",
        "discount%%",
        "dotted.name",
        TABLE_64,
    }
)

HOSTILE = Catalog(
    name="hostile",
    rows={
        "customers": 60,
        "order": 200,
        "support_tickets": 80,
        "products": 40,
        "select": 300,
        "audit_trail": 400,
        "event_log": 300,
        "sensor_readings": 102,
        "tick`table": 3,
        "o'brien": 3,
        'say "hi"': 3,
        "café_ünïcode": 3,
        "100%_done": 4,
        "fmt_%s_log": 2,
        "discount%": 3,
        "discount%%": 5,
        "dotted.name": 3,
        TABLE_64: 2,
    },
    views=frozenset({"v_customer_orders", "pct%_view", "v_o'brien"}),
    procedures=frozenset({"close_order", "report%s"}),
    functions=frozenset({"order_total", "pct%of"}),
    triggers={"bi_order": "order", "o'brien_au": "o'brien", "trg_100%": "100%_done"},
    events=frozenset({"purge%%daily", "nightly_rollup"}),
    foreign_keys=(
        ForeignKey("fk_order_customer", "order", "customers", "CASCADE"),
        ForeignKey("fk_ticket_customer", "support_tickets", "customers", "SET NULL"),
        ForeignKey("fk_line_order", "select", "order", "RESTRICT"),
        ForeignKey("fk_line_product", "select", "products", "RESTRICT"),
        ForeignKey("fk_pct%_café", "100%_done", "café_ünïcode", "SET NULL"),
    ),
    no_primary_key=frozenset({"sensor_readings"}),
    partitioned=frozenset({"event_log"}),
    fulltext=frozenset({"products"}),
    generated_columns=frozenset({("products", "price_with_tax"), ("products", "name_length")}),
    manual_statistics=HOSTILE_NAMES,
    retention=(
        RetentionTable("audit_trail", "happened_at"),
        RetentionTable("event_log", "logged_at"),
    ),
)


def unique_schema(prefix: str) -> str:
    """Return a schema name no other test uses (``prefix`` must be a plain identifier)."""
    return validate_identifier(f"{prefix}_{uuid.uuid4().hex[:10]}", "schema")


@cache
def _chinook_text() -> str:
    if not CHINOOK_SQL.exists():
        raise FileNotFoundError(f"{CHINOOK_SQL} is missing: the shared fixtures are not mounted")
    return CHINOOK_SQL.read_text(encoding="utf-8")


def load_chinook(schema: str, server: str = MYSQL_URL) -> None:
    """Load Chinook into ``schema`` (dropped first if it exists)."""
    name = validate_identifier(schema, "schema")
    text, found = _CHINOOK_DATABASE.subn(lambda m: f"{m.group(1)} `{name}`;", _chinook_text())
    if found != 3:
        raise ValueError(f"{CHINOOK_SQL}: expected 3 statements naming `Chinook`, found {found}")
    _run_client(text, server, f"Chinook into {name}")


def load_hostile(schema: str, server: str = MYSQL_URL) -> None:
    """Load the hostile catalog (tests/fixtures/hostile_catalog.sql) into ``schema``."""
    name = validate_identifier(schema, "schema")
    drop(name, server)
    text = HOSTILE_SQL.read_text(encoding="utf-8").replace(SCHEMA_PLACEHOLDER, name)
    _run_client(text, server, f"the hostile catalog into {name}")


LOADERS = {CHINOOK.name: load_chinook, HOSTILE.name: load_hostile}


def drop(schema: str, server: str = MYSQL_URL) -> None:
    """Drop ``schema`` if it exists."""
    name = validate_identifier(schema, "schema")
    conn = mysql_connect(url=server)
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


def _run_client(sql: str, server: str, what: str) -> None:
    """Feed ``sql`` to the ``mariadb`` client on ``server``; raise with its stderr on failure."""
    parts = urlparse(server)
    argv = [
        "mariadb",
        "--no-defaults",  # first: no ~/.my.cnf can change the load
        "--protocol=TCP",
        f"--host={parts.hostname or '127.0.0.1'}",
        f"--port={parts.port or 3306}",
        f"--user={parts.username or 'root'}",
        "--default-character-set=utf8mb4",
        "--batch",
    ]
    env = {**os.environ, "MYSQL_PWD": parts.password or ""}  # never in argv
    proc = subprocess.run(
        argv, input=sql.encode("utf-8"), capture_output=True, timeout=LOAD_TIMEOUT_S, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"loading {what} failed (exit {proc.returncode}): "
            f"{proc.stderr.decode('utf-8', 'replace').strip()}"
        )

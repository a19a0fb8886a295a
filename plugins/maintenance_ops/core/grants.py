"""What the maintenance and on-call accounts need, read from ``include/sql/grants.sql``.

grants.sql is written for people (one GRANT per privilege and scope, a ``-- needs:`` line saying
which cadences or features use it and why) and read here, so the preflight checks exactly what
the file grants: a grant added to the file is checked; a check cannot ask for a grant the file
does not give. Version-conditional grants (``/*M!100509 ... */`` for MariaDB 10.5.9+,
``/*!80020 ... */`` for MySQL 8.0.20+) apply only to the flavors and versions that run them.

The file holds two accounts, each in its own section with its own ``needs`` tags: the
maintenance account (``'maintenance'@'%'``: cadences and features) and the on-call account
(``'oncall'@'%'``: the runbook commands of ``include/recovery/``). Each parse reads one account's
GRANTs and validates their tags against that account's tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from maintenance_ops.core.exceptions import ConfigError
from maintenance_ops.core.identifiers import quote_identifier
from maintenance_ops.core.sqlfiles import load_sql

if TYPE_CHECKING:
    from maintenance_ops.core.dialect import Dialect, ServerVersion

# The cadences' short names in grants.sql's ``-- needs:`` lines.
CADENCE_TAGS = {
    "daily_maintenance": "daily",
    "weekly_optimization": "weekly",
    "monthly_deep_maintenance": "monthly",
    "backup_testing": "backup",
    "disaster_recovery_test": "drill",
    "health_check": "health",
}
FEATURES = frozenset({"backups", "replicas"})
KNOWN_TAGS = frozenset(CADENCE_TAGS.values()) | FEATURES | {"all"}

# The placeholders grants.sql uses for the maintained schema and the history schema.
EXAMPLE_SCHEMA = "app"
EXAMPLE_HISTORY = "_maintenance"
EXAMPLE_ACCOUNT = "'maintenance'@'%'"

# The on-call account's section: its tags name the runbook commands that need a grant.
ONCALL_ACCOUNT = "'oncall'@'%'"
RUNBOOK_TAGS = (
    "status",
    "runaway",
    "kill",
    "read-only",
    "failover",
    "fence",
    "restore",
    "find",
    "copy-back",
)
ONCALL_TAGS = frozenset(RUNBOOK_TAGS) | {"all"}

_VERSIONED = re.compile(r"^/\*(M?)!(\d{5,6})\s+(.*?)\s*\*/$", re.S)
_GRANT = re.compile(r"^GRANT\s+(.+?)\s+ON\s+(\S+)\s+TO\s+(\S+)$", re.S | re.I)


@dataclass(frozen=True)
class Condition:
    """Which servers run a statement: all, or one flavor from a version on."""

    flavor: str | None = None  # "mariadb" or "mysql"
    since: tuple[int, int, int] = (0, 0, 0)

    def applies(self, version: ServerVersion) -> bool:
        if self.flavor is None:
            return True
        return version.flavor == self.flavor and version.at_least(*self.since)

    def wrap(self, statement: str) -> str:
        """Write ``statement`` back in the executable-comment form this condition came from."""
        if self.flavor is None:
            return statement
        major, minor, patch = self.since
        code = f"{major}{minor:02d}{patch:02d}"
        return f"/*{'M' if self.flavor == 'mariadb' else ''}!{code} {statement} */"


def _condition(marker: str, digits: str) -> Condition:
    number = int(digits)
    since = (number // 10000, number // 100 % 100, number % 100)
    # MariaDB runs /*!NNNNN*/ only below 5.7 (50700); its own grants use /*M!*/.
    flavor = "mariadb" if marker == "M" or number >= 100000 else "mysql"
    return Condition(flavor, since)


@dataclass(frozen=True)
class Grant:
    """One GRANT of grants.sql: privileges on a scope, who needs them and why."""

    privileges: tuple[str, ...]
    scope: str
    """``*.*``, ``schema.*`` or ``schema.table`` as written (with backticks removed)."""
    needs: frozenset[str]
    reason: str
    condition: Condition = Condition()

    @property
    def schema(self) -> str:
        return self.scope.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.scope.split(".", 1)[1]

    def needed_by(self, tags: Iterable[str]) -> bool:
        return "all" in self.needs or bool(self.needs & set(tags))

    def scope_for(self, schema: str, history_schema: str) -> str:
        """The scope with the example schemas replaced by real ones."""
        name = {EXAMPLE_SCHEMA: schema, EXAMPLE_HISTORY: history_schema}.get(self.schema)
        return f"{name}.{self.table}" if name else self.scope

    def sql(self, account: str, schema: str, history_schema: str) -> str:
        """This grant as a statement for ``account`` on real schemas (conditional form kept)."""
        db, table = self.scope_for(schema, history_schema).split(".", 1)
        on = (
            "*.*"
            if db == "*"
            else f"{quote_identifier(db)}." + ("*" if table == "*" else quote_identifier(table))
        )
        return self.condition.wrap(f"GRANT {', '.join(self.privileges)} ON {on} TO {account}")


def _unquote(scope: str) -> str:
    return scope.replace("`", "")


def parse_grants(
    text: str, *, account: str = EXAMPLE_ACCOUNT, known_tags: frozenset[str] = KNOWN_TAGS
) -> list[Grant]:
    """Parse ``account``'s GRANTs of grants.sql; each must follow a ``-- needs: tags | reason``.

    GRANTs to other accounts (the file's other section) are left out, but must carry a
    ``needs`` line too; the tags of ``account``'s lines must be in ``known_tags``.
    """
    grants: list[Grant] = []
    needs: tuple[str, frozenset[str], str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("-- needs:"):
            tags, _, reason = line.removeprefix("-- needs:").partition("|")
            needs = (line, frozenset(tags.split()), reason.strip())
            continue
        if not line or line.startswith("--"):
            continue
        statement = line.rstrip(";").strip()
        condition = Condition()
        versioned = _VERSIONED.match(statement)
        if versioned:
            condition = _condition(versioned.group(1), versioned.group(2))
            statement = versioned.group(3)
        match = _GRANT.match(statement)
        if not match:
            continue  # CREATE USER and the like
        if needs is None:
            raise ConfigError(f"grants.sql: {statement!r} has no `-- needs:` line above it")
        needs_line, names, reason = needs
        needs = None
        if match.group(3) != account:
            continue
        unknown = names - known_tags
        if unknown or not names or not reason:
            raise ConfigError(f"grants.sql: bad needs line {needs_line!r} ({sorted(unknown)})")
        privileges = tuple(p.strip().upper() for p in match.group(1).split(","))
        grants.append(Grant(privileges, _unquote(match.group(2)), names, reason, condition))
    return grants


@lru_cache(maxsize=1)
def grants_file() -> tuple[Grant, ...]:
    """The maintenance account's grants in ``include/sql/grants.sql``."""
    return tuple(parse_grants(load_sql("grants")))


@lru_cache(maxsize=1)
def oncall_grants_file() -> tuple[Grant, ...]:
    """The on-call account's grants in ``include/sql/grants.sql`` (tagged by runbook command)."""
    return tuple(parse_grants(load_sql("grants"), account=ONCALL_ACCOUNT, known_tags=ONCALL_TAGS))


def tags_for(cadence_key: str, *, backups: bool = False, replicas: bool = False) -> set[str]:
    """The ``needs`` tags a run of ``cadence_key`` uses, with the features it exercises."""
    tags = {CADENCE_TAGS[cadence_key]}
    if backups:
        tags.add("backups")
    if replicas:
        tags.add("replicas")
    return tags


@dataclass(frozen=True)
class Requirement:
    """One privilege on one scope, and why it is needed (for the preflight's message)."""

    privilege: str
    scope: str  # "*.*", "schema.*" or "schema.table", unquoted
    reason: str

    def __str__(self) -> str:
        db, table = self.scope.split(".", 1)
        on = "*.*" if db == "*" else f"`{db}`." + ("*" if table == "*" else f"`{table}`")
        return f"{self.privilege} ON {on}"


def requirements(
    tags: Iterable[str],
    version: ServerVersion,
    schemas: Sequence[str],
    history_schema: str | None,
    grants: Iterable[Grant] | None = None,
) -> list[Requirement]:
    """Every privilege the run needs on this server, on the real schemas.

    :param history_schema: None when history lives on another server (its grants are not
        needed here).
    """
    tags = set(tags)
    needed: list[Requirement] = []
    for grant in grants if grants is not None else grants_file():
        if not grant.needed_by(tags) or not grant.condition.applies(version):
            continue
        if history_schema is None and grant.schema == EXAMPLE_HISTORY:
            continue
        targets = schemas if grant.schema == EXAMPLE_SCHEMA else [None]
        for schema in targets:
            scope = grant.scope_for(schema or "", history_schema or "")
            needed.extend(Requirement(p, scope, grant.reason) for p in grant.privileges)
    return needed


_NAME = r"(?:\*|`(?:[^`]|``)*`)"
_SHOWN_GRANT = re.compile(rf"^GRANT\s+(.+?)\s+ON\s+({_NAME})\.({_NAME})\s+TO\s", re.S)


def _shown_name(name: str) -> str:
    return name if name == "*" else name[1:-1].replace("``", "`")


def parse_show_grants(lines: Iterable[str]) -> list[tuple[str, str]]:
    """Return ``(scope, privilege)`` pairs from ``SHOW GRANTS`` lines (MySQL 8's format).

    Scopes are ``*.*``, ``schema.*`` or ``schema.table`` like the catalog's. Role grants
    (``GRANT `r`@`%` TO ...``), USAGE, routine and proxy grants, and column privileges
    (``SELECT (`c`)``) are left out: none of them stands for a privilege grants.sql asks for.
    """
    pairs: list[tuple[str, str]] = []
    for line in lines:
        match = _SHOWN_GRANT.match(line.strip())
        if match is None:
            continue
        scope = f"{_shown_name(match.group(2))}.{_shown_name(match.group(3))}"
        for privilege in (p.strip().upper() for p in match.group(1).split(",")):
            if privilege and privilege != "USAGE" and "(" not in privilege:
                pairs.append((scope, privilege))
    return pairs


def missing(
    granted: Iterable[tuple[str, str]], needed: Iterable[Requirement], dialect: Dialect
) -> list[Requirement]:
    """Return the requirements the account's grants do not cover.

    :param granted: ``(scope, privilege)`` pairs as the catalog lists them: scope ``*.*``,
        ``schema.*`` or ``schema.table``.
    """
    by_scope: dict[str, set[str]] = {}
    for scope, privilege in granted:
        by_scope.setdefault(scope, set()).add(privilege.upper())

    def has(req: Requirement) -> bool:
        db, _ = req.scope.split(".", 1)
        names = dialect.privilege_names(req.privilege) | {"ALL PRIVILEGES"}
        scopes = {"*.*", f"{db}.*", req.scope}
        return any(names & by_scope.get(s, set()) for s in scopes)

    return [req for req in needed if not has(req)]


def account_statements(
    user: str,
    host: str,
    password: str,
    schemas: Sequence[str],
    history_schema: str,
    version: ServerVersion | None = None,
    grants: Iterable[Grant] | None = None,
) -> list[str]:
    """grants.sql for one account and real schemas, as statements (bound password first).

    With ``version``, only the statements that server runs; without it, every statement in
    its conditional form (the server decides). Used by the tests and the demo to build the
    account exactly as the file says.
    """
    account = f"'{_literal(user)}'@'{_literal(host)}'"
    statements = [f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{_literal(password)}'"]
    for grant in grants if grants is not None else grants_file():
        if version is not None and not grant.condition.applies(version):
            continue
        targets = schemas if grant.schema == EXAMPLE_SCHEMA else [schemas[0] if schemas else ""]
        for schema in targets:
            statements.append(grant.sql(account, schema, history_schema))
    return list(dict.fromkeys(statements))


def _literal(value: str) -> str:
    """Escape a value for a single-quoted SQL literal in a statement we print or run."""
    if "\x00" in value or "\n" in value:
        raise ConfigError("account names and passwords must not hold NUL or line breaks")
    return value.replace("\\", "\\\\").replace("'", "''")


MATRIX_COLUMNS = (*CADENCE_TAGS.values(), "backups", "replicas")


def matrix_markdown(
    grants: Iterable[Grant] | None = None, columns: Sequence[str] = MATRIX_COLUMNS
) -> str:
    """A Markdown table: each grant of grants.sql, which cadences need it, and why.

    The README's grants section holds this table; a test keeps the two equal.
    """
    lines = [
        "| grant | " + " | ".join(columns) + " | why |",
        "|---|" + "---|" * len(columns) + "---|",
    ]
    for grant in grants if grants is not None else grants_file():
        marks = " | ".join("x" if grant.needed_by({c}) else "" for c in columns)
        text = f"{', '.join(grant.privileges)} ON {grant.scope}"
        if grant.condition.flavor:
            major, minor, patch = grant.condition.since
            text += f" ({'MariaDB' if grant.condition.flavor == 'mariadb' else 'MySQL'} "
            text += f"{major}.{minor}.{patch}+)"
        lines.append(f"| `{text}` | {marks} | {grant.reason} |")
    return "\n".join(lines) + "\n"


def oncall_matrix_markdown() -> str:
    """The on-call account's table: each grant, which runbook commands need it, and why.

    The README's runbook section holds this table; a test keeps the two equal.
    """
    return matrix_markdown(oncall_grants_file(), RUNBOOK_TAGS)


# What SUPER still stands for, for accounts set up before the ADMIN privileges split it up
# (the servers' own checks accept SUPER for these; "at least one of SUPER, ...").
_SUPER_COVERS_MARIADB = frozenset(
    {"CONNECTION ADMIN", "REPLICATION SLAVE ADMIN", "SLAVE MONITOR", "BINLOG MONITOR"}
)
_SUPER_COVERS_MYSQL = frozenset(
    {"CONNECTION_ADMIN", "SYSTEM_VARIABLES_ADMIN", "REPLICATION_SLAVE_ADMIN"}
)


def super_covers(privilege: str, version: ServerVersion) -> bool:
    """Return whether SUPER lets an account do what ``privilege`` is asked for on this server.

    MariaDB 10.11 took READ_ONLY ADMIN out of SUPER; MySQL 8 still accepts SUPER (deprecated)
    where the dynamic ADMIN privileges are checked.
    """
    if version.flavor == "mariadb":
        if privilege == "READ_ONLY ADMIN":
            return not version.at_least(10, 11)
        return privilege in _SUPER_COVERS_MARIADB
    return privilege in _SUPER_COVERS_MYSQL

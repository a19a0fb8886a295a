"""Check one statement against one catalog: tables, columns, variables, statement forms.

Parsed with sqlglot's MySQL dialect. Table and column references are resolved through each
query scope (aliases, derived tables, correlated subqueries); only system schemas
(information_schema, performance_schema, mysql, sys) are checked: user tables are the user's.
Statements sqlglot cannot parse (CHECK TABLE, REPLACE ..., SHOW BINARY LOG STATUS) are checked by
their leading words and by the system tables they name.
"""

from __future__ import annotations

import re
import warnings

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.scope import Scope, traverse_scope

from tests.contract.catalog import Catalog

SYSTEM_SCHEMAS = frozenset({"information_schema", "performance_schema", "mysql", "sys"})
_SYSTEM_NAME = re.compile(
    r"\b(information_schema|performance_schema|mysql|sys)`?\.`?([A-Za-z_][A-Za-z0-9_]*)", re.I
)
_VARIABLE = re.compile(r"@@(?:GLOBAL\.|SESSION\.)?([A-Za-z_][A-Za-z0-9_]*)", re.I)
_SET_SESSION = re.compile(r"^\s*SET\s+(?:SESSION|GLOBAL)\s+(.+)$", re.I | re.S)
_SHOW_NAMES = re.compile(
    r"^\s*SHOW\s+GLOBAL\s+STATUS\s+WHERE\s+Variable_name\s+IN\s*\((.*)\)", re.I | re.S
)
_COMMENTS = re.compile(r"--[^\n]*|/\*(?![!M]).*?\*/", re.S)
_FORMS = sorted(
    [
        "SHOW GLOBAL STATUS", "SHOW GLOBAL VARIABLES", "SHOW SESSION VARIABLES",
        "SHOW ENGINE INNODB STATUS", "SHOW BINARY LOGS", "SHOW BINARY LOG STATUS",
        "SHOW BINLOG STATUS", "SHOW MASTER STATUS", "SHOW GRANTS", "SHOW CREATE TABLE",
        "SHOW REPLICA STATUS", "SHOW SLAVE STATUS", "STOP REPLICA", "START REPLICA",
        "RESET REPLICA", "STOP SLAVE", "START SLAVE", "RESET SLAVE", "ANALYZE TABLE",
        "CHECK TABLE", "OPTIMIZE TABLE", "KILL QUERY",
    ],
    key=len,
    reverse=True,
)  # fmt: skip


def for_parsing(sql: str) -> str:
    """Replace the driver's placeholders with literals and ``%%`` with ``%`` (what the server gets)."""
    sql = re.sub(r"\bIN\s+%(?:\(\w+\))?s", "IN ('p')", sql)
    sql = re.sub(r"\bLIMIT\s+%(?:\(\w+\))?s", "LIMIT 1", sql)
    sql = re.sub(r"%(?:\(\w+\))?s", "'p'", sql)
    return sql.replace("%%", "%")


def statement_form(sql: str) -> str:
    """The statement's leading words as :data:`Catalog.statements` lists them."""
    text = " ".join(_COMMENTS.sub(" ", sql).split()).upper()
    for form in _FORMS:
        if text.startswith(form):
            return form
    return text.split(" ", 1)[0] if text else ""


def check(sql: str, catalog: Catalog) -> list[str]:
    """Return every problem of ``sql`` on ``catalog``'s server (empty: it runs there)."""
    text = for_parsing(sql)
    problems = []
    form = statement_form(text)
    if form not in catalog.statements:
        problems.append(f"statement {form!r} does not exist on {catalog.name}")
    problems += _variables(text, catalog)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = [s for s in sqlglot.parse(text, read="mysql") if s is not None]
    except ParseError:
        parsed = []
    structured = [s for s in parsed if not isinstance(s, exp.Command)]
    if not structured:
        return problems + _named_tables(text, catalog)
    for statement in structured:
        problems += _tables(statement, catalog)
        problems += _columns(statement, catalog)
    return problems


def _variables(text: str, catalog: Catalog) -> list[str]:
    names = set(_VARIABLE.findall(text))
    setting = _SET_SESSION.match(text)
    if setting:
        names |= {part.split("=")[0].strip() for part in setting.group(1).split(",")}
    problems = [
        f"variable {name} does not exist on {catalog.name}"
        for name in sorted(names)
        if name.lower() not in catalog.variables
    ]
    shown = _SHOW_NAMES.match(text)
    if shown:
        for name in re.findall(r"'([^']+)'", shown.group(1)):
            if name.lower() not in {s.lower() for s in catalog.status}:
                problems.append(f"status variable {name} does not exist on {catalog.name}")
    return problems


def _missing_table(schema: str, table: str, catalog: Catalog) -> str | None:
    if schema.lower() not in SYSTEM_SCHEMAS or catalog.columns(schema, table) is not None:
        return None
    why = catalog.removed.get(f"{schema.lower()}.{table}") or next(
        (v for k, v in catalog.removed.items() if k.lower() == f"{schema}.{table}".lower()), ""
    )
    return f"table {schema}.{table} does not exist on {catalog.name}" + (f" ({why})" if why else "")


def _named_tables(text: str, catalog: Catalog) -> list[str]:
    found = (_missing_table(s, t, catalog) for s, t in _SYSTEM_NAME.findall(text))
    return sorted({p for p in found if p})


def _tables(statement: exp.Expression, catalog: Catalog) -> list[str]:
    problems = {
        _missing_table(t.db, t.name, catalog) for t in statement.find_all(exp.Table) if t.db
    }
    return sorted(p for p in problems if p)


def _source(scope: Scope | None, alias: str) -> exp.Expression | Scope | None:
    """The table or derived table an alias names, looking out through enclosing scopes."""
    while scope is not None:
        if alias in scope.sources:
            return scope.sources[alias]
        scope = scope.parent
    return None


def _columns(statement: exp.Expression, catalog: Catalog) -> list[str]:
    problems: set[str] = set()
    for scope in traverse_scope(statement):
        aliases = {s.alias_or_name.upper() for s in getattr(scope.expression, "expressions", [])}
        for column in scope.columns:
            if not column.table and column.name.upper() in aliases:
                continue  # ORDER BY / HAVING on a select alias
            sources = (
                [_source(scope, column.table)] if column.table else list(scope.sources.values())
            )
            tables = [s for s in sources if isinstance(s, exp.Table)]
            if len(tables) != len(sources) or not tables:
                continue  # a derived table or CTE among them: its own scope is checked
            known = [
                catalog.columns(t.db, t.name) for t in tables if t.db.lower() in SYSTEM_SCHEMAS
            ]
            if len(known) != len(tables) or any(cols is None for cols in known):
                continue  # user tables, or a missing table (reported once above)
            if not any(column.name.upper() in cols for cols in known if cols is not None):
                where = ", ".join(f"{t.db}.{t.name}" for t in tables)
                problems.add(f"column {column.name} is not in {where} on {catalog.name}")
    return sorted(problems)

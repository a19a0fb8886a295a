"""The cleanup rules' ``where`` filter: one boolean expression over the table's own columns.

A rule's filter is SQL text spliced into every count, boundary, copy and DELETE as
``<date> < %s AND (<filter>) AND <key range>``. Text that closes the parenthesis
(``status = 'done') OR (1=1``) would make those statements match the whole table whatever the
cutoff, so the filter is parsed here (sqlglot, MySQL dialect) exactly as it is spliced, and
refused unless it is one expression made of the table's columns, literals, operators and a
list of built-in functions that read nothing but their arguments. No subqueries, variables,
placeholders, user-defined or stored functions, table-qualified columns, comments or
statements. The columns are checked against the real table at run time
(:func:`maintenance_ops.upkeep.cleanup.run_cleanup_rule`), before the first write.

The filter runs as written (a parsed and regenerated text could differ from what the DBA
reviewed); what could parse differently on the server is refused instead: backslashes
(``NO_BACKSLASH_ESCAPES`` changes where a string ends), double-quoted strings (``ANSI_QUOTES``
makes them names), and comment markers anywhere.

sqlglot is imported only when a rule has a filter: DAG files load the configuration at parse
time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlglot import exp

# Comment and statement markers are refused anywhere, even inside a string: the filter is
# short, and a refusal is cheaper to reason about than the server's comment rules.
_FORBIDDEN_TEXT = {
    ";": "';' (one condition, not statements)",
    "--": "'--' (a comment)",
    "/*": "'/*' (a comment)",
    "*/": "'*/' (a comment)",
    "#": "'#' (a comment)",
    "\\": "a backslash (its meaning depends on NO_BACKSLASH_ESCAPES; for LIKE, use "
    "ESCAPE '!' and '!_')",
    "{": "'{' (ODBC escape syntax)",
    "}": "'}' (ODBC escape syntax)",
}
_SENTINEL = "__mmc_cutoff__"

# Built-in functions MySQL and MariaDB evaluate from their arguments alone, as sqlglot names
# them (class names) or, for the ones it does not model, as written.
_FUNCTION_CLASSES = (
    "Abs Ascii Case Cast Ceil Coalesce Concat ConcatWs ConvertTimezone CurrentDate "
    "CurrentTime CurrentTimestamp DateAdd DateDiff DateSub Day DayOfMonth DayOfWeek DayOfYear "
    "Extract Floor Greatest Hex Hour If JSONExtract JSONExtractScalar JSONType JSONValue "
    "LastDay Least Left Length Localtime Localtimestamp Lower MD5 Minute Month Nullif Pad Pow "
    "Quarter RegexpLike RegexpSubstr Reverse Right Round SHA SHA2 Second Sign Sqrt StrPosition "
    "StrToDate Substring SubstringIndex Time TimeToStr TimestampAdd TimestampDiff Trim "
    "TsOrDsToDate TsOrDsToTimestamp UnixToTime Upper UtcDate UtcTimestamp Week Year"
).split()
ALLOWED_FUNCTION_NAMES = frozenset(
    "ADDDATE ADDTIME CRC32 FIND_IN_SET FROM_DAYS INET6_ATON INET_ATON JSON_CONTAINS "
    "JSON_CONTAINS_PATH JSON_LENGTH JSON_UNQUOTE JSON_VALID MAKEDATE NOW OCTET_LENGTH SUBDATE "
    "SUBTIME SYSDATE TIMEDIFF TO_SECONDS UNIX_TIMESTAMP WEEKDAY".split()
)
_OPERATOR_CLASSES = (
    "Add And Between BitString BitwiseAnd BitwiseLeftShift BitwiseNot BitwiseOr "
    "BitwiseRightShift BitwiseXor Boolean ByteString CharacterSet Collate Column DataType "
    "DataTypeParam Div EQ Escape GT GTE HexString ILike Identifier In IntDiv Interval "
    "Introducer Is JSONPath LT LTE Like Literal Mod Mul NEQ National Neg Not Null NullSafeEQ "
    "Or Paren Sub Tuple Var Xor"
).split()


class FilterError(ValueError):
    """A cleanup filter that is not one boolean expression over the table's columns."""


@lru_cache(maxsize=256)
def filter_columns(where: str) -> tuple[str, ...]:
    """Return the columns a rule's filter reads (sorted, as written), or raise FilterError.

    :param where: the rule's ``where`` text, as it will be spliced into the statements.
    """
    for text, why in _FORBIDDEN_TEXT.items():
        if text in where:
            raise FilterError(f"may not contain {why}: give one boolean condition")
    if not where.strip():
        raise FilterError("is empty: leave the key out for no filter")
    _check_tokens(where)
    condition = _spliced(where)
    columns: set[str] = set()
    for node in condition.walk():
        columns.update(_check_node(node))
    return tuple(sorted(columns))


def missing_columns(where: str, table_columns: list[str]) -> list[str]:
    """Return the filter's columns the table does not have (names compare case-insensitively)."""
    have = {name.lower() for name in table_columns}
    return [name for name in filter_columns(where) if name.lower() not in have]


def _check_tokens(where: str) -> None:
    from sqlglot.dialects.mysql import MySQL
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    try:
        tokens = MySQL().tokenize(where)
    except TokenError as exc:
        raise FilterError(f"cannot be read as SQL ({_first_line(exc)})") from None
    depth = 0
    for token in tokens:
        if token.comments:
            raise FilterError("may not contain comments")
        if token.token_type in (TokenType.STRING, TokenType.NATIONAL_STRING) and (
            where[token.end] != "'"
        ):
            raise FilterError(
                f"quotes a string with {where[token.end]!r}: use single quotes "
                "(double quotes are names when sql_mode has ANSI_QUOTES)"
            )
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
        if depth < 0:
            raise FilterError(
                f"closes a parenthesis it did not open (at column {token.start + 1}): the "
                "filter must be one condition, it cannot reach outside its own parentheses"
            )
    if depth:
        raise FilterError(f"has unbalanced parentheses ({depth} left open)")


def _spliced(where: str) -> exp.Expression:
    """Parse the filter exactly as the statements splice it; return the filter's expression."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    sql = f"SELECT 1 FROM t WHERE `{_SENTINEL}` < 0 AND ({where})"  # noqa: S608 - parsed only
    try:
        statements = sqlglot.parse(sql, read="mysql")
    except ParseError as exc:
        raise FilterError(f"is not one boolean expression ({_first_line(exc)})") from None
    root = statements[0] if len(statements) == 1 else None
    clauses = {k for k, v in root.args.items() if v} if isinstance(root, exp.Select) else set()
    where_node = root.args.get("where") if root is not None else None
    condition = where_node.this if where_node is not None else None
    if (
        not clauses <= {"expressions", "from", "from_", "where"}
        or not isinstance(condition, exp.And)
        or not isinstance(condition.left, exp.LT)
        or condition.left.left.name != _SENTINEL
        or not isinstance(condition.right, exp.Paren)
    ):
        raise FilterError(
            "does not stay one condition when spliced into the cleanup's statements as "
            "'<date> < cutoff AND (<filter>)': it would change which rows match the cutoff"
        )
    inner: exp.Expression = condition.right.this
    return inner


def _check_node(node: Any) -> set[str]:
    """Refuse a node the filter may not hold; return the column it names, if it is one."""
    from sqlglot import exp

    if isinstance(node, exp.Query | exp.Subquery | exp.Exists | exp.Any | exp.All):
        raise FilterError(
            "may not contain a subquery: the filter reads only the rule's own table's row"
        )
    if isinstance(node, exp.Parameter | exp.SessionParameter | exp.Placeholder):
        raise FilterError(
            f"may not contain variables or placeholders ({node.sql('mysql')}): write the value"
        )
    if isinstance(node, exp.Column):
        if node.table or isinstance(node.this, exp.Star):
            raise FilterError(
                f"names {node.sql('mysql')}: name the table's own columns, without a table "
                "or schema prefix"
            )
        return {node.name}
    if isinstance(node, exp.Anonymous):
        if node.name.upper() in ALLOWED_FUNCTION_NAMES:
            return set()
        raise FilterError(_function_refusal(node.name.upper()))
    if type(node).__name__ in _allowed_classes() or isinstance(node, exp.JSONPathPart):
        return set()
    if isinstance(node, exp.Func):
        raise FilterError(_function_refusal(node.sql("mysql").partition("(")[0]))
    raise FilterError(f"may not contain {node.sql('mysql')!r} ({type(node).__name__})")


def _function_refusal(name: str) -> str:
    return (
        f"calls {name}(): only built-in functions that read nothing but their arguments are "
        "allowed (comparisons, CASE/IF/COALESCE, string, number, date and JSON functions); "
        "no stored or user-defined functions, nothing that reads other tables, files, locks, "
        "sequences or the session"
    )


@lru_cache(maxsize=1)
def _allowed_classes() -> frozenset[str]:
    from sqlglot import exp

    # Only names this sqlglot version defines, so an older one cannot widen the list.
    return frozenset(n for n in (*_FUNCTION_CLASSES, *_OPERATOR_CLASSES) if hasattr(exp, n))


def _first_line(exc: Any) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

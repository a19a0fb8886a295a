"""Tests for maintenance_ops.core.row_filter: what a cleanup rule's ``where`` may be (pure)."""

from __future__ import annotations

import pytest

from maintenance_ops.core.row_filter import FilterError, filter_columns, missing_columns

ACCEPTED = [
    pytest.param("kind = 'tmp'", ("kind",), id="equality"),
    pytest.param("kind LIKE 'tmp%'", ("kind",), id="like-with-percent"),
    pytest.param(
        "status IN ('done', 'failed') AND NOT pinned", ("pinned", "status"), id="in-and-not"
    ),
    pytest.param("kind = 'tmp' OR kind = 'scratch'", ("kind",), id="or-inside-the-filter"),
    pytest.param("archived_at IS NOT NULL", ("archived_at",), id="is-not-null"),
    pytest.param("expires_at < NOW() - INTERVAL 30 DAY", ("expires_at",), id="now-interval"),
    pytest.param(
        "DATE_SUB(created, INTERVAL 3 DAY) > closed_at", ("closed_at", "created"), id="date-sub"
    ),
    pytest.param("COALESCE(retries, 0) >= 3", ("retries",), id="coalesce"),
    pytest.param("IFNULL(note, '') = ''", ("note",), id="ifnull"),
    pytest.param("CASE WHEN kind = 'a' THEN 1 ELSE 0 END = 1", ("kind",), id="case"),
    pytest.param("CAST(code AS UNSIGNED) BETWEEN 10 AND 20", ("code",), id="cast-between"),
    pytest.param("JSON_UNQUOTE(JSON_EXTRACT(doc, '$.state')) = 'gone'", ("doc",), id="json"),
    pytest.param("name LIKE 'x!_%' ESCAPE '!'", ("name",), id="like-escape"),
    pytest.param("`odd``name` = 1 AND `a%b` <> 2", ("a%b", "odd`name"), id="quoted-names"),
    pytest.param("note = 'it''s done'", ("note",), id="doubled-quote"),
    pytest.param("(tenant, seq) > (3, 10)", ("seq", "tenant"), id="row-compare"),
    pytest.param("id % 2 = 0", ("id",), id="modulo"),
    pytest.param("kind REGEXP '^tmp' XOR flag", ("flag", "kind"), id="regexp-xor"),
    pytest.param("status = 'done'", ("status",), id="issue-good-half"),
    pytest.param(
        "TIMESTAMPDIFF(DAY, created, closed) > 3", ("closed", "created"), id="timestampdiff"
    ),
]


@pytest.mark.parametrize(("where", "columns"), ACCEPTED)
def test_realistic_filters_are_accepted_with_their_columns(
    where: str, columns: tuple[str, ...]
) -> None:
    assert filter_columns(where) == columns


REFUSED = [
    pytest.param(
        "status = 'done') OR (1=1", "closes a parenthesis it did not open", id="issue-escape"
    ),
    pytest.param("x > 0) OR (x < 0", "closes a parenthesis", id="or-escape"),
    pytest.param("a = 1) ORDER BY (1", "closes a parenthesis", id="clause-escape"),
    pytest.param("(a = 1", "unbalanced parentheses (1 left open)", id="unclosed"),
    pytest.param(
        "a = 1) UNION SELECT * FROM mysql.user WHERE (1", "closes a parenthesis", id="union"
    ),
    pytest.param("id IN (SELECT id FROM other)", "subquery", id="in-subquery"),
    pytest.param("EXISTS (SELECT 1 FROM other)", "subquery", id="exists"),
    pytest.param("a = (SELECT MAX(b) FROM other)", "subquery", id="scalar-subquery"),
    pytest.param("a = ALL (SELECT 1)", "subquery", id="all-subquery"),
    pytest.param("a = 1; DROP TABLE t", "';'", id="two-statements"),
    pytest.param("a = 1 -- x", "'--'", id="dash-comment"),
    pytest.param("a = 1 /* x */", "'/*'", id="block-comment"),
    pytest.param("a = 1 /*!50000 OR 1=1 */", "'/*'", id="executable-comment"),
    pytest.param("a = 1 # x", "'#'", id="hash-comment"),
    pytest.param("a = 'x\\') OR (1=1 OR a = '", "backslash", id="backslash-escape"),
    pytest.param('a = "x"', "single quotes", id="double-quoted-string"),
    pytest.param("a = {fn NOW()}", "ODBC", id="odbc-escape"),
    pytest.param("@x = 1", "variables", id="user-variable"),
    pytest.param("a = @@sql_mode", "variables", id="system-variable"),
    pytest.param("a = ?", "placeholders", id="placeholder"),
    pytest.param("a = %s", "not one boolean expression", id="driver-placeholder"),
    pytest.param("SLEEP(5) = 0", "calls SLEEP()", id="sleep"),
    pytest.param("LOAD_FILE('/etc/passwd') IS NULL", "calls LOAD_FILE()", id="load-file"),
    pytest.param("NEXTVAL(seq) > 1", "calls NEXTVAL()", id="sequence"),
    pytest.param("GET_LOCK('x', 10)", "calls GET_LOCK()", id="lock"),
    pytest.param("a = USER()", "calls USER()", id="session-function"),
    pytest.param("a = LAST_INSERT_ID()", "calls LAST_INSERT_ID()", id="last-insert-id"),
    pytest.param("my_udf(a) = 1", "calls MY_UDF()", id="udf"),
    pytest.param("a = shop.price_of(b)", "Dot", id="stored-function"),
    pytest.param("t.a = 1", "names t.a", id="qualified-column"),
    pytest.param("`db`.`t`.`a` = 1", "without a table or schema prefix", id="schema-qualified"),
    pytest.param("a = 1 a = 2", "not one boolean expression", id="two-expressions"),
    pytest.param("  ", "is empty", id="blank"),
]


@pytest.mark.parametrize(("where", "message"), REFUSED)
def test_unsafe_filters_are_refused_with_the_reason(where: str, message: str) -> None:
    with pytest.raises(FilterError) as info:
        filter_columns(where)
    assert message in str(info.value)


def test_missing_columns_compare_like_the_server() -> None:
    assert missing_columns("Kind = 'tmp' AND ghost = 1", ["id", "kind"]) == ["ghost"]
    assert missing_columns("KIND = 'tmp'", ["kind"]) == []

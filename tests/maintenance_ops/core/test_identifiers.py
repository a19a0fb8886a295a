from __future__ import annotations

import pytest

from maintenance_ops.core.exceptions import IdentifierError
from maintenance_ops.core.identifiers import qualified, quote_identifier, validate_identifier


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("users; DROP TABLE x", id="statement-injection"),
        pytest.param("a`b", id="backtick"),
        pytest.param("", id="empty"),
        pytest.param("x" * 65, id="too-long"),
        pytest.param("naïve", id="non-ascii"),
        pytest.param("a b", id="space"),
        pytest.param("t--", id="comment"),
        pytest.param(None, id="not-a-string"),
    ],
)
def test_validate_rejects_hostile_names(name: object) -> None:
    with pytest.raises(IdentifierError, match="is not a valid identifier"):
        validate_identifier(name, "table")


@pytest.mark.parametrize("name", ["users", "order_items", "t$1", "X" * 64, "2024_logs"])
def test_validate_accepts_plain_names(name: str) -> None:
    assert validate_identifier(name) == name


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        pytest.param("order", "`order`", id="reserved-word"),
        pytest.param("a`b", "`a``b`", id="backtick-doubled"),
        pytest.param("Überweisung", "`Überweisung`", id="unicode"),
        pytest.param("x; DROP TABLE y", "`x; DROP TABLE y`", id="stays-one-identifier"),
    ],
)
def test_quote_handles_catalog_names(name: str, quoted: str) -> None:
    assert quote_identifier(name) == quoted


@pytest.mark.parametrize("name", ["", "x" * 65, "a\x00b", "trailing "])
def test_quote_rejects_impossible_names(name: str) -> None:
    with pytest.raises(IdentifierError):
        quote_identifier(name)


def test_qualified() -> None:
    assert qualified("shop", "order") == "`shop`.`order`"

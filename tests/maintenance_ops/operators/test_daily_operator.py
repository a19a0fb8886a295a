from __future__ import annotations

from maintenance_ops.core.config import CleanupRule
from maintenance_ops.operators.daily import resolve_rule_targets


def rule(**kw: object) -> CleanupRule:
    base = {"name": "r", "table": "t", "date_column": "d", "retention_days": 3}
    return CleanupRule.model_validate({**base, **kw})


COLUMNS = {("a", "t", "d"), ("b", "t", "d"), ("b", "u", "x")}


def test_rules_resolve_to_every_schema_holding_the_table() -> None:
    targets, errors = resolve_rule_targets([rule()], ["a", "b"], COLUMNS)
    assert (targets, errors) == ({"r": ["a", "b"]}, [])


def test_an_explicit_schema_wins() -> None:
    targets, _ = resolve_rule_targets([rule(schema="b")], ["a"], COLUMNS)
    assert targets == {"r": ["b"]}


def test_missing_table_and_missing_column_name_the_fix() -> None:
    _, errors = resolve_rule_targets(
        [rule(name="ghost", table="nope"), rule(name="col", table="u", date_column="d")],
        ["a", "b"],
        COLUMNS,
    )
    assert errors == [
        "cleanup rule 'ghost': table 'nope' not found in a, b; fix `table`/`schema` or remove the rule",
        "cleanup rule 'col': 'u' has no column 'd'; fix `date_column`",
    ]

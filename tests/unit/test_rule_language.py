"""The rule language without a database: validation, three-valued logic, evaluation order."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from app.rules.compiler import CompileContext, RuleToEvaluate, SqlParams, compile_condition
from app.rules.evaluator import VersionFacts, deciding_rule, evaluate
from app.rules.models import RuleBody, check_tree_size

NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


def facts(**overrides: object) -> VersionFacts:
    base: dict[str, object] = {
        "entity_type": "topic",
        "entity_id": "t",
        "version": 1,
        "confidence": 0.95,
        "similarity": None,
        "source": "llm",
        "data": {"name": "Urgent: 50% off_now\\"},
        "created_at": NOW - dt.timedelta(hours=2),
    }
    base.update(overrides)
    return VersionFacts(**base)  # type: ignore[arg-type]


def tree(raw: dict[str, object]):
    return RuleBody.model_validate(
        {"name": "t", "priority": 1, "action": "approve", "conditions": raw}
    ).conditions


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"field": "similarity", "op": "gte", "value": 0.5}, None),
        ({"field": "similarity", "op": "neq", "value": 0.5}, None),
        ({"field": "similarity", "op": "not_in", "value": [0.5]}, None),
        ({"not": {"field": "similarity", "op": "gte", "value": 0.5}}, None),
        ({"field": "similarity", "op": "is_null"}, True),
        ({"field": "data.missing", "op": "is_null"}, True),
        ({"field": "data.missing", "op": "not_contains", "value": "x"}, None),
        ({"field": "data.name", "op": "gt", "value": 3}, None),  # text compared with a number
        (
            {
                "all": [
                    {"field": "confidence", "op": "gte", "value": 0.9},
                    {"field": "similarity", "op": "gte", "value": 0.1},
                ]
            },
            None,
        ),
        (
            {
                "all": [
                    {"field": "confidence", "op": "lt", "value": 0.9},
                    {"field": "similarity", "op": "gte", "value": 0.1},
                ]
            },
            False,
        ),
        (
            {
                "any": [
                    {"field": "confidence", "op": "gte", "value": 0.9},
                    {"field": "similarity", "op": "gte", "value": 0.1},
                ]
            },
            True,
        ),
        ({"field": "data.name", "op": "contains", "value": "URGENT"}, True),
        ({"field": "data.name", "op": "contains", "value": "50%"}, True),
        ({"field": "data.name", "op": "contains", "value": "5_%"}, False),
        ({"field": "data.name", "op": "ends_with", "value": "_now\\"}, True),
        ({"field": "age_hours", "op": "gte", "value": 2}, True),
        ({"field": "age_hours", "op": "gt", "value": 2}, False),
    ],
)
def test_three_valued_outcomes(raw, expected):
    """Missing values and type mismatches are unknown; LIKE metacharacters are literal."""
    assert evaluate(tree(raw), facts(), NOW) is expected


def test_first_matching_rule_in_priority_order_decides():
    """Priority descending then id ascending; a rule whose tree is unknown is passed over."""
    unknown = tree({"field": "similarity", "op": "gte", "value": 0.1})
    yes = tree({"field": "confidence", "op": "gte", "value": 0.1})
    rules = [
        RuleToEvaluate(id=3, revision=1, priority=10, action="reject", name="c", conditions=yes),
        RuleToEvaluate(id=2, revision=1, priority=50, action="escalate", name="b", conditions=yes),
        RuleToEvaluate(id=1, revision=1, priority=50, action="approve", name="a", conditions=yes),
        RuleToEvaluate(
            id=9, revision=1, priority=99, action="approve", name="z", conditions=unknown
        ),
    ]
    winner = deciding_rule(rules, facts(), NOW)
    assert winner is not None
    assert winner.id == 1


def test_compiled_sql_carries_no_value_or_key_in_its_text():
    """Values and data keys travel as parameters; the SQL text holds neither."""
    conditions = tree(
        {
            "any": [
                {"field": "data.secret_key", "op": "eq", "value": "'; DROP TABLE versions; --"},
                {"field": "source", "op": "in", "value": ["robert'); --"]},
            ]
        }
    )
    ctx = CompileContext(SqlParams(), NOW)
    text = compile_condition(conditions, ctx)
    assert "DROP" not in text
    assert "secret_key" not in text
    assert "robert" not in text
    assert ["secret_key"] in ctx.params.values


def test_check_tree_size_counts_levels_from_one():
    """A lone leaf is depth 1; eight levels pass."""
    node = {"field": "confidence", "op": "gte", "value": 0.5}
    for _ in range(7):
        node = {"not": node}
    check_tree_size(tree(node))
    with pytest.raises(ValidationError, match="8 levels"):
        tree({"not": node})

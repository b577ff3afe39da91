"""The compiled SQL's shape: derived values once per row, cheap tests first, values bound."""

from __future__ import annotations

import datetime as dt

from app.rules.compiler import (
    CompileContext,
    SqlParams,
    cheapest_first,
    compile_condition,
    compile_deciding_rule,
)
from app.rules.indexing import partition
from app.rules.models import Leaf
from bench.rulesets import FAMILIES, generated_rules
from tests.support.factories import CONDITION, rule_to_evaluate

AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def test_a_data_path_read_by_many_rules_is_walked_once_per_row() -> None:
    rules = [
        rule_to_evaluate(i, {"field": "data.name", "op": "contains", "value": f"w{i}"})
        for i in range(1, 6)
    ]
    ctx = CompileContext(SqlParams(first=3), AT)
    sql = compile_deciding_rule(rules, ctx)
    assert sql.count("v.data #>") == 1
    assert ctx.params.values.count(["name"]) == 1
    assert "OFFSET 0" in sql  # the subselect is kept, not pasted back into each leaf


def test_age_hours_is_computed_once_for_all_rules() -> None:
    rules = [
        rule_to_evaluate(i, {"field": "age_hours", "op": "gt", "value": i}) for i in range(1, 4)
    ]
    ctx = CompileContext(SqlParams(), AT)
    sql = compile_deciding_rule(rules, ctx)
    assert sql.count("extract(epoch") == 1
    assert ctx.params.values.count(AT) == 1


def test_rules_on_plain_columns_compile_to_a_bare_case() -> None:
    ctx = CompileContext(SqlParams(), AT)
    sql = compile_deciding_rule(
        [rule_to_evaluate(1, {"field": "confidence", "op": "gte", "value": 0.9})], ctx
    )
    assert sql.startswith("(CASE WHEN") and "SELECT" not in sql
    assert compile_deciding_rule([], CompileContext(SqlParams(), AT)) == "NULL::int4"


def test_numeric_and_enum_tests_come_before_text_matching() -> None:
    conditions = CONDITION.validate_python(
        {
            "all": [
                {"field": "data.name", "op": "contains", "value": "x"},
                {"field": "source", "op": "starts_with", "value": "l"},
                {"field": "age_hours", "op": "gt", "value": 1},
                {"field": "entity_type", "op": "eq", "value": "topic"},
                {"field": "confidence", "op": "gte", "value": 0.5},
            ]
        }
    )
    ordered = cheapest_first(conditions.all_of)  # type: ignore[union-attr]
    fields = [leaf.field for leaf in ordered if isinstance(leaf, Leaf)]
    assert fields == ["entity_type", "confidence", "age_hours", "data.name", "source"]
    sql = compile_condition(conditions, CompileContext(SqlParams(), AT))
    assert sql.index("v.entity_type") < sql.index("v.confidence") < sql.index("ILIKE")


def test_values_from_rules_never_reach_the_sql_text() -> None:
    word = "x'); DROP TABLE versions; --"
    rules = [rule_to_evaluate(1, {"field": "data.name", "op": "contains", "value": word})]
    ctx = CompileContext(SqlParams(), AT)
    sql = compile_deciding_rule(rules, ctx)
    assert word not in sql and "DROP" not in sql
    assert "%x'); DROP TABLE versions; --%" in ctx.params.values


def test_generated_rule_sets_are_reproducible_and_shaped_as_asked() -> None:
    rules = generated_rules(200, seed=3)
    assert rules == generated_rules(200, seed=3)
    assert rules != generated_rules(200, seed=4)
    for body in rules:
        parts = body["conditions"]["all"]
        fields = {part["field"] for part in parts}
        assert {"confidence", "similarity"} <= fields
        assert fields & {"entity_type", "data.name"}
        CONDITION.validate_python(body["conditions"])
    words = [p["value"] for b in rules for p in b["conditions"]["all"] if p["op"] == "contains"]
    assert len(words) == len(set(words)) > 50  # a word of each rule's own
    thresholds = {b["conditions"]["all"][1]["value"] for b in rules}
    assert len(thresholds) > 150  # thresholds of each rule's own


def test_unindexed_rules_sharing_an_entity_type_sit_behind_one_guard() -> None:
    rules = [
        rule_to_evaluate(
            i,
            {
                "all": [
                    {"field": "data.name", "op": "contains", "value": f"w{i}"},
                    {"field": "entity_type", "op": "eq", "value": "topic"},
                ]
            },
        )
        for i in range(1, 4)
    ]
    ctx = CompileContext(SqlParams(), AT)
    sql = compile_deciding_rule(rules, ctx)
    assert sql.count("(v.entity_type = $") == 3  # three rules
    assert sql.count("(v.entity_type = ANY(") == 1  # and one guard
    assert ["topic"] in ctx.params.values


def test_score_rules_go_to_a_tree_and_the_rest_to_the_residual() -> None:
    rules = [
        rule_to_evaluate(1, {"field": "confidence", "op": "gte", "value": 0.9}),
        rule_to_evaluate(2, {"field": "confidence", "op": "gte", "value": 0.8}),
        rule_to_evaluate(3, {"field": "source", "op": "eq", "value": "llm"}),
    ]
    ctx = CompileContext(SqlParams(), AT)
    sql = compile_deciding_rule(rules, ctx)
    assert sql.startswith("LEAST((CASE WHEN v.confidence IS NOT NULL THEN")
    # A rule sits at the highest nodes its range covers: here 0.9's once, 0.8's twice.
    assert sql.count("(v.confidence >=") == 3
    assert sql.count("(v.source =") == 1
    assert "v.similarity" not in sql


def test_a_rule_that_can_never_match_binds_no_value() -> None:
    """A rule left out of the statement (its ranges exclude each other) binds nothing: every
    bound value has its placeholder in the SQL (an unused one has no type and fails)."""
    never = {
        "all": [
            {"field": "confidence", "op": "gt", "value": 0.5},
            {"field": "confidence", "op": "lt", "value": 0.25},
            {"field": "source", "op": "eq", "value": "x"},
        ]
    }
    rules = [
        rule_to_evaluate(1, never),
        rule_to_evaluate(2, {"field": "version", "op": "eq", "value": 2}),
    ]
    ctx = CompileContext(SqlParams(), AT)
    sql = compile_deciding_rule(rules, ctx)
    assert "x" not in ctx.params.values
    for number in range(1, len(ctx.params.values) + 1):
        assert f"${number}::" in sql


def test_the_benchmark_rule_families_are_reproducible_valid_and_indexed() -> None:
    """bench.rulesets' families give the same rules for a seed, every rule valid, and every
    one of the selective and branching families held by a score index (none residual)."""
    for name, family in FAMILIES.items():
        bodies = family(200)
        assert bodies == family(200)
        trees = [CONDITION.validate_python(body["conditions"]) for body in bodies]
        if name != "guarded":
            assert partition(trees).residual == []

"""The rule editor's form encoding: a tree becomes fields named by path and comes back the
same; typed values read as the API's JSON; refusals land on the node they are about."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.console import rule_form
from app.console.rule_form import DraftNode
from app.rules.models import RuleBody, dump_conditions
from app.rules.templates import TEMPLATES


def fields_of(node: DraftNode, path: str = rule_form.ROOT) -> dict[str, str]:
    """The fields the editor renders for a draft (what a browser sends back)."""
    out = {f"{path}.kind": node.kind}
    if node.is_group:
        for index, child in enumerate(node.children):
            out.update(fields_of(child, f"{path}.{index}"))
    else:
        out.update(
            {
                f"{path}.field": node.field,
                f"{path}.key": node.key,
                f"{path}.op": node.op,
                f"{path}.value": node.value,
            }
        )
    return out


def round_trip(conditions: dict[str, Any]) -> dict[str, Any]:
    body = RuleBody.model_validate(
        {"name": "n", "priority": 1, "action": "approve", "conditions": conditions}
    )
    draft = rule_form.draft_of(body.conditions)
    return rule_form.tree_json(rule_form.parse_tree(fields_of(draft)))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
def test_every_template_round_trips_through_the_form(template: RuleBody) -> None:
    assert round_trip(dump_conditions(template.conditions)) == dump_conditions(template.conditions)


@pytest.mark.parametrize(
    "conditions",
    [
        {"not": {"any": [{"field": "source", "op": "in", "value": ["a", "b, c"]}]}},
        {"field": "entity_type", "op": "not_in", "value": ["topic", "atom"]},
        {"field": "data.meta.kind", "op": "eq", "value": "123"},
        {"field": "data.count", "op": "gte", "value": 3},
        {"field": "data.flag", "op": "eq", "value": True},
        {"field": "data.name", "op": "in", "value": ["x", "2", "false"]},
        {"field": "similarity", "op": "is_null"},
        {"field": "version", "op": "in", "value": [1, 2, 3]},
        {"field": "age_hours", "op": "lt", "value": 1.5},
        {"field": "source", "op": "contains", "value": " 50% _off\\ "},
        {"all": [{"any": [{"not": {"field": "confidence", "op": "lt", "value": 0.0}}]}]},
    ],
)
def test_trees_of_every_shape_round_trip(conditions: dict[str, Any]) -> None:
    assert round_trip(conditions) == conditions


@given(st.text(min_size=1, max_size=30).filter(lambda t: "\x00" not in t))
def test_any_data_text_round_trips(text: str) -> None:
    conditions = {"field": "data.name", "op": "eq", "value": text}
    try:
        RuleBody.model_validate(
            {"name": "n", "priority": 1, "action": "approve", "conditions": conditions}
        )
    except ValueError:
        return  # text the language refuses (not storable) is no value to round-trip
    assert round_trip(conditions) == conditions


def test_typed_values_read_as_the_apis_json() -> None:
    assert rule_form.parse_value("confidence", "gte", " 0.9 ") == 0.9
    assert rule_form.parse_value("version", "eq", "3") == 3
    assert rule_form.parse_value("confidence", "gte", "high") == "high"  # refused by the API
    assert rule_form.parse_value("source", "eq", "0.9") == "0.9"
    assert rule_form.parse_value("data.n", "eq", "0.9") == 0.9
    assert rule_form.parse_value("data.n", "eq", '"0.9"') == "0.9"
    assert rule_form.parse_value("data.n", "eq", "plain words") == "plain words"
    assert rule_form.parse_value("source", "in", "a, b,,c") == ["a", "b", "c"]
    assert rule_form.parse_value("source", "in", '["a,b"]') == ["a,b"]
    assert rule_form.parse_value("source", "in", "") == []  # the API says: at least one
    assert rule_form.parse_value("source", "is_null", "ignored") is None


def test_structural_edits_answer_where_to_focus() -> None:
    tree = rule_form.draft_of(TEMPLATES[0].conditions)  # all of two leaves
    assert rule_form.apply_edit(tree, "add-group:c") == ("c.2", "added")
    assert rule_form.apply_edit(tree, "add-leaf:c.2") == ("c.2.1", "added")
    assert rule_form.apply_edit(tree, "remove:c.0") == ("c", "removed")
    assert [child.kind for child in tree.children] == ["leaf", "all"]
    assert rule_form.apply_edit(tree, "remove:c") == ("", "")  # the root stays
    assert rule_form.apply_edit(tree, "add-leaf:c.0") == ("", "")  # a leaf has no children
    assert rule_form.apply_edit(tree, "remove:c.9") == ("", "")
    assert rule_form.apply_edit(tree, "nonsense") == ("", "")


def test_a_refusal_lands_on_the_node_it_is_about() -> None:
    tree = rule_form.parse_tree(
        {
            "c.kind": "all",
            "c.0.kind": "leaf", "c.0.field": "confidence", "c.0.op": "gte", "c.0.value": "0.5",
            "c.1.kind": "not",
            "c.1.0.kind": "any",
            "c.1.0.0.kind": "leaf", "c.1.0.0.field": "confidence", "c.1.0.0.op": "gte",
            "c.1.0.0.value": "80",
            "c.2.kind": "any",
            "c.3.kind": "not",
        }
    )  # fmt: skip
    body, problems = rule_form.judge(
        {"name": "", "priority": "1", "action": "approve", "conditions": rule_form.tree_json(tree)}
    )
    assert body is None
    where = {problem.where: problem.msg for problem in problems}
    assert "did you mean 0.8?" in where["c.1.0.0"]
    assert "at least 1 item" in where["c.2"]
    assert where["c.3"].startswith("a condition is")  # a `not` of nothing
    assert "at least 1 character" in where["name"]


def test_the_parser_bounds_what_a_form_can_make_it_walk() -> None:
    deep = {"c.kind": "all"}
    path = "c"
    for _ in range(50):
        path += ".0"
        deep[f"{path}.kind"] = "all"
    tree = rule_form.parse_tree(deep)
    depth, node = 1, tree
    while node.children:
        node, depth = node.children[0], depth + 1
    assert depth == rule_form.MAX_DRAFT_DEPTH + 1
    wide = {"c.kind": "any", **{f"c.{i}.kind": "leaf" for i in range(500)}}
    assert len(rule_form.parse_tree(wide).children) == rule_form.MAX_DRAFT_CHILDREN

"""The reference evaluator: the same trees as the SQL compiler, in Python, with SQL's logic.

`None` is "unknown". Tests hold this module and the compiled SQL equal on random trees and rows;
the explain route uses it to show each condition's outcome.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.rules.compiler import RuleToEvaluate, as_numeric, evaluation_order
from app.rules.models import (
    ORDERING_OPS,
    AllOf,
    AnyOf,
    Condition,
    Leaf,
    Not,
    Op,
    ValueKind,
)

_MISSING = object()


@dataclass(frozen=True)
class VersionFacts:
    """What a rule may read of a version."""

    entity_type: str
    entity_id: str
    version: int
    confidence: float
    similarity: float | None
    source: str
    data: Mapping[str, Any]
    created_at: dt.datetime


def _data_value(data: Mapping[str, Any], path: list[str]) -> Any:
    current: Any = data
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return _MISSING
        current = current[key]
    return current


def _json_kind(value: Any) -> ValueKind | None:
    if isinstance(value, bool):
        return ValueKind.BOOLEAN
    if isinstance(value, int | float):
        return ValueKind.NUMBER
    if isinstance(value, str):
        return ValueKind.STRING
    return None


def _operand(leaf: Leaf, facts: VersionFacts, evaluated_at: dt.datetime) -> Any:
    path = leaf.path
    if path is not None:
        return _data_value(facts.data, path)
    if leaf.field == "age_hours":
        return (evaluated_at - facts.created_at).total_seconds() / 3600.0
    return getattr(facts, leaf.field)


def leaf_operand(leaf: Leaf, facts: VersionFacts, evaluated_at: dt.datetime) -> Any:
    """The version's value that a leaf reads (None when it is missing)."""
    actual = _operand(leaf, facts, evaluated_at)
    return None if actual is _MISSING else actual


def _normalise(value: Any, kind: ValueKind, from_data: bool) -> Any:
    if kind in (ValueKind.STRING, ValueKind.BOOLEAN):
        return value
    if from_data:
        return as_numeric(value)
    return int(value) if kind is ValueKind.INTEGER else float(value)


_COMPARISONS: dict[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.NEQ: operator.ne,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
    Op.LT: operator.lt,
    Op.LTE: operator.le,
    Op.IN: lambda actual, expected: actual in expected,
    Op.NOT_IN: lambda actual, expected: actual not in expected,
    # Text ops ignore case as ILIKE does: both sides lower-cased, the value taken literally.
    Op.CONTAINS: lambda actual, expected: expected.lower() in actual.lower(),
    Op.NOT_CONTAINS: lambda actual, expected: expected.lower() not in actual.lower(),
    Op.STARTS_WITH: lambda actual, expected: actual.lower().startswith(expected.lower()),
    Op.ENDS_WITH: lambda actual, expected: actual.lower().endswith(expected.lower()),
}


def evaluate_leaf(leaf: Leaf, facts: VersionFacts, evaluated_at: dt.datetime) -> bool | None:
    actual = _operand(leaf, facts, evaluated_at)
    missing = actual is _MISSING or actual is None
    if leaf.op is Op.IS_NULL:
        return missing
    if leaf.op is Op.IS_NOT_NULL:
        return not missing
    if missing:
        return None
    kind = leaf.kind
    from_data = leaf.path is not None
    if from_data:
        json_kind = _json_kind(actual)
        wanted = ValueKind.NUMBER if leaf.op in ORDERING_OPS else kind
        if json_kind is not wanted:
            return None  # another JSON type compares as unknown, like a missing value
    actual = _normalise(actual, kind, from_data)
    if isinstance(leaf.value, list):
        expected: Any = {_normalise(item, kind, from_data) for item in leaf.value}
    else:
        expected = _normalise(leaf.value, kind, from_data)
    return bool(_COMPARISONS[leaf.op](actual, expected))


def evaluate(node: Condition, facts: VersionFacts, evaluated_at: dt.datetime) -> bool | None:
    """TRUE, FALSE or None (unknown), with Kleene's three-valued logic as SQL has it."""
    match node:
        case Leaf():
            return evaluate_leaf(node, facts, evaluated_at)
        case Not():
            inner = evaluate(node.negated, facts, evaluated_at)
            return None if inner is None else not inner
        case AllOf():
            results = [evaluate(child, facts, evaluated_at) for child in node.all_of]
            if False in results:
                return False
            return None if None in results else True
        case AnyOf():
            results = [evaluate(child, facts, evaluated_at) for child in node.any_of]
            if True in results:
                return True
            return None if None in results else False
    raise TypeError(f"not a condition: {node!r}")  # pragma: no cover - the union is closed


def deciding_rule(
    rules: Sequence[RuleToEvaluate], facts: VersionFacts, evaluated_at: dt.datetime
) -> RuleToEvaluate | None:
    """The first rule, in evaluation order, whose tree is TRUE for this version."""
    for rule in evaluation_order(rules):
        if evaluate(rule.conditions, facts, evaluated_at) is True:
            return rule
    return None


__all__ = ["VersionFacts", "deciding_rule", "evaluate", "evaluate_leaf", "leaf_operand"]

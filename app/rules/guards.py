"""Rules no score index holds, in blocks behind hoisted guards.

Consecutive rules (in evaluation order) that share a top-level conjunct on entity_type (or a
score bound, for rules whose cover was too wide to index) are tested behind one guard: a row
failing it skips the whole block for the price of one comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.rules.indexing import first_true
from app.rules.models import AllOf, Condition, Leaf, Op

# Binds a value of a SQL type and answers its placeholder (SqlParams.add).
Bind = Callable[[Any, str], str]
_COLUMNS = {
    "confidence": "v.confidence",
    "similarity": "v.similarity",
    "entity_type": "v.entity_type",
}

# A guard is a test every row a rule matches must pass: a top-level conjunct on a score
# (lower or upper bound) or on entity_type. Its key says which guards can be merged.
_BOUND_FIELDS = frozenset({"confidence", "similarity"})
_LOWER_OPS = frozenset({Op.GT, Op.GTE, Op.EQ})
_UPPER_OPS = frozenset({Op.LT, Op.LTE, Op.EQ})
GuardKey = tuple[str, str]


def rule_guards(conditions: Condition) -> dict[GuardKey, set[Any]]:
    """For each guard key, the values a TRUE result implies: ("confidence", "min") -> {0.9}
    means the rule is TRUE only where confidence >= 0.9; ("entity_type", "in") -> the types."""
    conjuncts = conditions.all_of if isinstance(conditions, AllOf) else [conditions]
    guards: dict[GuardKey, set[Any]] = {}
    for part in conjuncts:
        if not isinstance(part, Leaf) or part.path is not None:
            continue
        if part.field in _BOUND_FIELDS and not isinstance(part.value, list | None):
            value = float(part.value)
            if part.op in _LOWER_OPS:
                guards.setdefault((part.field, "min"), set()).add(value)
            if part.op in _UPPER_OPS:
                guards.setdefault((part.field, "max"), set()).add(value)
        elif part.field == "entity_type" and part.op in (Op.EQ, Op.IN):
            values = part.value if isinstance(part.value, list) else [part.value]
            types = {str(item) for item in values}
            # Two conjuncts on entity_type: the row must pass both, so either set will do.
            guards[("entity_type", "in")] = guards.get(("entity_type", "in"), types) & types
    return guards


def _blocks(
    ordered: Sequence[tuple[int, Condition]],
) -> list[tuple[dict[GuardKey, set[Any]], list[int]]]:
    """Consecutive runs of (position, rule) in evaluation order sharing guard keys: for each,
    the keys common to all its rules with each rule's values, and its rules' positions."""
    blocks: list[tuple[dict[GuardKey, set[Any]], list[int]]] = []
    for position, conditions in ordered:
        guards = rule_guards(conditions)
        if blocks:
            common, positions = blocks[-1]
            shared = common.keys() & guards.keys()
            if shared or (not common and not guards):
                merged = {key: common[key] | guards[key] for key in shared}
                blocks[-1] = (merged, [*positions, position])
                continue
        blocks.append((guards, [position]))
    return blocks


def _guard_sql(key: GuardKey, values: set[Any], bind: Bind) -> str:
    field_name, kind = key
    column = _COLUMNS[field_name]
    if kind == "in":
        return f"({column} = ANY({bind(sorted(values), 'text[]')}))"
    # Any row a rule's `x >= c` (or `x > c`, `x = c`) holds for has x >= the block's least c.
    bound = min(values) if kind == "min" else max(values)
    return f"({column} {'>=' if kind == 'min' else '<='} {bind(bound, 'float8')})"


def residual_sql(
    rules: Sequence[tuple[int, Condition]], rule_sql: Mapping[int, str], bind: Bind
) -> str:
    """The first TRUE rule among rules no index holds, in blocks behind hoisted guards: a row
    failing a block's guard skips all its rules for the price of one comparison. A rule is
    TRUE only where its guard is TRUE, so a skipped block could not have matched; COALESCE
    evaluates its arguments in order and stops at the first non-NULL, as the CASE would."""
    parts = []
    for guards, positions in _blocks(rules):
        case = first_true(positions, rule_sql.__getitem__)
        if guards and len(positions) > 1:
            guard = " AND ".join(_guard_sql(key, guards[key], bind) for key in sorted(guards))
            case = f"(CASE WHEN {guard} THEN {case} END)"
        parts.append(case)
    return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"

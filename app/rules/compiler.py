"""Condition trees compiled to one parameterised SQL boolean expression over `versions AS v`.

Only allow-listed column names and fixed SQL text are written into the statement; every value
and every `data` key travels as a bound parameter. NULL carries "unknown", so SQL's own
three-valued AND/OR/NOT give the semantics of SPEC section 5.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from app.rules.models import (
    LIST_OPS,
    NULL_OPS,
    TEXT_OPS,
    AllOf,
    AnyOf,
    Condition,
    Leaf,
    Not,
    Op,
    Scalar,
    ValueKind,
)

# Columns a condition may read, as SQL over the alias `v`; nothing else reaches the statement.
_COLUMNS: dict[str, str] = {
    "confidence": "v.confidence",
    "similarity": "v.similarity",
    "version": "v.version",
    "entity_type": "v.entity_type",
    "source": "v.source",
}
_COMPARISONS: dict[Op, str] = {
    Op.EQ: "=",
    Op.NEQ: "<>",
    Op.GT: ">",
    Op.GTE: ">=",
    Op.LT: "<",
    Op.LTE: "<=",
}
_JSON_TYPES: dict[ValueKind, str] = {
    ValueKind.NUMBER: "number",
    ValueKind.STRING: "string",
    ValueKind.BOOLEAN: "boolean",
}


def like_pattern(op: Op, value: str) -> str:
    """The ILIKE pattern for a text op, with LIKE's own metacharacters taken literally."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if op is Op.STARTS_WITH:
        return escaped + "%"
    if op is Op.ENDS_WITH:
        return "%" + escaped
    return "%" + escaped + "%"


def as_numeric(value: Scalar) -> Decimal:
    """A JSON number as PostgreSQL's numeric reads it (floats by their shortest repr)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(int(value))


@dataclass
class SqlParams:
    """Bound values of one statement; `add` answers the placeholder to write in the SQL text."""

    first: int = 1
    values: list[Any] = field(default_factory=list)
    _now: str | None = None

    def add(self, value: Any, sql_type: str) -> str:
        self.values.append(value)
        return f"${self.first + len(self.values) - 1}::{sql_type}"

    def now(self, evaluated_at: Any) -> str:
        """The placeholder of the instant `age_hours` is measured at (bound once)."""
        if self._now is None:
            self._now = self.add(evaluated_at, "timestamptz")
        return self._now


@dataclass(frozen=True)
class CompileContext:
    params: SqlParams
    evaluated_at: Any  # the run's start: `age_hours` is measured against it


def _sql_type(kind: ValueKind, for_data: bool) -> str:
    if kind is ValueKind.STRING:
        return "text"
    if kind is ValueKind.BOOLEAN:
        return "boolean"
    if for_data:
        return "numeric"
    return "int4" if kind is ValueKind.INTEGER else "float8"


def _bind_value(value: Scalar, kind: ValueKind, for_data: bool) -> Any:
    if kind is ValueKind.STRING:
        return str(value)
    if kind is ValueKind.BOOLEAN:
        return bool(value)
    if for_data:
        return as_numeric(value)
    return int(value) if kind is ValueKind.INTEGER else float(value)


def _compare(leaf: Leaf, operand: str, kind: ValueKind, ctx: CompileContext, for_data: bool) -> str:
    """`operand <op> value` for a leaf whose operand is already of the value's type."""
    sql_type = _sql_type(kind, for_data)
    if leaf.op in TEXT_OPS:
        assert isinstance(leaf.value, str)  # noqa: S101 - validated by the model
        pattern = ctx.params.add(like_pattern(leaf.op, leaf.value), "text")
        matched = f"{operand} ILIKE {pattern}"
        return f"(NOT ({matched}))" if leaf.op is Op.NOT_CONTAINS else f"({matched})"
    if leaf.op in LIST_OPS:
        assert isinstance(leaf.value, list)  # noqa: S101 - validated by the model
        values = [_bind_value(item, kind, for_data) for item in leaf.value]
        array = ctx.params.add(values, sql_type + "[]")
        return f"({operand} = ANY({array}))" if leaf.op is Op.IN else f"({operand} <> ALL({array}))"
    assert leaf.value is not None and not isinstance(leaf.value, list)  # noqa: S101
    value = ctx.params.add(_bind_value(leaf.value, kind, for_data), sql_type)
    return f"({operand} {_COMPARISONS[leaf.op]} {value})"


def _compile_data_leaf(leaf: Leaf, path: list[str], ctx: CompileContext) -> str:
    path_param = ctx.params.add(path, "text[]")
    json_value = f"(v.data #> {path_param})"
    if leaf.op in NULL_OPS:
        missing = f"({json_value} IS NULL OR jsonb_typeof({json_value}) = 'null')"
        return missing if leaf.op is Op.IS_NULL else f"(NOT {missing})"
    kind = leaf.kind
    if kind is ValueKind.STRING:
        operand = f"(v.data #>> {path_param})"
    elif kind is ValueKind.BOOLEAN:
        operand = f"({json_value})::boolean"
    else:
        operand = f"({json_value})::numeric"
    # A value of another JSON type, like a missing one, is unknown: the CASE yields NULL.
    comparison = _compare(leaf, operand, kind, ctx, for_data=True)
    return f"(CASE WHEN jsonb_typeof({json_value}) = '{_JSON_TYPES[kind]}' THEN {comparison} END)"


def _compile_leaf(leaf: Leaf, ctx: CompileContext) -> str:
    path = leaf.path
    if path is not None:
        return _compile_data_leaf(leaf, path, ctx)
    if leaf.field == "age_hours":
        now = ctx.params.now(ctx.evaluated_at)
        operand = f"(extract(epoch FROM ({now} - v.created_at))::float8 / 3600.0)"
    else:
        operand = _COLUMNS[leaf.field]
    if leaf.op is Op.IS_NULL:
        return f"({operand} IS NULL)"
    if leaf.op is Op.IS_NOT_NULL:
        return f"({operand} IS NOT NULL)"
    return _compare(leaf, operand, leaf.kind, ctx, for_data=False)


def compile_condition(node: Condition, ctx: CompileContext) -> str:
    """One SQL boolean expression: TRUE, FALSE or NULL (unknown) for each row of `versions v`."""
    match node:
        case AllOf():
            return "(" + " AND ".join(compile_condition(c, ctx) for c in node.all_of) + ")"
        case AnyOf():
            return "(" + " OR ".join(compile_condition(c, ctx) for c in node.any_of) + ")"
        case Not():
            return f"(NOT {compile_condition(node.negated, ctx)})"
        case Leaf():
            return _compile_leaf(node, ctx)
    raise TypeError(f"not a condition: {node!r}")  # pragma: no cover - the union is closed


@dataclass(frozen=True)
class RuleToEvaluate:
    """The parts of a stored rule that evaluation needs."""

    id: int
    revision: int
    priority: int
    action: str
    name: str
    conditions: Condition


def evaluation_order(rules: Sequence[RuleToEvaluate]) -> list[RuleToEvaluate]:
    """Priority descending, then id ascending: the order in which rules see a version."""
    return sorted(rules, key=lambda rule: (-rule.priority, rule.id))


def compile_deciding_rule(rules: Sequence[RuleToEvaluate], ctx: CompileContext) -> str:
    """A SQL expression giving, per version, the 1-based position in `evaluation_order(rules)`
    of the first rule whose tree is TRUE, or NULL when none matches."""
    ordered = evaluation_order(rules)
    if not ordered:
        return "NULL::int4"
    branches = " ".join(
        f"WHEN {compile_condition(rule.conditions, ctx)} THEN {position}"
        for position, rule in enumerate(ordered, start=1)
    )
    return f"(CASE {branches} END)"


_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


def rules_from_snapshot(snapshot: Iterable[Mapping[str, Any]]) -> list[RuleToEvaluate]:
    """Rules from their stored form (a run's `rules` snapshot, or automation_rules rows with
    their conditions as JSON), in evaluation order."""
    return evaluation_order(
        [
            RuleToEvaluate(
                id=rule["id"],
                revision=rule["revision"],
                priority=rule["priority"],
                action=rule["action"],
                name=rule["name"],
                conditions=_CONDITION.validate_python(rule["conditions"]),
            )
            for rule in snapshot
        ]
    )

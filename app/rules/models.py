"""Condition trees and rule bodies, with every check of the rule language (SPEC section 5)."""

from __future__ import annotations

import enum
import math
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
    model_validator,
)

from app.validation import MAX_JSON_NUMBER, StorableText, storable_text

MAX_DEPTH = 8
MAX_LEAVES = 100
MAX_IN_VALUES = 1_000
MAX_STRING_VALUE = 1_000
INT4_MAX = 2**31 - 1

DATA_FIELD = re.compile(r"^data(\.[a-z_][a-z0-9_]*){1,2}$")


class Action(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ESCALATE = "escalate"


class Op(enum.StrEnum):
    EQ = "eq"
    NEQ = "neq"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    IS_NULL = "is_null"
    IS_NOT_NULL = "is_not_null"


ORDERING_OPS = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})
EQUALITY_OPS = frozenset({Op.EQ, Op.NEQ})
LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
TEXT_OPS = frozenset({Op.CONTAINS, Op.NOT_CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH})
NULL_OPS = frozenset({Op.IS_NULL, Op.IS_NOT_NULL})


class ValueKind(enum.StrEnum):
    """How a field's values compare: the kind decides the ops allowed and the SQL types bound."""

    SCORE = "score"  # a number in 0..1
    NUMBER = "number"  # any finite number
    INTEGER = "integer"
    STRING = "string"
    BOOLEAN = "boolean"


COLUMN_FIELDS: dict[str, ValueKind] = {
    "confidence": ValueKind.SCORE,
    "similarity": ValueKind.SCORE,
    "version": ValueKind.INTEGER,
    "age_hours": ValueKind.NUMBER,
    "entity_type": ValueKind.STRING,
    "source": ValueKind.STRING,
}
ENTITY_TYPES = ("topic", "atom")

_OPS_BY_KIND: dict[ValueKind, frozenset[Op]] = {
    ValueKind.SCORE: EQUALITY_OPS | ORDERING_OPS | LIST_OPS | NULL_OPS,
    ValueKind.NUMBER: EQUALITY_OPS | ORDERING_OPS | LIST_OPS | NULL_OPS,
    ValueKind.INTEGER: EQUALITY_OPS | ORDERING_OPS | LIST_OPS | NULL_OPS,
    ValueKind.STRING: EQUALITY_OPS | LIST_OPS | TEXT_OPS | NULL_OPS,
    ValueKind.BOOLEAN: EQUALITY_OPS | LIST_OPS | NULL_OPS,
}

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr


def data_path(field: str) -> list[str] | None:
    """The keys of a `data.<key>[.<key>]` field, or None for a column field."""
    if not field.startswith("data."):
        return None
    return field.split(".")[1:]


def _kind_of_data_value(value: Scalar) -> ValueKind:
    if isinstance(value, bool):
        return ValueKind.BOOLEAN
    if isinstance(value, int | float):
        return ValueKind.NUMBER
    return ValueKind.STRING


def _check_scalar(field: str, kind: ValueKind, value: Scalar) -> None:
    if kind is ValueKind.STRING:
        if not isinstance(value, str):
            raise ValueError(f"{field} compares text: the value must be a string")
        storable_text(value)
        if len(value) > MAX_STRING_VALUE:
            raise ValueError(f"a text value is at most {MAX_STRING_VALUE} characters")
        return
    if kind is ValueKind.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"{field} compares booleans: the value must be true or false")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field} compares numbers: the value must be a number")  # noqa: TRY004 - pydantic reports ValueError as a 422
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{field}: NaN and infinities are not values")
    _check_number_range(field, kind, value)


def _check_number_range(field: str, kind: ValueKind, value: float) -> None:
    """Refuse a number outside its field's range. The comparisons are Python's exact ones, made
    before any conversion: a JSON whole number may be far larger than a float can hold, and
    float() of it raises OverflowError."""
    if kind is ValueKind.INTEGER:
        if not isinstance(value, int) or not 0 <= value <= INT4_MAX:
            raise ValueError(f"{field} is a whole number from 0 to {INT4_MAX:,}")
    elif kind is ValueKind.SCORE:
        if not 0 <= value <= 1:
            # The hint's division is safe: the value is at most 100 there.
            hint = f" (did you mean {value / 100:g}?)" if 1 < value <= 100 else ""
            raise ValueError(f"{field} is a score from 0 to 1; the value is out of range{hint}")
    # Every other number fits a double, as a version's data does (age_hours is bound as float8).
    elif not -MAX_JSON_NUMBER <= value <= MAX_JSON_NUMBER:
        raise ValueError(f"{field} is a number from {-MAX_JSON_NUMBER:g} to {MAX_JSON_NUMBER:g}")


class Leaf(BaseModel):
    """One comparison: `{"field": "confidence", "op": "gte", "value": 0.9}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(max_length=200)
    op: Op
    value: Scalar | list[Scalar] | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _keep_numbers_finite(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, float) and not math.isfinite(item) for item in items):
            raise ValueError("NaN and infinities are not values")
        return value

    @model_validator(mode="after")
    def _check(self) -> Leaf:
        kind = self.kind
        if self.op not in _OPS_BY_KIND[kind]:
            raise ValueError(f"op {self.op.value!r} does not apply to {self.field} ({kind.value})")
        if self.op in NULL_OPS:
            if self.value is not None:
                raise ValueError(f"op {self.op.value!r} takes no value")
            return self
        if self.op in LIST_OPS:
            self._check_list(kind)
            return self
        if self.value is None or isinstance(self.value, list):
            raise ValueError(f"op {self.op.value!r} needs one value")
        _check_scalar(self.field, kind, self.value)
        if self.field == "entity_type" and self.op in EQUALITY_OPS:
            _check_entity_type(self.value)
        return self

    def _check_list(self, kind: ValueKind) -> None:
        if not isinstance(self.value, list):
            raise ValueError(f"op {self.op.value!r} needs a list of values")  # noqa: TRY004 - as above
        if not self.value:
            raise ValueError(f"op {self.op.value!r} needs at least one value")
        if len(self.value) > MAX_IN_VALUES:
            raise ValueError(f"an {self.op.value!r} list holds at most {MAX_IN_VALUES} values")
        for item in self.value:
            _check_scalar(self.field, kind, item)
            if self.field == "entity_type":
                _check_entity_type(item)

    @property
    def kind(self) -> ValueKind:
        """How this leaf compares: a column's own kind, or a data key's by the value's JSON type."""
        if self.field in COLUMN_FIELDS:
            return COLUMN_FIELDS[self.field]
        if not DATA_FIELD.match(self.field):
            raise ValueError(
                f"unknown field {self.field!r}: use one of {', '.join(COLUMN_FIELDS)}, "
                "data.<key> or data.<key>.<key> (keys of a-z, 0-9 and _)"
            )
        sample = self.value[0] if isinstance(self.value, list) and self.value else self.value
        if sample is None or isinstance(sample, list):
            return ValueKind.STRING  # is_null / is_not_null: every op below is allowed
        kind = _kind_of_data_value(sample)
        if kind is ValueKind.STRING and self.op in ORDERING_OPS:
            raise ValueError(f"op {self.op.value!r} compares numbers; {self.field} got text")
        if kind is ValueKind.BOOLEAN and self.op in ORDERING_OPS | TEXT_OPS:
            raise ValueError(f"op {self.op.value!r} does not apply to true/false")
        return ValueKind.NUMBER if self.op in ORDERING_OPS else kind

    @property
    def path(self) -> list[str] | None:
        return data_path(self.field)


def _check_entity_type(value: Scalar) -> None:
    if value not in ENTITY_TYPES:
        raise ValueError(f"entity_type is one of {', '.join(ENTITY_TYPES)}; got {value!r}")


class AllOf(BaseModel):
    """True when every child is true; false when one is false; otherwise unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    all_of: list[Condition] = Field(alias="all", min_length=1)


class AnyOf(BaseModel):
    """True when one child is true; false when every child is false; otherwise unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    any_of: list[Condition] = Field(alias="any", min_length=1)


class Not(BaseModel):
    """The negation of its child; unknown stays unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    negated: Condition = Field(alias="not")


def _node_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("all", "any", "not"):
            if key in value:
                return key
        return "leaf"
    tags: tuple[tuple[type[BaseModel], str], ...] = (
        (AllOf, "all"),
        (AnyOf, "any"),
        (Not, "not"),
        (Leaf, "leaf"),
    )
    return next((tag for cls, tag in tags if isinstance(value, cls)), None)


Condition = Annotated[
    Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Not, Tag("not")]
    | Annotated[Leaf, Tag("leaf")],
    Discriminator(
        _node_tag,
        custom_error_type="condition",
        custom_error_message=(
            'a condition is {"all": [...]}, {"any": [...]}, {"not": {...}} '
            'or {"field": ..., "op": ..., "value": ...}'
        ),
    ),
]


def children(node: Condition) -> list[Condition]:
    match node:
        case AllOf():
            return list(node.all_of)
        case AnyOf():
            return list(node.any_of)
        case Not():
            return [node.negated]
        case _:
            return []


def depth(node: Condition) -> int:
    """Levels of the tree: a lone leaf is 1."""
    return 1 + max((depth(child) for child in children(node)), default=0)


def leaves(node: Condition) -> list[Leaf]:
    """The tree's comparisons, left to right."""
    if isinstance(node, Leaf):
        return [node]
    return [leaf for child in children(node) for leaf in leaves(child)]


def check_tree_size(node: Condition) -> Condition:
    """Refuse trees deeper or wider than the language allows."""
    if (found := depth(node)) > MAX_DEPTH:
        raise ValueError(f"conditions are at most {MAX_DEPTH} levels deep; this tree has {found}")
    if (count := len(leaves(node))) > MAX_LEAVES:
        raise ValueError(f"conditions hold at most {MAX_LEAVES} comparisons; this tree has {count}")
    return node


class RuleBody(BaseModel):
    """What an admin writes: a rule without its id, revision and timestamps."""

    model_config = ConfigDict(extra="forbid")

    name: StorableText = Field(min_length=1, max_length=200)
    description: StorableText = Field(default="", max_length=2_000)
    enabled: bool = True
    priority: int = Field(ge=0, le=1000)
    action: Action
    conditions: Condition

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value

    @field_validator("conditions", mode="after")
    @classmethod
    def _bounded(cls, value: Condition) -> Condition:
        return check_tree_size(value)


def dump_conditions(node: Condition) -> dict[str, Any]:
    """The tree as JSON, in the spelling admins write (`all`, `any`, `not`)."""
    dumped: dict[str, Any] = node.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()
RuleBody.model_rebuild()

__all__ = [
    "Action",
    "AllOf",
    "AnyOf",
    "Condition",
    "Leaf",
    "Not",
    "Op",
    "RuleBody",
    "ValueKind",
]

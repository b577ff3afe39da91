"""The rule editor's form: a condition tree as plain form fields named by path, and back.

A node at path `c.0.1` (the root is `c`) sends `c.0.1.kind` (`all`, `any`, `not` or `leaf`);
a leaf also sends `.field`, `.key` (the data key when the field is `data`), `.op` and
`.value`, typed as text. The editor keeps a draft that may be invalid (a score of 80, an
empty group): the draft becomes the JSON the API takes, and the rule language's own models
(app.rules.models) judge it, so the console refuses what the API refuses, in its words.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.rules.models import (
    COLUMN_FIELDS,
    LIST_OPS,
    NULL_OPS,
    AllOf,
    AnyOf,
    Condition,
    Leaf,
    Not,
    Op,
    RuleBody,
    ValueKind,
)

ROOT = "c"
GROUP_KINDS = ("all", "any", "not")
DATA = "data"
FIELD_CHOICES = (*COLUMN_FIELDS, DATA)  # the language's allow-list; `data` takes a key
OP_CHOICES = tuple(op.value for op in Op)
NUMERIC_KINDS = frozenset({ValueKind.SCORE, ValueKind.NUMBER, ValueKind.INTEGER})
# Parsing stops here: deeper or wider drafts than the language allows are refused by it
# anyway, and a form cannot make the server walk an unbounded tree.
MAX_DRAFT_DEPTH = 12
MAX_DRAFT_CHILDREN = 200
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass
class DraftNode:
    """One node of a condition tree being edited (possibly not valid yet)."""

    kind: str = "leaf"
    field: str = "confidence"
    key: str = ""
    op: str = "gte"
    value: str = ""
    children: list[DraftNode] = dataclasses.field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return self.kind in GROUP_KINDS


def new_leaf() -> DraftNode:
    return DraftNode(kind="leaf", field="confidence", op="gte", value="0.5")


def new_group(kind: str = "all") -> DraftNode:
    return DraftNode(kind=kind, children=[new_leaf()])


# --- the draft from a stored tree, and the form's fields from a draft ---------------------------


def draft_of(node: Condition) -> DraftNode:
    """The editor's draft of a valid tree (a rule's or a template's)."""
    match node:
        case AllOf():
            return DraftNode(kind="all", children=[draft_of(c) for c in node.all_of])
        case AnyOf():
            return DraftNode(kind="any", children=[draft_of(c) for c in node.any_of])
        case Not():
            return DraftNode(kind="not", children=[draft_of(node.negated)])
        case Leaf():
            path = node.path
            return DraftNode(
                kind="leaf",
                field=DATA if path else node.field,
                key=".".join(path) if path else "",
                op=node.op.value,
                value=value_text(node.field, node.value),
            )
    raise TypeError(node)  # pragma: no cover - the union is exhaustive


def value_text(field_name: str, value: Any) -> str:
    """How a leaf's value is typed in the editor; `parse_value` reads it back unchanged."""
    if value is None:
        return ""
    if isinstance(value, list):
        items = [_scalar_text(field_name, item) for item in value]
        if all("," not in item and item == item.strip() and item for item in items):
            return ", ".join(items)
        return json.dumps(value, ensure_ascii=False)
    return _scalar_text(field_name, value)


def _scalar_text(field_name: str, value: Any) -> str:
    if isinstance(value, str):
        if field_name in COLUMN_FIELDS or not _reads_as_json(value):
            return value
        return json.dumps(value, ensure_ascii=False)  # a data text that looks like a number
    return json.dumps(value)


def _reads_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# --- the form back into a draft, and a draft into the API's JSON --------------------------------


def parse_tree(form: Mapping[str, Any]) -> DraftNode:
    """The draft the form describes (a group of one empty condition when it has none)."""
    children: dict[str, list[int]] = {}
    for name in form:
        if not isinstance(name, str) or not name.endswith(".kind"):
            continue
        parent, _, index = name[: -len(".kind")].rpartition(".")
        if index.isdigit() and len(index) <= 4:
            children.setdefault(parent, []).append(int(index))
    if _text(form, f"{ROOT}.kind") == "":
        return new_group()
    return _parse_node(form, ROOT, children, 0)


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _parse_node(
    form: Mapping[str, Any], path: str, children: dict[str, list[int]], depth: int
) -> DraftNode:
    kind = _text(form, f"{path}.kind")
    if kind in GROUP_KINDS:
        node = DraftNode(kind=kind)
        if depth < MAX_DRAFT_DEPTH:
            indices = sorted(set(children.get(path, [])))[:MAX_DRAFT_CHILDREN]
            node.children = [_parse_node(form, f"{path}.{i}", children, depth + 1) for i in indices]
        return node
    return DraftNode(
        kind="leaf",
        field=_text(form, f"{path}.field"),
        key=_text(form, f"{path}.key").strip(),
        op=_text(form, f"{path}.op"),
        value=_text(form, f"{path}.value"),
    )


def tree_json(node: DraftNode) -> dict[str, Any]:
    """The draft as the API's JSON condition tree (not yet validated)."""
    if node.kind == "not":
        # A `not` takes one node: with more (or none) the language's own check says so.
        inner: Any = tree_json(node.children[0]) if len(node.children) == 1 else []
        if len(node.children) > 1:
            inner = [tree_json(child) for child in node.children]
        return {"not": inner}
    if node.is_group:
        return {node.kind: [tree_json(child) for child in node.children]}
    name = f"{DATA}.{node.key}" if node.field == DATA else node.field
    value = parse_value(name, node.op, node.value)
    leaf: dict[str, Any] = {"field": name, "op": node.op}
    return leaf if value is None else {**leaf, "value": value}


def parse_value(field_name: str, op: str, text: str) -> Any:
    """The typed value of a leaf: numbers for numeric fields, a list for in / not in (commas,
    or a JSON list), JSON literals for data fields (`"123"` quoted stays text)."""
    if op in {o.value for o in NULL_OPS}:
        return None
    if op in {o.value for o in LIST_OPS}:
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                loaded = json.loads(stripped)
            except ValueError:
                return text  # the language says a list is needed
            return loaded
        return [_scalar(field_name, item.strip()) for item in stripped.split(",") if item.strip()]
    return _scalar(field_name, text)


def _scalar(field_name: str, text: str) -> Any:
    kind = COLUMN_FIELDS.get(field_name)
    if kind is ValueKind.STRING:
        return text
    if kind in NUMERIC_KINDS:
        return _number(text)
    try:
        loaded = json.loads(text)
    except ValueError:
        return text
    return loaded if isinstance(loaded, str | int | float | bool) or loaded is None else text


def _number(text: str) -> Any:
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        digits = sys.get_int_max_str_digits()
        if len(stripped.lstrip("+-")) > digits:
            # int() refuses so many digits. Such a number is past every field's range, and
            # so is this stand-in: the language then names the range, as it does for the API.
            return -(10**digits) if stripped.startswith("-") else 10**digits
        return int(stripped)
    try:
        return float(stripped)  # NaN and infinities too: the language refuses them
    except ValueError:
        return text  # the language says a number is needed


# --- structural edits ---------------------------------------------------------------------------


def node_at(root: DraftNode, path: str) -> DraftNode | None:
    node = root
    for part in path.split(".")[1:]:
        if not part.isdigit() or int(part) >= len(node.children):
            return None
        node = node.children[int(part)]
    return node


def apply_edit(root: DraftNode, edit: str) -> tuple[str, str]:
    """Apply `verb:path` (add-leaf, add-group, remove) to the draft in place; answers the path
    to focus afterwards and what happened (`added`, `removed`, or "" when nothing did)."""
    verb, _, path = edit.partition(":")
    target = node_at(root, path) if path.startswith(ROOT) else None
    if target is None:
        return "", ""
    if verb in ("add-leaf", "add-group") and target.is_group:
        target.children.append(new_leaf() if verb == "add-leaf" else new_group())
        return f"{path}.{len(target.children) - 1}", "added"
    if verb == "remove" and path != ROOT:
        parent_path = path.rpartition(".")[0]
        parent = node_at(root, parent_path)
        assert parent is not None  # noqa: S101 - the child was found under it
        del parent.children[int(path.rpartition(".")[2])]
        return parent_path, "removed"
    return "", ""


# --- judging a whole rule -----------------------------------------------------------------------


@dataclass
class Problem:
    """One refusal by the rule language, with the API's location and words."""

    loc: tuple[str | int, ...]
    msg: str

    @property
    def where(self) -> str:
        """The form's name for the place: `name`, `priority`, or a node's path (`c.0.1`)."""
        if not self.loc or self.loc[0] != "conditions":
            return str(self.loc[0]) if self.loc else ""
        return node_path(self.loc[1:])

    @property
    def api_loc(self) -> str:
        return ".".join(str(part) for part in ("body", *self.loc))


def node_path(loc: tuple[str | int, ...]) -> str:
    """The editor path of a location inside `conditions`: pydantic names each node's tag,
    then its key (`all`, `all`, 0, `leaf`, ...)."""
    path, rest = ROOT, list(loc)
    while len(rest) >= 2 and rest[0] in GROUP_KINDS:
        tag = rest.pop(0)
        rest.pop(0)  # the key, spelled as the tag
        if tag == "not":
            if not rest:
                break  # about the `not` itself (none or several children)
            path += ".0"
        elif rest and isinstance(rest[0], int):
            path += f".{rest.pop(0)}"
        else:
            break
    return path


def judge(body: dict[str, Any]) -> tuple[RuleBody | None, list[Problem]]:
    """The rule body, or the rule language's problems with it (the API's 422 details)."""
    try:
        return RuleBody.model_validate(body), []
    except ValidationError as exc:
        problems = [Problem(loc=tuple(e["loc"]), msg=e["msg"]) for e in exc.errors()]
        return None, problems

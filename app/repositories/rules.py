"""Automation rules: rows with revisions; deletion is soft."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.db import Connection
from app.errors import NotFoundError
from app.models import Rule
from app.repositories import fetch_all, translated_errors
from app.rules.models import RuleBody, dump_conditions
from app.sql import queries

# What an admin writes: the columns insert_rule and update_rule take, the body `rules export`
# prints.
BODY_FIELDS = ("name", "description", "enabled", "priority", "action", "conditions")
# What a run fixes at its first claim (automation_runs.rules, read by rules_from_snapshot).
SNAPSHOT_FIELDS = ("id", "name", "revision", "priority", "action", "conditions")


def rule_dict(rule: Rule | RuleBody, fields: Sequence[str] = BODY_FIELDS) -> dict[str, Any]:
    """The rule's `fields`, in that order, as JSON values: the action's value, the conditions
    as stored."""
    values: dict[str, Any] = {}
    for name in fields:
        value = getattr(rule, name)
        if name == "action":
            value = value.value
        elif name == "conditions":
            value = dump_conditions(value)
        values[name] = value
    return values


def _columns(body: RuleBody) -> dict[str, Any]:
    return rule_dict(body)


def _duplicate(body: RuleBody) -> str:
    return f"a rule named {body.name!r} already exists"


async def insert_rule(conn: Connection, body: RuleBody) -> Rule:
    with translated_errors(_duplicate(body)):
        row = await queries.insert_rule(conn, **_columns(body))
    return Rule.model_validate(dict(row))


async def get_rule(conn: Connection, rule_id: int, *, lock: bool = False) -> Rule:
    """A rule by id, deleted or not; `lock` holds it until the transaction ends."""
    query = queries.lock_rule if lock else queries.get_rule
    row = await query(conn, id=rule_id)
    if row is None:
        raise NotFoundError(f"rule {rule_id} does not exist")
    return Rule.model_validate(dict(row))


async def list_rules(
    conn: Connection,
    *,
    after: tuple[int, int] | None,
    include_deleted: bool,
    limit: int,
) -> list[Rule]:
    """Rules in evaluation order, after the (priority, id) cursor `after`."""
    rows = await fetch_all(
        queries.list_rules(
            conn,
            after_priority=after[0] if after else None,
            after_id=after[1] if after else None,
            include_deleted=include_deleted,
            limit=limit,
        )
    )
    return [Rule.model_validate(dict(row)) for row in rows]


async def list_enabled_rules(conn: Connection) -> list[Rule]:
    """Every enabled, live rule, in evaluation order."""
    rows = await fetch_all(queries.list_enabled_rules(conn))
    return [Rule.model_validate(dict(row)) for row in rows]


async def update_rule(conn: Connection, rule_id: int, body: RuleBody) -> Rule:
    with translated_errors(_duplicate(body)):
        row = await queries.update_rule(conn, id=rule_id, **_columns(body))
    if row is None:
        raise NotFoundError(f"rule {rule_id} does not exist")
    return Rule.model_validate(dict(row))


async def delete_rule(conn: Connection, rule_id: int) -> Rule:
    row = await queries.delete_rule(conn, id=rule_id)
    if row is None:
        raise NotFoundError(f"rule {rule_id} does not exist")
    return Rule.model_validate(dict(row))


async def get_live_rule_by_name(conn: Connection, name: str) -> Rule | None:
    row = await queries.get_live_rule_by_name(conn, name=name)
    return Rule.model_validate(dict(row)) if row is not None else None

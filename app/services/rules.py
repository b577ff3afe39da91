"""Rule management: every change raises the revision by one and is audited with before/after."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.db import Connection, Pool, transaction
from app.errors import ConflictError
from app.models import Rule
from app.repositories import audit
from app.repositories import rules as rule_repo
from app.rules.models import RuleBody


def _snapshot(rule: Rule) -> dict[str, Any]:
    return rule.model_dump(mode="json", by_alias=True)


async def _audit(conn: Connection, actor: str, action: str, rule: Rule, **details: Any) -> None:
    await audit.insert_audit_entry(
        conn,
        actor=actor,
        action=action,
        rule_id=rule.id,
        rule_revision=rule.revision,
        details=details,
    )


async def create_rule(pool: Pool, body: RuleBody, actor: str) -> Rule:
    async with transaction(pool) as conn:
        rule = await rule_repo.insert_rule(conn, body)
        await _audit(conn, actor, "rule.create", rule, after=_snapshot(rule))
    return rule


async def _change_rule(
    pool: Pool, rule_id: int, actor: str, change: Callable[[RuleBody], RuleBody], what: str
) -> Rule:
    async with transaction(pool) as conn:
        before = await rule_repo.get_rule(conn, rule_id, lock=True)
        if before.deleted_at is not None:
            raise ConflictError(f"rule {rule_id} was deleted; create a new rule instead")
        body = change(before.body())
        if body.model_dump(mode="json") == before.body().model_dump(mode="json"):
            return before  # a change that changes nothing keeps the revision
        after = await rule_repo.update_rule(conn, rule_id, body)
        await _audit(
            conn,
            actor,
            "rule.update",
            after,
            change=what,
            before=_snapshot(before),
            after=_snapshot(after),
        )
    return after


async def update_rule(pool: Pool, rule_id: int, body: RuleBody, actor: str) -> Rule:
    return await _change_rule(pool, rule_id, actor, lambda _: body, "update")


async def set_rule_enabled(pool: Pool, rule_id: int, enabled: bool, actor: str) -> Rule:
    return await _change_rule(
        pool,
        rule_id,
        actor,
        lambda body: body.model_copy(update={"enabled": enabled}),
        "enable" if enabled else "disable",
    )


async def delete_rule(pool: Pool, rule_id: int, actor: str) -> Rule:
    async with transaction(pool) as conn:
        before = await rule_repo.get_rule(conn, rule_id, lock=True)
        if before.deleted_at is not None:
            raise ConflictError(f"rule {rule_id} was already deleted")
        after = await rule_repo.delete_rule(conn, rule_id)
        await _audit(
            conn, actor, "rule.delete", after, before=_snapshot(before), after=_snapshot(after)
        )
    return after


async def apply_rules(pool: Pool, bodies: list[RuleBody], actor: str) -> list[tuple[str, str]]:
    """Make the live rules match `bodies`, by name: create the missing, update the changed,
    leave the rest (rules not named are kept). Answers (name, created|updated|unchanged)."""
    outcomes = []
    for body in bodies:
        async with pool.acquire() as conn:
            existing = await rule_repo.get_live_rule_by_name(conn, body.name)
        if existing is None:
            await create_rule(pool, body, actor)
            outcomes.append((body.name, "created"))
            continue
        after = await update_rule(pool, existing.id, body, actor)
        outcomes.append(
            (body.name, "unchanged" if after.revision == existing.revision else "updated")
        )
    return outcomes

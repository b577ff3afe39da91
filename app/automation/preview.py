"""What a rule would do to the pending versions now, from the same compiled SQL as a run:
how many it matches, how many it would decide, which enabled higher-priority rules take the
rest (shadowing), and a sample."""

from __future__ import annotations

import datetime as dt

from app.db import Pool, transaction
from app.errors import ConflictError
from app.models import PreviewAnswer, Shadowing, Version
from app.repositories import rules as rule_repo
from app.rules.compiler import (
    CompileContext,
    RuleToEvaluate,
    SqlParams,
    compile_condition,
    compile_deciding_rule,
    evaluation_order,
)
from app.rules.models import RuleBody
from app.sql import queries

# An unsaved rule sorts after every saved rule of its priority, as it would once created.
UNSAVED_RULE_ID = 2**31 - 1


async def preview_rule(
    pool: Pool, *, body: RuleBody | None, rule_id: int | None, timeout_seconds: float
) -> PreviewAnswer:
    """Preview an unsaved rule (`body`) or a stored one (`rule_id`, enabled or not) among the
    enabled rules, as a run starting now would evaluate them."""
    async with transaction(pool) as conn:
        # A preview reads every pending version: bound it like a run.
        await conn.execute(
            "SELECT set_config('statement_timeout', $1, true)", str(int(timeout_seconds * 1000))
        )
        enabled = await rule_repo.list_enabled_rules(conn)
        if rule_id is not None:
            stored = await rule_repo.get_rule(conn, rule_id)
            if stored.deleted_at is not None:
                raise ConflictError(f"rule {rule_id} was deleted")
            candidate = stored.to_evaluate()
        else:
            assert body is not None  # noqa: S101 - one of the two, checked by the route
            candidate = RuleToEvaluate(
                id=UNSAVED_RULE_ID,
                revision=0,
                priority=body.priority,
                action=body.action.value,
                name=body.name,
                conditions=body.conditions,
            )
        rules = evaluation_order(
            [r for r in (rule.to_evaluate() for rule in enabled) if r.id != candidate.id]
            + [candidate]
        )
        position = rules.index(candidate) + 1
        at = dt.datetime.now(dt.UTC)

        counted = CompileContext(SqlParams(first=1), at)
        statement = queries.preview_rule_positions.sql.replace(
            "{candidate}", compile_condition(candidate.conditions, counted)
        ).replace("{deciding_rule}", compile_deciding_rule(rules, counted))
        per_position = {
            row["position"]: row["versions"]
            for row in await conn.fetch(
                statement, *counted.params.values, timeout=timeout_seconds + 5
            )
        }

        sampled = CompileContext(SqlParams(first=2), at)
        statement = queries.preview_rule_sample.sql.replace(
            "{deciding_rule}", compile_deciding_rule(rules, sampled)
        )
        sample = await conn.fetch(
            statement, position, *sampled.params.values, timeout=timeout_seconds + 5
        )
    return PreviewAnswer(
        matched=sum(per_position.values()),
        would_decide=per_position.get(position, 0),
        shadowed_by=[
            Shadowing(rule_id=rules[p - 1].id, name=rules[p - 1].name, count=n)
            for p, n in sorted(per_position.items())
            if p != position
        ],
        sample=[Version.model_validate(dict(row)) for row in sample],
    )

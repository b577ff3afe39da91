"""Why a version was or was not decided: every enabled rule in evaluation order, each node of
its tree with its outcome, and the rule that decides it. The Python evaluator is the
reference the compiled SQL is tested against, so its answer is the run's answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from app.db import Pool
from app.models import ConditionOutcome, Explanation, RuleExplanation, RuleRef, Version
from app.repositories import rules as rule_repo
from app.repositories import versions as version_repo
from app.rules.compiler import RuleToEvaluate, evaluation_order
from app.rules.evaluator import VersionFacts, evaluate, leaf_operand
from app.rules.models import AllOf, AnyOf, Condition, Leaf, Not
from app.rules.ruleset import to_evaluate

_OUTCOME = {True: "true", False: "false", None: "unknown"}


def _facts(version: Version) -> VersionFacts:
    return VersionFacts(
        entity_type=version.entity_type.value,
        entity_id=version.entity_id,
        version=version.version,
        confidence=version.confidence,
        similarity=version.similarity,
        source=version.source,
        data=version.data,
        created_at=version.created_at,
    )


def _walk(
    node: Condition, path: str, facts: VersionFacts, at: dt.datetime
) -> list[ConditionOutcome]:
    """The node and its descendants, depth first, each with its outcome."""
    outcome = _OUTCOME[evaluate(node, facts, at)]
    match node:
        case Leaf():
            return [
                ConditionOutcome(
                    path=path,
                    node="leaf",
                    field=node.field,
                    op=node.op.value,
                    value=node.value,
                    actual=leaf_operand(node, facts, at),
                    outcome=outcome,
                )
            ]
        case AllOf() | AnyOf():
            tag, children = (
                ("all", node.all_of) if isinstance(node, AllOf) else ("any", node.any_of)
            )
            here = ConditionOutcome(path=path, node=tag, outcome=outcome)
            prefix = f"{path}." if path else ""
            return [here] + [
                item
                for index, child in enumerate(children)
                for item in _walk(child, f"{prefix}{tag}[{index}]", facts, at)
            ]
        case Not():
            here = ConditionOutcome(path=path, node="not", outcome=outcome)
            prefix = f"{path}." if path else ""
            return [here, *_walk(node.negated, f"{prefix}not", facts, at)]
    raise TypeError(f"not a condition: {node!r}")  # pragma: no cover - the union is closed


async def explain_version(pool: Pool, version_id: int) -> Explanation:
    """The explanation as of now (age_hours measured now). For a version already decided it
    says what the enabled rules would make of it today; `decided_by` tells what did."""
    async with pool.acquire() as conn:
        version = await version_repo.get_version(conn, version_id)
        rules = [to_evaluate(rule) for rule in await rule_repo.list_enabled_rules(conn)]
    return explain(version, rules, dt.datetime.now(dt.UTC))


def explain(version: Version, rules: Sequence[RuleToEvaluate], at: dt.datetime) -> Explanation:
    """What the enabled `rules` make of `version` at the instant `at` (for a page of versions,
    the rules are read once and each version explained with them)."""
    facts = _facts(version)
    explained = []
    deciding: RuleRef | None = None
    for rule in evaluation_order(rules):
        result = evaluate(rule.conditions, facts, at)
        if result is True and deciding is None:
            deciding = RuleRef(rule_id=rule.id, name=rule.name)
        explained.append(
            RuleExplanation(
                rule_id=rule.id,
                name=rule.name,
                priority=rule.priority,
                action=rule.action,
                outcome=_OUTCOME[result],
                conditions=_walk(rule.conditions, "", facts, at),
            )
        )
    return Explanation(
        version_id=version.id,
        status=version.status,
        decided_by=version.decided_by,
        evaluated_at=at,
        rules=explained,
        deciding_rule=deciding,
    )

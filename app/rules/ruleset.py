"""A rule set as evaluation sees it: each stored rule reduced to what deciding needs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from app.rules.compiler import RuleToEvaluate
from app.rules.models import Action, Condition, leaves

# Part of a run's rules digest (automation_runs.rules_digest): raise it with any change to
# the rule language, the compiler or the evaluator that can change a decision, so that the
# first run after the deploy evaluates every pending version again (docs/performance.md,
# "What a run evaluates").
EVALUATION_REVISION = 1


class StoredRule(Protocol):
    """What a stored rule (app.models.Rule) carries that evaluation reads."""

    @property
    def id(self) -> int: ...
    @property
    def revision(self) -> int: ...
    @property
    def priority(self) -> int: ...
    @property
    def action(self) -> Action: ...
    @property
    def name(self) -> str: ...
    @property
    def conditions(self) -> Condition: ...


def to_evaluate(rule: StoredRule) -> RuleToEvaluate:
    """The parts of a stored rule that evaluation needs."""
    return RuleToEvaluate(
        id=rule.id,
        revision=rule.revision,
        priority=rule.priority,
        action=rule.action.value,
        name=rule.name,
        conditions=rule.conditions,
    )


def age_thresholds(conditions: Iterable[Condition]) -> list[float]:
    """Every constant the rules' `age_hours` leaves compare with, whatever the op, in hours:
    a version's answer to such a leaf can change with time alone only when its age passes
    one of them (docs/performance.md, "What a run evaluates")."""
    found: set[float] = set()
    for tree in conditions:
        for leaf in leaves(tree):
            if leaf.field != "age_hours" or leaf.value is None:
                continue
            values = leaf.value if isinstance(leaf.value, list) else [leaf.value]
            found.update(
                float(value)
                for value in values
                if isinstance(value, int | float) and not isinstance(value, bool)
            )
    return sorted(found)

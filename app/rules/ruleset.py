"""A rule set as evaluation sees it: each stored rule reduced to what deciding needs."""

from __future__ import annotations

from typing import Protocol

from app.rules.compiler import RuleToEvaluate
from app.rules.models import Action, Condition


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

"""The five rule templates of SPEC section 5: ready rule bodies an admin starts from. They
come disabled, so that a rule made from one is previewed before it decides anything."""

from __future__ import annotations

from typing import Any

from app.rules.models import RuleBody

_TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "High Confidence",
        "description": "Approve what the model is sure of and that closely matches.",
        "enabled": False,
        "priority": 90,
        "action": "approve",
        "conditions": {
            "all": [
                {"field": "confidence", "op": "gte", "value": 0.9},
                {"field": "similarity", "op": "gte", "value": 0.85},
            ]
        },
    },
    {
        "name": "Low Confidence Reject",
        "description": "Reject what the model doubts or what barely matches.",
        "enabled": False,
        "priority": 80,
        "action": "reject",
        "conditions": {
            "any": [
                {"field": "confidence", "op": "lt", "value": 0.5},
                {"field": "similarity", "op": "lt", "value": 0.3},
            ]
        },
    },
    {
        "name": "High Similarity",
        "description": "Approve near-duplicates of what exists.",
        "enabled": False,
        "priority": 70,
        "action": "approve",
        "conditions": {"all": [{"field": "similarity", "op": "gte", "value": 0.95}]},
    },
    {
        "name": "Moderate Quality Escalate",
        "description": "Send middling confidence to a person.",
        "enabled": False,
        "priority": 60,
        "action": "escalate",
        "conditions": {
            "all": [
                {"field": "confidence", "op": "gte", "value": 0.6},
                {"field": "confidence", "op": "lt", "value": 0.8},
            ]
        },
    },
    {
        "name": "Urgent Topic Escalate",
        "description": "Send anything named urgent to a person.",
        "enabled": False,
        "priority": 100,
        "action": "escalate",
        "conditions": {"all": [{"field": "data.name", "op": "contains", "value": "urgent"}]},
    },
]

TEMPLATES: list[RuleBody] = [RuleBody.model_validate(template) for template in _TEMPLATES]

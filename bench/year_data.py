"""What `make bench --year` submits: its rules and its versions, built as the JSON bodies of
`POST /api/v1/versions` (batches of up to 10,000 items).

The versions fall into bands by their index, so that the rules below leave exactly the
shares the issue describes: 1% escalated, 3% pending that no rule decides, the rest approved
or rejected (by four rules of different shapes)."""

from __future__ import annotations

import random
from typing import Any

# Bands of an index i by i % 100: 0 is escalated, 1-3 stay pending, the rest are decided.
ESCALATED_SHARE = 0.01
PENDING_SHARE = 0.03

YEAR_RULES: list[dict[str, Any]] = [
    {
        "name": "Very Low Confidence Escalate",
        "priority": 90,
        "action": "escalate",
        "conditions": {"field": "confidence", "op": "lt", "value": 0.01},
    },
    {
        "name": "Draft Reject",
        "priority": 80,
        "action": "reject",
        "conditions": {
            "all": [
                {"field": "data.type", "op": "eq", "value": "draft"},
                {"field": "confidence", "op": "gte", "value": 0.04},
            ]
        },
    },
    {
        "name": "High Confidence Approve",
        "priority": 70,
        "action": "approve",
        "conditions": {
            "all": [
                {"field": "confidence", "op": "gte", "value": 0.7},
                {"field": "similarity", "op": "gte", "value": 0.5},
            ]
        },
    },
    {
        "name": "Trusted Topic Approve",
        "priority": 60,
        "action": "approve",
        "conditions": {
            "all": [
                {"field": "entity_type", "op": "eq", "value": "topic"},
                {"field": "source", "op": "in", "value": ["editor", "import"]},
                {"field": "confidence", "op": "gte", "value": 0.3},
            ]
        },
    },
    {
        "name": "Confident Approve",
        "priority": 50,
        "action": "approve",
        "conditions": {"field": "confidence", "op": "gte", "value": 0.4},
    },
    {
        "name": "Weak Reject",
        "priority": 40,
        "action": "reject",
        "conditions": {
            "all": [
                {"field": "confidence", "op": "gte", "value": 0.04},
                {"field": "confidence", "op": "lt", "value": 0.4},
            ]
        },
    },
]

# An unsaved rule for the preview: it matches part of the pending band (0.01 <= c < 0.04).
PREVIEW_RULE: dict[str, Any] = {
    "name": "Preview: low band approve",
    "priority": 95,
    "action": "approve",
    "conditions": {
        "all": [
            {"field": "confidence", "op": "gte", "value": 0.02},
            {"field": "confidence", "op": "lt", "value": 0.03},
        ]
    },
}

SOURCES = ["llm", "llm", "llm", "editor", "import"]
TYPES = ["fact", "fact", "note", "draft", "summary", "fact", "note", "fact", "summary", "fact"]
WORDS = ["kickoff", "roadmap", "urgent fix", "retro", "budget", "release notes", "hiring"]
VERSIONS_PER_ENTITY = 4  # consecutive indexes share an entity: versions 1..4 of it


def _confidence(rng: random.Random, index: int) -> float:
    band = index % 100
    if band == 0:
        return rng.uniform(0.0, 0.0099)
    if band <= 3:
        return rng.uniform(0.0101, 0.0399)
    return rng.uniform(0.0401, 1.0)


def batch_body(first: int, count: int, salt: str = "") -> bytes:
    """The JSON body of one `POST /api/v1/versions` batch: versions `first` .. `first+count-1`
    (their bands by index), written as text directly (the api validates it as it would any
    client's). `salt` keeps entity ids of later submissions apart from the build's."""
    rng = random.Random(first)  # noqa: S311 - test data, not secrets
    parts = []
    for i in range(first, first + count):
        entity_type = "topic" if (i // VERSIONS_PER_ENTITY) % 5 < 2 else "atom"
        similarity = "null" if rng.random() < 0.2 else f"{rng.betavariate(4, 2):.6f}"
        parts.append(
            f'{{"entity_type":"{entity_type}",'
            f'"entity_id":"{entity_type[0]}{salt}-{i // VERSIONS_PER_ENTITY}",'
            f'"data":{{"name":"{rng.choice(WORDS)} {i}","type":"{rng.choice(TYPES)}",'
            f'"words":{rng.randrange(20, 2000)}}},'
            f'"confidence":{_confidence(rng, i):.6f},"similarity":{similarity},'
            f'"source":"{rng.choice(SOURCES)}"}}'
        )
    return ('{"items":[' + ",".join(parts) + "]}").encode()

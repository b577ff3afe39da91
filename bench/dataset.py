"""A realistic data set for the benchmark and the smoke test: pending versions loaded with
COPY, and ten rules of mixed actions and priorities that decide about four in five."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import asyncpg

RULES: list[dict[str, Any]] = [
    {
        "name": "High Confidence",
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
        "priority": 80,
        "action": "reject",
        "conditions": {
            "any": [
                {"field": "confidence", "op": "lt", "value": 0.3},
                {"field": "similarity", "op": "lt", "value": 0.2},
            ]
        },
    },
    {
        "name": "High Similarity",
        "priority": 70,
        "action": "approve",
        "conditions": {"field": "similarity", "op": "gte", "value": 0.95},
    },
    {
        "name": "Urgent Topic Escalate",
        "priority": 65,
        "action": "escalate",
        "conditions": {
            "all": [
                {"field": "entity_type", "op": "eq", "value": "topic"},
                {"field": "data.name", "op": "contains", "value": "urgent"},
            ]
        },
    },
    {
        "name": "Moderate Quality Escalate",
        "priority": 60,
        "action": "escalate",
        "conditions": {
            "all": [
                {"field": "confidence", "op": "gte", "value": 0.6},
                {"field": "confidence", "op": "lt", "value": 0.7},
                {"not": {"field": "similarity", "op": "is_null"}},
            ]
        },
    },
    {
        "name": "Trusted Source Atoms",
        "priority": 55,
        "action": "approve",
        "conditions": {
            "all": [
                {"field": "entity_type", "op": "eq", "value": "atom"},
                {"field": "source", "op": "in", "value": ["editor", "import"]},
                {"field": "confidence", "op": "gte", "value": 0.7},
            ]
        },
    },
    {
        "name": "Draft Reject",
        "priority": 50,
        "action": "reject",
        "conditions": {
            "any": [
                {"field": "data.type", "op": "eq", "value": "draft"},
                {
                    "all": [
                        {"field": "data.type", "op": "eq", "value": "note"},
                        {"field": "confidence", "op": "lt", "value": 0.5},
                    ]
                },
            ]
        },
    },
    {
        "name": "Solid Middle",
        "priority": 40,
        "action": "approve",
        "conditions": {
            "all": [
                {"field": "confidence", "op": "gte", "value": 0.75},
                {
                    "any": [
                        {"field": "similarity", "op": "gte", "value": 0.6},
                        {"field": "similarity", "op": "is_null"},
                    ]
                },
            ]
        },
    },
    {
        "name": "Stale Escalate",
        "priority": 30,
        "action": "escalate",
        "conditions": {"field": "age_hours", "op": "gt", "value": 720},
    },
    {
        "name": "Weak Similarity Reject",
        "priority": 20,
        "action": "reject",
        "conditions": {
            "all": [
                {"field": "similarity", "op": "lt", "value": 0.4},
                {"field": "confidence", "op": "lt", "value": 0.7},
            ]
        },
    },
]

SOURCES = ["llm", "llm", "llm", "editor", "import"]
TYPES = ["fact", "fact", "note", "draft", "summary"]
WORDS = ["kickoff", "roadmap", "urgent fix", "retro", "budget", "Urgent: outage", "hiring"]


def version_rows(count: int, seed: int = 7) -> list[tuple[Any, ...]]:
    """Rows for COPY into versions: realistic score spread, a fifth without similarity."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    now = dt.datetime.now(dt.UTC)
    rows = []
    for i in range(count):
        confidence = min(1.0, max(0.0, rng.betavariate(5, 2)))
        similarity = None if rng.random() < 0.2 else min(1.0, max(0.0, rng.betavariate(4, 2)))
        entity_type = "topic" if rng.random() < 0.4 else "atom"
        data = {"name": f"{rng.choice(WORDS)} {i}", "type": rng.choice(TYPES)}
        created = now - dt.timedelta(hours=rng.uniform(0, 1000))
        rows.append(
            (
                entity_type,
                f"{entity_type[0]}-{i}",
                1,
                json.dumps(data),
                confidence,
                similarity,
                rng.choice(SOURCES),
                created,
            )
        )
    return rows


async def load_versions(conn: asyncpg.Connection, count: int, seed: int = 7) -> None:
    """COPY `count` pending versions (and their counters) into the database."""
    await conn.copy_records_to_table(
        "versions",
        records=version_rows(count, seed),
        columns=[
            "entity_type",
            "entity_id",
            "version",
            "data",
            "confidence",
            "similarity",
            "source",
            "created_at",
        ],
    )
    await conn.execute(
        "INSERT INTO version_counters (entity_type, entity_id, last_version)"
        " SELECT entity_type, entity_id, max(version) FROM versions GROUP BY 1, 2"
        " ON CONFLICT DO NOTHING"
    )
    await conn.execute("ANALYZE versions")

"""A realistic data set for the benchmark and the smoke test: pending versions loaded with
COPY, and ten rules of mixed actions and priorities that decide about four in five."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import io
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


COLUMNS = [
    "entity_type",
    "entity_id",
    "version",
    "data",
    "confidence",
    "similarity",
    "source",
    "created_at",
]


CHUNK = 250_000
_MINUTES = 1000 * 60  # versions were created over the last 1000 hours, to the minute


def version_csv(count: int, seed: int = 7, first: int = 0) -> tuple[bytes, bytes]:
    """`count` pending versions as CSV for COPY, and their version_counters rows: confidence
    ~ Beta(5, 2), a fifth without similarity (else ~ Beta(4, 2)), 40% topics, `data` with a
    name and a type, created over the last 1000 hours. Built as text directly."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    minutes = [(now - dt.timedelta(minutes=m)).isoformat() for m in range(_MINUTES)]
    lines, counters = [], []
    for i in range(first, first + count):
        confidence = rng.betavariate(5, 2)
        similarity = "" if rng.random() < 0.2 else f"{rng.betavariate(4, 2):.6f}"
        entity_type = "topic" if rng.random() < 0.4 else "atom"
        word, kind = rng.choice(WORDS), rng.choice(TYPES)
        data = f'{{""name"": ""{word} {i}"", ""type"": ""{kind}""}}'  # CSV-quoted JSON
        created = minutes[int(rng.random() * _MINUTES)]
        entity_id = f"{entity_type[0]}-{i}"
        lines.append(
            f'{entity_type},{entity_id},1,"{data}",{confidence:.6f},{similarity},'
            f"{rng.choice(SOURCES)},{created}\n"
        )
        counters.append(f"{entity_type},{entity_id},1\n")
    return "".join(lines).encode(), "".join(counters).encode()


async def load_versions(
    conn: asyncpg.Connection, count: int, seed: int = 7, first: int = 0
) -> None:
    """COPY `count` pending versions (and their counters) into the database: chunks made in
    worker processes (both cores) while the previous chunk is copied."""
    loop = asyncio.get_running_loop()
    chunks = [
        (start, min(CHUNK, first + count - start)) for start in range(first, first + count, CHUNK)
    ]
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        made = [
            loop.run_in_executor(pool, version_csv, size, seed + index, start)
            for index, (start, size) in enumerate(chunks)
        ]
        for future in made:
            versions, counters = await future
            await conn.copy_to_table(
                "versions", source=io.BytesIO(versions), columns=COLUMNS, format="csv"
            )
            await conn.copy_to_table(
                "version_counters",
                source=io.BytesIO(counters),
                columns=["entity_type", "entity_id", "last_version"],
                format="csv",
            )
    await conn.execute("ANALYZE versions")

"""Data for the browser tests, made through the services in a thread of its own (the tests are
synchronous Playwright; the services are async): tokens, versions, rules and a finished run."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from app.config import Settings
from app.db import Pool, create_pool
from app.models import Role, VersionIn
from app.rules.models import RuleBody
from app.services.rules import create_rule
from app.services.tokens import create_token
from app.services.versions import PersonAction, decide_version, submit_versions
from tests.support.factories import DOUBTFUL_LLM, create_many_rules, run_to_the_end

T = TypeVar("T")


def with_pool(settings: Settings, work: Callable[[Pool], Awaitable[T]]) -> T:
    """Run `work(pool)` on a pool of the test's database, in a thread with its own loop."""

    async def main() -> T:
        pool = await create_pool(settings.database, "tests")
        try:
            return await work(pool)
        finally:
            await pool.close()

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, main()).result(timeout=60)


def token(settings: Settings, name: str, role: Role) -> str:
    """A new token's secret."""

    async def make(pool: Pool) -> str:
        return (await create_token(pool, name, role, "test")).secret

    return with_pool(settings, make)


def versions(settings: Settings, items: list[dict[str, object]]) -> list[int]:
    """Submit versions (topic, confidence 0.5, source `crm` unless given); their ids."""
    base = {"entity_type": "topic", "confidence": 0.5, "source": "crm"}
    bodies = [VersionIn.model_validate(base | item) for item in items]

    async def submit(pool: Pool) -> list[int]:
        return await submit_versions(pool, bodies)

    return with_pool(settings, submit)


RULES = [
    {
        "name": "confident crm",
        "description": "CRM versions the model is sure of",
        "priority": 20,
        "action": "approve",
        "conditions": {
            "all": [
                {"field": "source", "op": "eq", "value": "crm"},
                {"field": "confidence", "op": "gte", "value": 0.9},
            ]
        },
    },
    {**DOUBTFUL_LLM, "description": "LLM versions under 0.5 confidence go to a person"},
]


def rules(settings: Settings) -> None:
    """Create RULES."""

    async def create(pool: Pool) -> None:
        for rule in RULES:
            await create_rule(pool, RuleBody.model_validate(rule), "user:seed")

    with_pool(settings, create)


def many_rules(settings: Settings, count: int) -> None:
    """`count` enabled rules `rule 0`... that approve only versions of confidence 0.99 and up."""

    async def create(pool: Pool) -> None:
        await create_many_rules(pool, count, "user:seed")

    with_pool(settings, create)


@dataclass(frozen=True)
class Seeded:
    run_id: uuid.UUID  # a COMPLETED run that approved and escalated some versions
    escalated: list[int]
    pending: list[int]


def queue_with_history(settings: Settings) -> Seeded:
    """A queue worth looking at: two rules, a completed run (executed in the seeding thread,
    no worker) that approved three versions and escalated three, an entity with an approved
    version and a newer one that changes it, and pending versions no rule decides."""

    async def seed(pool: Pool) -> Seeded:
        for rule in RULES:
            await create_rule(pool, RuleBody.model_validate(rule), "user:seed")
        topic = {"entity_type": "topic", "source": "crm", "similarity": 0.82}
        old = await submit_versions(
            pool,
            [
                VersionIn.model_validate(
                    topic
                    | {
                        "entity_id": "invoice-7",
                        "confidence": 0.7,
                        "data": {"title": "Invoice 7", "amount": 120, "tags": ["q3"]},
                    }
                )
            ],
        )
        await decide_version(pool, old[0], PersonAction.APPROVE, "user:alice", "checked")
        await submit_versions(
            pool,
            [
                VersionIn.model_validate(
                    topic | {"entity_id": f"order-{i}", "confidence": 0.95, "data": {"n": i}}
                )
                for i in range(3)
            ],
        )
        escalated = await submit_versions(
            pool,
            [
                VersionIn.model_validate(
                    {
                        "entity_type": "atom",
                        "entity_id": f"claim-{i}",
                        "confidence": 0.3 + i / 100,
                        "similarity": 0.6,
                        "source": "llm",
                        "data": {"claim": f"claim {i}", "lang": "en"},
                    }
                )
                for i in range(3)
            ],
        )
        run_id = await run_to_the_end(pool)
        pending = await submit_versions(
            pool,
            [
                VersionIn.model_validate(
                    topic
                    | {
                        "entity_id": "invoice-7",
                        "confidence": 0.6,
                        "data": {"title": "Invoice 7 (corrected)", "amount": 125, "due": "12-01"},
                    }
                ),
                VersionIn.model_validate(
                    topic | {"entity_id": "invoice-8", "confidence": 0.55, "data": {"n": 8}}
                ),
            ],
        )
        return Seeded(run_id=run_id, escalated=escalated, pending=pending)

    return with_pool(settings, seed)

"""Rows and objects tests need, made the short way: versions and rules written with SQL,
runs executed in this process, rules as evaluation sees them, tokens."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
from pydantic import TypeAdapter

from app.automation.executor import RunExecutor
from app.config import AutomationSettings, DatabaseSettings
from app.db import Pool, create_pool
from app.models import Role
from app.rules.compiler import RuleToEvaluate
from app.rules.models import Condition, RuleBody
from app.services.rules import create_rule
from app.services.tokens import create_token
from tests.support.services import connect_db

CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)

# A rule body: escalate the versions from source `llm` under 0.5 confidence.
DOUBTFUL_LLM = {
    "name": "doubtful llm",
    "priority": 10,
    "action": "escalate",
    "conditions": {
        "all": [
            {"field": "source", "op": "eq", "value": "llm"},
            {"field": "confidence", "op": "lt", "value": 0.5},
        ]
    },
}


async def load_generated_versions(database_url: str, count: int) -> None:
    """Insert `count` pending versions server-side (fast; for runs that must take a while)."""
    conn = await connect_db(database_url)
    try:
        await conn.execute(
            "INSERT INTO versions (entity_type, entity_id, version, data, confidence, similarity,"
            " source)"
            " SELECT CASE WHEN g % 2 = 0 THEN 'topic' ELSE 'atom' END, 'g-' || g, 1,"
            " jsonb_build_object('name', 'item ' || g), (g % 100) / 100.0,"
            " CASE WHEN g % 5 = 0 THEN NULL ELSE ((g * 7) % 100) / 100.0 END, 'llm'"
            " FROM generate_series(1, $1) g",
            count,
        )
        await conn.execute("ANALYZE versions")
    finally:
        await conn.close()


async def insert_rule(
    db: asyncpg.Connection | Pool,
    name: str,
    value: float,
    *,
    op: str = "gte",
    action: str = "approve",
    priority: int = 1,
    enabled: bool = True,
) -> None:
    """A rule written with SQL (no API, no audit entry): `action` the versions whose
    confidence compares to `value` by `op`."""
    await db.execute(
        "INSERT INTO automation_rules (name, enabled, priority, action, conditions)"
        " VALUES ($1, $2, $3, $4, jsonb_build_object('field', 'confidence', 'op', $5::text,"
        " 'value', $6::float8))",
        name,
        enabled,
        priority,
        action,
        op,
        value,
    )


async def seed_with_sql(url: str, count: int) -> None:
    """Without the API: the rule `half` (priority 10: approve what is at least 0.5 confident)
    and `count` generated pending versions."""
    conn = await connect_db(url)
    try:
        await insert_rule(conn, "half", 0.5, priority=10)
    finally:
        await conn.close()
    await load_generated_versions(url, count)


def rule_to_evaluate(
    rule_id: int,
    conditions: Condition | Mapping[str, Any],
    *,
    priority: int = 0,
    action: str = "approve",
    name: str | None = None,
    revision: int = 1,
) -> RuleToEvaluate:
    """A rule as evaluation sees it (named `r<id>` unless `name`); `conditions` a tree, or its
    JSON form read as a Condition."""
    tree = CONDITION.validate_python(conditions) if isinstance(conditions, Mapping) else conditions
    return RuleToEvaluate(
        id=rule_id,
        revision=revision,
        priority=priority,
        action=action,
        name=f"r{rule_id}" if name is None else name,
        conditions=tree,
    )


class RecordingPublisher:
    """Stands in for RabbitMQ in these tests: remembers what would have been published."""

    connected = True

    def __init__(self) -> None:
        self.published: list[uuid.UUID] = []

    async def publish(self, run_id: uuid.UUID) -> None:
        self.published.append(run_id)


def executor_for(pool: Pool, **settings: object) -> tuple[RunExecutor, RecordingPublisher]:
    """An executor in this process (worker `test-worker`), publishing to a recorder."""
    publisher = RecordingPublisher()
    config = AutomationSettings(heartbeat_seconds=0.5, **settings)  # type: ignore[arg-type]
    return RunExecutor(pool, config, publisher, worker="test-worker"), publisher


async def insert_run(pool: Pool, **columns: object) -> uuid.UUID:
    """A manual run's row with `columns` (no audit entry, no message); its id."""
    names = ", ".join(["trigger", *columns])
    values = ", ".join(["'manual'", *(f"${i}" for i in range(1, len(columns) + 1))])
    async with pool.acquire() as conn:
        return await conn.fetchval(
            f"INSERT INTO automation_runs ({names}) VALUES ({values}) RETURNING id",  # noqa: S608
            *columns.values(),
        )


async def run_to_the_end(pool: Pool) -> uuid.UUID:
    """A manual run, executed in this process (no worker); its id."""
    executor, _ = executor_for(pool)
    run_id = await insert_run(pool)
    await executor.execute(str(run_id))
    return run_id


async def create_many_rules(pool: Pool, count: int, actor: str) -> None:
    """`count` enabled rules `rule 0`... (priority their number) that approve only versions
    of confidence 0.99 and up, created through the service as `actor`."""
    for index in range(count):
        body = {
            "name": f"rule {index}",
            "priority": index,
            "action": "approve",
            "conditions": {"field": "confidence", "op": "gte", "value": 0.99},
        }
        await create_rule(pool, RuleBody.model_validate(body), actor)


async def admin_token(url: str) -> str:
    """A new admin token's secret, made directly in the database at `url`."""
    pool = await create_pool(DatabaseSettings(url=url), "tests", max_size=1)
    try:
        return (await create_token(pool, f"ops-{uuid.uuid4().hex[:6]}", Role.ADMIN, "t")).secret
    finally:
        await pool.close()

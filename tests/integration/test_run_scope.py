"""What a run evaluates: after a run that completed under the same rules, only what changed
(new versions, ages that crossed a threshold); everything again after a rule changed."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from app.automation.executor import batch_loop
from app.repositories import runs as run_repo
from tests.support.factories import executor_for, insert_rule, insert_run
from tests.support.polling import until_blocked_by
from tests.support.services import connect_db

pytestmark = pytest.mark.timeout(60)

_INSERT = (
    "INSERT INTO versions (entity_type, entity_id, version, data, confidence, similarity, source)"
    " SELECT 'topic', $1 || '-' || g, 1, '{}', $2, 0.5, 'llm' FROM generate_series(1, $3) g"
)


async def add_versions(
    db: asyncpg.Connection | asyncpg.Pool, prefix: str, count: int, confidence: float = 0.5
) -> None:
    """`count` pending versions of entities `<prefix>-<n>`, of this confidence."""
    await db.execute(_INSERT, prefix, confidence, count)


async def run_once(
    pool: asyncpg.Pool, *, dry_run: bool = False, **settings: object
) -> asyncpg.Record:
    """One manual run executed in this process to its end; its row."""
    executor, publisher = executor_for(pool, **settings)
    run_id = await insert_run(pool, dry_run=dry_run)
    await executor.execute(str(run_id))
    for shard_id in list(publisher.published):  # a split run: its shards, one after another
        await executor.execute(str(shard_id))
    return await pool.fetchrow("SELECT * FROM automation_runs WHERE id = $1", run_id)


def outcome(run: asyncpg.Record) -> tuple[str, int]:
    return run["state"], run["evaluated"]


async def test_a_second_run_under_the_same_rules_evaluates_only_new_versions(pool):
    """After a run that completed, the next one under the same rules evaluates only the
    versions that arrived since; one with nothing new evaluates nothing."""
    await insert_rule(pool, "never", 0.999)
    await add_versions(pool, "old", 1_000)
    first = await run_once(pool)
    assert outcome(first) == ("COMPLETED", 1_000)
    assert first["scope_closed"]
    await add_versions(pool, "new", 40, confidence=0.9995)
    second = await run_once(pool)
    assert outcome(second) == ("COMPLETED", 40)
    assert second["approved"] == 40
    assert outcome(await run_once(pool)) == ("COMPLETED", 0)


async def test_any_change_of_the_rules_makes_the_next_run_evaluate_everything(pool):
    """A new rule, a changed priority, a disabled rule, a deleted one: each time the next run
    evaluates every pending version, and the run after it only what is new."""
    await insert_rule(pool, "never", 0.999)
    await add_versions(pool, "old", 500)
    assert outcome(await run_once(pool)) == ("COMPLETED", 500)
    changes = [
        "INSERT INTO automation_rules (name, priority, action, conditions) VALUES"
        ' (\'other\', 3, \'reject\', \'{"field": "confidence", "op": "lt", "value": 0.01}\')',
        "UPDATE automation_rules SET priority = 7, revision = revision + 1 WHERE name = 'never'",
        "UPDATE automation_rules SET enabled = false, revision = revision + 1 WHERE name = 'other'",
        "UPDATE automation_rules SET deleted_at = now(), revision = revision + 1"
        " WHERE name = 'never'",
    ]
    for change in changes:
        await pool.execute(change)
        assert outcome(await run_once(pool)) == ("COMPLETED", 500), change
        assert outcome(await run_once(pool)) == ("COMPLETED", 0), change


async def test_capped_failed_and_dry_runs_leave_the_next_run_where_the_last_full_one_ended(pool):
    """A capped run, a cancelled one and a dry one do not move the point the next run starts
    from: it evaluates everything that arrived since the last run that completed in full."""
    await insert_rule(pool, "top", 0.999)
    await add_versions(pool, "old", 300)
    assert outcome(await run_once(pool)) == ("COMPLETED", 300)
    await add_versions(pool, "new", 20, confidence=1.0)
    await add_versions(pool, "low", 30)
    capped = await run_once(pool, max_decisions_per_run=5, batch_size=10)
    assert (capped["state"], capped["capped"], capped["approved"]) == ("COMPLETED", True, 5)
    cancelled_id = await insert_run(pool)
    await pool.execute(
        "UPDATE automation_runs SET cancel_requested_at = now() WHERE id = $1", cancelled_id
    )
    executor, _ = executor_for(pool)
    await executor.execute(str(cancelled_id))
    cancelled = await pool.fetchrow("SELECT * FROM automation_runs WHERE id = $1", cancelled_id)
    assert cancelled["state"] == "FAILED"
    dry = await run_once(pool, dry_run=True)
    assert (outcome(dry), dry["approved"]) == (("COMPLETED", 45), 15)
    full = await run_once(pool)
    assert (outcome(full), full["approved"]) == (("COMPLETED", 45), 15)
    assert outcome(await run_once(pool)) == ("COMPLETED", 0)


async def test_a_split_run_evaluates_only_the_new_versions_in_its_shards(pool):
    """Shards of a run that starts past the last full run's versions cover just the new ones."""
    await insert_rule(pool, "top", 0.999)
    await add_versions(pool, "old", 600)
    assert outcome(await run_once(pool)) == ("COMPLETED", 600)
    await add_versions(pool, "new", 300, confidence=1.0)
    run = await run_once(pool, shards=2, shard_min_versions=100, batch_size=64)
    assert (outcome(run), run["shards"], run["approved"]) == (("COMPLETED", 300), 2, 300)
    pending = await pool.fetch(
        "SELECT after_id, max_version_id, evaluated FROM automation_run_shards"
        " WHERE run_id = $1 ORDER BY shard_no",
        run["id"],
    )
    assert [row["evaluated"] for row in pending] == [150, 150]


async def test_a_version_whose_age_crossed_a_threshold_is_decided_by_the_next_run(pool):
    """With a rule on age_hours, the next run also evaluates the waiting versions whose age
    crossed its threshold since the last run, and only those (the clock: every timestamp
    moved back by ten minutes, as if ten minutes had passed)."""
    await pool.execute(
        "INSERT INTO automation_rules (name, priority, action, conditions) VALUES"
        ' (\'a day old\', 1, \'escalate\', \'{"field": "age_hours", "op": "gt", "value": 24}\')'
    )
    await add_versions(pool, "early", 100)
    await add_versions(pool, "crossing", 30)
    await add_versions(pool, "late", 1_100)  # a gap of more than 1,000 ids: two id ranges
    await add_versions(pool, "crossing-too", 20)
    await pool.execute(
        "UPDATE versions SET created_at = now() - CASE"
        " WHEN entity_id LIKE 'early-%' THEN interval '20 hours'"
        " WHEN entity_id LIKE 'crossing%' THEN interval '23 hours 55 minutes'"
        " ELSE interval '1 hour' END"
    )
    assert outcome(await run_once(pool)) == ("COMPLETED", 1_250)
    assert await pool.fetchval("SELECT count(*) FROM versions WHERE status = 'pending'") == 1_250
    await pool.execute("UPDATE versions SET created_at = created_at - interval '10 minutes'")
    await pool.execute(
        "UPDATE automation_runs SET evaluated_at = evaluated_at - interval '10 minutes'"
    )
    second = await run_once(pool)
    assert (outcome(second), second["escalated"]) == (("COMPLETED", 50), 50)
    escalated = await pool.fetchval(
        "SELECT count(*) FROM versions WHERE status = 'escalated' AND entity_id LIKE 'crossing%'"
    )
    assert escalated == 50
    assert outcome(await run_once(pool)) == ("COMPLETED", 0)


async def _insert_in_open_transaction(url: str) -> tuple[asyncpg.Connection, object, int]:
    conn = await connect_db(url)
    tx = conn.transaction()
    await tx.start()
    await add_versions(conn, "slow", 1, confidence=1.0)
    version_id = await conn.fetchval("SELECT max(id) FROM versions")
    return conn, tx, version_id


async def test_a_version_committed_after_a_later_id_was_evaluated_is_still_decided(
    pool, database_url, monkeypatch
):
    """A version whose id was taken before a run fixed its scope but that commits after it
    (a submission slower than the lock's wait) is decided by the run after: that run's scope
    was left open, so the next one evaluates everything."""
    monkeypatch.setattr(batch_loop, "SCOPE_LOCK_TIMEOUT_MS", 50)
    await insert_rule(pool, "top", 0.999)
    await add_versions(pool, "old", 200)
    assert outcome(await run_once(pool)) == ("COMPLETED", 200)
    conn, tx, slow_id = await _insert_in_open_transaction(database_url)
    try:
        await add_versions(pool, "fast", 5, confidence=1.0)
        while_open = await run_once(pool)
        assert (outcome(while_open), while_open["approved"]) == (("COMPLETED", 5), 5)
        assert not while_open["scope_closed"]
        assert (
            await pool.fetchval(
                "SELECT max_version_id FROM automation_runs WHERE id = $1", while_open["id"]
            )
            > slow_id
        )
    finally:
        await tx.commit()
        await conn.close()
    after = await run_once(pool)
    assert (outcome(after), after["approved"]) == (("COMPLETED", 200 + 1), 1)
    status = await pool.fetchval("SELECT status FROM versions WHERE id = $1", slow_id)
    assert status == "approved"


async def test_a_run_waits_for_a_submission_in_flight_before_fixing_its_scope(
    pool, database_url, monkeypatch
):
    """A run whose scope is fixed while a submission is in flight waits for it (briefly) and
    decides its version."""
    monkeypatch.setattr(batch_loop, "SCOPE_LOCK_TIMEOUT_MS", 20_000)
    await insert_rule(pool, "top", 0.999)
    await add_versions(pool, "old", 200)
    assert outcome(await run_once(pool)) == ("COMPLETED", 200)
    conn, tx, slow_id = await _insert_in_open_transaction(database_url)
    try:
        run = asyncio.create_task(run_once(pool))
        await until_blocked_by(conn)
    finally:
        await tx.commit()
        await conn.close()
    done = await run
    assert (outcome(done), done["approved"], done["scope_closed"]) == (("COMPLETED", 1), 1, True)
    assert await pool.fetchval("SELECT status FROM versions WHERE id = $1", slow_id) == "approved"
    assert isinstance(done["id"], uuid.UUID)


async def test_a_run_whose_scope_was_fixed_before_the_migration_evaluates_up_to_its_max(pool):
    """A run claimed before scopes existed (max_version_id and rules fixed, no scope) goes on
    evaluating everything up to its max_version_id when it is taken over."""
    await insert_rule(pool, "top", 0.999)
    await add_versions(pool, "old", 50, confidence=1.0)
    top = await pool.fetchval("SELECT max(id) FROM versions")
    await add_versions(pool, "later", 10, confidence=1.0)
    rules = await pool.fetchval(
        "SELECT jsonb_agg(jsonb_build_object('id', id, 'name', name, 'revision', revision,"
        " 'priority', priority, 'action', action, 'conditions', conditions))"
        " FROM automation_rules"
    )
    run_id = await insert_run(pool)
    await pool.execute(
        "UPDATE automation_runs SET max_version_id = $2, rules = $3, evaluated_at = now()"
        " WHERE id = $1",
        run_id,
        top,
        rules,
    )
    executor, _ = executor_for(pool)
    await executor.execute(str(run_id))
    run = await pool.fetchrow("SELECT * FROM automation_runs WHERE id = $1", run_id)
    assert (outcome(run), run["approved"], run["scope_closed"]) == (("COMPLETED", 50), 50, False)


async def test_a_new_evaluation_revision_makes_the_next_run_evaluate_everything(pool, monkeypatch):
    """After a deploy that raises EVALUATION_REVISION (the compiler changed), the same rules
    are evaluated again over every pending version."""
    await insert_rule(pool, "never", 0.999)
    await add_versions(pool, "old", 100)
    assert outcome(await run_once(pool)) == ("COMPLETED", 100)
    assert outcome(await run_once(pool)) == ("COMPLETED", 0)
    monkeypatch.setattr(run_repo, "EVALUATION_REVISION", run_repo.EVALUATION_REVISION + 1)
    assert outcome(await run_once(pool)) == ("COMPLETED", 100)

"""The executor without RabbitMQ: the reaper, bad messages, the decision cap."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from app.audit.verify import verify_chain
from app.automation import brake
from tests.support.factories import executor_for, insert_rule, insert_run, load_generated_versions
from tests.support.polling import until_blocked_by

pytestmark = pytest.mark.timeout(60)


async def test_the_reaper_fails_runs_out_of_attempts_and_republishes_the_others(pool):
    """A stale run with attempts left is republished; one at the limit fails `lost`."""
    executor, publisher = executor_for(pool, max_attempts=3)
    insert = (
        "INSERT INTO automation_runs (trigger, state, attempts, heartbeat_at, dry_run, claimed_by)"
        " VALUES ('manual', 'EXECUTING', $1, now() - make_interval(secs => $2), true, 'gone')"
        " RETURNING id"
    )
    async with pool.acquire() as conn:
        retry = await conn.fetchval(insert, 1, 3600)
        lost = await conn.fetchval(insert, 3, 3600)
        fresh = await conn.fetchval(insert, 1, 0)
    await executor.reap_once()
    assert publisher.published == [retry]
    async with pool.acquire() as conn:
        states = dict(
            await conn.fetch("SELECT id, state || coalesce(':' || error, '') FROM automation_runs")
        )
    assert states == {retry: "EXECUTING", lost: "FAILED:lost", fresh: "EXECUTING"}


async def test_garbage_and_unknown_run_ids_are_logged_and_dropped(pool, caplog):
    """A message that is not a run id, or names no run, changes nothing and raises nothing."""
    executor, publisher = executor_for(pool)
    with caplog.at_level(logging.WARNING, logger="automation"):
        await executor.execute("not a uuid")
        await executor.execute(str(uuid.uuid4()))
    assert "carries no run id" in caplog.text
    assert "unknown run" in caplog.text
    assert publisher.published == []


async def test_the_decision_cap_stops_a_run_completed_and_capped(pool, database_url):
    """With AUTOMATION_MAX_DECISIONS_PER_RUN=100 a run decides 100 versions and says so."""
    await load_generated_versions(database_url, 2_000)
    await insert_rule(pool, "all", 0)
    executor, _ = executor_for(pool, max_decisions_per_run=100, batch_size=64)
    run_id = await insert_run(pool)
    await executor.execute(str(run_id))
    async with pool.acquire() as conn:
        run = await conn.fetchrow("SELECT * FROM automation_runs WHERE id = $1", run_id)
        decided = await conn.fetchval("SELECT count(*) FROM versions WHERE status = 'approved'")
    assert (run["state"], run["capped"], run["approved"]) == ("COMPLETED", True, 100)
    assert decided == 100


async def test_each_batch_is_sealed_in_its_own_transaction(pool, database_url):
    """A run's decisions and their audit entries are sealed by the batch's own statement: one
    seal per batch, covering exactly that batch's entries; the chain verifies."""
    await load_generated_versions(database_url, 1_000)
    await insert_rule(pool, "all", 0)
    executor, _ = executor_for(pool, batch_size=300)
    run_id = await insert_run(pool)
    await executor.execute(str(run_id))
    async with pool.acquire() as conn:
        run = await conn.fetchrow("SELECT * FROM automation_runs WHERE id = $1", run_id)
        seals = await conn.fetch(
            "SELECT s.entry_count, (SELECT count(*) FROM audit_log AS a WHERE a.xid = s.xid"
            "  AND a.run_id = $1 AND a.action = 'approve') AS decisions"
            " FROM audit_seals AS s ORDER BY s.seq",
            run_id,
        )
        report = await verify_chain(conn)
    assert (run["state"], run["approved"]) == ("COMPLETED", 1_000)
    batches = [s["entry_count"] for s in seals if s["decisions"]]
    assert batches == [300, 300, 300, 100]
    assert all(s["entry_count"] == s["decisions"] for s in seals if s["decisions"])
    assert report.ok, report.problems


@pytest.mark.parametrize("stop", ["cancel", "pause"])
async def test_a_stop_between_a_batchs_two_statements_waits_instead_of_deadlocking(pool, stop):
    """A batch seals its entries (the audit chain's head, held to commit) and then adds its
    counts to the run's row. A cancel or the brake arriving between the two takes the head
    first too, so it waits for the batch's commit rather than holding the run's row the
    batch needs next (a deadlock, one side failed, until migration 0009)."""
    run_id = await insert_run(pool, state="EXECUTING", claimed_by="test-worker")
    async with pool.acquire() as batch:
        transaction = batch.transaction()
        await transaction.start()
        # The batch's first statement: decisions written, their entries sealed.
        await batch.execute(
            "INSERT INTO audit_log (actor, action, run_id) VALUES ('rule:1@1', 'approve', $1)",
            run_id,
        )
        if stop == "cancel":
            stopping = asyncio.create_task(brake.cancel_run(pool, run_id, "admin"))
        else:
            stopping = asyncio.create_task(brake.pause_automation(pool, "admin", None))
        await until_blocked_by(batch)  # the stop is queued behind the batch's locks
        # The batch's second statement: its counts into the run's row.
        await batch.execute(
            "UPDATE automation_runs SET approved = approved + 1 WHERE id = $1", run_id
        )
        await transaction.commit()
    async with asyncio.timeout(10):
        await stopping
    async with pool.acquire() as conn:
        run = await conn.fetchrow("SELECT * FROM automation_runs WHERE id = $1", run_id)
    assert run["approved"] == 1
    assert run["cancel_reason"] == ("cancelled" if stop == "cancel" else "paused")

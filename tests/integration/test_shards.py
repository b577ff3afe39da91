"""Shards (SPEC 6.3) without RabbitMQ: the split, the run's sums, the cap across shards,
a cancel and the run's one deadline reaching every shard, a failed shard failing the run,
and one non-dry run evaluating at a time while its shards evaluate together."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest

from tests.support.factories import executor_for, insert_rule, insert_run, load_generated_versions

pytestmark = pytest.mark.timeout(90)

SHARDING = {"shards": 3, "shard_min_versions": 1_000, "batch_size": 250}


async def add_rule(pool, action: str = "approve", threshold: float = 0.0) -> None:
    await insert_rule(pool, f"{action} >= {threshold}", threshold, action=action)


async def split(pool, **settings: object) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A run claimed and split by a first worker: its id and its shards' messages."""
    executor, publisher = executor_for(pool, **{**SHARDING, **settings})
    run_id = await insert_run(pool)
    await executor.execute(str(run_id))
    return run_id, publisher.published


async def run_shards(pool, shard_ids: list[uuid.UUID], **settings: object) -> None:
    """Two workers take the shards' messages at once, as two worker processes would."""
    workers = [executor_for(pool, **{**SHARDING, **settings})[0] for _ in range(2)]
    await asyncio.gather(*(workers[i % 2].execute(str(shard)) for i, shard in enumerate(shard_ids)))


async def fetch_run(pool, run_id: uuid.UUID):
    async with pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM automation_runs WHERE id = $1", run_id)


async def fetch_shards(pool, run_id: uuid.UUID):
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT * FROM automation_run_shards WHERE run_id = $1 ORDER BY shard_no", run_id
        )


async def test_a_large_run_is_split_and_its_counters_are_the_sums_of_its_shards(
    pool, database_url, app_client, admin
):
    await load_generated_versions(database_url, 3_000)
    await add_rule(pool, "approve", 0.5)
    await add_rule(pool, "reject", 0.0)
    run_id, shard_ids = await split(pool)
    assert len(shard_ids) == 3
    run = await fetch_run(pool, run_id)
    assert (run["state"], run["shards"], run["evaluated"]) == ("EXECUTING", 3, 0)
    shards = await fetch_shards(pool, run_id)
    assert [s["id"] for s in shards] == shard_ids
    # Contiguous ranges covering the run's, of about equal pending count.
    assert shards[0]["after_id"] == run["last_version_id"]
    assert shards[-1]["max_version_id"] == run["max_version_id"]
    for before, after in itertools.pairwise(shards):
        assert after["after_id"] == before["max_version_id"]
    assert sum(s["pending"] for s in shards) == 3_000
    assert max(s["pending"] for s in shards) - min(s["pending"] for s in shards) <= 1

    await run_shards(pool, shard_ids)
    run = await fetch_run(pool, run_id)
    shards = await fetch_shards(pool, run_id)
    assert run["state"] == "COMPLETED", dict(run)
    assert [s["state"] for s in shards] == ["COMPLETED"] * 3
    assert run["evaluated"] == 3_000 == sum(s["evaluated"] for s in shards)
    decided = run["approved"] + run["rejected"] + run["escalated"]
    assert decided == 3_000 == sum(s["decided"] for s in shards)
    async with pool.acquire() as conn:
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM versions GROUP BY 1"))
        audited = await conn.fetchval(
            "SELECT count(DISTINCT version_id) FROM audit_log WHERE run_id = $1", run_id
        )
        audit_rows = await conn.fetchval("SELECT count(*) FROM audit_log WHERE run_id = $1", run_id)
    assert statuses == {"approved": run["approved"], "rejected": run["rejected"]}
    assert audited == audit_rows == 3_000
    assert sum(run["decisions_by_rule"].values()) == 3_000

    response = await app_client.get(f"/api/v1/automation/runs/{run_id}", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "COMPLETED"
    assert body["decisions"] == {
        "approve": run["approved"],
        "reject": run["rejected"],
        "escalate": 0,
    }
    assert sum(rule["matched"] for rule in body["rules"]) == 3_000
    assert [(s["shard_no"], s["state"], s["evaluated"]) for s in body["shards"]] == [
        (s["shard_no"], "COMPLETED", s["evaluated"]) for s in shards
    ]


async def test_a_small_run_is_not_split(pool, database_url):
    await load_generated_versions(database_url, 500)
    await add_rule(pool)
    run_id, published = await split(pool)
    assert published == []
    run = await fetch_run(pool, run_id)
    assert (run["state"], run["shards"], run["approved"]) == ("COMPLETED", 0, 500)


async def test_the_cap_is_never_exceeded_in_total_across_shards(pool, database_url):
    await load_generated_versions(database_url, 3_000)
    await add_rule(pool)
    run_id, shard_ids = await split(pool, max_decisions_per_run=700)
    await run_shards(pool, shard_ids, max_decisions_per_run=700)
    run = await fetch_run(pool, run_id)
    async with pool.acquire() as conn:
        decided = await conn.fetchval("SELECT count(*) FROM versions WHERE status = 'approved'")
    assert (run["state"], run["capped"], run["approved"]) == ("COMPLETED", True, 700)
    assert decided == 700
    assert sum(s["decided"] for s in await fetch_shards(pool, run_id)) == 700


async def test_a_cancel_reaches_every_shard(pool, database_url):
    await load_generated_versions(database_url, 3_000)
    await add_rule(pool)
    run_id, shard_ids = await split(pool)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE automation_runs SET cancel_requested_at = now(), cancel_reason = 'cancelled'"
            " WHERE id = $1",
            run_id,
        )
    await run_shards(pool, shard_ids)
    run = await fetch_run(pool, run_id)
    assert (run["state"], run["error"], run["approved"]) == ("FAILED", "cancelled", 0)
    assert {s["state"] for s in await fetch_shards(pool, run_id)} == {"FAILED"}


async def test_one_deadline_for_the_whole_run(pool, database_url):
    """A shard claimed after the run's guard is up (counted from the run's start) ends the
    run `timeout` at once, deciding nothing; the other shards stop."""
    await load_generated_versions(database_url, 3_000)
    await add_rule(pool)
    run_id, shard_ids = await split(pool, timeout_seconds=5)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE automation_runs SET started_at = now() - interval '6 seconds' WHERE id = $1",
            run_id,
        )
    await run_shards(pool, shard_ids, timeout_seconds=5)
    run = await fetch_run(pool, run_id)
    assert (run["state"], run["error"], run["approved"]) == ("FAILED", "timeout", 0)
    assert {s["state"] for s in await fetch_shards(pool, run_id)} == {"FAILED"}


async def test_a_shard_out_of_attempts_fails_the_run_keeping_what_every_shard_committed(
    pool, database_url
):
    await load_generated_versions(database_url, 3_000)
    await add_rule(pool)
    run_id, shard_ids = await split(pool, max_attempts=2)
    await run_shards(pool, shard_ids[:2], max_attempts=2)
    # The third shard's worker vanished on its last attempt.
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE automation_run_shards SET state = 'EXECUTING', attempts = 2,"
            " claimed_by = 'gone', heartbeat_at = now() - interval '1 hour' WHERE id = $1",
            shard_ids[2],
        )
    assert (await fetch_run(pool, run_id))["state"] == "EXECUTING"
    executor, publisher = executor_for(pool, max_attempts=2)
    await executor.reap_once()
    run = await fetch_run(pool, run_id)
    shards = await fetch_shards(pool, run_id)
    assert (run["state"], run["error"]) == ("FAILED", "lost")
    assert [s["state"] for s in shards] == ["COMPLETED", "COMPLETED", "FAILED"]
    committed = sum(s["decided"] for s in shards)
    async with pool.acquire() as conn:
        decided = await conn.fetchval("SELECT count(*) FROM versions WHERE status = 'approved'")
    assert run["approved"] == committed == decided == 2_000
    assert shard_ids[2] not in publisher.published


async def test_a_stale_shard_is_republished_and_taken_over(pool, database_url):
    await load_generated_versions(database_url, 3_000)
    await add_rule(pool)
    run_id, shard_ids = await split(pool)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE automation_run_shards SET state = 'EXECUTING', attempts = 1,"
            " claimed_by = 'gone', heartbeat_at = now() - interval '1 hour',"
            " published_at = now() - interval '2 hours' WHERE id = $1",
            shard_ids[0],
        )
    executor, publisher = executor_for(pool, **SHARDING)
    await executor.reap_once()
    assert shard_ids[0] in publisher.published
    await run_shards(pool, shard_ids)
    run = await fetch_run(pool, run_id)
    shards = await fetch_shards(pool, run_id)
    assert (run["state"], run["approved"]) == ("COMPLETED", 3_000)
    assert [s["attempts"] for s in shards] == [2, 1, 1]
    assert run["attempts"] == 2  # the most any of its shards took


async def test_no_other_non_dry_run_evaluates_while_the_shards_do(pool, database_url):
    await load_generated_versions(database_url, 3_000)
    await add_rule(pool)
    run_id, shard_ids = await split(pool)
    async with pool.acquire() as conn:  # a cron tick's run (a manual one would coalesce)
        other = await conn.fetchval(
            "INSERT INTO automation_runs (trigger) VALUES ('cron') RETURNING id"
        )
    executor, _ = executor_for(pool, **SHARDING)
    await executor.execute(str(other))
    assert (await fetch_run(pool, other))["state"] == "SCHEDULED"  # parked: its turn waits
    await run_shards(pool, shard_ids)
    assert (await fetch_run(pool, run_id))["state"] == "COMPLETED"
    # Its turn has come: the worker that ended the run woke it (published it again).
    assert (await fetch_run(pool, other))["published_at"] is not None

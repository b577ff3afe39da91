"""Processes killed, stopped or fed garbage mid-flight, and a storm of triggers: the run
guarantees hold after each (checked by tests/support/invariants.py)."""

from __future__ import annotations

import asyncio
import time
import uuid

import aio_pika
import asyncpg
import pytest

from bench.dataset import RULES
from tests.support.api import seed, trigger_run
from tests.support.factories import load_generated_versions
from tests.support.invariants import assert_invariants, assert_one_evaluation_at_a_time
from tests.support.polling import is_final, publisher_ready, wait_for_run
from tests.support.services import AMQP_URL, connect_db

pytestmark = pytest.mark.timeout(240)

VERSIONS = 150_000


async def check(url: str, runs) -> list[asyncpg.Record]:
    conn = await connect_db(url)
    try:
        await assert_invariants(conn, runs)
        return await conn.fetch(
            "SELECT id, state, error, attempts FROM automation_runs WHERE id = ANY($1::uuid[])"
            " ORDER BY seq",
            list(runs),
        )
    finally:
        await conn.close()


async def test_sigkill_mid_run_is_reclaimed(app_client, admin, settings, start_worker, report):
    """A worker killed with SIGKILL mid-run (proven: some batches committed, not all): another
    worker reclaims the run (attempt 2) and completes it; nothing decided twice."""
    url = settings.database.url.get_secret_value()
    await seed(app_client, admin, url, VERSIONS)
    first = start_worker(AUTOMATION_BATCH_SIZE="500")
    await asyncio.gather(first.ready(), publisher_ready(app_client))
    run_id = await trigger_run(app_client, admin)
    mid = await wait_for_run(
        url, run_id, lambda r: r["state"] == "EXECUTING" and r["evaluated"] > 0
    )
    first.kill()
    killed = time.monotonic()
    assert 0 < mid["evaluated"] < VERSIONS, "not mid-run"
    second = start_worker(AUTOMATION_BATCH_SIZE="5000")
    await second.ready()
    await wait_for_run(url, run_id, lambda r: r["attempts"] == 2, timeout=60)
    reclaimed = time.monotonic() - killed
    run = await wait_for_run(url, run_id, is_final, timeout=90)
    (row,) = await check(url, [run_id])
    assert (row["state"], row["attempts"]) == ("COMPLETED", 2)
    report(
        "worker SIGKILL mid-run",
        evaluated_at_kill=mid["evaluated"],
        reclaimed_after_s=round(reclaimed, 1),
        attempts=run["attempts"],
    )


async def test_killed_past_the_attempt_limit_fails_lost_and_the_next_run_finishes(
    app_client, admin, settings, start_worker, report
):
    """With AUTOMATION_MAX_ATTEMPTS=1 a killed worker's run fails `lost`; the next run
    finishes the work."""
    url = settings.database.url.get_secret_value()
    await seed(app_client, admin, url, VERSIONS)
    first = start_worker(AUTOMATION_BATCH_SIZE="500", AUTOMATION_MAX_ATTEMPTS="1")
    await asyncio.gather(first.ready(), publisher_ready(app_client))
    run_id = await trigger_run(app_client, admin)
    await wait_for_run(url, run_id, lambda r: r["state"] == "EXECUTING" and r["evaluated"] > 0)
    first.kill()
    second = start_worker(AUTOMATION_MAX_ATTEMPTS="1")
    await second.ready()
    lost = await wait_for_run(url, run_id, is_final, timeout=60)
    assert (lost["state"], lost["error"]) == ("FAILED", "lost")
    following = await trigger_run(app_client, admin)
    await wait_for_run(url, following, is_final, timeout=90)
    rows = await check(url, [run_id, following])
    assert [r["state"] for r in rows] == ["FAILED", "COMPLETED"]
    conn = await connect_db(url)
    try:
        decided = await conn.fetchval("SELECT count(*) FROM versions WHERE status <> 'pending'")
    finally:
        await conn.close()
    assert decided == lost["approved"] + lost["rejected"] + lost["escalated"] + (
        await _decided_by(url, following)
    )
    report("worker SIGKILL past the attempt limit", first_run="FAILED lost", next_run="COMPLETED")


async def _decided_by(url: str, run_id: uuid.UUID) -> int:
    conn = await connect_db(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT approved + rejected + escalated FROM automation_runs WHERE id = $1", run_id
            )
        )
    finally:
        await conn.close()


async def test_sigterm_mid_run_hands_back_and_another_worker_finishes(
    app_client, admin, settings, start_worker, report
):
    """SIGTERM: the worker finishes its batch, hands the run back and exits 0; another worker
    completes it without counting an attempt for the hand-back."""
    url = settings.database.url.get_secret_value()
    await seed(app_client, admin, url, VERSIONS)
    first = start_worker(AUTOMATION_BATCH_SIZE="500")
    await asyncio.gather(first.ready(), publisher_ready(app_client))
    run_id = await trigger_run(app_client, admin)
    await wait_for_run(url, run_id, lambda r: r["state"] == "EXECUTING" and r["evaluated"] > 0)
    stopped = time.monotonic()
    assert await asyncio.to_thread(first.stop) == 0
    handed_back_in = time.monotonic() - stopped
    assert any("Run handed back" in line for line in first.lines)
    second = start_worker()
    await second.ready()
    await wait_for_run(url, run_id, is_final, timeout=90)
    (row,) = await check(url, [run_id])
    assert (row["state"], row["attempts"]) == ("COMPLETED", 1)
    report(
        "worker SIGTERM mid-run",
        handed_back_and_exited_in_s=round(handed_back_in, 2),
        attempts=row["attempts"],
    )


async def test_the_scheduler_leader_killed_the_standby_fires_once(
    settings, start_scheduler, start_worker, report
):
    """Two replicas ticking every 2 s; SIGKILL the leader: the standby leads within 10 s and
    fires the next ticks, each tick one run, every run completed by a worker."""
    url = settings.database.url.get_secret_value()
    worker = start_worker()
    await worker.ready()
    leader = start_scheduler(tick_seconds=2)
    await leader.until_line("Leadership gained")
    standby = start_scheduler(tick_seconds=2)
    await standby.until_line("Scheduler is standby")
    await _cron_count_at_least(url, 3)
    leader.kill()
    killed = time.monotonic()
    await standby.until_line("Leadership gained", timeout=15)
    takeover = time.monotonic() - killed
    before = await _cron_count(url)
    await _cron_count_at_least(url, before + 2)
    standby.stop()
    conn = await connect_db(url)
    try:
        runs = await conn.fetch(
            "SELECT id, scheduled_for FROM automation_runs WHERE trigger = 'cron'"
        )
    finally:
        await conn.close()
    for run in runs:
        await wait_for_run(url, run["id"], is_final, timeout=60)
    rows = await check(url, [r["id"] for r in runs])
    assert {r["state"] for r in rows} == {"COMPLETED"}
    assert len({r["scheduled_for"] for r in runs}) == len(runs)
    assert takeover < 10
    report("scheduler leader SIGKILL", takeover_s=round(takeover, 1), cron_runs=len(runs))


async def _cron_count(url: str) -> int:
    conn = await connect_db(url)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM automation_runs WHERE trigger = 'cron'")
        )
    finally:
        await conn.close()


async def _cron_count_at_least(url: str, count: int) -> None:
    async with asyncio.timeout(30):
        while await _cron_count(url) < count:  # noqa: ASYNC110 - rows written by other processes
            await asyncio.sleep(0.1)


async def test_garbage_and_unknown_run_ids_are_dropped_and_the_worker_goes_on(
    app_client, admin, settings, start_worker, report
):
    """Raw garbage and a message naming an unknown run, published to the real queue, are
    logged and dropped; the worker then completes a real run."""
    url = settings.database.url.get_secret_value()
    worker = start_worker()
    await asyncio.gather(worker.ready(), publisher_ready(app_client))
    broker = app_client.app.state.publisher.broker  # the api's own taskiq broker
    task = broker.find_task("automation.evaluate_run")
    await task.kiq("not-a-uuid")
    await task.kiq(str(uuid.uuid4()))
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(
            aio_pika.Message(body=b"\x00\xff garbage"), routing_key=settings.broker.queue
        )
    await worker.until_line("carries no run id")
    await worker.until_line("unknown run")
    run_id = await trigger_run(app_client, admin)
    await wait_for_run(url, run_id, is_final)
    (row,) = await check(url, [run_id])
    assert row["state"] == "COMPLETED"
    assert worker.process.poll() is None
    report("garbage and unknown run ids", dropped=3, worker_alive=True)


@pytest.mark.parametrize("with_key", [False, True])
async def test_two_hundred_concurrent_triggers(
    *, app_client, admin, settings, start_worker, with_key, report
):
    """200 triggers at once (with one Idempotency-Key, or none): no 5xx; with the key one
    run, without it the coalescing leaves no two non-dry runs evaluating at once."""
    url = settings.database.url.get_secret_value()
    await load_generated_versions(url, 20_000)
    await app_client.post("/api/v1/automation/rules", json=RULES[0], headers=admin)
    worker = start_worker()
    await asyncio.gather(worker.ready(), publisher_ready(app_client))
    headers = {**admin, "Idempotency-Key": "storm"} if with_key else admin
    started = time.monotonic()
    responses = await asyncio.gather(
        *(app_client.post("/api/v1/automation/trigger", headers=headers) for _ in range(200))
    )
    took = time.monotonic() - started
    statuses = {r.status_code for r in responses}
    assert statuses == {202}, statuses
    runs = {uuid.UUID(r.json()["run_id"]) for r in responses}
    if with_key:
        assert len(runs) == 1
    for run_id in runs:
        await wait_for_run(url, run_id, is_final, timeout=60)
    rows = await check(url, runs)
    assert {r["state"] for r in rows} == {"COMPLETED"}
    conn = await connect_db(url)
    try:
        await assert_one_evaluation_at_a_time(conn)
    finally:
        await conn.close()
    report(
        "200 concurrent triggers" + (" with one key" if with_key else ""),
        runs=len(runs),
        answered_in_s=round(took, 2),
    )

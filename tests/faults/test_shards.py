"""Shards under faults (SPEC 6.3 with the lifecycle of SPEC 4), on real worker processes:
one of two workers SIGKILLed or SIGSTOPped while the shards of a run evaluate, and a shard
message that never reached RabbitMQ. Every time the run completes, nothing is decided twice,
and the run's counters are the sums of what its shards committed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import pytest

from tests.support.api import seed, trigger_run
from tests.support.invariants import check_runs
from tests.support.polling import is_final, publisher_ready, run_row, wait_for_run
from tests.support.processes import LEASE, REDELIVER_S, STALE_S, pid_of
from tests.support.services import connect_db
from tests.support.tcp_proxy import rabbitmq_link_proxy

pytestmark = pytest.mark.timeout(240)

VERSIONS = 120_000
# Split every run of this size in two; small batches so that a run takes a few seconds. The
# run's one deadline is counted from its first claim, and these scenarios hold a run up on
# purpose (a worker killed, frozen, or unable to publish, then a second one started): on a
# busy machine that can outlast the default 30 s guard, which is not what they test (the
# deadline across shards is tests/integration/test_shards.py's).
SPLIT = {
    **LEASE,
    "AUTOMATION_SHARDS": "2",
    "AUTOMATION_SHARD_MIN_VERSIONS": "10000",
    "AUTOMATION_BATCH_SIZE": "500",
    "AUTOMATION_TIMEOUT_SECONDS": "30",
}


async def shard_rows(url: str, run_id: uuid.UUID) -> list[dict[str, object]]:
    conn = await connect_db(url)
    try:
        rows = await conn.fetch(
            "SELECT * FROM automation_run_shards WHERE run_id = $1 ORDER BY shard_no", run_id
        )
    finally:
        await conn.close()
    return [dict(row) for row in rows]


async def wait_for_shards(url: str, run_id: uuid.UUID, done, timeout: float = 30):  # noqa: ASYNC109
    """Poll the run's shards until `done(shards)` holds; the shards."""
    async with asyncio.timeout(timeout):
        while True:
            shards = await shard_rows(url, run_id)
            if shards and done(shards):
                return shards
            await asyncio.sleep(0.02)


def _evaluating(shards) -> bool:
    return any(s["state"] == "EXECUTING" and s["evaluated"] > 0 for s in shards)


async def assert_sums(url: str, run: dict[str, object]) -> None:
    """The run's counters are the sums of its shards', and of the audit rows it wrote."""
    shards = await shard_rows(url, run["id"])  # type: ignore[arg-type]
    assert [s["state"] for s in shards] == ["COMPLETED", "COMPLETED"], shards
    decided = run["approved"] + run["rejected"] + run["escalated"]  # type: ignore[operator]
    assert decided == sum(s["decided"] for s in shards)
    assert run["evaluated"] == sum(s["evaluated"] for s in shards) == VERSIONS


async def _two_workers_one_shard_held(app_client, admin, url: str, start_worker):
    """Versions to split, two workers ready and a run triggered, until one of its shards is
    EXECUTING with versions evaluated: (the workers, the run id, the shards then, that shard)."""
    await seed(app_client, admin, url, VERSIONS)
    workers = [start_worker(**SPLIT) for _ in range(2)]
    await asyncio.gather(*(w.ready() for w in workers), publisher_ready(app_client))
    run_id = await trigger_run(app_client, admin)
    mid = await wait_for_shards(url, run_id, _evaluating)
    held = next(s for s in mid if s["state"] == "EXECUTING" and s["evaluated"] > 0)
    return workers, run_id, mid, held


async def test_sigkill_of_one_of_two_workers_mid_run(
    app_client, admin, settings, start_worker, report
):
    """Two workers evaluate a run's two shards; one is SIGKILLed: its shard is reclaimed by
    the other worker (attempt 2) and the run completes, every version decided once."""
    url = settings.database.url.get_secret_value()
    workers, run_id, mid, held = await _two_workers_one_shard_held(
        app_client, admin, url, start_worker
    )
    (victim,) = [w for w in workers if w.process.pid == pid_of(str(held["claimed_by"]))]
    victim.kill()
    killed = time.monotonic()
    run = await wait_for_run(url, run_id, is_final, timeout=120)
    completed_in = time.monotonic() - killed
    assert run["state"] == "COMPLETED", (run["state"], run["error"])
    shards = await shard_rows(url, run_id)
    (taken,) = [s for s in shards if s["id"] == held["id"]]
    assert taken["attempts"] == 2, taken
    assert run["attempts"] == 2  # the most any of its shards took
    assert taken["claimed_by"] != held["claimed_by"]
    await assert_sums(url, dict(run))
    await check_runs(url, [run_id])
    report(
        "one of two workers SIGKILL mid-run (shards)",
        evaluated_at_kill=sum(s["evaluated"] for s in mid),
        completed_after_kill_s=round(completed_in, 2),
    )


async def test_sigstop_of_one_of_two_workers_mid_run(
    app_client, admin, settings, start_worker, report
):
    """One of two workers is frozen while it evaluates a shard: the shard's lease is lost
    within the staleness window plus a reaper round and a redelivery, the other worker takes
    it over and the run completes; after SIGCONT the resumed worker writes nothing more."""
    url = settings.database.url.get_secret_value()
    workers, run_id, mid, held = await _two_workers_one_shard_held(
        app_client, admin, url, start_worker
    )
    (frozen,) = [w for w in workers if w.process.pid == pid_of(str(held["claimed_by"]))]
    os.kill(frozen.process.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        await wait_for_shards(
            url,
            run_id,
            lambda shards: any(s["id"] == held["id"] and s["attempts"] == 2 for s in shards),
        )
        superseded_in = time.monotonic() - stopped
        run = await wait_for_run(url, run_id, is_final, timeout=120)
        assert run["state"] == "COMPLETED", (run["state"], run["error"])
    finally:
        os.kill(frozen.process.pid, signal.SIGCONT)
    await frozen.until_line("Run was taken over", timeout=30)
    assert frozen.process.poll() is None, "the resumed worker died"
    assert await run_row(url, run_id) == dict(run), "the resumed worker wrote to the run"
    await assert_sums(url, dict(run))
    await check_runs(url, [run_id])
    # As for a run (test_lifecycle): staleness, a reaper round, a redelivery that may first
    # go to the frozen worker's prefetch.
    assert superseded_in < STALE_S + 0.3 + 3 * REDELIVER_S + 3, superseded_in
    report(
        "one of two workers SIGSTOP mid-run (shards)",
        superseded_after_s=round(superseded_in, 2),
        evaluated_at_freeze=sum(s["evaluated"] for s in mid),
    )


async def test_lost_shard_messages_are_published_again(
    app_client, admin, settings, start_worker, report
):
    """The worker that splits the run cannot reach RabbitMQ to publish its shards (its
    publishing connection cut, reconnects refused; the consuming one intact): both shard
    messages are lost, the shards stay SCHEDULED, and a second worker's reaper publishes
    them again after AUTOMATION_REDELIVER_SECONDS; the run completes."""
    url = settings.database.url.get_secret_value()
    await seed(app_client, admin, url, VERSIONS)
    proxy, proxied = await rabbitmq_link_proxy()
    try:
        first = start_worker(RABBITMQ_URL=proxied, **SPLIT)
        await asyncio.gather(first.ready(), publisher_ready(app_client))
        assert len(proxy.links) == 2  # publishing first, then consuming
        proxy.cut(0)
        run_id = await trigger_run(app_client, admin)
        await first.until_line("Run split into 2 shards")
        await first.until_line("Could not republish the run")
        shards = await wait_for_shards(
            url, run_id, lambda shards: all(s["state"] == "SCHEDULED" for s in shards)
        )
        assert len(shards) == 2
        second = start_worker(**SPLIT)
        await second.ready()
        started = time.monotonic()
        run = await wait_for_run(url, run_id, is_final, timeout=120)
        completed_in = time.monotonic() - started
        assert run["state"] == "COMPLETED", (run["state"], run["error"])
        assert second.count_lines("Republishing a run that has no message in flight") >= 1
        await assert_sums(url, dict(run))
        await check_runs(url, [run_id])
        report(
            "shard messages lost at the split",
            completed_after_second_worker_ready_s=round(completed_in, 2),
            redeliver_seconds=REDELIVER_S,
        )
    finally:
        await proxy.stop()

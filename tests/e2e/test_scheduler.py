"""The scheduler daemon end to end: real `tasktracker scheduler` replicas, PostgreSQL,
RabbitMQ and a worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re
import time

import pytest

from app.services.jobs import set_job_enabled
from tests.support.services import connect_db

pytestmark = pytest.mark.timeout(120)

FUNC_REF_QUERY = "SELECT id, func_ref FROM apscheduler_jobs WHERE func_ref LIKE '%automation%';"
TICK_SECONDS = 2


async def poll(database_url, query, done, *args, timeout=15):  # noqa: ASYNC109 - polling deadline
    """Run `query` until `done(result)` holds; the result."""
    conn = await connect_db(database_url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = await conn.fetch(query, *args)
                if done(result):
                    return result
                await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def registered_job(database_url, *, paused):
    """Wait until daily-automation is in apscheduler_jobs, paused (no next run) or not."""
    rows = await poll(
        database_url,
        "SELECT j.id, j.next_run_time, d.state FROM apscheduler_jobs j"
        " JOIN scheduled_jobs d USING (id) WHERE j.id = 'daily-automation'",
        lambda rows: (
            bool(rows)
            and (rows[0]["next_run_time"] is None) == paused
            and rows[0]["state"] == ("PAUSED" if paused else "SCHEDULED")
        ),
    )
    return rows[0]


async def test_func_ref_query_reconcile_restore_and_pause_across_restarts(
    settings, start_scheduler, pool, app_client, admin
):
    """The operators' psql query lists the job; a hand-deleted row comes back; a paused job
    stays paused through a restart, and resumes when told."""
    database_url = settings.database.url.get_secret_value()
    scheduler = start_scheduler()
    await scheduler.until_line(r"Job registered job=daily-automation")
    row = await registered_job(database_url, paused=False)
    expected = dt.datetime.now(dt.UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    if expected <= dt.datetime.now(dt.UTC):
        expected += dt.timedelta(days=1)
    assert row["next_run_time"] == expected.timestamp()

    conn = await connect_db(database_url)
    try:
        rows = await conn.fetch(FUNC_REF_QUERY)
        assert [tuple(r) for r in rows] == [
            ("daily-automation", "scheduler.ticks:fire_automation_job")
        ]
        await conn.execute("DELETE FROM apscheduler_jobs WHERE id = 'daily-automation'")
    finally:
        await conn.close()
    started = time.monotonic()
    await scheduler.until_line(r"Job restored.*job=daily-automation")
    await registered_job(database_url, paused=False)
    assert time.monotonic() - started < 30

    health = (await app_client.get("/api/v1/health/scheduler", headers=admin)).json()
    assert health["leader"]["pid"] == scheduler.process.pid
    assert (health["jobs_defined"], health["jobs_registered"]) == (1, 1)

    await set_job_enabled(pool, "daily-automation", "test", enabled=False)
    await registered_job(database_url, paused=True)
    assert scheduler.stop() == 0

    restarted = start_scheduler()
    await restarted.until_line(r"Leadership gained")
    await restarted.until_line(r"Reconciled")
    job = await registered_job(database_url, paused=True)  # still paused after the restart
    assert job["next_run_time"] is None
    assert restarted.count_lines(r"Job (registered|restored|updated)") == 0

    await set_job_enabled(pool, "daily-automation", "test", enabled=True)
    await restarted.until_line(r"Job updated job=daily-automation")
    await registered_job(database_url, paused=False)


async def job_runs(database_url):
    conn = await connect_db(database_url)
    try:
        return await conn.fetch(
            "SELECT id, trigger, job_id, state, scheduled_for, claimed_by FROM automation_runs"
            " WHERE job_id = 'daily-automation' ORDER BY scheduled_for"
        )
    finally:
        await conn.close()


def fired_runs(replica):
    """The run ids a replica logged as fired."""
    return {
        match.group(1)
        for line in replica.lines
        if (match := re.search(r"scheduler: Job fired .*run=([0-9a-f-]{36})", line))
    }


async def test_two_replicas_give_one_run_per_tick_and_the_standby_takes_over(
    settings, start_scheduler, start_worker, app_client, admin
):
    """Two schedulers on one database: only the leader fires, every tick yields one run that
    a worker completes; killing the leader makes the standby lead within 10 s and fire the
    next ticks, once each."""
    database_url = settings.database.url.get_secret_value()
    worker = start_worker()
    await worker.ready()
    first = start_scheduler(tick_seconds=TICK_SECONDS)
    await first.until_line(r"Leadership gained")
    second = start_scheduler(tick_seconds=TICK_SECONDS)
    await second.until_line(r"Scheduler is standby")

    await poll(
        database_url, "SELECT 1 FROM automation_runs", lambda rows: len(rows) >= 4, timeout=30
    )
    first.kill()
    killed_at = time.monotonic()
    await second.until_line(r"Leadership gained", timeout=15)
    takeover = time.monotonic() - killed_at
    assert takeover < 10, takeover
    fired_before = len(await job_runs(database_url))
    await poll(
        database_url,
        "SELECT 1 FROM automation_runs",
        lambda rows: len(rows) >= fired_before + 3,
        timeout=30,
    )
    second.stop()
    runs = await poll(
        database_url,
        "SELECT state FROM automation_runs",
        lambda rows: all(r["state"] in ("COMPLETED", "FAILED") for r in rows),
        timeout=30,
    )
    assert {r["state"] for r in runs} == {"COMPLETED"}

    runs = await job_runs(database_url)
    ticks = [r["scheduled_for"] for r in runs]
    assert len(ticks) == len(set(ticks))
    assert all(r["trigger"] == "cron" and r["claimed_by"] for r in runs)
    # Each run was fired by one replica. A replica ended between committing a run and logging
    # it leaves that run unaccounted for: the killed leader (SIGKILL) at most one, before the
    # new leader's runs; the new leader (SIGTERM, its fire cancelled while it published) at
    # most one, after all of its logged runs.
    by_first, by_second = fired_runs(first), fired_runs(second)
    assert not by_first & by_second
    assert by_second, "the standby fired nothing after taking over"
    unlogged = [r for r in runs if str(r["id"]) not in by_first | by_second]
    of_second = [r["scheduled_for"] for r in runs if str(r["id"]) in by_second]
    first_of_second, last_of_second = min(of_second), max(of_second)
    by_killed = [r for r in unlogged if r["scheduled_for"] < first_of_second]
    by_stopped = [r for r in unlogged if r["scheduled_for"] > last_of_second]
    assert len(by_killed) <= 1 and len(by_stopped) <= 1, unlogged
    assert len(by_killed) + len(by_stopped) == len(unlogged), unlogged
    assert all(r["scheduled_for"] < first_of_second for r in runs if str(r["id"]) in by_first)
    # The new leader catches up the latest unfired tick, then starts APScheduler, whose store
    # may hold that same tick as due: the fence stops that one, and only that one.
    assert second.count_lines(r"Tick already has its run") <= 1
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)]
    assert all(gap % TICK_SECONDS == 0 for gap in gaps), gaps
    # While one leader runs, no tick is skipped; the takeover may coalesce the ticks it missed.
    assert sum(1 for gap in gaps if gap != TICK_SECONDS) <= 1, gaps
    assert max(gaps) <= takeover + 2 * TICK_SECONDS, gaps

    history = await app_client.get(
        "/api/v1/scheduler/jobs/daily-automation/runs", params={"limit": 1000}, headers=admin
    )
    assert {run["id"] for run in history.json()["items"]} == {str(r["id"]) for r in runs}
    job = (await app_client.get("/api/v1/scheduler/jobs/daily-automation", headers=admin)).json()
    assert job["state"] == "COMPLETED"
    assert job["last_run"]["state"] == "COMPLETED"

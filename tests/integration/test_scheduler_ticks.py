"""Ticks on the leader's side: catching up the tick a killed leader never fired, and counting
the ticks missed beyond the grace."""

from __future__ import annotations

import asyncio
import datetime as dt
import math

import pytest
from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent

from app.repositories import jobs as job_repo
from scheduler.daemon import Leading, _job_store_engine
from scheduler.reconcile import catch_up_missed_ticks
from tests.support.seconds_scheduler import EverySeconds

pytestmark = pytest.mark.timeout(30)

HOUR = 3600


def hourly(_cron: str, _zone: str) -> EverySeconds:
    return EverySeconds(HOUR)


async def catch_up(pool) -> list[tuple[str, dt.datetime]]:
    fired: list[tuple[str, dt.datetime]] = []

    async def fire(job_id: str, tick: dt.datetime) -> None:
        fired.append((job_id, tick))
        async with pool.acquire() as conn:
            await job_repo.create_cron_run(conn, job_id, tick)

    await catch_up_missed_ticks(pool, hourly, fire, grace_seconds=HOUR)
    return fired


async def test_the_latest_unfired_tick_within_the_grace_fires_once(pool):
    """With no run for this hour's tick, catching up fires it; a second pass fires nothing."""
    async with pool.acquire() as conn:
        await conn.execute("UPDATE scheduled_jobs SET updated_at = now() - interval '3 hours'")
    now = dt.datetime.now(dt.UTC)
    this_hour = dt.datetime.fromtimestamp(math.floor(now.timestamp() / HOUR) * HOUR, dt.UTC)
    assert await catch_up(pool) == [("daily-automation", this_hour)]
    assert await catch_up(pool) == []


async def test_no_catch_up_for_a_paused_job_or_a_tick_before_the_last_change(pool):
    """A paused job, or one changed after the tick, gets nothing."""
    async with pool.acquire() as conn:
        await conn.execute("UPDATE scheduled_jobs SET updated_at = now()")
    assert await catch_up(pool) == []
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE scheduled_jobs SET enabled = false, updated_at = now() - interval '3 hours'"
        )
    assert await catch_up(pool) == []


async def test_missed_ticks_are_logged_and_counted(settings, pool, caplog):
    """A tick reported missed gives a "Ticks missed" line and counts in scheduler_status."""
    engine = _job_store_engine(settings)
    leading = Leading(settings, pool, publisher=None, engine=engine, make_trigger=hourly)
    tick = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    with caplog.at_level("WARNING", logger="scheduler"):
        leading._on_event(JobExecutionEvent(EVENT_JOB_MISSED, "daily-automation", "default", tick))
        await asyncio.gather(*leading._background)
    engine.dispose()
    (record,) = [r for r in caplog.records if r.name == "scheduler"]
    assert record.getMessage() == "Ticks missed: later than the misfire grace"
    assert record.context["job"] == "daily-automation"
    async with pool.acquire() as conn:
        health = await job_repo.get_scheduler_health(conn)
    assert health.missed_ticks == 1

"""The tick executor: each due tick fires with its own scheduled time; a tick later than the
misfire grace is reported missed instead of fired."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from scheduler.ticks import TickExecutor, fire_automation_job

pytestmark = pytest.mark.timeout(10)


async def test_ticks_fire_with_their_scheduled_time_and_late_ones_are_missed():
    """The fire gets the tick it was handed, not the clock; a tick past the grace is missed."""
    fired: list[tuple[str, dt.datetime]] = []

    async def fire(job_id: str, tick: dt.datetime) -> None:
        fired.append((job_id, tick))

    scheduler = AsyncIOScheduler(timezone=dt.UTC)
    executor = TickExecutor(fire)
    executor.start(scheduler, "default")
    events = []
    done = asyncio.Event()

    def listen(event):
        events.append((event.code, event.scheduled_run_time))
        if len(events) == 2:
            done.set()

    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
    now = dt.datetime.now(dt.UTC)
    job = Job(
        scheduler,
        id="nightly",
        func=fire_automation_job,
        args=["nightly"],
        kwargs={},
        trigger=DateTrigger(now),
        executor="default",
        name="nightly",
        misfire_grace_time=30,
        coalesce=True,
        max_instances=1,
        next_run_time=now,
    )
    job._jobstore_alias = "default"
    late, on_time = now - dt.timedelta(seconds=120), now - dt.timedelta(seconds=3)
    executor.submit_job(job, [late, on_time])
    async with asyncio.timeout(5):
        await done.wait()
    assert fired == [("nightly", on_time)]
    assert events == [(EVENT_JOB_MISSED, late), (EVENT_JOB_EXECUTED, on_time)]


async def test_the_stored_callable_is_never_run_directly():
    """The trampoline only names the job; calling it is a bug and says so."""
    with pytest.raises(RuntimeError, match="TickExecutor"):
        await fire_automation_job("nightly")

"""What a due job does: the stable trampoline APScheduler stores, and the executor that hands
each tick (the scheduled run time, not the clock) to the scheduler's fire function.

APScheduler calls a job's callable without its scheduled run time; only the executor is
handed the run times. So every job stores the same callable, `fire_automation_job`, taking
only the job id (renaming code never orphans a stored job), and `TickExecutor` fires
`fire(job_id, tick)` for each due tick instead of calling it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from collections.abc import Awaitable, Callable

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job

logger = logging.getLogger("scheduler")

Fire = Callable[[str, dt.datetime], Awaitable[None]]


async def fire_automation_job(job_id: str) -> None:
    """The callable every automation job stores in apscheduler_jobs (func_ref). TickExecutor
    fires the job with its tick instead; a direct call has no tick to fire."""
    msg = f"job {job_id!r} is fired by TickExecutor, which knows its tick"
    raise RuntimeError(msg)


class TickExecutor(BaseExecutor):  # type: ignore[misc]  # APScheduler ships no types
    """Fires each due tick within the misfire grace; reports the others as missed."""

    def __init__(self, fire: Fire) -> None:
        super().__init__()
        self._fire = fire
        self._running: set[asyncio.Task[None]] = set()

    def shutdown(self, wait: bool = True) -> None:
        del wait
        for task in self._running:
            task.cancel()

    def _do_submit_job(self, job: Job, run_times: list[dt.datetime]) -> None:
        task = asyncio.get_running_loop().create_task(self._fire_ticks(job, run_times))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _fire_ticks(self, job: Job, run_times: list[dt.datetime]) -> None:
        store = job._jobstore_alias
        events = []
        for tick in run_times:
            late = (dt.datetime.now(dt.UTC) - tick).total_seconds()
            if job.misfire_grace_time is not None and late > job.misfire_grace_time:
                events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, store, tick))
                continue
            try:
                await self._fire(job.id, tick)
            except Exception:
                self._run_job_error(job.id, *sys.exc_info()[1:])
                return
            events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, store, tick))
        self._run_job_success(job.id, events)

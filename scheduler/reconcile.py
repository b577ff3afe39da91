"""Make APScheduler's jobs match scheduled_jobs, the source of truth.

Adds what is missing (a row deleted from apscheduler_jobs by hand comes back), follows a
changed cron or zone, pauses and resumes by `enabled`, removes removed jobs. A paused job is
changed without replace_existing (which would un-pause it) and keeps no next run time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from app.db import Pool
from app.logging import context
from app.models import JobState
from app.repositories import jobs as job_repo
from scheduler.ticks import Fire, fire_automation_job

logger = logging.getLogger("scheduler")

TriggerFactory = Callable[[str, str], BaseTrigger]


def _register(
    scheduler: AsyncIOScheduler, definition: dict[str, Any], trigger: BaseTrigger
) -> None:
    options: dict[str, Any] = {
        "trigger": trigger,
        "id": definition["id"],
        "name": definition["name"],
        "args": [definition["id"]],
    }
    if not definition["enabled"]:
        options["next_run_time"] = None  # added paused
    try:
        scheduler.add_job(fire_automation_job, **options)
    except ConflictingIdError:
        # A row that no longer unpickles: the store skipped it, so write it again.
        scheduler.remove_job(definition["id"])
        scheduler.add_job(fire_automation_job, **options)


def _follow(
    scheduler: AsyncIOScheduler, job: Any, definition: dict[str, Any], trigger: BaseTrigger
) -> bool:
    """Bring a registered job in line with its definition; True when something changed."""
    changed = False
    paused = job.next_run_time is None
    if str(job.trigger) != str(trigger) or job.name != definition["name"]:
        if paused:
            job.modify(trigger=trigger, name=definition["name"])  # stays paused
        else:
            job.modify(name=definition["name"])
            job.reschedule(trigger)
        changed = True
    if definition["enabled"] and paused:
        job.resume()
        changed = True
    elif not definition["enabled"] and not paused:
        job.pause()
        changed = True
    return changed


async def reconcile(pool: Pool, scheduler: AsyncIOScheduler, make_trigger: TriggerFactory) -> None:
    """One pass over every definition; logs each job registered, restored, updated, removed."""
    async with pool.acquire() as conn:
        definitions = await job_repo.list_job_definitions(conn)
    registered = {job.id: job for job in scheduler.get_jobs()}
    for definition in definitions:
        job_id = definition["id"]
        job = registered.pop(job_id, None)
        stored = JobState(definition["state"])
        if stored is JobState.REMOVED:
            if job is not None:
                scheduler.remove_job(job_id)
                logger.info("Job removed", extra=context(job=job_id))
            continue
        trigger = make_trigger(definition["cron"], definition["timezone"])
        if job is None:
            _register(scheduler, definition, trigger)
            if stored is JobState.PENDING:
                logger.info("Job registered", extra=context(job=job_id, trigger=trigger))
            else:
                logger.warning(
                    "Job restored: it was missing from apscheduler_jobs", extra=context(job=job_id)
                )
        elif _follow(scheduler, job, definition, trigger):
            logger.info(
                "Job updated",
                extra=context(job=job_id, trigger=trigger, enabled=definition["enabled"]),
            )
        registered_state = JobState.SCHEDULED if definition["enabled"] else JobState.PAUSED
        async with pool.acquire() as conn:
            await job_repo.set_job_registered_state(conn, job_id, registered_state)
    for job_id in registered:  # in the store but never defined
        scheduler.remove_job(job_id)
        logger.info("Job removed: not defined in scheduled_jobs", extra=context(job=job_id))
    logger.debug("Reconciled", extra=context(jobs=len(definitions)))


def _latest_tick(trigger: BaseTrigger, after: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The last tick in (after, now], if any."""
    latest = None
    tick = trigger.get_next_fire_time(None, after + dt.timedelta(microseconds=1))
    while tick is not None and tick <= now:
        latest = tick
        tick = trigger.get_next_fire_time(tick, tick)
    return latest


async def catch_up_missed_ticks(
    pool: Pool, make_trigger: TriggerFactory, fire: Fire, grace_seconds: int
) -> None:
    """Fire, once, the latest tick of each enabled job that passed within the misfire grace
    without a run. A new leader does this first: APScheduler moves a job's next run time in
    the store before the fire runs, so a leader that died in between left its tick unfired."""
    now = dt.datetime.now(dt.UTC)
    async with pool.acquire() as conn:
        definitions = await job_repo.list_job_definitions(conn)
    for definition in definitions:
        if not definition["enabled"] or definition["state"] == JobState.REMOVED:
            continue
        # Never a tick from before the job (or its current cron) existed.
        since = max(
            filter(None, (definition["last_tick"], definition["updated_at"])),
            default=now,
        )
        since = max(since, now - dt.timedelta(seconds=grace_seconds))
        trigger = make_trigger(definition["cron"], definition["timezone"])
        tick = _latest_tick(trigger, since, now)
        if tick is not None:
            logger.info(
                "Catching up a tick left unfired", extra=context(job=definition["id"], tick=tick)
            )
            await fire(definition["id"], tick)

"""Job definitions in scheduled_jobs, the scheduler's source of truth: every change is
validated (off the event loop: finding that a cron never fires costs CPU), audited, and
announced to the scheduler by the table's NOTIFY trigger."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from app.automation.publisher import RunPublisher
from app.automation.trigger import trigger_run
from app.cron import WallClockCronTrigger, validate_schedule
from app.db import Connection, Pool, transaction
from app.errors import ConflictError, NotFoundError
from app.models import JobBody, JobIn, JobState, JobView, TriggerAnswer, TriggerRequest
from app.repositories import audit
from app.repositories import jobs as job_repo

NEXT_FIRES_MAX = 100


async def _validated(body: JobBody, default_timezone: str) -> tuple[JobBody, str]:
    timezone = body.timezone or default_timezone
    await asyncio.to_thread(validate_schedule, body.cron, timezone)
    return body.model_copy(update={"cron": " ".join(body.cron.split())}), timezone


async def _audit(conn: Connection, actor: str, action: str, job: JobView, **more: Any) -> None:
    definition = job.model_dump(mode="json", include={"name", "cron", "timezone", "enabled"})
    await audit.insert_audit_entry(
        conn, actor=actor, action=action, details={"job_id": job.id, **definition, **more}
    )


async def _live(conn: Connection, job_id: str) -> None:
    """Raise NotFoundError or ConflictError unless the job exists and is not removed."""
    state = await job_repo.get_job_state(conn, job_id)
    if state is None:
        raise NotFoundError(f"job {job_id!r} does not exist")
    if state is JobState.REMOVED:
        raise ConflictError(f"job {job_id!r} was removed; create a job with a new id")


async def create_job(pool: Pool, body: JobIn, actor: str, default_timezone: str) -> JobView:
    definition, timezone = await _validated(body, default_timezone)
    async with transaction(pool) as conn:
        if not await job_repo.insert_job(conn, body.id, definition, timezone):
            raise ConflictError(f"job id {body.id!r} is taken (ids of removed jobs stay taken)")
        job = await job_repo.get_job(conn, body.id)
        await _audit(conn, actor, "job.create", job)
    return job


async def update_job(
    pool: Pool, job_id: str, body: JobBody, actor: str, default_timezone: str
) -> JobView:
    definition, timezone = await _validated(body, default_timezone)
    async with transaction(pool) as conn:
        await _live(conn, job_id)
        before = await job_repo.get_job(conn, job_id)
        await job_repo.update_job(conn, job_id, definition, timezone)
        job = await job_repo.get_job(conn, job_id)
        await _audit(
            conn,
            actor,
            "job.update",
            job,
            before=before.model_dump(mode="json", include={"name", "cron", "timezone", "enabled"}),
        )
    return job


async def set_job_enabled(pool: Pool, job_id: str, actor: str, *, enabled: bool) -> JobView:
    """Pause (enabled false) or resume a job; the scheduler follows the definition."""
    async with transaction(pool) as conn:
        await _live(conn, job_id)
        await job_repo.set_job_enabled(conn, job_id, enabled=enabled)
        job = await job_repo.get_job(conn, job_id)
        await _audit(conn, actor, "job.resume" if enabled else "job.pause", job)
    return job


async def remove_job(pool: Pool, job_id: str, actor: str) -> JobView:
    async with transaction(pool) as conn:
        await _live(conn, job_id)
        await job_repo.remove_job(conn, job_id)
        job = await job_repo.get_job(conn, job_id)
        await _audit(conn, actor, "job.delete", job)
    return job


async def next_fires(pool: Pool, job_id: str, count: int) -> list[dt.datetime]:
    """The job's next fire times in its own zone (none for a removed job)."""
    async with pool.acquire() as conn:
        job = await job_repo.get_job(conn, job_id)
    if job.state is JobState.REMOVED:
        return []
    trigger = WallClockCronTrigger(job.cron, job.timezone)
    fires = await asyncio.to_thread(trigger.next_fires, count, dt.datetime.now(dt.UTC))
    return [fire.astimezone(trigger.zone) for fire in fires]


async def check_schedule(cron: str, timezone: str, count: int) -> list[dt.datetime]:
    """The next `count` fires of `cron` in `timezone`, in that zone, as a job defined with them
    would fire; InvalidInputError (the words create and update answer) when either is refused.
    Off the event loop, as `_validated`: finding that a cron never fires costs CPU."""

    def fires() -> list[dt.datetime]:
        trigger = WallClockCronTrigger(validate_schedule(cron, timezone), timezone)
        found = trigger.next_fires(min(count, NEXT_FIRES_MAX), dt.datetime.now(dt.UTC))
        return [fire.astimezone(trigger.zone) for fire in found]

    return await asyncio.to_thread(fires)


async def run_job_now(
    pool: Pool, publisher: RunPublisher, job_id: str, *, actor: str, token_name: str
) -> TriggerAnswer:
    """Run a live job's task now: a manual run carrying the job id (it coalesces like any
    manual trigger). 404 for an unknown job, 409 for a removed one."""
    async with pool.acquire() as conn:
        await _live(conn, job_id)
    return await trigger_run(
        pool,
        publisher,
        TriggerRequest(reason=f"run now: job {job_id}"),
        actor=actor,
        token_name=token_name,
        job_id=job_id,
    )

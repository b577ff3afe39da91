"""Scheduled jobs: their definitions, the view the API shows, cron runs and the leader's row."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from app.db import Connection
from app.errors import NotFoundError
from app.models import (
    JobBody,
    JobState,
    JobView,
    LastRun,
    Run,
    SchedulerHealth,
    SchedulerLeader,
)
from app.repositories import fetch_all
from app.sql import queries


def _state(row: Any) -> JobState:
    """SPEC section 4. Once registered, `enabled` decides between PAUSED and the run-derived
    states at once, so a pause answers PAUSED before the scheduler has caught up."""
    stored = JobState(row["stored_state"])
    if stored in (JobState.REMOVED, JobState.PENDING):
        return stored
    if not row["enabled"]:
        return JobState.PAUSED
    if row["has_active_run"]:
        return JobState.EXECUTING
    if row["last_run_id"] is not None:
        return JobState(row["last_run_state"])  # COMPLETED or FAILED
    return JobState.SCHEDULED


def _view(row: Any) -> JobView:
    zone = zoneinfo.ZoneInfo(row["timezone"])
    next_run_at: dt.datetime | None = row["next_run_at"]
    last_run = (
        LastRun(
            id=row["last_run_id"],
            state=row["last_run_state"],
            finished_at=row["last_run_finished_at"],
        )
        if row["last_run_id"] is not None
        else None
    )
    return JobView(
        id=row["id"],
        name=row["name"],
        cron=row["cron"],
        timezone=row["timezone"],
        task=row["task"],
        enabled=row["enabled"],
        state=_state(row),
        next_run_at=next_run_at.astimezone(zone) if next_run_at else None,
        func_ref=row["func_ref"],
        last_run=last_run,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def insert_job(conn: Connection, job_id: str, body: JobBody, timezone: str) -> bool:
    """False when the id is taken (by a live or a removed job)."""
    row = await queries.insert_job(conn, id=job_id, timezone=timezone, **_fields(body))
    return row is not None


def _fields(body: JobBody) -> dict[str, Any]:
    return {"name": body.name, "cron": body.cron, "task": body.task.value, "enabled": body.enabled}


async def update_job(conn: Connection, job_id: str, body: JobBody, timezone: str) -> bool:
    """False when there is no live job with this id."""
    row = await queries.update_job(conn, id=job_id, timezone=timezone, **_fields(body))
    return row is not None


async def set_job_enabled(conn: Connection, job_id: str, *, enabled: bool) -> bool:
    return await queries.set_job_enabled(conn, id=job_id, enabled=enabled) is not None


async def remove_job(conn: Connection, job_id: str) -> bool:
    return await queries.remove_job(conn, id=job_id) is not None


async def get_job_state(conn: Connection, job_id: str) -> JobState | None:
    state = await queries.get_job_state(conn, id=job_id)
    return JobState(state) if state is not None else None


async def get_job(conn: Connection, job_id: str) -> JobView:
    rows = await fetch_all(
        queries.list_job_views(conn, id=job_id, removed=False, after_seq=0, limit=1)
    )
    if not rows:
        raise NotFoundError(f"job {job_id!r} does not exist")
    return _view(rows[0])


async def list_jobs(
    conn: Connection, *, removed: bool, after_seq: int, limit: int
) -> list[tuple[int, JobView]]:
    """Jobs in creation order after a cursor, each with its sort key."""
    rows = await fetch_all(
        queries.list_job_views(conn, id=None, removed=removed, after_seq=after_seq, limit=limit)
    )
    return [(row["seq"], _view(row)) for row in rows]


async def list_job_definitions(conn: Connection) -> list[dict[str, Any]]:
    return [dict(row) for row in await fetch_all(queries.list_job_definitions(conn))]


async def set_job_registered_state(conn: Connection, job_id: str, state: JobState) -> None:
    await queries.set_job_registered_state(conn, id=job_id, state=state.value)


async def create_cron_run(conn: Connection, job_id: str, scheduled_for: dt.datetime) -> Run | None:
    """The run of one tick, or None when that tick already has one."""
    row = await queries.create_cron_run(conn, job_id=job_id, scheduled_for=scheduled_for)
    return Run.model_validate(dict(row)) if row is not None else None


async def try_scheduler_leadership(conn: Connection) -> bool:
    return bool(await queries.try_scheduler_leadership(conn))


async def record_scheduler_leader(conn: Connection, host: str, pid: int) -> None:
    await queries.record_scheduler_leader(conn, host=host, pid=pid)


async def record_scheduler_wakeup(conn: Connection) -> bool:
    """False when this session is no longer the recorded leader."""
    return await queries.record_scheduler_wakeup(conn) is not None


async def count_missed_ticks(conn: Connection, count: int) -> None:
    await queries.count_missed_ticks(conn, count=count)


async def get_scheduler_health(conn: Connection) -> SchedulerHealth:
    row = await queries.get_scheduler_health(conn)
    leader = (
        SchedulerLeader(host=row["leader_host"], pid=row["leader_pid"], since=row["leader_since"])
        if row["leader_alive"] and row["leader_host"] is not None
        else None
    )
    return SchedulerHealth(
        leader=leader,
        last_wakeup_at=row["last_wakeup_at"],
        missed_ticks=row["missed_ticks"],
        jobs_defined=row["jobs_defined"],
        jobs_registered=row["jobs_registered"],
    )

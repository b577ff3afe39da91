"""Scheduled jobs: define them (admin), pause, resume and run them now (operator), read them,
their runs and their next fire times (viewer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from app.automation.publisher import RunPublisher
from app.models import (
    JOB_ID_PATTERN,
    JobBody,
    JobIn,
    JobState,
    JobView,
    NextFires,
    Page,
    Role,
    RunState,
    RunView,
    TriggerAnswer,
)
from app.repositories import jobs as job_repo
from app.repositories import runs as run_repo
from app.services import jobs as job_service
from app.services.jobs import NEXT_FIRES_MAX
from app.web.auth import GuardedRoute, requires
from app.web.deps import AppSettings, CurrentPrincipal, Cursor, DbPool, Limit
from app.web.pagination import decode_cursor, encode_cursor

router = APIRouter(prefix="/scheduler/jobs", tags=["scheduler"], route_class=GuardedRoute)

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the job's slug")]


@router.get("", openapi_extra=requires(Role.VIEWER), summary="Jobs in creation order")
async def list_jobs(
    pool: DbPool,
    limit: Limit = 50,
    cursor: Cursor = None,
    state: Annotated[
        JobState | None, Query(description="REMOVED lists removed jobs; others filter live ones")
    ] = None,
) -> Page[JobView]:
    after = decode_cursor(cursor, 1)[0] if cursor else 0
    removed = state is JobState.REMOVED
    async with pool.acquire() as conn:
        rows = await job_repo.list_jobs(conn, removed=removed, after_seq=after, limit=limit)
    next_cursor = encode_cursor(rows[-1][0]) if len(rows) == limit else None
    items = [job for _, job in rows if state is None or job.state is state]
    return Page[JobView](items=items, next_cursor=next_cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=requires(Role.ADMIN),
    summary="Define a job (the scheduler registers it within seconds)",
)
async def create_job(
    pool: DbPool, settings: AppSettings, principal: CurrentPrincipal, body: JobIn
) -> JobView:
    return await job_service.create_job(pool, body, principal.actor, settings.scheduler.timezone)


@router.get("/{job_id}", openapi_extra=requires(Role.VIEWER), summary="One job (removed too)")
async def get_job(pool: DbPool, job_id: JobId) -> JobView:
    async with pool.acquire() as conn:
        return await job_repo.get_job(conn, job_id)


@router.put("/{job_id}", openapi_extra=requires(Role.ADMIN), summary="Replace a job's definition")
async def update_job(
    pool: DbPool, settings: AppSettings, principal: CurrentPrincipal, job_id: JobId, body: JobBody
) -> JobView:
    return await job_service.update_job(
        pool, job_id, body, principal.actor, settings.scheduler.timezone
    )


@router.delete(
    "/{job_id}",
    openapi_extra=requires(Role.ADMIN),
    summary="Take a job off the schedule (REMOVED; its row and runs stay)",
)
async def delete_job(pool: DbPool, principal: CurrentPrincipal, job_id: JobId) -> JobView:
    return await job_service.remove_job(pool, job_id, principal.actor)


@router.post("/{job_id}/pause", openapi_extra=requires(Role.OPERATOR), summary="Pause a job")
async def pause_job(pool: DbPool, principal: CurrentPrincipal, job_id: JobId) -> JobView:
    return await job_service.set_job_enabled(pool, job_id, principal.actor, enabled=False)


@router.post("/{job_id}/resume", openapi_extra=requires(Role.OPERATOR), summary="Resume a job")
async def resume_job(pool: DbPool, principal: CurrentPrincipal, job_id: JobId) -> JobView:
    return await job_service.set_job_enabled(pool, job_id, principal.actor, enabled=True)


@router.post(
    "/{job_id}/run",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=requires(Role.OPERATOR),
    summary="Run the job's task now (a manual run in the job's history; coalesces)",
)
async def run_job(
    request: Request, pool: DbPool, principal: CurrentPrincipal, job_id: JobId
) -> TriggerAnswer:
    publisher: RunPublisher = request.app.state.publisher
    return await job_service.run_job_now(
        pool, publisher, job_id, actor=principal.actor, token_name=principal.name
    )


@router.get("/{job_id}/runs", openapi_extra=requires(Role.VIEWER), summary="The job's runs")
async def list_job_runs(
    pool: DbPool,
    job_id: JobId,
    limit: Limit = 50,
    cursor: Cursor = None,
    state: RunState | None = None,
) -> Page[RunView]:
    before = decode_cursor(cursor, 1)[0] if cursor else None
    async with pool.acquire() as conn:
        await job_repo.get_job(conn, job_id)  # 404 for an unknown job
        runs = await run_repo.list_runs(
            conn, state=state, trigger=None, job_id=job_id, before_seq=before, limit=limit
        )
    next_cursor = encode_cursor(runs[-1].seq) if len(runs) == limit else None
    return Page[RunView](items=[RunView.of(run) for run in runs], next_cursor=next_cursor)


@router.get(
    "/{job_id}/next-fires",
    openapi_extra=requires(Role.VIEWER),
    summary="The job's next fire times, in its zone",
)
async def next_fires(
    pool: DbPool,
    job_id: JobId,
    n: Annotated[int, Query(ge=1, le=NEXT_FIRES_MAX, description="how many")] = 5,
) -> NextFires:
    return NextFires(fires=await job_service.next_fires(pool, job_id, n))

"""The console's Overview page: the numbers, their trends, the brake, the scheduler's health,
the next fires and the latest runs; and the brake's Pause and Resume."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, Response

from app.automation import brake
from app.console.refusal import refusing
from app.console.render import PAGE_SIZE, done, render
from app.console.viewer import ActingAdmin, CurrentViewer, Viewer, database_pool
from app.errors import AppError
from app.models import JobView, RunView
from app.repositories import brake as brake_repo
from app.repositories import jobs as job_repo
from app.repositories import runs as run_repo
from app.repositories import stats as stats_repo
from app.services import jobs as job_service

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("")
async def overview(who: CurrentViewer, period: Annotated[int, Query()] = 7) -> HTMLResponse:
    days = period if period in (7, 30, 90) else 7
    async with database_pool(who.request).acquire() as conn:
        stats = await stats_repo.get_stats(conn)
        trends = await stats_repo.get_trends(conn, days)
        state = await brake_repo.get_automation_state(conn)
        health = await job_repo.get_scheduler_health(conn)
        jobs = await job_repo.list_jobs(conn, removed=False, after_seq=0, limit=PAGE_SIZE)
        runs = await run_repo.list_runs(
            conn, state=None, trigger=None, job_id=None, before_seq=None, limit=10
        )
    return render(
        who,
        who.request,
        "overview.html",
        page="overview",
        stats=stats,
        trends=trends,
        period=days,
        state=state,
        health=health,
        fires=await _next_fires(who, [job for _, job in jobs if job.enabled][:5]),
        runs=[RunView.of(run) for run in runs],
    )


async def _next_fires(who: Viewer, jobs: list[JobView]) -> list[tuple[JobView, dt.datetime, bool]]:
    """Each enabled job's next fire: the scheduler's registered one, or else its cron's (with
    no scheduler running nothing fires; the page says which is which)."""
    fires: list[tuple[JobView, dt.datetime, bool]] = []
    for job in jobs:
        if job.next_run_at is not None:
            fires.append((job, job.next_run_at, True))
            continue
        try:
            upcoming = await job_service.next_fires(database_pool(who.request), job.id, 1)
        except AppError:
            continue  # removed meanwhile
        if upcoming:
            fires.append((job, upcoming[0], False))
    return sorted(fires, key=lambda fire: fire[1])


@router.post("/brake/pause", dependencies=[refusing("/ui")])
async def pause(who: ActingAdmin, reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    await brake.pause_automation(database_pool(who.request), who.principal.actor, reason or None)
    return done("/ui")


@router.post("/brake/resume", dependencies=[refusing("/ui")])
async def resume(who: ActingAdmin) -> Response:
    await brake.resume_automation(database_pool(who.request), who.principal.actor, None)
    return done("/ui")

"""The console's Schedules page: jobs with their state, cron, zone, next fire and last run;
create and edit a job (the cron checked while typing, with its next five fires); Pause,
Resume, Run now and Delete. Every change goes through app.services.jobs, as the API's."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.console.refusal import refused, refusing
from app.console.render import done, render
from app.console.viewer import (
    Acting,
    ActingAdmin,
    AdminViewer,
    CurrentViewer,
    Viewer,
    allowed,
    database_pool,
)
from app.errors import ConflictError, InvalidInputError
from app.models import JobBody, JobIn, JobState, JobTask, JobView, Role
from app.repositories import jobs as job_repo
from app.services import jobs as job_service

router = APIRouter(prefix="/ui", include_in_schema=False)

SCHEDULES = "/ui/schedules"
FIRES_SHOWN = 5
BY_CRON_MAX = 100  # the list computes no more than this many fires itself
FIELDS = ("id", "name", "cron", "timezone", "task")


@functools.cache
def _zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


@router.get("/schedules")
async def schedules_page(who: CurrentViewer) -> HTMLResponse:
    async with database_pool(who.request).acquire() as conn:
        rows = await job_repo.list_jobs(conn, removed=False, after_seq=0, limit=500)
    jobs = [job for _, job in rows]
    return render(
        who,
        who.request,
        "schedules.html",
        page="schedules",
        jobs=jobs,
        by_cron=await _fires_by_cron(jobs),
    )


async def _fires_by_cron(jobs: list[JobView]) -> dict[str, Any]:
    """The next fire by its cron of each enabled job no scheduler has registered (with no
    scheduler running nothing fires: the page says which time is which)."""
    fires: dict[str, Any] = {}
    for job in [job for job in jobs if job.enabled and job.next_run_at is None][:BY_CRON_MAX]:
        try:
            upcoming = await job_service.check_schedule(job.cron, job.timezone, 1)
        except InvalidInputError:
            continue  # a zone this host no longer knows: the job's page says why
        if upcoming:
            fires[job.id] = upcoming[0]
    return fires


def _default_zone(who: Viewer) -> str:
    zone: str = who.request.app.state.settings.scheduler.timezone
    return zone


async def _check(who: Viewer, cron: str, timezone: str) -> tuple[list[Any], str]:
    """The next fires of a cron in a zone, or the words the API refuses them with."""
    if not cron.strip():
        return [], ""
    try:
        fires = await job_service.check_schedule(
            cron, timezone.strip() or _default_zone(who), FIRES_SHOWN
        )
    except InvalidInputError as exc:
        return [], exc.message
    return fires, ""


@router.get("/schedules/cron-check")
async def cron_check(
    who: CurrentViewer,
    cron: Annotated[str, Query(max_length=200)] = "",
    timezone: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    """The fragment the cron field asks for while typing: its next five fires, or why not."""
    fires, problem = await _check(who, cron, timezone)
    return render(who, who.request, "_cron_check.html", fires=fires, cron_problem=problem)


async def _editor(
    who: Viewer,
    *,
    job: JobView | None,
    values: dict[str, Any],
    problems: dict[str, list[str]] | None = None,
    status: int = 200,
) -> HTMLResponse:
    fires, problem = await _check(who, values["cron"], values["timezone"])
    return render(
        who,
        who.request,
        "schedule_edit.html",
        status=status,
        page="schedules",
        job=job,
        editable=who.can(Role.ADMIN) and (job is None or job.state is not JobState.REMOVED),
        values=values,
        problems_by=problems or {},
        fires=fires,
        cron_problem=problem,
        tasks=[task.value for task in JobTask],
        zones=_zones(),
        default_zone=_default_zone(who),
    )


def _values_of(job: JobView) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "cron": job.cron,
        "timezone": job.timezone,
        "task": job.task.value,
        "enabled": job.enabled,
    }


def _values_from(form: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        key: value if isinstance(value := form.get(key), str) else "" for key in FIELDS
    }
    values["enabled"] = form.get("enabled") == "true"
    return values


@router.get("/schedules/new", dependencies=[refusing(SCHEDULES)])
async def new_schedule_page(who: AdminViewer) -> HTMLResponse:
    values = {
        "id": "",
        "name": "",
        "cron": "",
        "timezone": _default_zone(who),
        "task": JobTask.AUTOMATION_RUN.value,
        "enabled": True,
    }
    return await _editor(who, job=None, values=values)


async def _job(who: Viewer, job_id: str) -> JobView:
    async with database_pool(who.request).acquire() as conn:
        return await job_repo.get_job(conn, job_id)


@router.get("/schedules/{job_id}/edit", dependencies=[refusing(SCHEDULES)])
async def schedule_page(who: CurrentViewer, job_id: str) -> HTMLResponse:
    job = await _job(who, job_id)
    return await _editor(who, job=job, values=_values_of(job))


def _problems(exc: ValidationError) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in exc.errors():
        place = str(error["loc"][0]) if error["loc"] else ""
        found.setdefault(place, []).append(error["msg"])
    return found


async def _save(who: Viewer, job: JobView | None) -> Response:
    form = await who.request.form()
    values = _values_from(form)
    definition: dict[str, Any] = {
        "name": values["name"],
        "cron": values["cron"],
        "timezone": values["timezone"].strip() or None,
        "task": values["task"],
    }
    pool, actor, zone = database_pool(who.request), who.principal.actor, _default_zone(who)
    try:
        if job is None:
            body = JobIn.model_validate(
                {**definition, "id": values["id"], "enabled": values["enabled"]}
            )
            await job_service.create_job(pool, body, actor, zone)
        else:
            # Without `enabled` an update keeps it: a change of cron never resumes a job.
            values["id"] = job.id
            body_in = JobBody.model_validate(definition)
            await job_service.update_job(pool, job.id, body_in, actor, zone)
    except ValidationError as exc:
        return await _editor(who, job=job, values=values, problems=_problems(exc), status=422)
    except InvalidInputError as exc:
        place = str(exc.loc[-1]) if exc.loc else "cron"
        problems = {place: [exc.message]}
        return await _editor(who, job=job, values=values, problems=problems, status=422)
    except ConflictError as exc:
        if job is not None:
            return refused(who, exc, SCHEDULES)
        taken = {"id": [exc.message]}
        return await _editor(who, job=job, values=values, problems=taken, status=409)
    return done(SCHEDULES)


@router.post("/schedules/new", dependencies=[refusing(SCHEDULES)])
async def create_schedule(who: ActingAdmin) -> Response:
    return await _save(who, None)


@router.post("/schedules/{job_id}/edit", dependencies=[refusing(SCHEDULES)])
async def update_schedule(who: ActingAdmin, job_id: str) -> Response:
    return await _save(who, await _job(who, job_id))


@router.post("/schedules/{job_id}/{verb}", dependencies=[refusing(SCHEDULES)])
async def schedule_action(who: Acting, job_id: str, verb: str) -> Response:
    pool = database_pool(who.request)
    actor = who.principal.actor
    needed = Role.ADMIN if verb == "delete" else Role.OPERATOR
    allowed(needed, who)
    if verb == "pause":
        await job_service.set_job_enabled(pool, job_id, actor, enabled=False)
    elif verb == "resume":
        await job_service.set_job_enabled(pool, job_id, actor, enabled=True)
    elif verb == "run":
        answer = await job_service.run_job_now(
            pool,
            who.request.app.state.publisher,
            job_id,
            actor=actor,
            token_name=who.principal.name,
        )
        return done(f"/ui/runs/{answer.run_id}")
    elif verb == "delete":
        await job_service.remove_job(pool, job_id, actor)
    else:
        return HTMLResponse("unknown action", status_code=404)
    return done(SCHEDULES)

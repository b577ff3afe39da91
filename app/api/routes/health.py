"""Liveness (without a token, so that orchestrators can probe it) and the scheduler's health."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.auth import PUBLIC, GuardedRoute, requires
from app.api.deps import DbPool
from app.models import Role, SchedulerHealth
from app.repositories import jobs as job_repo

router = APIRouter(prefix="/health", tags=["health"], route_class=GuardedRoute)


@router.get("", openapi_extra=requires(PUBLIC), summary="The process is alive")
async def alive() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/scheduler",
    openapi_extra=requires(Role.VIEWER),
    summary="The scheduler's leader (while it holds the lock), its last wake-up, job counts",
)
async def scheduler(pool: DbPool) -> SchedulerHealth:
    async with pool.acquire() as conn:
        return await job_repo.get_scheduler_health(conn)

"""Liveness (without a token, so that orchestrators can probe it) and the scheduler's health."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.automation.publisher import RunPublisher
from app.db import DATABASE_ERRORS, Pool
from app.models import Role, SchedulerHealth
from app.repositories import jobs as job_repo
from app.repositories import session as session_repo
from app.web.auth import PUBLIC, GuardedRoute, requires
from app.web.deps import DbPool

router = APIRouter(prefix="/health", tags=["health"], route_class=GuardedRoute)


@router.get("", openapi_extra=requires(PUBLIC), summary="The process is alive")
async def alive() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str = Field(description="ready, or not ready")
    postgresql: str = Field(description="ok, or why not")
    rabbitmq: str = Field(description="ok, or why not")


READY_CHECK_SECONDS = 2.0


async def _postgresql(pool: Pool) -> str:
    try:
        async with asyncio.timeout(READY_CHECK_SECONDS), pool.acquire() as conn:
            await session_repo.ping(conn)
    except TimeoutError:
        return f"PostgreSQL unreachable: no answer within {READY_CHECK_SECONDS:g} s"
    except DATABASE_ERRORS as exc:
        return f"PostgreSQL unreachable: {type(exc).__name__}"
    return "ok"


@router.get(
    "/ready",
    openapi_extra=requires(PUBLIC),
    summary="PostgreSQL and RabbitMQ reachable (503 naming what is not)",
    responses={503: {"model": Readiness, "description": "a dependency is unreachable"}},
)
async def ready(request: Request, pool: DbPool) -> JSONResponse:
    publisher: RunPublisher = request.app.state.publisher
    answer = Readiness(
        status="ready",
        postgresql=await _postgresql(pool),
        rabbitmq="ok" if publisher.connected else "RabbitMQ unreachable",
    )
    if answer.postgresql != "ok" or answer.rabbitmq != "ok":
        answer.status = "not ready"
        return JSONResponse(answer.model_dump(), status_code=503)
    return JSONResponse(answer.model_dump())


@router.get(
    "/scheduler",
    openapi_extra=requires(Role.VIEWER),
    summary="The scheduler's leader (while it holds the lock), its last wake-up, job counts",
)
async def scheduler(pool: DbPool) -> SchedulerHealth:
    async with pool.acquire() as conn:
        return await job_repo.get_scheduler_health(conn)

"""Automation: trigger runs, list and read them, cancel one; the global brake; rule templates;
decision statistics and trends."""

from __future__ import annotations

import enum
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Request, status

from app.automation import brake
from app.automation.publisher import RunPublisher
from app.automation.trigger import trigger_run
from app.models import (
    AutomationState,
    BrakeRequest,
    Page,
    Role,
    RunState,
    RunTrigger,
    RunView,
    Stats,
    Templates,
    Trends,
    TriggerAnswer,
    TriggerRequest,
)
from app.repositories import runs as run_repo
from app.repositories import stats as stats_repo
from app.rules.templates import TEMPLATES
from app.validation import StorableText
from app.web.auth import GuardedRoute, requires
from app.web.deps import CurrentPrincipal, Cursor, DbPool, Limit
from app.web.pagination import decode_cursor, encode_cursor

router = APIRouter(prefix="/automation", tags=["automation"], route_class=GuardedRoute)


@router.post(
    "/trigger",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=requires(Role.OPERATOR),
    summary="Start a run now (or join the active one)",
)
async def trigger(
    request: Request,
    pool: DbPool,
    principal: CurrentPrincipal,
    body: Annotated[TriggerRequest | None, Body()] = None,
    idempotency_key: Annotated[
        StorableText | None, Header(alias="Idempotency-Key", max_length=200)
    ] = None,
) -> TriggerAnswer:
    publisher: RunPublisher = request.app.state.publisher
    return await trigger_run(
        pool,
        publisher,
        body or TriggerRequest(),
        actor=principal.actor,
        token_name=principal.name,
        idempotency_key=idempotency_key,
    )


@router.get("/runs", openapi_extra=requires(Role.VIEWER), summary="Runs, newest first")
async def list_runs(
    *,
    pool: DbPool,
    limit: Limit = 50,
    cursor: Cursor = None,
    state: RunState | None = None,
    trigger: RunTrigger | None = None,
    job_id: Annotated[StorableText | None, Query(max_length=200)] = None,
) -> Page[RunView]:
    before = decode_cursor(cursor, 1)[0] if cursor else None
    async with pool.acquire() as conn:
        runs = await run_repo.list_runs(
            conn,
            state=state,
            trigger=trigger.value if trigger else None,
            job_id=job_id,
            before_seq=before,
            limit=limit,
        )
    next_cursor = encode_cursor(runs[-1].seq) if len(runs) == limit else None
    return Page[RunView](items=[RunView.of(run) for run in runs], next_cursor=next_cursor)


@router.get("/runs/{run_id}", openapi_extra=requires(Role.VIEWER), summary="One run")
async def get_run(pool: DbPool, run_id: uuid.UUID) -> RunView:
    async with pool.acquire() as conn:
        run = await run_repo.get_run(conn, run_id)
        shards = await run_repo.list_shards(conn, run_id) if run.shards else []
    return RunView.of(run, shards)


@router.post(
    "/runs/{run_id}/cancel",
    openapi_extra=requires(Role.OPERATOR),
    summary="Stop a run at its next batch (FAILED cancelled; what it committed stays)",
)
async def cancel_run(pool: DbPool, principal: CurrentPrincipal, run_id: uuid.UUID) -> RunView:
    return RunView.of(await brake.cancel_run(pool, run_id, principal.actor))


@router.post(
    "/pause",
    openapi_extra=requires(Role.ADMIN),
    summary="The brake: refuse triggers, record cron ticks FAILED paused, stop unfinished runs",
)
async def pause(
    pool: DbPool,
    principal: CurrentPrincipal,
    body: Annotated[BrakeRequest | None, Body()] = None,
) -> AutomationState:
    return await brake.pause_automation(pool, principal.actor, body.reason if body else None)


@router.post("/resume", openapi_extra=requires(Role.ADMIN), summary="Release the brake")
async def resume(
    pool: DbPool,
    principal: CurrentPrincipal,
    body: Annotated[BrakeRequest | None, Body()] = None,
) -> AutomationState:
    return await brake.resume_automation(pool, principal.actor, body.reason if body else None)


@router.get(
    "/templates",
    openapi_extra=requires(Role.VIEWER),
    summary="The rule templates: ready rule bodies (disabled, to preview first)",
)
async def templates() -> Templates:
    return Templates(items=TEMPLATES)


@router.get("/stats", openapi_extra=requires(Role.VIEWER), summary="Backlog and decisions")
async def stats(pool: DbPool) -> Stats:
    async with pool.acquire() as conn:
        return await stats_repo.get_stats(conn)


class Period(enum.StrEnum):
    WEEK = "7d"
    MONTH = "30d"
    QUARTER = "90d"


@router.get(
    "/trends",
    openapi_extra=requires(Role.VIEWER),
    summary="Decisions per UTC day over the period that ends today, zero-filled",
)
async def trends(pool: DbPool, period: Period = Period.WEEK) -> Trends:
    async with pool.acquire() as conn:
        days = await stats_repo.get_trends(conn, int(period.value.removesuffix("d")))
    return Trends(period=period.value, days=days)

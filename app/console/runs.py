"""The console's Runs pages: the list with its filters, Run now, a run's page (polled while
it is active) and Cancel."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, Response

from app.automation import brake
from app.automation.trigger import trigger_run
from app.console.refusal import refusing
from app.console.render import PAGE_SIZE, done, positive, render
from app.console.viewer import ActingOperator, CurrentViewer, Viewer, database_pool
from app.models import Run, RunState, RunTrigger, RunView, TriggerRequest
from app.repositories import runs as run_repo

router = APIRouter(prefix="/ui", include_in_schema=False)

ACTIVE_STATES = (RunState.PENDING, RunState.SCHEDULED, RunState.EXECUTING)


@router.get("/runs")
async def runs_page(
    who: CurrentViewer,
    state: Annotated[str, Query(max_length=20)] = "",
    trigger: Annotated[str, Query(max_length=20)] = "",
    job: Annotated[str, Query(max_length=200)] = "",
    before: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    # Filters arrive as the form sends them, empty when unset; unknown values are ignored.
    chosen_state = RunState(state) if state in set(RunState) else None
    chosen_trigger = RunTrigger(trigger) if trigger in set(RunTrigger) else None
    async with database_pool(who.request).acquire() as conn:
        runs = await run_repo.list_runs(
            conn,
            state=chosen_state,
            trigger=chosen_trigger.value if chosen_trigger else None,
            job_id=job or None,
            before_seq=positive(before),
            limit=PAGE_SIZE,
        )
    return render(
        who,
        who.request,
        "runs.html",
        page="runs",
        runs=[RunView.of(run) for run in runs],
        next_before=runs[-1].seq if len(runs) == PAGE_SIZE else None,
        filters={"state": chosen_state, "trigger": chosen_trigger, "job": job},
        states=list(RunState),
        triggers=list(RunTrigger),
    )


@router.post("/runs/trigger", dependencies=[refusing("/ui/runs")])
async def trigger(who: ActingOperator, dry_run: Annotated[bool, Form()] = False) -> Response:
    answer = await trigger_run(
        database_pool(who.request),
        who.request.app.state.publisher,
        TriggerRequest(dry_run=dry_run),
        actor=who.principal.actor,
        token_name=who.principal.name,
        idempotency_key=None,
    )
    return done(f"/ui/runs/{answer.run_id}")


async def _run(who: Viewer, run_id: uuid.UUID) -> tuple[Run, RunView]:
    async with database_pool(who.request).acquire() as conn:
        row = await run_repo.get_run(conn, run_id)
    return row, RunView.of(row)


@router.get("/runs/{run_id}", dependencies=[refusing("/ui/runs")])
async def run_page(who: CurrentViewer, run_id: uuid.UUID) -> HTMLResponse:
    row, run = await _run(who, run_id)
    return render(
        who,
        who.request,
        "run.html",
        page="runs",
        run=run,
        row=row,
        active=run.state in ACTIVE_STATES,
        fragment=False,
    )


@router.get("/runs/{run_id}/numbers", dependencies=[refusing("/ui/runs")])
async def run_numbers(
    who: CurrentViewer, run_id: uuid.UUID, seen: Annotated[str, Query(max_length=20)] = ""
) -> HTMLResponse:
    """The fragment an active run's page polls: its state, timeline and counts; the state's
    live region is updated (out of band) only when the state differs from the `seen` one."""
    row, run = await _run(who, run_id)
    return render(
        who,
        who.request,
        "run_numbers.html",
        run=run,
        row=row,
        active=run.state in ACTIVE_STATES,
        fragment=True,
        seen=seen,
    )


@router.post("/runs/{run_id}/cancel", dependencies=[refusing("/ui/runs/{run_id}")])
async def cancel(who: ActingOperator, run_id: uuid.UUID) -> Response:
    await brake.cancel_run(database_pool(who.request), run_id, who.principal.actor)
    return done(f"/ui/runs/{run_id}")

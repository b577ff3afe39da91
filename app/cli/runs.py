"""Runs: trigger one (and watch it), list them, show one."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import typer
from rich.console import Console

from app.cli.common import CLI_ACTOR, JsonOutput, cli, emit, emit_one, run, settings, with_pool
from app.config import Settings
from app.db import Pool, create_pool
from app.models import RunState, RunTrigger, RunView, TriggerAnswer

runs = typer.Typer(help="Automation runs: list, show.", no_args_is_help=True)
cli.add_typer(runs, name="runs")

RUN_COLUMNS = [
    "id",
    "trigger",
    "job_id",
    "state",
    "error",
    "requested_at",
    "duration_ms",
    "evaluated",
    "approve",
    "reject",
    "escalate",
]


def run_row(view: RunView) -> dict[str, Any]:
    row = view.model_dump(mode="json")
    row.update(row.pop("decisions"))
    return row


@contextlib.asynccontextmanager
async def publishing(loaded: Settings) -> AsyncIterator[tuple[Pool, Any]]:
    """A pool and a RabbitMQ connection (given a few seconds to come up: a run that cannot be
    published now waits PENDING for the relay)."""
    from broker import create_broker  # noqa: PLC0415
    from broker.connection import BrokerConnection  # noqa: PLC0415

    pool = await create_pool(loaded.database, "tasktracker-cli", max_size=2)
    connection = BrokerConnection(
        create_broker(loaded.broker), loaded.broker.publish_timeout_seconds
    )
    connection.start()
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(loaded.broker.publish_timeout_seconds):
                await connection.ready.wait()
        yield pool, connection
    finally:
        await connection.close()
        await pool.close()


async def watch(pool: Pool, run_id: uuid.UUID) -> RunView:
    """Wait for the run to finish, showing its progress (a live line on a terminal, a line
    per change on stderr otherwise)."""
    from app.repositories.runs import get_run  # noqa: PLC0415

    console = Console(stderr=True)
    last = ""
    with console.status("waiting for a worker") as status:
        while True:
            async with pool.acquire() as conn:
                view = RunView.of(await get_run(conn, run_id))
            line = (
                f"{view.state.value}: {view.evaluated} evaluated, {view.decisions.approve} "
                f"approved, {view.decisions.reject} rejected, {view.decisions.escalate} escalated"
            )
            if view.state.is_final:
                return view
            if line != last:
                status.update(line)
                if not sys.stderr.isatty():
                    typer.echo(f"  {line}", err=True)
                last = line
            await asyncio.sleep(0.5)


def report(view: RunView, *, wait: bool, as_json: bool) -> None:
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
    else:
        emit_one(run_row(view), as_json=False)
    if wait and view.state is RunState.FAILED:
        raise typer.Exit(1)


@cli.command()
def trigger(
    wait: Annotated[bool, typer.Option("--wait", help="wait for the run to finish")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="decide nothing, report")] = False,
    reason: Annotated[str | None, typer.Option(help="why, for the audit log")] = None,
    as_json: JsonOutput = False,
) -> None:
    """Start an automation run now (or join the active one), as POST /automation/trigger does.
    With --wait, exit 1 if the run fails."""
    from app.automation.trigger import trigger_run  # noqa: PLC0415
    from app.models import TriggerRequest  # noqa: PLC0415
    from app.repositories.runs import get_run  # noqa: PLC0415

    loaded = settings()

    async def work() -> RunView:
        async with publishing(loaded) as (pool, connection):
            answer: TriggerAnswer = await trigger_run(
                pool,
                connection,
                TriggerRequest(dry_run=dry_run, reason=reason),
                actor=CLI_ACTOR,
                token_name=CLI_ACTOR,
            )
            joined = " (joined the active run)" if answer.coalesced else ""
            typer.echo(f"run {answer.run_id} {answer.state.value}{joined}", err=True)
            if wait:
                return await watch(pool, answer.run_id)
            async with pool.acquire() as conn:
                return RunView.of(await get_run(conn, answer.run_id))

    report(run(work), wait=wait, as_json=as_json)


@runs.command("list")
def list_(
    state: Annotated[RunState | None, typer.Option(help="only runs in this state")] = None,
    trigger: Annotated[RunTrigger | None, typer.Option(help="cron or manual")] = None,
    job: Annotated[str | None, typer.Option(help="only runs of this job")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="how many, newest first")] = 20,
    as_json: JsonOutput = False,
) -> None:
    """Runs, newest first."""
    from app.repositories.runs import list_runs  # noqa: PLC0415

    async def work(pool: Pool) -> list[RunView]:
        async with pool.acquire() as conn:
            found = await list_runs(
                conn,
                state=state,
                trigger=trigger.value if trigger else None,
                job_id=job,
                before_seq=None,
                limit=limit,
            )
        return [RunView.of(item) for item in found]

    views = with_pool(settings(), work)
    rows = [run_row(view) for view in views]
    emit(
        rows if not as_json else [v.model_dump(mode="json") for v in views],
        RUN_COLUMNS,
        as_json=as_json,
    )


@runs.command("show")
def show(
    run_id: Annotated[uuid.UUID, typer.Argument(help="the run's id")], as_json: JsonOutput = False
) -> None:
    """One run, with its decisions per rule."""
    from app.repositories.runs import get_run  # noqa: PLC0415

    async def work(pool: Pool) -> RunView:
        async with pool.acquire() as conn:
            return RunView.of(await get_run(conn, run_id))

    view = with_pool(settings(), work)
    emit_one(run_row(view) if not as_json else view.model_dump(mode="json"), as_json=as_json)

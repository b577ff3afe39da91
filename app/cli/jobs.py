"""Scheduled jobs: list, pause, resume, run now."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import CLI_ACTOR, JsonOutput, cli, emit, emit_one, run, settings, with_pool
from app.cli.runs import publishing, report, watch
from app.db import Pool
from app.models import JobView, RunView

jobs = typer.Typer(help="Scheduled jobs: list, pause, resume, run now.", no_args_is_help=True)
cli.add_typer(jobs, name="jobs")

JOB_COLUMNS = ["id", "name", "cron", "timezone", "enabled", "state", "next_run_at", "last_run"]
JobId = Annotated[str, typer.Argument(help="the job's id (its slug)")]


def _row(job: JobView) -> dict[str, object]:
    row = job.model_dump(mode="json")
    last = row["last_run"]
    row["last_run"] = f"{last['state']} {last['finished_at'] or ''}".strip() if last else None
    return row


@jobs.command("list")
def list_(
    removed: Annotated[bool, typer.Option("--removed", help="list removed jobs")] = False,
    as_json: JsonOutput = False,
) -> None:
    """Jobs with their state, next run and last run."""
    from app.repositories.jobs import list_jobs  # noqa: PLC0415

    async def work(pool: Pool) -> list[JobView]:
        async with pool.acquire() as conn:
            found = await list_jobs(conn, removed=removed, after_seq=0, limit=1000)
        return [job for _, job in found]

    found = with_pool(settings(), work)
    if as_json:
        emit([job.model_dump(mode="json") for job in found], JOB_COLUMNS, as_json=True)
    else:
        emit([_row(job) for job in found], JOB_COLUMNS, as_json=False)


def _set_enabled(job_id: str, *, enabled: bool, as_json: bool) -> None:
    from app.services.jobs import set_job_enabled  # noqa: PLC0415

    job = with_pool(
        settings(), lambda pool: set_job_enabled(pool, job_id, CLI_ACTOR, enabled=enabled)
    )
    emit_one(job.model_dump(mode="json") if as_json else _row(job), as_json=as_json)


@jobs.command("pause")
def pause(job_id: JobId, as_json: JsonOutput = False) -> None:
    """Pause a job (it stays paused across scheduler restarts)."""
    _set_enabled(job_id, enabled=False, as_json=as_json)


@jobs.command("resume")
def resume(job_id: JobId, as_json: JsonOutput = False) -> None:
    """Resume a paused job."""
    _set_enabled(job_id, enabled=True, as_json=as_json)


@jobs.command("run")
def run_now(
    job_id: JobId,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the run to finish")] = False,
    as_json: JsonOutput = False,
) -> None:
    """Run the job's task now: a manual run in the job's history (joins an active run)."""
    from app.repositories.runs import get_run  # noqa: PLC0415
    from app.services.jobs import run_job_now  # noqa: PLC0415

    loaded = settings()

    async def work() -> RunView:
        async with publishing(loaded) as (pool, connection):
            answer = await run_job_now(
                pool, connection, job_id, actor=CLI_ACTOR, token_name=CLI_ACTOR
            )
            typer.echo(f"run {answer.run_id} {answer.state.value}", err=True)
            if wait:
                return await watch(pool, answer.run_id)
            async with pool.acquire() as conn:
                return RunView.of(await get_run(conn, answer.run_id))

    report(run(work), wait=wait, as_json=as_json)

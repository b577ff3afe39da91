"""Checks 4-7, the schedule: a scheduler leads, the enabled jobs are registered with a next
run, their crons and zones validate, and which zones they fire in. The jobs' checks are handed
the job registrations the runner read once for the pass."""

from __future__ import annotations

import asyncio

import asyncpg

from app.cron import validate_schedule
from app.doctor.checklist import (
    CRON,
    JOBS,
    LEADER,
    RESTORE_SECONDS,
    START_SCHEDULER,
    TIME_ZONES,
    Check,
    Status,
    when,
)
from app.errors import InvalidInputError
from app.repositories import jobs as job_repo
from app.repositories.doctor import JobRegistration


async def check_leader(conn: asyncpg.Connection[asyncpg.Record]) -> Check:
    """A scheduler holds the leader lock; since when, its last wake-up, missed ticks."""
    health = await job_repo.get_scheduler_health(conn)
    if health.leader is None:
        return Check(
            LEADER,
            Status.FAIL,
            "no scheduler holds the leader lock: no job fires",
            START_SCHEDULER,
        )
    leader = health.leader
    detail = f"{leader.host} pid {leader.pid}, leading since {when(leader.since)}"
    if health.last_wakeup_at is not None:
        detail += f", last wake-up {when(health.last_wakeup_at)}"
    if health.missed_ticks:
        detail += f", {health.missed_ticks} tick(s) missed past the misfire grace"
    return Check(LEADER, Status.OK, detail)


def check_jobs(registrations: list[JobRegistration]) -> Check:
    """Every enabled job is registered in apscheduler_jobs with a next run."""
    jobs = [job for job in registrations if job.enabled]
    if not jobs:
        return Check(JOBS, Status.OK, "no enabled job: runs start only when triggered")
    missing = [
        f"{job.id} ({'no next run' if job.registered else 'missing from apscheduler_jobs'})"
        for job in jobs
        if job.next_run_at is None
    ]
    if missing:
        return Check(
            JOBS,
            Status.FAIL,
            "not registered with a next run: " + ", ".join(missing),
            f"{START_SCHEDULER}: the leader restores jobs from scheduled_jobs within "
            f"{RESTORE_SECONDS} s",
        )
    next_at, next_id = min((job.next_run_at, job.id) for job in jobs if job.next_run_at)
    return Check(
        JOBS,
        Status.OK,
        f"{len(jobs)} enabled job(s) registered; next: {next_id} at {when(next_at)}",
    )


async def check_cron(jobs: list[JobRegistration]) -> Check:
    """Every job's cron and time zone validate."""
    # validate_schedule can take a noticeable fraction of a second of CPU for a cron that
    # (almost) never fires: off the event loop, so the deadline still holds.
    problems = await asyncio.to_thread(
        invalid_schedules, [(job.id, job.cron, job.timezone) for job in jobs]
    )
    if problems:
        return Check(
            CRON,
            Status.FAIL,
            "; ".join(f"{job_id}: {problem}" for job_id, problem in problems),
            "correct the job's cron or time zone: `PUT /api/v1/scheduler/jobs/<id>`",
        )
    listed = ", ".join(f"{job.id} `{job.cron}` {job.timezone}" for job in jobs)
    return Check(CRON, Status.OK, listed or "no job defined")


def check_time_zones(server: str, scheduler: str, jobs: list[JobRegistration]) -> Check:
    """PostgreSQL's zone, SCHEDULER_TIMEZONE and the jobs' zones; a job in another zone than
    the scheduler's is worth a look."""
    zones = sorted({job.timezone for job in jobs})
    detail = (
        f"PostgreSQL TimeZone {server}; SCHEDULER_TIMEZONE {scheduler}; "
        f"jobs: {', '.join(zones) or 'none'}"
    )
    others = [f"{job.id} ({job.timezone})" for job in jobs if job.timezone != scheduler]
    if others:
        return Check(
            TIME_ZONES,
            Status.WARN,
            f"{detail}; not in SCHEDULER_TIMEZONE: {', '.join(others)}",
            "informational: each job fires on its own zone's wall clock; if that is not "
            "intended, set the job's timezone (`PUT /api/v1/scheduler/jobs/<id>`)",
        )
    # PostgreSQL's zone only changes how timestamps print: every column is timestamptz.
    return Check(TIME_ZONES, Status.OK, detail)


def invalid_schedules(jobs: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """(job id, what is wrong) for each job whose cron or zone does not validate."""
    problems = []
    for job_id, cron, timezone in jobs:
        try:
            validate_schedule(cron, timezone)
        except InvalidInputError as exc:
            problems.append((job_id, exc.message))
    return problems

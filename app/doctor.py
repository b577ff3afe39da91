"""`tasktracker doctor`: the operators' troubleshooting checklist of SPEC section 8, run for
real. Each check answers OK, WARN or FAIL with the fix to try.

Every check is bounded in time, so a silent service costs a few seconds, never a hang; a
check that cannot run because PostgreSQL or RabbitMQ is down says it was skipped. Like the
other composition roots, the doctor talks to RabbitMQ itself (aio-pika): it asks the broker
how many consumers the workers' queue has. No line ever carries a URL or a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit

import aio_pika
import aio_pika.abc
import aio_pika.exceptions
import asyncpg

from app.config import Settings
from app.cron import validate_schedule
from app.db import connect, database_name
from app.errors import InvalidInputError
from app.repositories import doctor as doctor_repo
from app.repositories import jobs as job_repo
from app.repositories import rules as rule_repo
from app.repositories import versions as version_repo
from app.rules.ruleset import to_evaluate


class Status(enum.StrEnum):
    """A check's answer: FAIL makes `tasktracker doctor` exit 1; WARN is worth a look."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    """One line of the checklist: what was checked, what was found, and the fix to try."""

    name: str
    status: Status
    detail: str
    fix: str = ""


# The checks' names, in the checklist's order.
DATABASE = "database reachable"
RABBITMQ = "RabbitMQ reachable"
WORKER = "worker alive"
LEADER = "scheduler leader"
JOBS = "jobs registered"
CRON = "cron valid"
TIME_ZONES = "time zones"
RECENT_RUNS = "recent runs"
RULES = "rules match pending"
DECISIONS = "decisions committed"
ROLE = "database role"

CHECK_SECONDS = 5.0
# Counting what the rules would decide reads every pending version (a million, in the
# benchmark): the server cancels it first, the client deadline is the backstop.
COUNT_STATEMENT_SECONDS = 10.0
COUNT_CHECK_SECONDS = COUNT_STATEMENT_SECONDS + 2.0
# SPEC section 8: the scheduler restores a job missing from apscheduler_jobs within this.
RESTORE_SECONDS = 30
TEXT_LIMIT = 200  # run errors and driver messages are cut to keep one check on one line

START_WORKER = "start `tasktracker worker` (compose: `docker compose restart worker`)"
START_SCHEDULER = "start `tasktracker scheduler` (compose: `docker compose restart scheduler`)"
_FIX_ABOVE = "fix the connection that failed above first"

# Errors after which the database connection cannot be trusted for the remaining checks.
_CONNECTION_ERRORS = (
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
)


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the checklist's order; never raises for a failing dependency."""
    doctor = _Doctor(settings)
    try:
        checks = await doctor.run()
    finally:
        await doctor.close()
    return [_redacted(check, _secrets(settings)) for check in checks]


class _Doctor:
    """One pass over the checklist; owns the two connections the checks share."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conn: asyncpg.Connection[asyncpg.Record] | None = None
        self.amqp: aio_pika.abc.AbstractConnection | None = None
        # Why the database checks are skipped: set when it is unreachable or stops answering.
        self.db_skip = "skipped: PostgreSQL unreachable"

    async def run(self) -> list[Check]:
        # Both connections at once: with both services silent this costs one deadline.
        database, rabbitmq = await asyncio.gather(self.connect_database(), self.connect_broker())
        return [
            database,
            rabbitmq,
            await self.worker_alive(),
            await self.on_database(LEADER, self.scheduler_leader),
            await self.on_database(JOBS, self.jobs_registered),
            await self.on_database(CRON, self.cron_valid),
            await self.on_database(TIME_ZONES, self.time_zones),
            await self.on_database(RECENT_RUNS, self.recent_runs),
            await self.on_database(RULES, self.rules_match_pending, seconds=COUNT_CHECK_SECONDS),
            await self.on_database(DECISIONS, self.decisions_committed),
            await self.on_database(ROLE, self.database_role),
        ]

    async def close(self) -> None:
        if self.conn is not None:
            try:
                async with asyncio.timeout(CHECK_SECONDS):
                    await self.conn.close()
            except Exception:  # a connection that will not close politely is cut
                self.conn.terminate()
        if self.amqp is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CHECK_SECONDS):
                    await self.amqp.close()

    # 1-3: the services.

    async def connect_database(self) -> Check:
        url = self.settings.database.url.get_secret_value()
        where = f"{_address(url)}, database {database_name(url)}"
        seconds = min(self.settings.database.connect_timeout_seconds, CHECK_SECONDS)
        quick = self.settings.database.model_copy(update={"connect_timeout_seconds": seconds})
        try:
            async with asyncio.timeout(seconds + 1):
                self.conn = await connect(quick, "tasktracker-doctor")
        except Exception as exc:  # every failure to connect is this check's answer
            return Check(
                DATABASE,
                Status.FAIL,
                f"PostgreSQL unreachable at {where}: {_describe(exc)}",
                "start PostgreSQL (compose: `docker compose up -d postgres`) and check "
                "DATABASE_URL (host, port, user, password, database)",
            )
        server = self.conn.get_server_version()
        # From PostgreSQL 10 on a version has two parts, which asyncpg puts in major and micro.
        version = f"{server.major}.{server.micro if server.major >= 10 else server.minor}"
        return Check(DATABASE, Status.OK, f"PostgreSQL {version} at {where}")

    async def connect_broker(self) -> Check:
        url = self.settings.broker.url.get_secret_value()
        try:
            async with asyncio.timeout(CHECK_SECONDS + 1):
                self.amqp = await aio_pika.connect(url, timeout=CHECK_SECONDS)
        except Exception as exc:  # every failure to connect is this check's answer
            return Check(
                RABBITMQ,
                Status.FAIL,
                f"RabbitMQ unreachable at {_address(url)}: {_describe(exc)}",
                "start RabbitMQ (compose: `docker compose up -d rabbitmq`) and check "
                "RABBITMQ_URL (host, port, user, password, vhost)",
            )
        return Check(RABBITMQ, Status.OK, f"RabbitMQ at {_address(url)}")

    async def worker_alive(self) -> Check:
        queue_name = self.settings.broker.queue
        if self.amqp is None:
            return Check(WORKER, Status.WARN, "skipped: RabbitMQ unreachable", _FIX_ABOVE)
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                # A channel of its own: a passive declare of a missing queue closes it.
                channel = await self.amqp.channel()
                try:
                    queue = await channel.declare_queue(queue_name, passive=True)
                finally:
                    with contextlib.suppress(Exception):
                        await channel.close()
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return Check(
                WORKER,
                Status.FAIL,
                f"no worker consumes {queue_name} (the queue does not exist: no worker has "
                "started with this RABBITMQ_QUEUE)",
                START_WORKER,
            )
        except Exception as exc:  # reported as this check's answer
            return Check(
                WORKER,
                Status.FAIL,
                f"could not inspect queue {queue_name}: {_describe(exc)}",
                "check RabbitMQ's health (`rabbitmq-diagnostics status`), then " + START_WORKER,
            )
        declared = queue.declaration_result
        waiting = f"{declared.message_count} message(s) waiting"
        if not declared.consumer_count:
            return Check(
                WORKER, Status.FAIL, f"no worker consumes {queue_name} ({waiting})", START_WORKER
            )
        return Check(
            WORKER,
            Status.OK,
            f"{declared.consumer_count} consumer(s) on {queue_name}, {waiting}",
        )

    # 4-10: what PostgreSQL holds. Each runs on the one connection, under its own deadline.

    async def on_database(
        self,
        name: str,
        check: Callable[[asyncpg.Connection[asyncpg.Record]], Awaitable[Check]],
        *,
        seconds: float = CHECK_SECONDS,
    ) -> Check:
        """Run one database check, bounded; a skip when the database is not there."""
        if self.conn is None:
            return Check(name, Status.WARN, self.db_skip, _FIX_ABOVE)
        try:
            async with asyncio.timeout(seconds):
                return await check(self.conn)
        except _CONNECTION_ERRORS as exc:
            # The link is gone or hangs: the remaining checks would only wait on it too.
            self.db_skip = "skipped: PostgreSQL stopped answering"
            self.drop_database()
            return Check(
                name,
                Status.FAIL,
                f"PostgreSQL stopped answering: {_describe(exc)}",
                "check PostgreSQL's health and logs, then run the doctor again",
            )
        except Exception as exc:  # reported as this check's answer
            return Check(
                name,
                Status.FAIL,
                f"the check failed: {_describe(exc)}",
                "check PostgreSQL's logs; is the schema migrated (`tasktracker migrate`)?",
            )

    def drop_database(self) -> None:
        if self.conn is not None:
            self.conn.terminate()
            self.conn = None

    async def scheduler_leader(self, conn: asyncpg.Connection[asyncpg.Record]) -> Check:
        health = await job_repo.get_scheduler_health(conn)
        if health.leader is None:
            return Check(
                LEADER,
                Status.FAIL,
                "no scheduler holds the leader lock: no job fires",
                START_SCHEDULER,
            )
        leader = health.leader
        detail = f"{leader.host} pid {leader.pid}, leading since {_when(leader.since)}"
        if health.last_wakeup_at is not None:
            detail += f", last wake-up {_when(health.last_wakeup_at)}"
        if health.missed_ticks:
            detail += f", {health.missed_ticks} tick(s) missed past the misfire grace"
        return Check(LEADER, Status.OK, detail)

    async def jobs_registered(self, conn: asyncpg.Connection[asyncpg.Record]) -> Check:
        jobs = [job for job in await doctor_repo.list_job_registrations(conn) if job.enabled]
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
            f"{len(jobs)} enabled job(s) registered; next: {next_id} at {_when(next_at)}",
        )

    async def cron_valid(self, conn: asyncpg.Connection[asyncpg.Record]) -> Check:
        jobs = await doctor_repo.list_job_registrations(conn)
        # validate_schedule can take a noticeable fraction of a second of CPU for a cron that
        # (almost) never fires: off the event loop, so the deadline still holds.
        problems = await asyncio.to_thread(
            _invalid_schedules, [(job.id, job.cron, job.timezone) for job in jobs]
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

    async def time_zones(self, conn: asyncpg.Connection[asyncpg.Record]) -> Check:
        server = await doctor_repo.get_server_timezone(conn)
        scheduler = self.settings.scheduler.timezone
        jobs = await doctor_repo.list_job_registrations(conn)
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

    async def recent_runs(self, conn: asyncpg.Connection[asyncpg.Record]) -> Check:
        activity = await doctor_repo.get_recent_run_activity(conn)
        trigger = "`POST /api/v1/automation/trigger`, or wait for the daily job's tick"
        if activity.runs == 0:
            return Check(RECENT_RUNS, Status.WARN, "no run yet", f"trigger one: {trigger}")
        if activity.last_id is None:
            return Check(
                RECENT_RUNS,
                Status.WARN,
                f"no run finished yet ({activity.runs} run(s) not finished)",
                f"{START_WORKER}; follow it: `docker logs task-tracker-worker --follow`",
            )
        last = (
            f"last run {activity.last_id} {activity.last_state} "
            f"at {_when(activity.last_finished_at)}"
        )
        if activity.last_state == "FAILED":
            return Check(
                RECENT_RUNS,
                Status.WARN,
                f"{last}: {_clip(activity.last_error or 'no error recorded')}",
                f"see `GET /api/v1/automation/runs/{activity.last_id}` and the worker's log; "
                f"trigger again: {trigger}",
            )
        if not activity.triggered_recently:
            return Check(
                RECENT_RUNS,
                Status.WARN,
                f"{last}; no run.trigger audit entry in the last 25 hours",
                "check that a job is enabled and a scheduler leads (see above)",
            )
        return Check(RECENT_RUNS, Status.OK, f"{last}; a run was triggered in the last 25 hours")

    async def rules_match_pending(self, conn: asyncpg.Connection[asyncpg.Record]) -> Check:
        pending = (await version_repo.count_pending_versions(conn)).total
        if not pending:
            return Check(RULES, Status.OK, "no pending version")
        rules = await rule_repo.list_enabled_rules(conn)
        if not rules:
            return Check(
                RULES,
                Status.WARN,
                f"{pending} pending version(s) and no enabled rule",
                "enable or create a rule: `GET /api/v1/automation/rules`",
            )
        try:
            decided = await doctor_repo.count_decidable_versions(
                conn,
                [to_evaluate(rule) for rule in rules],
                dt.datetime.now(dt.UTC),
                int(COUNT_STATEMENT_SECONDS * 1000),
            )
        except asyncpg.QueryCanceledError:
            return Check(
                RULES,
                Status.WARN,
                f"counting what {len(rules)} enabled rule(s) decide among {pending} pending "
                f"version(s) took over {COUNT_STATEMENT_SECONDS:g} s: not known",
                "preview the rules one by one: `POST /api/v1/automation/rules/preview`",
            )
        if not decided:
            return Check(
                RULES,
                Status.WARN,
                f"enabled rules match none of {pending} pending versions",
                "preview the rules (`POST /api/v1/automation/rules/preview`) and adjust their "
                "conditions",
            )
        return Check(
            RULES,
            Status.OK,
            f"{len(rules)} enabled rule(s) would decide {decided} of {pending} pending versions",
        )

    async def database_role(self, conn: asyncpg.Connection[asyncpg.Record]) -> Check:
        return await _database_role_check(conn)

    async def decisions_committed(self, conn: asyncpg.Connection[asyncpg.Record]) -> Check:
        last = await doctor_repo.get_last_run_decisions(conn)
        if last is None:
            return Check(DECISIONS, Status.OK, "no finished run yet: nothing to compare")
        if last.counted != last.audited:
            return Check(
                DECISIONS,
                Status.FAIL,
                f"run {last.id} ({last.state}) counts {last.counted} decision(s) but the audit "
                f"log holds {last.audited}",
                f"decisions and their audit entries commit together: compare "
                f"`GET /api/v1/audit?run_id={last.id}` with "
                f"`GET /api/v1/automation/runs/{last.id}` and report it",
            )
        return Check(
            DECISIONS,
            Status.OK,
            f"run {last.id} ({last.state}): {last.counted} decision(s), each in the audit log",
        )


async def _database_role_check(conn: asyncpg.Connection[asyncpg.Record]) -> Check:
    found = await doctor_repo.get_database_role(conn)
    fix = (
        "give the processes a role of their own: MIGRATE_DATABASE_URL = the owner, "
        "DATABASE_URL = another role, then `tasktracker migrate` creates and grants it "
        "(docs/operations.md, Database roles)"
    )
    if found.superuser:
        return Check(ROLE, Status.WARN, f"the processes connect as {found.role}, a superuser", fix)
    if found.owner:
        return Check(
            ROLE, Status.WARN, f"the processes connect as {found.role}, the schema's owner", fix
        )
    if found.can_change_audit:
        return Check(
            ROLE,
            Status.WARN,
            f"{found.role} may update, delete or truncate audit_log",
            "run `tasktracker migrate` (it grants the processes' role exactly what they use)",
        )
    return Check(
        ROLE, Status.OK, f"{found.role}: not the owner, reads and appends to the audit log only"
    )


def _invalid_schedules(jobs: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """(job id, what is wrong) for each job whose cron or zone does not validate."""
    problems = []
    for job_id, cron, timezone in jobs:
        try:
            validate_schedule(cron, timezone)
        except InvalidInputError as exc:
            problems.append((job_id, exc.message))
    return problems


def _address(url: str) -> str:
    """Where a URL points (host and port), without its user and password."""
    return urlsplit(url).netloc.rpartition("@")[2] or "the default host"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc).strip()
    return _clip(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _clip(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TEXT_LIMIT else line[: TEXT_LIMIT - 3] + "..."


def _when(at: dt.datetime | None) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if at is not None else "never"


def _secrets(settings: Settings) -> list[str]:
    """The URLs and their passwords (as written and decoded): never to be printed."""
    secrets = []
    for url in (settings.database.url, settings.broker.url):
        text = url.get_secret_value()
        secrets.append(text)
        try:
            password = urlsplit(text).password
        except ValueError:  # a URL the driver refused anyway: its whole text is hidden
            password = None
        if password:
            secrets += [password, unquote(password)]
    # Longest first, so that a password inside a URL does not break the URL's replacement.
    return sorted({secret for secret in secrets if secret}, key=len, reverse=True)


def _redacted(check: Check, secrets: list[str]) -> Check:
    """The check with any secret masked: a driver's message may quote what it was given."""
    detail, fix = check.detail, check.fix
    for secret in secrets:
        detail = detail.replace(secret, "***")
        fix = fix.replace(secret, "***")
    return replace(check, detail=detail, fix=fix)

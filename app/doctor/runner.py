"""One pass over the checklist: the runner owns the two connections the checks share, bounds
each database check in time, and reads the job registrations once for the checks that need
them. No line ever carries a URL or a password."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from urllib.parse import unquote, urlsplit

import aio_pika.abc
import asyncpg

from app.config import Settings
from app.db import CONNECTION_UNUSABLE_ERRORS
from app.doctor.checklist import (
    CHECK_SECONDS,
    COUNT_CHECK_SECONDS,
    CRON,
    DECISIONS,
    FIX_ABOVE,
    JOBS,
    LEADER,
    RECENT_RUNS,
    ROLE,
    RULES,
    TIME_ZONES,
    Check,
    Status,
    describe,
)
from app.doctor.contents import check_decisions, check_recent_runs, check_role, check_rules
from app.doctor.schedule import check_cron, check_jobs, check_leader, check_time_zones
from app.doctor.services import check_worker, connect_broker, connect_database
from app.repositories import doctor as doctor_repo
from app.repositories.doctor import JobRegistration

_CONNECTION_ERRORS = CONNECTION_UNUSABLE_ERRORS


async def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the checklist's order; never raises for a failing dependency."""
    doctor = _Pass(settings)
    try:
        checks = await doctor.run()
    finally:
        await doctor.close()
    return [_redacted(check, _secrets(settings)) for check in checks]


class _Pass:
    """One pass over the checklist; owns the two connections the checks share."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conn: asyncpg.Connection[asyncpg.Record] | None = None
        self.amqp: aio_pika.abc.AbstractConnection | None = None
        # Why the database checks are skipped: set when it is unreachable or stops answering.
        self.db_skip = "skipped: PostgreSQL unreachable"
        self.jobs: list[JobRegistration] | None = None  # read once, by the first check

    async def run(self) -> list[Check]:
        # Both connections at once: with both services silent this costs one deadline.
        (database, self.conn), (rabbitmq, self.amqp) = await asyncio.gather(
            connect_database(self.settings), connect_broker(self.settings)
        )
        return [
            database,
            rabbitmq,
            await check_worker(self.amqp, self.settings.broker.queue),
            await self.on_database(LEADER, check_leader),
            await self.on_database(JOBS, self.jobs_registered),
            await self.on_database(CRON, self.cron_valid),
            await self.on_database(TIME_ZONES, self.time_zones),
            await self.on_database(RECENT_RUNS, check_recent_runs),
            await self.on_database(RULES, check_rules, seconds=COUNT_CHECK_SECONDS),
            await self.on_database(DECISIONS, check_decisions),
            await self.on_database(ROLE, check_role),
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

    async def job_registrations(
        self, conn: asyncpg.Connection[asyncpg.Record]
    ) -> list[JobRegistration]:
        """The job registrations, read by the first check that needs them (again only when
        that read failed, so that each check still answers for itself)."""
        if self.jobs is None:
            self.jobs = await doctor_repo.list_job_registrations(conn)
        return self.jobs

    async def jobs_registered(self, conn: asyncpg.Connection[asyncpg.Record]) -> Check:
        return check_jobs(await self.job_registrations(conn))

    async def cron_valid(self, conn: asyncpg.Connection[asyncpg.Record]) -> Check:
        return await check_cron(await self.job_registrations(conn))

    async def time_zones(self, conn: asyncpg.Connection[asyncpg.Record]) -> Check:
        server = await doctor_repo.get_server_timezone(conn)
        jobs = await self.job_registrations(conn)
        return check_time_zones(server, self.settings.scheduler.timezone, jobs)

    # 4-11: what PostgreSQL holds. Each runs on the one connection, under its own deadline.

    async def on_database(
        self,
        name: str,
        check: Callable[[asyncpg.Connection[asyncpg.Record]], Awaitable[Check]],
        *,
        seconds: float = CHECK_SECONDS,
    ) -> Check:
        """Run one database check, bounded; a skip when the database is not there."""
        if self.conn is None:
            return Check(name, Status.WARN, self.db_skip, FIX_ABOVE)
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
                f"PostgreSQL stopped answering: {describe(exc)}",
                "check PostgreSQL's health and logs, then run the doctor again",
            )
        except Exception as exc:  # reported as this check's answer
            return Check(
                name,
                Status.FAIL,
                f"the check failed: {describe(exc)}",
                "check PostgreSQL's logs; is the schema migrated (`tasktracker migrate`)?",
            )

    def drop_database(self) -> None:
        if self.conn is not None:
            self.conn.terminate()
            self.conn = None


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

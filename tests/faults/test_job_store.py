"""The scheduler's job store is synchronous and runs on the event loop: when PostgreSQL goes
silent (a link whose far end still acknowledges bytes but never answers), a store call fails
within DATABASE_COMMAND_TIMEOUT_SECONDS + DATABASE_CONNECT_TIMEOUT_SECONDS instead of
blocking the loop, and the store works again as soon as the database answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy.exc
from apscheduler.job import Job
from apscheduler.triggers.interval import IntervalTrigger

from app.config import DatabaseSettings, Settings
from scheduler.daemon import _job_store_engine
from scheduler.jobstore import AutomationJobStore
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(60)

COMMAND_TIMEOUT = 2.0
CONNECT_TIMEOUT = 2.0  # psycopg waits at least 2 s to connect, whatever is asked
MARGIN = 1.5


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))


class Scheduler:
    """What a job and its store ask of their scheduler, for the calls made here."""

    timezone = dt.UTC


def a_job(store: AutomationJobStore) -> Job:
    job = Job(
        Scheduler(),
        id="silent-db",
        func="scheduler.ticks:fire_automation_job",
        args=("silent-db",),
        kwargs={},
        trigger=IntervalTrigger(hours=1, timezone=dt.UTC),
        executor="default",
        name="silent-db",
        misfire_grace_time=1,
        coalesce=True,
        max_instances=1,
        next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    job._jobstore_alias = "default"
    return job


async def timed(call, *args) -> float:
    """Run a store call off the loop (the proxy lives on it); the seconds it took."""
    started = time.monotonic()
    await asyncio.to_thread(call, *args)
    return time.monotonic() - started


async def test_a_silent_database_fails_a_job_store_call_within_the_bound(
    settings: Settings, report
):
    """With PostgreSQL silent, update_job and get_due_jobs each raise within the command and
    connect timeouts (not the TCP retransmission time); once it answers, they succeed."""
    url = settings.database.url.get_secret_value()
    proxy = TcpProxy(urlsplit(url).port or 5432)
    await proxy.start()
    database = DatabaseSettings(
        url=through(url, proxy.port),
        command_timeout_seconds=COMMAND_TIMEOUT,
        connect_timeout_seconds=CONNECT_TIMEOUT,
    )
    engine = _job_store_engine(settings.model_copy(update={"database": database}))
    store = AutomationJobStore(engine)
    store.start(Scheduler(), "default")
    try:
        job = a_job(store)
        await timed(store.add_job, job)
        assert await timed(store.update_job, job) < 1

        proxy.mode = "silent"
        bound = COMMAND_TIMEOUT + CONNECT_TIMEOUT + MARGIN
        failed_after = {}
        for call, args in (
            (store.update_job, (job,)),
            (store.get_due_jobs, (dt.datetime.now(dt.UTC),)),
        ):
            started = time.monotonic()
            with pytest.raises(sqlalchemy.exc.OperationalError):
                await asyncio.to_thread(call, *args)
            took = time.monotonic() - started
            failed_after[call.__name__] = round(took, 2)
            assert COMMAND_TIMEOUT * 0.9 <= took < bound, (call.__name__, took)

        proxy.mode = "forward"
        assert await timed(store.update_job, job) < 1
        assert [j.id for j in await asyncio.to_thread(store.get_all_jobs)] == ["silent-db"]
        report(
            "job store with PostgreSQL silent",
            command_timeout_s=COMMAND_TIMEOUT,
            connect_timeout_s=CONNECT_TIMEOUT,
            failed_after_s=failed_after,
        )
    finally:
        engine.dispose()
        await proxy.stop()

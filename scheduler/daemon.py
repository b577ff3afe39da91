"""`tasktracker scheduler`: the scheduler's composition root.

Every replica runs this; the one holding the leader lock runs an APScheduler 3
AsyncIOScheduler over the PostgreSQL job store, reconciles it with scheduled_jobs (at start,
on NOTIFY, and every SCHEDULER_RECONCILE_SECONDS) and fires due ticks: a fire inserts the
tick's run (unique per job and tick) and publishes it through the run pipeline's outbox.
The others wait as standby and take over within seconds when the leader goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from app.automation.publisher import RunPublisher
from app.automation.relay import relay_forever
from app.automation.trigger import trigger_cron_run
from app.config import Settings
from app.cron import WallClockCronTrigger
from app.db import DATABASE_ERRORS, Connection, Pool, create_pool
from app.logging import context
from app.repositories import jobs as job_repo
from broker import create_broker
from broker.connection import BrokerConnection
from scheduler.jobstore import AutomationJobStore, job_store_engine
from scheduler.leader import (
    STANDBY_POLL_SECONDS,
    close_quietly,
    identity,
    wait_for_leadership,
    watch_leadership,
)
from scheduler.reconcile import TriggerFactory, catch_up_missed_ticks, reconcile
from scheduler.ticks import TickExecutor

logger = logging.getLogger("scheduler")

NOTIFY_CHANNEL = "scheduled_jobs_changed"
TRANSIENT_ERRORS = DATABASE_ERRORS


def _job_store_engine(settings: Settings) -> Engine:
    # The job store is synchronous and runs on the event loop: every call of it is bounded.
    return job_store_engine(settings.database)


class Leading:
    """One term as leader: APScheduler running, reconciled, firing ticks."""

    def __init__(
        self,
        settings: Settings,
        pool: Pool,
        publisher: RunPublisher,
        engine: Engine,
        make_trigger: TriggerFactory,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.publisher = publisher
        self.make_trigger = make_trigger
        self.changed = asyncio.Event()
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": AutomationJobStore(engine)},
            executors={"default": TickExecutor(self.fire)},
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": settings.scheduler.misfire_grace_seconds,
                "max_instances": 1,
            },
            timezone=dt.UTC,
        )
        self.scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        self._background: set[asyncio.Task[None]] = set()

    async def fire(self, job_id: str, tick: dt.datetime) -> None:
        """Insert the tick's run and publish it, retrying through database hiccups for as long
        as the misfire grace allows (the unique tick makes a retry harmless)."""
        retrying = AsyncRetrying(
            stop=stop_after_delay(self.settings.scheduler.misfire_grace_seconds),
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception_type(TRANSIENT_ERRORS),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                run = await trigger_cron_run(self.pool, self.publisher, job_id, tick)
        if run is None:
            logger.info("Tick already has its run", extra=context(job=job_id, scheduled_for=tick))
        else:
            logger.info("Job fired", extra=context(job=job_id, run=run.id, scheduled_for=tick))

    def _on_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_ERROR:
            logger.error(
                "Job fire failed",
                extra=context(
                    job=event.job_id,
                    scheduled_for=event.scheduled_run_time,
                    why=str(event.exception),
                ),
            )
            return
        logger.warning(
            "Ticks missed: later than the misfire grace",
            extra=context(
                job=event.job_id,
                scheduled_for=event.scheduled_run_time,
                count=1,
                grace_seconds=self.settings.scheduler.misfire_grace_seconds,
            ),
        )
        task = asyncio.get_running_loop().create_task(self._count_missed())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _count_missed(self) -> None:
        with contextlib.suppress(*TRANSIENT_ERRORS):
            async with self.pool.acquire() as conn:
                await job_repo.count_missed_ticks(conn, 1)

    async def _catch_up(self) -> None:
        try:
            await catch_up_missed_ticks(
                self.pool,
                self.make_trigger,
                self.fire,
                self.settings.scheduler.misfire_grace_seconds,
            )
        except Exception:  # the term goes on: APScheduler fires what its store says is due
            logger.exception("Catching up missed ticks failed")

    def _notified(self, *_: Any) -> None:
        self.changed.set()

    async def lead(self, conn: Connection, stop: asyncio.Event) -> bool:
        """Lead until `stop` is set (True) or leadership is lost (False)."""
        lost = asyncio.Event()
        await conn.add_listener(NOTIFY_CHANNEL, self._notified)
        # From here on the probe is the only user of the connection (one operation at a time).
        watcher = asyncio.create_task(watch_leadership(conn, lost), name="leader-probe")
        try:
            await self._catch_up()
            self.scheduler.start()
            interval = self.settings.scheduler.reconcile_seconds
            while not (stop.is_set() or lost.is_set()):
                try:
                    await reconcile(self.pool, self.scheduler, self.make_trigger)
                except TRANSIENT_ERRORS as exc:
                    logger.warning("Reconcile failed; trying again", extra=context(why=str(exc)))
                except Exception:  # a store error must not end the leader's term
                    logger.exception("Reconcile failed; trying again")
                self.changed.clear()
                waits = [asyncio.create_task(e.wait()) for e in (stop, lost, self.changed)]
                await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
                for wait in waits:
                    wait.cancel()
        finally:
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            for task in list(self._background):
                task.cancel()
        return stop.is_set()


async def serve_scheduler(
    settings: Settings,
    stop: asyncio.Event | None = None,
    make_trigger: TriggerFactory = WallClockCronTrigger,
) -> None:
    """Run as a scheduler replica until `stop` is set; without one, until SIGTERM or SIGINT.

    `make_trigger` builds a job's APScheduler trigger from its cron and zone; tests pass a
    seconds-resolution one."""
    if stop is None:  # this process is ours: SIGTERM and Ctrl-C stop it
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    host, pid = identity()
    pool = await create_pool(settings.database, "tasktracker-scheduler", max_size=4)
    connection = BrokerConnection(
        create_broker(settings.broker), settings.broker.publish_timeout_seconds
    )
    connection.start()
    relay = asyncio.create_task(relay_forever(pool, connection), name="relay")
    engine = _job_store_engine(settings)
    logger.info("Scheduler started", extra=context(host=host, pid=pid))
    try:
        while not stop.is_set():
            conn = await wait_for_leadership(settings.database, stop)
            if conn is None:
                break
            logger.info("Leadership gained", extra=context(host=host, pid=pid))
            leading = Leading(settings, pool, connection, engine, make_trigger)
            try:
                stopped = await leading.lead(conn, stop)
            finally:
                await close_quietly(conn)
            if not stopped:
                logger.warning("Leadership lost", extra=context(host=host, pid=pid))
                with contextlib.suppress(TimeoutError):  # let a healthier replica lead first
                    await asyncio.wait_for(stop.wait(), STANDBY_POLL_SECONDS)
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await connection.close()
        engine.dispose()
        await pool.close()
        logger.info("Scheduler stopped", extra=context(host=host, pid=pid))

"""`tasktracker worker`: consume run ids from RabbitMQ and execute the runs.

Runs TaskIQ's receiver in this process (no process manager: one worker per process, scaled
by running more processes). SIGTERM or SIGINT: stop taking messages, let running runs hand
back after their current batch, then close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from app.automation.executor import GUARD_SLACK_SECONDS, RunExecutor
from app.config import Settings
from app.db import create_pool
from app.loops import watched
from broker import create_broker
from broker.connection import BrokerConnection

logger = logging.getLogger("automation")

MAX_CONCURRENT_RUNS = 10


async def serve_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Work until `stop` is set; without one, until SIGTERM or SIGINT."""
    if stop is None:  # this process is ours: SIGTERM and Ctrl-C stop it
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

    pool = await create_pool(
        settings.database,
        "tasktracker-worker",
        # The guard's safety net on the server (past the guard: the worker's own timer fires
        # first, and a server cancel within the slack still ends the run `timeout`).
        statement_timeout_ms=int(
            (settings.automation.timeout_seconds + GUARD_SLACK_SECONDS) * 1000
        ),
        # A batch may take up to the guard; past it (plus slack) the server is silent.
        command_timeout_seconds=max(
            settings.database.command_timeout_seconds, settings.automation.timeout_seconds + 5
        ),
        # The runs' connections plus heartbeats and the reaper (a run waiting for its turn
        # holds none: it is parked in the database).
        max_size=max(settings.database.pool_max_size, MAX_CONCURRENT_RUNS + 2),
    )
    broker = create_broker(settings.broker)
    broker.is_worker_process = True
    connection = BrokerConnection(broker, settings.broker.publish_timeout_seconds)
    executor = RunExecutor(pool, settings.automation, connection)
    broker.state.executor = executor
    connection.start()

    finish = asyncio.Event()
    receiver = watched(asyncio.create_task(_receive(connection, finish), name="receiver"), logger)
    reaper = watched(asyncio.create_task(executor.reap_forever(), name="reaper"), logger)
    compactor = watched(
        asyncio.create_task(executor.compact_forever(), name="summary-compaction"), logger
    )
    logger.info("Worker started", extra={"context": {"worker": executor.worker}})

    await stop.wait()
    logger.info("Worker stopping: runs in progress hand back after their current batch")
    executor.drain()
    finish.set()  # the receiver stops fetching and waits for its running tasks
    await executor.wait_idle(settings.automation.timeout_seconds + 5)
    for task in (receiver, reaper, compactor):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # logged when it died
            await task
    await connection.close()
    await pool.close()
    logger.info("Worker stopped")


async def _receive(connection: BrokerConnection, finish: asyncio.Event) -> None:
    await connection.ready.wait()
    receiver = Receiver(
        broker=connection.broker,
        run_startup=False,
        max_async_tasks=MAX_CONCURRENT_RUNS,
        # Acknowledge after the task returns: a worker killed mid-run leaves its message to be
        # delivered again (the claim decides whether there is still work to do).
        ack_type=AcknowledgeType.WHEN_EXECUTED,
        wait_tasks_timeout=None,
    )
    await receiver.listen(finish)

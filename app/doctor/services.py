"""Checks 1-3, the services: PostgreSQL and RabbitMQ reachable, a worker consuming the queue.

Like the other composition roots, the doctor talks to RabbitMQ itself (aio-pika): it asks the
broker how many consumers the workers' queue has.
"""

from __future__ import annotations

import asyncio
import contextlib

import aio_pika
import aio_pika.abc
import aio_pika.exceptions
import asyncpg

from app.config import Settings
from app.db import connect, database_name
from app.doctor.checklist import (
    CHECK_SECONDS,
    DATABASE,
    FIX_ABOVE,
    RABBITMQ,
    START_WORKER,
    WORKER,
    Check,
    Status,
    address,
    describe,
)


async def connect_database(
    settings: Settings,
) -> tuple[Check, asyncpg.Connection[asyncpg.Record] | None]:
    """The database check and, when it is OK, the connection the later checks share."""
    url = settings.database.url.get_secret_value()
    where = f"{address(url)}, database {database_name(url)}"
    seconds = min(settings.database.connect_timeout_seconds, CHECK_SECONDS)
    quick = settings.database.model_copy(update={"connect_timeout_seconds": seconds})
    try:
        async with asyncio.timeout(seconds + 1):
            conn = await connect(quick, "tasktracker-doctor")
    except Exception as exc:  # every failure to connect is this check's answer
        return Check(
            DATABASE,
            Status.FAIL,
            f"PostgreSQL unreachable at {where}: {describe(exc)}",
            "start PostgreSQL (compose: `docker compose up -d postgres`) and check "
            "DATABASE_URL (host, port, user, password, database)",
        ), None
    server = conn.get_server_version()
    # From PostgreSQL 10 on a version has two parts, which asyncpg puts in major and micro.
    version = f"{server.major}.{server.micro if server.major >= 10 else server.minor}"
    return Check(DATABASE, Status.OK, f"PostgreSQL {version} at {where}"), conn


async def connect_broker(
    settings: Settings,
) -> tuple[Check, aio_pika.abc.AbstractConnection | None]:
    """The RabbitMQ check and, when it is OK, the connection the worker check uses."""
    url = settings.broker.url.get_secret_value()
    try:
        async with asyncio.timeout(CHECK_SECONDS + 1):
            amqp = await aio_pika.connect(url, timeout=CHECK_SECONDS)
    except Exception as exc:  # every failure to connect is this check's answer
        return Check(
            RABBITMQ,
            Status.FAIL,
            f"RabbitMQ unreachable at {address(url)}: {describe(exc)}",
            "start RabbitMQ (compose: `docker compose up -d rabbitmq`) and check "
            "RABBITMQ_URL (host, port, user, password, vhost)",
        ), None
    return Check(RABBITMQ, Status.OK, f"RabbitMQ at {address(url)}"), amqp


async def check_worker(amqp: aio_pika.abc.AbstractConnection | None, queue_name: str) -> Check:
    """A worker consumes the configured queue (RabbitMQ counts its consumers)."""
    if amqp is None:
        return Check(WORKER, Status.WARN, "skipped: RabbitMQ unreachable", FIX_ABOVE)
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            # A channel of its own: a passive declare of a missing queue closes it.
            channel = await amqp.channel()
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
            f"could not inspect queue {queue_name}: {describe(exc)}",
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

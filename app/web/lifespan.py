"""The app's lifespan: it owns the database pool, the run publisher, the preview slots and
the background loops (outbox relay, audit and console-session purges)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from app.audit.retention import purge_forever
from app.automation.preview import PreviewSlots
from app.automation.relay import relay_forever
from app.config import Settings
from app.db import create_pool, statement_timeout_within
from app.services.console_sessions import purge_sessions_forever
from broker import create_broker
from broker.connection import BrokerConnection

# The name the api's log lines have always carried.
logger = logging.getLogger("app.api")

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def lifespan_of(settings: Settings) -> Lifespan:
    """The lifespan of an app built with `settings`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auth.disabled:
            logger.warning("AUTH_DISABLED=true: every request acts as an admin (development only)")
        # Every statement of a request is stopped by the server at the command timeout: a slow
        # one answers 504 naming the route, not 503 "PostgreSQL is unavailable" (web.errors).
        app.state.pool = await create_pool(
            settings.database,
            "tasktracker-api",
            statement_timeout_ms=statement_timeout_within(
                settings.database.command_timeout_seconds
            ),
        )
        app.state.preview_slots = PreviewSlots(settings.api.preview_concurrency)
        # RabbitMQ is reached in the background: the api serves (and triggers wait PENDING)
        # while it is down.
        connection = BrokerConnection(
            create_broker(settings.broker), settings.broker.publish_timeout_seconds
        )
        connection.start()
        app.state.publisher = connection
        background = [
            asyncio.create_task(relay_forever(app.state.pool, connection), name="relay"),
            asyncio.create_task(purge_forever(app.state.pool), name="audit-purge"),
            asyncio.create_task(
                purge_sessions_forever(app.state.pool), name="console-session-purge"
            ),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await connection.close()
            await app.state.pool.close()

    return lifespan

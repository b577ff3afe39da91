"""The HTTP API: `create_app(settings)` builds it; its lifespan owns the database pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from app.api.errors import install_error_handlers
from app.api.request_id import RequestIdMiddleware
from app.api.routes import audit, automation, health, metrics, rules, scheduler, versions
from app.automation.relay import relay_forever
from app.config import Settings
from app.console import install_console
from app.db import create_pool
from app.services.console_sessions import purge_sessions_forever
from app.services.retention import purge_forever
from broker import create_broker
from broker.connection import BrokerConnection

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
DOCS_STATIC_URL = "/static-offline-docs"


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auth.disabled:
            logger.warning("AUTH_DISABLED=true: every request acts as an admin (development only)")
        app.state.pool = await create_pool(settings.database, "tasktracker-api")
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

    # FastAPI's own /docs loads Swagger UI from a CDN; fastapi-offline serves the same page
    # with the files from its package (SPEC 8: works offline). The page and its files need no
    # token, as before. No ReDoc: its page still fetches its logo from Redocly's CDN.
    app = FastAPIOffline(
        redoc_url=None,
        static_url=DOCS_STATIC_URL,
        title="Task Tracker automation",
        version="0.1.0",
        description="Decides pending versions of topics and atoms by admin-written rules.",
        lifespan=lifespan,
        max_body_size=settings.api.max_body_bytes,
    )
    app.state.settings = settings
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    for router in (
        health.router,
        versions.router,
        rules.router,
        automation.router,
        scheduler.router,
        audit.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(metrics.router)  # at the root, where Prometheus looks
    install_console(app, settings)
    _document_bearer_auth(app)
    return app


def _document_bearer_auth(app: FastAPI) -> None:
    """Declare the `bearer` scheme that each route's `security` entry names."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override

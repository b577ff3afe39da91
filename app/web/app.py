"""The composition root: `create_app(settings)` builds the service, the API's routers and the
console mounted on app.web's lifespan, error handlers and request ids. Nothing in app/
imports this module but the `serve` commands (app/cli/servers.py)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from app.api.routes import audit, automation, health, metrics, rules, scheduler, versions
from app.config import Settings
from app.console import install_console
from app.web.errors import install_error_handlers
from app.web.lifespan import lifespan_of
from app.web.request_id import RequestIdMiddleware

API_PREFIX = "/api/v1"
DOCS_STATIC_URL = "/static-offline-docs"


def create_app(settings: Settings) -> FastAPI:
    """The service: the API under /api/v1, /metrics, the console under /ui, the docs."""
    # FastAPI's own /docs loads Swagger UI from a CDN; fastapi-offline serves the same page
    # with the files from its package (SPEC 8: works offline). The page and its files need no
    # token, as before. No ReDoc: its page still fetches its logo from Redocly's CDN.
    app = FastAPIOffline(
        redoc_url=None,
        static_url=DOCS_STATIC_URL,
        title="Task Tracker automation",
        version="0.1.0",
        description="Decides pending versions of topics and atoms by admin-written rules.",
        lifespan=lifespan_of(settings),
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

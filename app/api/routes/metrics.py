"""GET /metrics at the root (not under /api/v1), for Prometheus; no token."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.metrics import render_metrics
from app.web.auth import PUBLIC, GuardedRoute, requires
from app.web.deps import DbPool

router = APIRouter(tags=["health"], route_class=GuardedRoute)


@router.get(
    "/metrics",
    openapi_extra=requires(PUBLIC),
    summary="Prometheus series read from PostgreSQL at scrape time",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(pool: DbPool) -> Response:
    return Response(await render_metrics(pool), media_type=CONTENT_TYPE_LATEST)

"""Liveness: answers without a token so that orchestrators can probe it."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.auth import PUBLIC, GuardedRoute, requires

router = APIRouter(prefix="/health", tags=["health"], route_class=GuardedRoute)


@router.get("", openapi_extra=requires(PUBLIC), summary="The process is alive")
async def alive() -> dict[str, str]:
    return {"status": "ok"}

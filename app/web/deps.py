"""Dependencies shared by the api's routes and the console's pages, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from app.automation.preview import PreviewSlots
from app.config import Settings
from app.db import Pool
from app.models import Principal


def _pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def preview_slots(request: Request) -> PreviewSlots:
    """The app's preview slots (one set per app, made by its lifespan)."""
    slots: PreviewSlots = request.app.state.preview_slots
    return slots


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


DbPool = Annotated[Pool, Depends(_pool)]
AppSettings = Annotated[Settings, Depends(_settings)]
CurrentPrincipal = Annotated[Principal, Depends(_principal)]
Slots = Annotated[PreviewSlots, Depends(preview_slots)]
Limit = Annotated[int, Query(ge=1, le=1000, description="items per page")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]

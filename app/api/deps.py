"""Dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from app.config import Settings
from app.db import Pool
from app.models import Principal


def _pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


DbPool = Annotated[Pool, Depends(_pool)]
AppSettings = Annotated[Settings, Depends(_settings)]
CurrentPrincipal = Annotated[Principal, Depends(_principal)]
Limit = Annotated[int, Query(ge=1, le=1000, description="items per page")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]

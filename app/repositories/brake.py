"""The global brake and stopping runs."""

from __future__ import annotations

import uuid

from app.db import Connection
from app.models import AutomationState, Run
from app.repositories import fetch_all
from app.sql import queries


async def get_automation_state(conn: Connection) -> AutomationState:
    return AutomationState.model_validate(dict(await queries.get_automation_state(conn)))


async def lock_automation_state_shared(conn: Connection) -> AutomationState:
    """The brake, held (FOR SHARE) until the caller's transaction ends."""
    return AutomationState.model_validate(dict(await queries.lock_automation_state_shared(conn)))


async def set_automation_paused(
    conn: Connection, *, paused: bool, actor: str, reason: str | None
) -> tuple[AutomationState, bool]:
    """The new state, and whether it changed."""
    row = dict(await queries.set_automation_paused(conn, paused=paused, actor=actor, reason=reason))
    changed = bool(row.pop("changed"))
    return AutomationState.model_validate(row), changed


async def stop_active_runs(conn: Connection, reason: str) -> list[uuid.UUID]:
    return [row["id"] for row in await fetch_all(queries.stop_active_runs(conn, reason=reason))]


async def cancel_run(conn: Connection, run_id: uuid.UUID) -> Run | None:
    row = await queries.cancel_run(conn, id=run_id)
    return Run.model_validate(dict(row)) if row is not None else None

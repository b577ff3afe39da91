"""The only code that executes SQL: functions that take a connection and return typed models.
Driver errors are translated by app.db.translated_errors (re-exported here)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg

from app.db import translated_errors

__all__ = ["fetch_all", "translated_errors"]


async def fetch_all(rows: AsyncIterator[asyncpg.Record]) -> list[asyncpg.Record]:
    """Collect a select query's rows (aiosql hands them out as an async generator)."""
    return [row async for row in rows]

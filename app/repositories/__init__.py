"""The only code that executes SQL: functions that take a connection and return typed models."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import asyncpg

from app.errors import ConflictError, InvalidInputError


@contextmanager
def translated_errors(conflict: str = "conflicts with an existing object") -> Iterator[None]:
    """Turn the driver's constraint errors into the service's own."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise ConflictError(conflict) from exc
    except asyncpg.CheckViolationError as exc:
        raise InvalidInputError(f"refused by the database: {exc.constraint_name}") from exc


async def fetch_all(rows: AsyncIterator[asyncpg.Record]) -> list[asyncpg.Record]:
    """Collect a select query's rows (aiosql hands them out as an async generator)."""
    return [row async for row in rows]

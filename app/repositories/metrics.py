"""What /metrics reports, read from PostgreSQL at scrape time (metrics.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.db import Connection
from app.sql import queries


async def get_metric_counts(conn: Connection) -> Any:
    """Runs, decisions, pending versions, the relay's backlog and the scheduler's ticks; each
    field a small JSON document."""
    return await queries.get_metric_counts(conn)


async def get_run_durations(conn: Connection, bounds: Sequence[float]) -> Any:
    """Finished runs' durations as cumulative counts at each of `bounds`, their sum and count."""
    return await queries.get_run_durations(conn, bounds=list(bounds))

"""The outbox: runs stored but not yet published to RabbitMQ (PENDING), and their mark once
published (SCHEDULED)."""

from __future__ import annotations

import uuid

from app.db import Connection
from app.repositories import fetch_all
from app.sql import queries


async def mark_run_scheduled(conn: Connection, run_id: uuid.UUID) -> None:
    await queries.mark_run_scheduled(conn, id=run_id)


async def lock_unpublished_runs(conn: Connection, limit: int) -> list[uuid.UUID]:
    return [row["id"] for row in await fetch_all(queries.lock_unpublished_runs(conn, limit=limit))]

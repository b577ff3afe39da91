"""The shards of a split run (SPEC 6.3): id ranges of a large run, each a lease of its own
(see app.repositories.leases)."""

from __future__ import annotations

import uuid
from typing import Any

from app.db import Connection
from app.errors import NotFoundError
from app.models import Shard
from app.repositories import fetch_all
from app.sql import queries


def _shard(row: Any) -> Shard | None:
    return Shard.model_validate(dict(row)) if row is not None else None


async def split_run(  # noqa: PLR0917 - the lease and the split's two figures
    conn: Connection, run_id: uuid.UUID, worker: str, epoch: int, shards: int, pending: int
) -> list[uuid.UUID]:
    """Split the run (`pending` versions to evaluate) into `shards` shards; their ids (none:
    the lease was lost)."""
    rows = await fetch_all(
        queries.split_run(
            conn, id=run_id, worker=worker, epoch=epoch, shards=shards, pending=pending
        )
    )
    return [row["id"] for row in rows]


async def find_shard(conn: Connection, shard_id: uuid.UUID) -> Shard | None:
    return _shard(await queries.get_shard(conn, id=shard_id))


async def get_shard(conn: Connection, shard_id: uuid.UUID) -> Shard:
    shard = await find_shard(conn, shard_id)
    if shard is None:
        raise NotFoundError(f"shard {shard_id} does not exist")
    return shard


async def list_shards(conn: Connection, run_id: uuid.UUID) -> list[Shard]:
    rows = await fetch_all(queries.list_shards(conn, run_id=run_id))
    return [Shard.model_validate(dict(row)) for row in rows]


async def stop_shards_of_ended_runs(conn: Connection) -> list[uuid.UUID]:
    rows = await fetch_all(queries.stop_shards_of_ended_runs(conn))
    return [row["id"] for row in rows]

"""The trigger's idempotency keys: a key per token, the run it answered, kept a day."""

from __future__ import annotations

import uuid
from typing import Any

from app.db import Connection
from app.sql import queries


async def lock_idempotency_key(conn: Connection, token_name: str, key: str) -> None:
    await queries.lock_idempotency_key(conn, token_name=token_name, key=key)


async def get_idempotency_key(conn: Connection, token_name: str, key: str) -> dict[str, Any] | None:
    row = await queries.get_idempotency_key(conn, token_name=token_name, key=key)
    return dict(row) if row is not None else None


async def save_idempotency_key(
    conn: Connection,
    *,
    token_name: str,
    key: str,
    request_hash: str,
    run_id: uuid.UUID,
    coalesced: bool,
) -> None:
    await queries.save_idempotency_key(
        conn,
        token_name=token_name,
        key=key,
        request_hash=request_hash,
        run_id=run_id,
        coalesced=coalesced,
    )


async def delete_expired_idempotency_keys(conn: Connection) -> None:
    await queries.delete_expired_idempotency_keys(conn)

"""Automation runs: their rows, the trigger's coalescing and idempotency keys, the worker's
claims, batches and endings."""

from __future__ import annotations

import uuid
from typing import Any

from app.db import Connection
from app.errors import NotFoundError
from app.models import Run, RunState
from app.repositories import fetch_all
from app.sql import queries


def _run(row: Any) -> Run | None:
    return Run.model_validate(dict(row)) if row is not None else None


async def create_manual_run(
    conn: Connection, *, dry_run: bool, reason: str | None, job_id: str | None = None
) -> Run | None:
    """A new manual run, or None when a non-dry trigger must coalesce into the active run."""
    return _run(
        await queries.create_manual_run(conn, dry_run=dry_run, reason=reason, job_id=job_id)
    )


async def get_active_run(conn: Connection) -> Run | None:
    return _run(await queries.get_active_run(conn))


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


async def mark_run_scheduled(conn: Connection, run_id: uuid.UUID) -> None:
    await queries.mark_run_scheduled(conn, id=run_id)


async def lock_unpublished_runs(conn: Connection, limit: int) -> list[uuid.UUID]:
    return [row["id"] for row in await fetch_all(queries.lock_unpublished_runs(conn, limit=limit))]


async def get_run(conn: Connection, run_id: uuid.UUID) -> Run:
    run = _run(await queries.get_run(conn, id=run_id))
    if run is None:
        raise NotFoundError(f"run {run_id} does not exist")
    return run


async def list_runs(
    conn: Connection,
    *,
    state: RunState | None,
    trigger: str | None,
    job_id: str | None,
    before_seq: int | None,
    limit: int,
) -> list[Run]:
    rows = await fetch_all(
        queries.list_runs(
            conn,
            state=state.value if state else None,
            trigger=trigger,
            job_id=job_id,
            before_seq=before_seq,
            limit=limit,
        )
    )
    return [Run.model_validate(dict(row)) for row in rows]


# The worker's side.


async def claim_run(
    conn: Connection, run_id: uuid.UUID, worker: str, stale_seconds: float, max_attempts: int
) -> Run | None:
    return _run(
        await queries.claim_run(
            conn, id=run_id, worker=worker, stale_seconds=stale_seconds, max_attempts=max_attempts
        )
    )


async def fix_run_scope(
    conn: Connection, run_id: uuid.UUID, worker: str, rules: list[dict[str, Any]]
) -> Run | None:
    return _run(await queries.fix_run_scope(conn, id=run_id, worker=worker, rules=rules))


async def count_pending_between(conn: Connection, after_id: int, max_id: int) -> int:
    count: int = await queries.count_pending_between(conn, after_id=after_id, max_id=max_id)
    return count


async def beat_run(conn: Connection, run_id: uuid.UUID, worker: str) -> bool | None:
    """Refresh the heartbeat; None when the worker no longer owns the run, else whether a
    cancel was asked for."""
    result: bool | None = await queries.beat_run(conn, id=run_id, worker=worker)
    return result


async def finish_run(
    conn: Connection,
    run_id: uuid.UUID,
    worker: str,
    *,
    state: RunState,
    error: str | None = None,
    capped: bool = False,
) -> Run | None:
    return _run(
        await queries.finish_run(
            conn, id=run_id, worker=worker, state=state.value, error=error, capped=capped
        )
    )


async def hand_back_run(conn: Connection, run_id: uuid.UUID, worker: str) -> Run | None:
    return _run(await queries.hand_back_run(conn, id=run_id, worker=worker))


async def fail_lost_runs(
    conn: Connection, stale_seconds: float, max_attempts: int
) -> list[uuid.UUID]:
    rows = await fetch_all(
        queries.fail_lost_runs(conn, stale_seconds=stale_seconds, max_attempts=max_attempts)
    )
    return [row["id"] for row in rows]


async def list_stale_runs(
    conn: Connection, stale_seconds: float, max_attempts: int
) -> list[uuid.UUID]:
    rows = await fetch_all(
        queries.list_stale_runs(conn, stale_seconds=stale_seconds, max_attempts=max_attempts)
    )
    return [row["id"] for row in rows]


async def try_evaluation_lock(conn: Connection) -> bool:
    taken: bool = await queries.try_evaluation_lock(conn)
    return taken


async def release_evaluation_lock(conn: Connection) -> None:
    await queries.release_evaluation_lock(conn)

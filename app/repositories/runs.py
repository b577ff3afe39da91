"""Automation runs: their rows, the trigger's coalescing and idempotency keys, the worker's
claims, batches and endings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.db import Connection
from app.errors import NotFoundError
from app.models import Run, RunState, Shard
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


def _shard(row: Any) -> Shard | None:
    return Shard.model_validate(dict(row)) if row is not None else None


async def set_claim_limits(conn: Connection, *, lock_timeout_ms: int, idle_timeout_ms: int) -> None:
    """Bound the current transaction's lock waits and idle time."""
    await queries.set_claim_limits(
        conn, lock_timeout=str(lock_timeout_ms), idle_timeout=str(idle_timeout_ms)
    )


async def set_batch_limits(
    conn: Connection, *, statement_timeout_ms: int, idle_timeout_ms: int
) -> None:
    """Bound the current transaction's statements and idle time."""
    await queries.set_batch_limits(
        conn, statement_timeout=str(statement_timeout_ms), idle_timeout=str(idle_timeout_ms)
    )


async def park_run(conn: Connection, run_id: uuid.UUID) -> bool:
    """Leave a non-dry run waiting in the database for its turn; whether it was parked."""
    parked: bool | None = await queries.park_run(conn, id=run_id)
    return bool(parked)


async def fix_run_scope(
    conn: Connection, run_id: uuid.UUID, worker: str, epoch: int, rules: list[dict[str, Any]]
) -> Run | None:
    return _run(
        await queries.fix_run_scope(conn, id=run_id, worker=worker, epoch=epoch, rules=rules)
    )


async def count_pending_between(conn: Connection, after_id: int, max_id: int) -> int:
    count: int = await queries.count_pending_between(conn, after_id=after_id, max_id=max_id)
    return count


async def decide_batch(conn: Connection, statement: str, *params: Any) -> asyncpg.Record:
    """Run one batch: decide_batch with the compiled deciding rule spliced in (the rule
    compiler's SQL, built from allow-listed identifiers; values stay bound parameters)."""
    row: asyncpg.Record | None = await conn.fetchrow(statement, *params)
    assert row is not None  # noqa: S101 - a SELECT without FROM answers one row
    return row


async def add_batch_to_run(
    conn: Connection,
    run_id: uuid.UUID,
    *,
    worker: str,
    epoch: int,
    shard_id: uuid.UUID | None,
    cap: int | None,
    batch: asyncpg.Record,
) -> asyncpg.Record | None:
    """Add a batch's counts (decide_batch's answer) to its run's sums; None when refused."""
    row: asyncpg.Record | None = await queries.add_batch_to_run(
        conn,
        id=run_id,
        worker=worker,
        epoch=epoch,
        shard=shard_id,
        cap=cap,
        scanned=batch["scanned"],
        last_id=batch["batch_last_id"],
        approved=batch["approved"],
        rejected=batch["rejected"],
        escalated=batch["escalated"],
        per_rule=batch["per_rule"],
    )
    return row


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


# Leases: a run, or a shard of a split run, by its id; one statement per verb over both kinds
# (automation.sql, "Leases").

SHARD_KIND = "automation_run_shards"


@dataclass(frozen=True)
class Claim:
    """A lease this worker holds: the epoch it claimed (the fencing token every write of this
    worker names) and, for a shard, how long ago its run started (by the database's clock:
    the run's one deadline)."""

    epoch: int
    run_age_seconds: float = 0.0


async def claim_lease(
    conn: Connection,
    lease_id: uuid.UUID,
    worker: str,
    stale_seconds: float,
    max_attempts: int,
    *,
    lock_timeout_ms: int,
) -> Claim | None:
    """Claim the run or shard (see claim_lease in automation.sql); None when it is not this
    worker's to take now: finished, held by a live worker, its turn has not come, or (a
    shard) its run ended. Waits at most `lock_timeout_ms` for the row (then raises
    LockNotAvailableError)."""
    try:
        async with conn.transaction():
            await set_claim_limits(
                conn, lock_timeout_ms=lock_timeout_ms, idle_timeout_ms=lock_timeout_ms
            )
            row = await queries.claim_lease(
                conn,
                id=lease_id,
                worker=worker,
                stale_seconds=stale_seconds,
                max_attempts=max_attempts,
            )
            if row is None:
                return None
            if row["kind"] != SHARD_KIND:
                return Claim(int(row["lease_epoch"]))
            noted = await queries.note_shard_claim(conn, id=lease_id)
    except asyncpg.UniqueViolationError:
        return None  # another non-dry run was claimed at the same moment: it evaluates first
    return Claim(int(row["lease_epoch"]), float(noted["run_age_seconds"] or 0))


async def beat_lease(
    conn: Connection, lease_id: uuid.UUID, run_id: uuid.UUID, worker: str, epoch: int
) -> bool | None:
    """Refresh the heartbeat; None when the worker no longer holds the lease (or its run
    ended), else whether the run was asked to stop."""
    result: bool | None = await queries.beat_lease(
        conn, id=lease_id, run_id=run_id, worker=worker, epoch=epoch
    )
    return result


async def finish_lease(
    conn: Connection,
    lease_id: uuid.UUID,
    run_id: uuid.UUID,
    worker: str,
    epoch: int,
    *,
    state: RunState,
    error: str | None = None,
    capped: bool = False,
) -> tuple[bool, Run | None]:
    """End the lease and, if that ends its run (the run itself, or its last shard, or a
    shard that failed), the run: (whether this worker still held it, the run if it ended)."""
    async with conn.transaction():
        # Of two shards ending at once the second sees the first's end (and exactly one of
        # them concludes the run); nothing to lock for a run's own lease.
        await queries.lock_run_of_shard(conn, id=lease_id)
        row = await queries.finish_lease(
            conn,
            id=lease_id,
            worker=worker,
            epoch=epoch,
            state=state.value,
            error=error,
            capped=capped,
        )
        if row is None:
            return False, None
        if row["kind"] != SHARD_KIND:
            return True, await get_run(conn, run_id)
        run = _run(await queries.conclude_split_run(conn, id=run_id))
        if run is not None:
            await stop_shards_of_ended_runs(conn)
    return True, run


async def hand_back_lease(conn: Connection, lease_id: uuid.UUID, worker: str, epoch: int) -> bool:
    """Return the lease to the queue; whether this worker still held it."""
    handed: bool | None = await queries.hand_back_lease(
        conn, id=lease_id, worker=worker, epoch=epoch
    )
    return bool(handed)


async def end_stale_sessions(
    conn: Connection, stale_seconds: float, lease_id: uuid.UUID | None = None
) -> int:
    """End the sessions of the leases whose worker stopped beating (of `lease_id`'s alone if
    given); how many were ended."""
    ended: int = await queries.end_stale_sessions(conn, id=lease_id, stale_seconds=stale_seconds)
    return ended


async def fail_lost_leases(
    conn: Connection, stale_seconds: float, max_attempts: int
) -> list[uuid.UUID]:
    """Fail `lost` the leases out of attempts (and the runs of such shards); the runs."""
    rows = await fetch_all(
        queries.fail_lost_leases(conn, stale_seconds=stale_seconds, max_attempts=max_attempts)
    )
    return [row["id"] for row in rows]


async def mark_leases_for_redelivery(
    conn: Connection, redeliver_seconds: float, stale_seconds: float, max_attempts: int
) -> list[uuid.UUID]:
    """The runs and shards this caller must publish again (no other caller gets the same)."""
    rows = await fetch_all(
        queries.mark_leases_for_redelivery(
            conn,
            redeliver_seconds=redeliver_seconds,
            stale_seconds=stale_seconds,
            max_attempts=max_attempts,
        )
    )
    return [row["id"] for row in rows]

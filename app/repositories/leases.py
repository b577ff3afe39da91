"""Leases: a run, or a shard of a split run, by its id; one statement per verb over both kinds
(automation.sql, "Leases"): claimed as a new epoch, kept by its heartbeat, fenced by every
write of its worker, handed back, ended, taken over when stale, republished or failed `lost`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.db import Connection, translated_errors
from app.errors import ConflictError
from app.models import Run, RunState
from app.repositories import fetch_all
from app.repositories.runs import get_run, run_or_none
from app.repositories.session import limit_transaction
from app.repositories.shards import stop_shards_of_ended_runs
from app.sql import queries

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
        with translated_errors():
            async with conn.transaction():
                await limit_transaction(
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
    except ConflictError:
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
        run = run_or_none(await queries.conclude_split_run(conn, id=run_id))
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

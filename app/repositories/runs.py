"""Automation runs: their rows, as the trigger creates them and the api lists them, and the
worker's scope (what a run evaluates). Their batches, shards, leases, outbox and idempotency
keys have modules of their own."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.db import Connection
from app.errors import NotFoundError
from app.models import Rule, Run, RunState
from app.repositories import fetch_all
from app.repositories.rules import SNAPSHOT_FIELDS, rule_dict
from app.repositories.session import limit_transaction
from app.repositories.shards import list_shards
from app.rules.ruleset import EVALUATION_REVISION, age_thresholds
from app.sql import queries

# How long the transaction that fixes a run's scope under the versions lock may sit idle.
SCOPE_IDLE_TIMEOUT_MS = 2_000

__all__ = [
    "count_pending_in_scope",
    "create_manual_run",
    "fix_run_scope",
    "get_active_run",
    "get_run",
    "list_run_scope",
    "list_runs",
    "list_shards",  # app.repositories.shards's, kept here for the api's old import
    "park_run",
    "run_or_none",
]


def run_or_none(row: Any) -> Run | None:
    return Run.model_validate(dict(row)) if row is not None else None


async def create_manual_run(
    conn: Connection, *, dry_run: bool, reason: str | None, job_id: str | None = None
) -> Run | None:
    """A new manual run, or None when a non-dry trigger must coalesce into the active run."""
    return run_or_none(
        await queries.create_manual_run(conn, dry_run=dry_run, reason=reason, job_id=job_id)
    )


async def get_active_run(conn: Connection) -> Run | None:
    return run_or_none(await queries.get_active_run(conn))


async def get_run(conn: Connection, run_id: uuid.UUID) -> Run:
    run = run_or_none(await queries.get_run(conn, id=run_id))
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


async def park_run(conn: Connection, run_id: uuid.UUID) -> bool:
    """Leave a non-dry run waiting in the database for its turn; whether it was parked."""
    parked: bool | None = await queries.park_run(conn, id=run_id)
    return bool(parked)


async def fix_run_scope(
    conn: Connection,
    run_id: uuid.UUID,
    worker: str,
    epoch: int,
    rules: list[Rule],
    *,
    close: bool,
    lock_timeout_ms: int,
) -> Run | None:
    """Fix what every attempt evaluates (see fix_run_scope in automation.sql), `rules` (the
    enabled rules now) as the run's snapshot; None when the lease was lost. With `close` (a
    run that decides), the scope is fixed under lock_versions_for_scope, waiting at most
    `lock_timeout_ms` for it; without the lock the run's scope stays open (the next run then
    evaluates everything)."""
    snapshot = [rule_dict(rule, SNAPSHOT_FIELDS) for rule in rules]
    ages = age_thresholds(rule.conditions for rule in rules)

    async def fix(*, closed: bool) -> Run | None:
        return run_or_none(
            await queries.fix_run_scope(
                conn,
                id=run_id,
                worker=worker,
                epoch=epoch,
                rules=snapshot,
                engine=EVALUATION_REVISION,
                ages=ages,
                closed=closed,
            )
        )

    if close:
        try:
            async with conn.transaction():
                # A worker frozen in it would hold every submission back: not for long.
                await limit_transaction(
                    conn, lock_timeout_ms=lock_timeout_ms, idle_timeout_ms=SCOPE_IDLE_TIMEOUT_MS
                )
                await queries.lock_versions_for_scope(conn)
                return await fix(closed=True)
        except asyncpg.LockNotAvailableError:
            pass  # fixed below, open: the run's Run.scope_closed says so
    return await fix(closed=False)


async def list_run_scope(
    conn: Connection, run_id: uuid.UUID, after_id: int, max_id: int
) -> list[tuple[int, int]]:
    """The id ranges (after, upto] of the run's scope within (after_id, max_id], in order."""
    rows = await fetch_all(
        queries.list_run_scope(conn, id=run_id, after_id=after_id, max_id=max_id)
    )
    return [(int(row["after_id"]), int(row["upto_id"])) for row in rows]


async def count_pending_in_scope(conn: Connection, run_id: uuid.UUID, after_id: int) -> int:
    """Pending versions of the run's scope above `after_id`."""
    count: int = await queries.count_pending_in_scope(conn, id=run_id, after_id=after_id)
    return count

"""The batch loop: a run's (or a shard's) pending versions evaluated in id-ordered batches,
each one transaction of two statements (decide_batch, then add_batch_to_run); at the first
claim, the run's scope fixed and a large run split into shards (SPEC 6.3)."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from typing import Any

from app.automation.executor.base import (
    GUARD_SLACK_SECONDS,
    SCOPE_LOCK_TIMEOUT_MS,
    ExecutorBase,
    Lease,
    LostOwnershipError,
    Outcome,
)
from app.automation.executor.log_lines import rules_of
from app.db import Connection
from app.logging import context
from app.models import Run
from app.repositories import batches as batch_repo
from app.repositories import rules as rule_repo
from app.repositories import runs as run_repo
from app.repositories import shards as shard_repo
from app.repositories.batches import BatchStatement

logger = logging.getLogger("automation")


class _BatchRefusedError(Exception):
    """The batch's write was refused (see decide_batch); its transaction rolls back."""


class BatchLoop(ExecutorBase):
    """Evaluates what a lease holds, batch after batch."""

    async def _evaluate(
        self,
        conn: Connection,
        run: Run,
        lease: Lease,
        cancel: asyncio.Event,
        deadline: float,
    ) -> tuple[Outcome, Run]:
        loop = asyncio.get_running_loop()
        if lease.shard is not None:
            after, upto = lease.shard.last_version_id, lease.shard.max_version_id
        else:
            run = await self._fix_scope(conn, run, lease)
            assert run.max_version_id is not None  # noqa: S101 - fixed by _fix_scope
            after, upto = run.last_version_id, run.max_version_id
            if await self._split_if_large(conn, run, lease):
                return Outcome.SPLIT, run
        statement = batch_repo.batch_statement(rules_of(run), run.evaluated_at)
        cap = self.settings.max_decisions_per_run
        decided_total = run.approved + run.rejected + run.escalated
        # The scope's id ranges left (a run after one under the same rules: the new ids and
        # the versions whose age crossed a threshold; docs/performance.md).
        ranges = await run_repo.list_run_scope(conn, run.id, after, upto)
        if not ranges:  # nothing to evaluate: still stopped, capped or handed back if asked
            stop = self._stop_before_batch(lease, cancel, cap, decided_total)
            if stop is not None:
                return stop, run
        for start, end in ranges:
            after = max(after, start)
            while True:
                stop = self._stop_before_batch(lease, cancel, cap, decided_total)
                if stop is not None:
                    return stop, run
                # The server's own bound on this batch: a little past the guard's deadline
                # (the asyncio timer fires first), so that a frozen or cut-off worker's
                # statement ends.
                remaining = deadline - loop.time() + GUARD_SLACK_SECONDS
                row = await self._decide_batch(
                    conn,
                    statement,
                    run=run,
                    lease=lease,
                    after=after,
                    upto=end,
                    statement_timeout_ms=max(1, math.ceil(remaining * 1000)),
                    allowance=cap - decided_total if cap else None,
                )
                if row is None:
                    # A shard's batch is also refused when another shard's batch took the
                    # cap's last decisions meanwhile: while the lease holds, the batch is
                    # tried again within what is left of the cap.
                    if lease.shard is None or await self._beat_once(lease) is None:
                        raise LostOwnershipError
                    continue
                after = row["last_version_id"]
                decided_total = row["decided_total"]
                if row["cancel_requested"]:
                    cancel.set()
                if row["scanned"] < statement.rows(self.settings.batch_size):
                    break
        return (Outcome.CAPPED if cap and decided_total >= cap else Outcome.COMPLETED), run

    def _stop_before_batch(
        self, lease: Lease, cancel: asyncio.Event, cap: int, decided_total: int
    ) -> Outcome | None:
        """Why the loop stops before its next batch (None: it goes on); LostOwnershipError
        when the lease was taken over."""
        if lease.lost.is_set():
            raise LostOwnershipError
        if self._draining:
            return Outcome.HANDED_BACK
        if cancel.is_set():
            return Outcome.CANCELLED
        if cap and decided_total >= cap:
            return Outcome.CAPPED
        return None

    async def _decide_batch(
        self,
        conn: Connection,
        statement: BatchStatement,
        *,
        run: Run,
        lease: Lease,
        after: int,
        upto: int,
        statement_timeout_ms: int,
        allowance: int | None,
    ) -> dict[str, Any] | None:
        """One batch in its own transaction (decide and seal, then add to the run's sums);
        None (rolled back) when its write was refused."""
        shard_id = lease.shard.id if lease.shard is not None else None
        cap = self.settings.max_decisions_per_run or None
        idle_ms = math.ceil(self.settings.stale_after_seconds * 1000)
        try:
            async with conn.transaction():
                await batch_repo.set_batch_limits(
                    conn, statement_timeout_ms=statement_timeout_ms, idle_timeout_ms=idle_ms
                )
                batch = await batch_repo.decide_batch(
                    conn,
                    statement,
                    run_id=run.id,
                    after=after,
                    upto=upto,
                    batch_size=statement.rows(self.settings.batch_size),
                    cap=cap,
                    dry_run=run.dry_run,
                    worker=self.worker,
                    epoch=lease.epoch,
                    shard_id=shard_id,
                    allowance=allowance,
                )
                if not batch["shard_held"]:
                    raise _BatchRefusedError  # noqa: TRY301 - rolls the transaction back
                sums = await batch_repo.add_batch_to_run(
                    conn,
                    run.id,
                    worker=self.worker,
                    epoch=lease.epoch,
                    shard_id=shard_id,
                    cap=cap,
                    batch=batch,
                )
                if sums is None:
                    raise _BatchRefusedError  # noqa: TRY301 - rolls the transaction back
        except _BatchRefusedError:
            return None
        last = batch["shard_last_version_id"] if shard_id is not None else sums["last_version_id"]
        return {
            "scanned": batch["scanned"],
            "decided": batch["approved"] + batch["rejected"] + batch["escalated"],
            "last_version_id": last,
            "decided_total": sums["decided_total"],
            "cancel_requested": sums["cancel_requested"],
        }

    async def _split_if_large(self, conn: Connection, run: Run, lease: Lease) -> bool:
        """Log what the run evaluates; split it into shards if it is large (SPEC 6.3)."""
        assert run.max_version_id is not None  # noqa: S101 - fixed by _fix_scope
        pending = await run_repo.count_pending_in_scope(conn, run.id, run.last_version_id)
        logger.info(
            "Evaluating %(count)d pending versions", {"count": pending}, extra=context(run=run.id)
        )
        shards = self.settings.shards
        if shards > 1 and pending >= max(self.settings.shard_min_versions, shards):
            await self._split(conn, run, lease, shards, pending)
            return True
        return False

    async def _fix_scope(self, conn: Connection, run: Run, lease: Lease) -> Run:
        """At the first claim: fix the versions, the instant and the rules every attempt
        (and every shard) evaluates."""
        if run.rules is not None and run.max_version_id is not None:
            return run
        enabled = await rule_repo.list_enabled_rules(conn)
        fixed = await run_repo.fix_run_scope(
            conn,
            run.id,
            self.worker,
            lease.epoch,
            enabled,
            close=not run.dry_run,
            lock_timeout_ms=SCOPE_LOCK_TIMEOUT_MS,
        )
        if fixed is None:
            raise LostOwnershipError
        if not fixed.dry_run and not fixed.scope_closed:
            logger.warning(
                "Run scope left open (versions were being written); "
                "the next run evaluates every pending version",
                extra=context(run=run.id),
            )
        return fixed

    async def _split(
        self, conn: Connection, run: Run, lease: Lease, shards: int, pending: int
    ) -> None:
        """Split the run into shards (each then claimed like a run) and publish them; a
        shard whose publish fails is published again by a reaper (its lease)."""
        ids: list[uuid.UUID] = await shard_repo.split_run(
            conn, run.id, self.worker, lease.epoch, shards, pending
        )
        if not ids:
            raise LostOwnershipError
        logger.info(
            "Run split into %(count)d shards", {"count": len(ids)}, extra=context(run=run.id)
        )
        for shard_id in ids:
            await self._republish(shard_id)

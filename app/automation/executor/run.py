"""A run from its message to its end: claim it (or park it), guard it (one deadline, the
heartbeat), evaluate it (the batch loop) and conclude it (finish, fail or hand back)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from app.automation.executor.base import (
    CLAIM_LOCK_TIMEOUT_MS,
    GUARD_SLACK_SECONDS,
    Lease,
    LostOwnershipError,
    Outcome,
)
from app.automation.executor.batch_loop import BatchLoop
from app.automation.executor.log_lines import log_end, log_start
from app.automation.executor.reaper import Reaper
from app.db import Connection, StatementCancelledError
from app.errors import NotFoundError
from app.i18n import N_
from app.logging import context, scoped
from app.loops import STOP, every
from app.models import Run, RunState, Shard
from app.repositories import leases as lease_repo
from app.repositories import runs as run_repo
from app.repositories import shards as shard_repo

logger = logging.getLogger("automation")


class RunExecutor(BatchLoop, Reaper):
    """Executes runs for one worker process; `drain()` makes running runs hand back."""

    async def execute(self, message: object) -> None:
        """Handle one message: a run id or a shard id. Bad or unknown ids are logged and
        dropped.

        Nothing that fails before the claim loses the run: the message is dropped, and the run
        (still PENDING or SCHEDULED in its row) is published again by a reaper."""
        try:
            run_id = uuid.UUID(str(message))
        except ValueError:
            logger.warning("Dropped a message that carries no run id", extra=context(body=message))
            return
        if self._draining:
            await self._republish(run_id)
            return
        with self._tracking(run_id), scoped(run=run_id):
            async with contextlib.AsyncExitStack() as stack:
                try:
                    conn = await stack.enter_async_context(self.pool.acquire())
                    lease = await self._claim(conn, run_id)
                except NotFoundError:
                    logger.warning(
                        "Dropped a message for an unknown run", extra=context(run=run_id)
                    )
                    return
                except Exception as exc:  # the row is the truth: its lease brings it back
                    logger.warning(
                        "Could not claim the run now; it will be published again",
                        extra=context(run=run_id, why=repr(exc)),
                    )
                    return
                if lease is not None:
                    await self._execute(conn, lease)

    async def _claim(self, conn: Connection, lease_id: uuid.UUID) -> Lease | None:
        """Claim the run or shard of this id on `conn` (the session that will evaluate it);
        None when there is nothing to do now (NotFoundError: no run or shard has this id). A
        non-dry run whose turn has not come is parked, not waited for."""
        shard = await shard_repo.find_shard(conn, lease_id)
        held: Shard | Run = shard or await run_repo.get_run(conn, lease_id)
        run_id = shard.run_id if shard is not None else lease_id
        if held.state.is_final:
            return None
        if held.state is RunState.EXECUTING:
            # Taking over from a worker that stopped beating (if it did, by the database's
            # clock): end its session first, with the transaction and locks it may hold.
            ended = await lease_repo.end_stale_sessions(
                conn, self.settings.stale_after_seconds, lease_id
            )
            if ended:
                logger.warning(
                    "Ended the session of a worker that stopped beating",
                    extra=context(run=run_id, sessions=ended),
                )
        claim = await lease_repo.claim_lease(
            conn,
            lease_id,
            self.worker,
            self.settings.stale_after_seconds,
            self.settings.max_attempts,
            lock_timeout_ms=CLAIM_LOCK_TIMEOUT_MS,
        )
        if claim is None:
            if isinstance(held, Run) and not held.dry_run and await run_repo.park_run(conn, run_id):
                logger.info(
                    "Run waits for the active run to finish; it is woken when its turn comes",
                    extra=context(run=run_id),
                )
            return None
        if shard is not None:  # as claimed: its attempts and progress
            shard = await shard_repo.get_shard(conn, lease_id)
        return Lease(run_id, claim.epoch, shard, run_age_seconds=claim.run_age_seconds)

    async def _execute(self, conn: Connection, lease: Lease) -> None:
        run = await run_repo.get_run(conn, lease.run_id)
        loop = asyncio.get_running_loop()
        # One deadline (the loop's clock) for the asyncio timer and the statement timeouts: a
        # shard's is the run's, from its start by the database's clock.
        deadline = loop.time() + self.settings.timeout_seconds - lease.run_age_seconds
        log_start(run, lease)
        await self._hold(conn, lease, run, deadline)

    async def _hold(self, conn: Connection, lease: Lease, run: Run, deadline: float) -> None:
        """Evaluate what the lease holds until the deadline, then end it (or hand it back)."""
        run_id = run.id
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        cancel = asyncio.Event()
        if run.cancel_requested_at is not None:  # stopped while it waited: decide nothing
            cancel.set()
        heartbeat = asyncio.create_task(self._beat(lease, cancel))
        try:
            async with asyncio.timeout_at(deadline):
                outcome, run = await self._evaluate(conn, run, lease, cancel, deadline)
        except TimeoutError:
            await self._finish(lease, RunState.FAILED, "timeout", started)
        except LostOwnershipError:
            logger.warning("Run was taken over; this worker stops", extra=context(run=run_id))
        except StatementCancelledError as exc:
            if loop.time() >= deadline - GUARD_SLACK_SECONDS:
                # The server's statement_timeout (the guard's safety net) fired: the guard.
                await self._finish(lease, RunState.FAILED, "timeout", started)
            else:
                await self._fail(lease, exc, started)
        except Exception as exc:
            await self._fail(lease, exc, started)
        else:
            await self._conclude(lease, run, outcome, started)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if not run.dry_run:
                await self._wake_waiting_runs()
                await self._compact_after_run()

    async def _beat(self, lease: Lease, cancel: asyncio.Event) -> None:
        """The lease's heartbeat until cancelled or lost (then `lease.lost` is set); a run
        asked to stop sets `cancel`."""

        async def beat() -> object:
            cancel_requested = await self._beat_once(lease)
            if cancel_requested is None:
                lease.lost.set()  # taken over: the evaluation stops before its next batch
                return STOP
            if cancel_requested:
                cancel.set()
            return None

        await every(
            self.settings.heartbeat_seconds,
            beat,
            log=logger,
            failed=N_("Heartbeat failed"),
            extra=context(run=lease.run_id),
            wait_first=True,
        )

    async def _conclude(self, lease: Lease, run: Run, outcome: Outcome, started: float) -> None:
        if outcome is Outcome.SPLIT:
            return  # its shards evaluate it now
        if outcome is Outcome.HANDED_BACK:
            async with self.pool.acquire() as conn:
                handed = await lease_repo.hand_back_lease(
                    conn, lease.unit_id, self.worker, lease.epoch
                )
            if handed:
                logger.info("Run handed back: this worker is stopping", extra=context(run=run.id))
                await self._republish(lease.unit_id)
            return
        if outcome is Outcome.CANCELLED:
            await self._finish(lease, RunState.FAILED, "cancelled", started)
            return
        await self._finish(
            lease, RunState.COMPLETED, None, started, capped=outcome is Outcome.CAPPED
        )

    async def _fail(self, lease: Lease, exc: Exception, started: float) -> None:
        """End the run FAILED with the error, unless it was taken over (then say so)."""
        if await self._finish(lease, RunState.FAILED, f"error: {exc}", started, quiet=True):
            logger.exception("Run failed", extra=context(run=lease.run_id))
        else:
            logger.warning(
                "Run was taken over; this worker stops",
                extra=context(run=lease.run_id, why=repr(exc)),
            )

    async def _finish(
        self,
        lease: Lease,
        state: RunState,
        error: str | None,
        started: float,
        *,
        capped: bool = False,
        quiet: bool = False,
    ) -> bool:
        """End the run (or the shard, and the run if that ends it); False when this worker no
        longer holds it (nothing is written)."""
        run_id = lease.run_id
        # A fresh pooled connection: the run's own may be mid-cancellation after a timeout.
        async with self.pool.acquire() as conn:
            held, run = await lease_repo.finish_lease(
                conn,
                lease.unit_id,
                run_id,
                self.worker,
                lease.epoch,
                state=state,
                error=error,
                capped=capped,
            )
        if not held:
            if not quiet:
                logger.warning("Run was taken over; this worker stops", extra=context(run=run_id))
            return False
        if run is None:
            return True  # the shard ended; the run goes on in its other shards
        if run.shards and run.started_at and run.finished_at:
            # The run's end (the whole run's time), whatever this shard's was.
            elapsed = (run.finished_at - run.started_at).total_seconds()
            log_end(run, run.state, run.error, elapsed, capped=run.capped)
        else:
            log_end(run, state, error, time.monotonic() - started, capped=capped)
        return True

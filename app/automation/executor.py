"""The worker's side of a run: claim it, evaluate the pending versions in id-ordered batches,
finish it. Each batch is one transaction of two statements: the first picks every version's
deciding rule with the compiled SQL, decides and writes the audit rows (sealed at its end);
the second adds the batch's counts to the run's row.

The row is the truth, a message only a wake-up call. A claim is a lease of a new epoch:
the worker's heartbeat keeps it, judged by the database's clock, and every write of the
worker names the epoch it claimed, so a superseded worker writes nothing more. At most one
non-dry run is EXECUTING (a unique index); a non-dry run whose turn has not come is parked
in the database (SCHEDULED, no message) instead of waiting in a consumer slot, and woken
when the active run ends or by a reaper. Every worker's reaper republishes what lost its
message (SCHEDULED past AUTOMATION_REDELIVER_SECONDS, EXECUTING whose worker stopped
beating), ends the sessions of stale runs and fails `lost` those out of attempts.

The guard: one deadline over the whole evaluation, enforced by asyncio and, as a safety
net a little later, by a statement_timeout on each batch; whichever fires, the run ends
`timeout`.

Shards (SPEC 6.3): a run with more than AUTOMATION_SHARD_MIN_VERSIONS pending at its first
claim is split into AUTOMATION_SHARDS id ranges, each a row and a message of its own. A shard
is held by the run's own lease mechanism (one set of statements over both kinds of row:
automation.sql, "Leases"; `_Lease.shard` says which row), its batches add to the run's
counters within the run's cap, it stops on the run's cancel and at the run's one deadline,
and the shard that ends last (or the first that fails) ends the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from app.automation.publisher import PublishError, RunPublisher
from app.config import AutomationSettings
from app.db import Connection, Pool
from app.errors import NotFoundError
from app.i18n import N_
from app.logging import context, scoped
from app.models import Rule, Run, RunState, Shard
from app.repositories import rules as rule_repo
from app.repositories import runs as run_repo
from app.rules.compiler import (
    CompileContext,
    RuleToEvaluate,
    SqlParams,
    compile_deciding_rule,
    rules_from_snapshot,
)
from app.rules.models import dump_conditions
from app.sql import queries

logger = logging.getLogger("automation")

_BATCH_FIXED_PARAMS = 14  # $1..$14 of decide_batch; the compiled values follow
# The server's statement_timeout reaches this far past the guard's deadline, so that the
# client's timer normally fires first; a cancel by the server within it is the guard too.
GUARD_SLACK_SECONDS = 0.5
# How long a claim waits for the run's row: a session being ended may still hold it.
CLAIM_LOCK_TIMEOUT_MS = 5_000

# Log msgids per action: (a run's line, a dry run's line).
ACTION_LOG = {
    "approve": (
        N_("Auto-approved %(count)d versions"),
        N_("Would have approved %(count)d versions"),
    ),
    "reject": (
        N_("Auto-rejected %(count)d versions"),
        N_("Would have rejected %(count)d versions"),
    ),
    "escalate": (N_("Escalated %(count)d versions"), N_("Would have escalated %(count)d versions")),
}


class Outcome(enum.Enum):
    COMPLETED = "completed"
    CAPPED = "capped"
    CANCELLED = "cancelled"
    HANDED_BACK = "handed back"
    SPLIT = "split"


class LostOwnershipError(Exception):
    """Another worker (or the reaper) took the run over; stop without touching it."""


class _BatchRefusedError(Exception):
    """The batch's write was refused (see decide_batch); its transaction rolls back."""


@dataclass
class _Lease:
    """The run (or the shard of a run) this worker holds and the epoch it claimed; `lost` is
    set once a write of the worker was refused (the lease was taken over or the run ended)."""

    run_id: uuid.UUID
    epoch: int
    shard: Shard | None = None
    # How long ago the run started when a shard was claimed (0 for a run's own lease: each
    # attempt of an unsplit run has the whole guard).
    run_age_seconds: float = 0.0
    lost: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def unit_id(self) -> uuid.UUID:
        """The id of the row that holds the lease (and of its message)."""
        return self.shard.id if self.shard is not None else self.run_id


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _snapshot(rules: list[Rule]) -> list[dict[str, Any]]:
    return [
        {
            "id": rule.id,
            "name": rule.name,
            "revision": rule.revision,
            "priority": rule.priority,
            "action": rule.action.value,
            "conditions": dump_conditions(rule.conditions),
        }
        for rule in rules
    ]


def _rules_of(run: Run) -> list[RuleToEvaluate]:
    return rules_from_snapshot(run.rules or [])


class RunExecutor:
    """Executes runs for one worker process; `drain()` makes running runs hand back."""

    def __init__(
        self,
        pool: Pool,
        settings: AutomationSettings,
        publisher: RunPublisher,
        worker: str | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.publisher = publisher
        self.worker = worker or worker_identity()
        self._draining = False
        self._active: set[uuid.UUID] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    # -- lifecycle -------------------------------------------------------------------------

    def drain(self) -> None:
        """Stop taking runs; runs in progress hand back after their current batch."""
        self._draining = True

    async def wait_idle(self, within_seconds: float) -> bool:
        try:
            async with asyncio.timeout(within_seconds):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    @contextlib.contextmanager
    def _tracking(self, run_id: uuid.UUID) -> Any:
        self._active.add(run_id)
        self._idle.clear()
        try:
            yield
        finally:
            self._active.discard(run_id)
            if not self._active:
                self._idle.set()

    # -- the task's entry point --------------------------------------------------------------

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

    async def _claim(self, conn: Connection, lease_id: uuid.UUID) -> _Lease | None:
        """Claim the run or shard of this id on `conn` (the session that will evaluate it);
        None when there is nothing to do now (NotFoundError: no run or shard has this id). A
        non-dry run whose turn has not come is parked, not waited for."""
        shard = await run_repo.find_shard(conn, lease_id)
        held: Shard | Run = shard or await run_repo.get_run(conn, lease_id)
        run_id = shard.run_id if shard is not None else lease_id
        if held.state.is_final:
            return None
        if held.state is RunState.EXECUTING:
            # Taking over from a worker that stopped beating (if it did, by the database's
            # clock): end its session first, with the transaction and locks it may hold.
            ended = await run_repo.end_stale_sessions(
                conn, self.settings.stale_after_seconds, lease_id
            )
            if ended:
                logger.warning(
                    "Ended the session of a worker that stopped beating",
                    extra=context(run=run_id, sessions=ended),
                )
        claim = await run_repo.claim_lease(
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
            shard = await run_repo.get_shard(conn, lease_id)
        return _Lease(run_id, claim.epoch, shard, run_age_seconds=claim.run_age_seconds)

    # -- one run ------------------------------------------------------------------------------

    async def _execute(self, conn: Connection, lease: _Lease) -> None:
        run = await run_repo.get_run(conn, lease.run_id)
        loop = asyncio.get_running_loop()
        # One deadline (the loop's clock) for the asyncio timer and the statement timeouts: a
        # shard's is the run's, from its start by the database's clock.
        deadline = loop.time() + self.settings.timeout_seconds - lease.run_age_seconds
        if lease.shard is not None:
            logger.info(
                "Shard %(shard)d of %(shards)d started",
                {"shard": lease.shard.shard_no, "shards": run.shards},
                extra=context(run=run.id, shard=lease.shard.shard_no, attempt=lease.shard.attempts),
            )
        else:
            logger.info(
                "Automation run started",
                extra=context(
                    run=run.id,
                    trigger=run.trigger.value,
                    job=run.job_id or "-",
                    attempt=run.attempts,
                    dry_run=str(run.dry_run).lower(),
                ),
            )
        await self._hold(conn, lease, run, deadline)

    async def _hold(self, conn: Connection, lease: _Lease, run: Run, deadline: float) -> None:
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
        except asyncpg.QueryCanceledError as exc:
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

    async def _evaluate(
        self,
        conn: Connection,
        run: Run,
        lease: _Lease,
        cancel: asyncio.Event,
        deadline: float,
    ) -> tuple[Outcome, Run]:
        loop = asyncio.get_running_loop()
        if lease.shard is not None:
            after, upto, shard_id = (
                lease.shard.last_version_id,
                lease.shard.max_version_id,
                lease.shard.id,
            )
        else:
            run = await self._fix_scope(conn, run, lease)
            assert run.max_version_id is not None  # noqa: S101 - fixed by _fix_scope
            after, upto, shard_id = run.last_version_id, run.max_version_id, None
            if await self._split_if_large(conn, run, lease):
                return Outcome.SPLIT, run
        rules = _rules_of(run)

        compiled = CompileContext(SqlParams(first=_BATCH_FIXED_PARAMS + 1), run.evaluated_at)
        statement = queries.decide_batch.sql.replace(
            "{deciding_rule}", compile_deciding_rule(rules, compiled)
        )
        rule_columns = (
            [rule.id for rule in rules],
            [rule.revision for rule in rules],
            [rule.action for rule in rules],
            [rule.name for rule in rules],
        )
        cap = self.settings.max_decisions_per_run
        decided_total = run.approved + run.rejected + run.escalated
        idle_ms = math.ceil(self.settings.stale_after_seconds * 1000)
        while True:
            if lease.lost.is_set():
                raise LostOwnershipError
            if self._draining:
                return Outcome.HANDED_BACK, run
            if cancel.is_set():
                return Outcome.CANCELLED, run
            if cap and decided_total >= cap:
                return Outcome.CAPPED, run
            # The server's own bound on this batch: a little past the guard's deadline (the
            # asyncio timer fires first), so that a frozen or cut-off worker's statement ends.
            remaining = deadline - loop.time() + GUARD_SLACK_SECONDS
            row = await self._decide_batch(
                conn,
                run=run,
                lease=lease,
                shard_id=shard_id,
                statement_timeout_ms=max(1, math.ceil(remaining * 1000)),
                idle_timeout_ms=idle_ms,
                params=(
                    statement,
                    run.id,
                    after,
                    upto,
                    self.settings.batch_size,
                    *rule_columns,
                    cap or None,
                    run.dry_run,
                    self.worker,
                    lease.epoch,
                    shard_id,
                    cap - decided_total if cap else None,
                    *compiled.params.values,
                ),
            )
            if row is None:
                # A shard's batch is also refused when another shard's batch took the cap's
                # last decisions meanwhile: while the lease holds, the batch is tried again
                # within what is left of the cap.
                if shard_id is None or await self._beat_once(lease) is None:
                    raise LostOwnershipError
                continue
            after = row["last_version_id"]
            decided_total = row["decided_total"]
            if row["cancel_requested"]:
                cancel.set()
            if row["scanned"] < self.settings.batch_size:
                return (Outcome.CAPPED if cap and decided_total >= cap else Outcome.COMPLETED), run

    async def _decide_batch(
        self,
        conn: Connection,
        *,
        run: Run,
        lease: _Lease,
        shard_id: uuid.UUID | None,
        statement_timeout_ms: int,
        idle_timeout_ms: int,
        params: tuple[Any, ...],
    ) -> dict[str, Any] | None:
        """One batch in its own transaction (decide and seal, then add to the run's sums);
        None (rolled back) when its write was refused."""
        try:
            async with conn.transaction():
                await run_repo.set_batch_limits(
                    conn, statement_timeout_ms=statement_timeout_ms, idle_timeout_ms=idle_timeout_ms
                )
                batch = await run_repo.decide_batch(conn, *params)
                if not batch["shard_held"]:
                    raise _BatchRefusedError  # noqa: TRY301 - rolls the transaction back
                sums = await run_repo.add_batch_to_run(
                    conn,
                    run.id,
                    worker=self.worker,
                    epoch=lease.epoch,
                    shard_id=shard_id,
                    cap=self.settings.max_decisions_per_run or None,
                    batch=batch,
                )
                if sums is None:
                    raise _BatchRefusedError  # noqa: TRY301 - rolls the transaction back
        except _BatchRefusedError:
            return None
        decided = batch["approved"] + batch["rejected"] + batch["escalated"]
        last = batch["shard_last_version_id"] if shard_id is not None else sums["last_version_id"]
        return {
            "scanned": batch["scanned"],
            "decided": decided,
            "last_version_id": last,
            "decided_total": sums["decided_total"],
            "cancel_requested": sums["cancel_requested"],
        }

    async def _split_if_large(self, conn: Connection, run: Run, lease: _Lease) -> bool:
        """Log what the run evaluates; split it into shards if it is large (SPEC 6.3)."""
        assert run.max_version_id is not None  # noqa: S101 - fixed by _fix_scope
        pending = await run_repo.count_pending_between(
            conn, run.last_version_id, run.max_version_id
        )
        logger.info(
            "Evaluating %(count)d pending versions", {"count": pending}, extra=context(run=run.id)
        )
        shards = self.settings.shards
        if shards > 1 and pending >= max(self.settings.shard_min_versions, shards):
            await self._split(conn, run, lease, shards, pending)
            return True
        return False

    async def _fix_scope(self, conn: Connection, run: Run, lease: _Lease) -> Run:
        """At the first claim: fix the versions, the instant and the rules every attempt
        (and every shard) evaluates."""
        if run.rules is not None and run.max_version_id is not None:
            return run
        enabled = await rule_repo.list_enabled_rules(conn)
        fixed = await run_repo.fix_run_scope(
            conn, run.id, self.worker, lease.epoch, _snapshot(enabled)
        )
        if fixed is None:
            raise LostOwnershipError
        return fixed

    async def _split(
        self, conn: Connection, run: Run, lease: _Lease, shards: int, pending: int
    ) -> None:
        """Split the run into shards (each then claimed like a run) and publish them; a
        shard whose publish fails is published again by a reaper (its lease)."""
        ids = await run_repo.split_run(conn, run.id, self.worker, lease.epoch, shards, pending)
        if not ids:
            raise LostOwnershipError
        logger.info(
            "Run split into %(count)d shards", {"count": len(ids)}, extra=context(run=run.id)
        )
        for shard_id in ids:
            await self._republish(shard_id)

    async def _conclude(self, lease: _Lease, run: Run, outcome: Outcome, started: float) -> None:
        if outcome is Outcome.SPLIT:
            return  # its shards evaluate it now
        if outcome is Outcome.HANDED_BACK:
            async with self.pool.acquire() as conn:
                handed = await run_repo.hand_back_lease(
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

    async def _fail(self, lease: _Lease, exc: Exception, started: float) -> None:
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
        lease: _Lease,
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
            held, run = await run_repo.finish_lease(
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
            self._log_end(run, run.state, run.error, elapsed, capped=run.capped)
        else:
            self._log_end(run, state, error, time.monotonic() - started, capped=capped)
        return True

    @staticmethod
    def _log_end(
        run: Run, state: RunState, error: str | None, elapsed: float, *, capped: bool
    ) -> None:
        """The run's closing lines (SPEC 6.7): per rule, per action, and how it ended."""
        run_id = run.id
        for rule in _rules_of(run):
            matched = run.decisions_by_rule.get(str(rule.id), 0)
            if matched:
                logger.info(
                    "Rule '%(rule)s' matched %(count)d versions",
                    {"rule": rule.name, "count": matched},
                    extra=context(run=run_id, rule=rule.id, revision=rule.revision),
                )
        for action, count in (
            ("approve", run.approved),
            ("reject", run.rejected),
            ("escalate", run.escalated),
        ):
            if count:
                message = ACTION_LOG[action][run.dry_run]
                logger.info(message, {"count": count}, extra=context(run=run_id))
        if state is RunState.COMPLETED:
            tail = context(run=run_id, capped="true") if capped else context(run=run_id)
            logger.info("Run completed (%(seconds).1fs)", {"seconds": elapsed}, extra=tail)
        else:
            logger.warning(
                "Run failed (%(seconds).1fs)",
                {"seconds": elapsed},
                extra=context(run=run_id, error=error),
            )

    async def _beat_once(self, lease: _Lease) -> bool | None:
        """Refresh the lease: None when it is lost, else whether the run was asked to stop."""
        async with self.pool.acquire() as conn:
            return await run_repo.beat_lease(
                conn, lease.unit_id, lease.run_id, self.worker, lease.epoch
            )

    async def _beat(self, lease: _Lease, cancel: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                cancel_requested = await self._beat_once(lease)
            except Exception:
                logger.warning("Heartbeat failed", extra=context(run=lease.run_id), exc_info=True)
                continue
            if cancel_requested is None:
                lease.lost.set()  # taken over: the evaluation stops before its next batch
                return
            if cancel_requested:
                cancel.set()

    async def _republish(self, run_id: uuid.UUID) -> None:
        try:
            await self.publisher.publish(run_id)
        except PublishError:
            # Its row says when it was last published: a reaper publishes it again once
            # AUTOMATION_REDELIVER_SECONDS have passed without a claim.
            logger.warning("Could not republish the run", extra=context(run=run_id))

    async def _wake_waiting_runs(self) -> None:
        """After a non-dry run: publish the run whose turn it is now, if one waits."""
        try:
            await self.redeliver_once()
        except Exception:  # a reaper's round does the same a moment later
            logger.warning("Could not wake the waiting runs", exc_info=True)

    # -- the reaper -----------------------------------------------------------------------------

    async def redeliver_once(self) -> list[uuid.UUID]:
        """Publish again the runs that need a message (see mark_leases_for_redelivery); of
        several processes asking at once each run goes to exactly one. The runs published."""
        if not self.publisher.connected:
            # Marking a run as republished and then failing to publish it would hold its
            # redelivery back from every process that can publish, round after round (the
            # mark is taken by whoever asks first): a process cut off from RabbitMQ leaves
            # redelivery to the others (tests/faults/test_shards.py, lost shard messages).
            return []
        async with self.pool.acquire() as conn:
            due = await run_repo.mark_leases_for_redelivery(
                conn,
                self.settings.redeliver_seconds,
                self.settings.stale_after_seconds,
                self.settings.max_attempts,
            )
        for run_id in due:
            logger.info(
                "Republishing a run that has no message in flight", extra=context(run=run_id)
            )
            await self._republish(run_id)
        return due

    async def reap_once(self) -> None:
        """End the sessions of runs whose worker stopped beating, fail `lost` those out of
        attempts, and republish the runs that need a message."""
        async with self.pool.acquire() as conn:
            # First: a frozen session's transaction holds the run's row lock.
            ended = await run_repo.end_stale_sessions(conn, self.settings.stale_after_seconds)
            lost = await run_repo.fail_lost_leases(
                conn, self.settings.stale_after_seconds, self.settings.max_attempts
            )
            # A split run that ended (failed by one shard, `lost`): its other shards stop.
            await run_repo.stop_shards_of_ended_runs(conn)
        if ended:
            logger.warning(
                "Ended the sessions of workers that stopped beating",
                extra=context(sessions=ended),
            )
        for run_id in lost:
            logger.warning(
                "Run failed: its worker vanished too often", extra=context(run=run_id, error="lost")
            )
        await self.redeliver_once()

    async def reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await self.reap_once()
            except Exception:
                logger.warning("Reaper round failed; trying again", exc_info=True)

"""The worker's side of a run: claim it, evaluate the pending versions in id-ordered batches,
finish it. Each batch is one statement in one transaction: it picks every version's deciding
rule with the compiled SQL, decides, writes the audit rows and moves the run's counters.

The guard: an asyncio deadline over the whole evaluation, and a statement_timeout on each
batch that never reaches past it. At most one non-dry run evaluates at a time (a session
advisory lock on the connection the run uses, so a dead worker frees it).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from app.automation.publisher import PublishError, RunPublisher
from app.config import AutomationSettings
from app.db import Connection, Pool
from app.i18n import N_
from app.logging import context, scoped
from app.models import Rule, Run, RunState
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

_BATCH_FIXED_PARAMS = 11  # $1..$11 of decide_batch; the compiled values follow
LOCK_POLL_SECONDS = 0.05

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


class LostOwnershipError(Exception):
    """Another worker (or the reaper) took the run over; stop without touching it."""


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
        """Handle one message: a run id. Bad or unknown ids are logged and dropped."""
        try:
            run_id = uuid.UUID(str(message))
        except ValueError:
            logger.warning("Dropped a message that carries no run id", extra=context(body=message))
            return
        if self._draining:
            await self._republish(run_id)
            return
        with self._tracking(run_id), scoped(run=run_id):
            async with self.pool.acquire() as conn:
                try:
                    run = await run_repo.get_run(conn, run_id)
                except Exception:
                    logger.warning(
                        "Dropped a message for an unknown run", extra=context(run=run_id)
                    )
                    return
                if run.state.is_final:
                    return
                if run.dry_run:
                    await self._execute_claimed(conn, run_id)
                    return
                async with self._evaluation_lock(conn, run_id) as locked:
                    if locked:
                        await self._execute_claimed(conn, run_id)

    @contextlib.asynccontextmanager
    async def _evaluation_lock(self, conn: Connection, run_id: uuid.UUID) -> AsyncIterator[bool]:
        """Wait for the lock that lets one non-dry run evaluate at a time, while the run still
        waits for a worker; yields False when it no longer does (or this worker drains)."""
        while not await run_repo.try_evaluation_lock(conn):
            if self._draining:
                await self._republish(run_id)
                yield False
                return
            run = await run_repo.get_run(conn, run_id)
            if run.state not in (RunState.PENDING, RunState.SCHEDULED) and not self._is_stale(run):
                yield False
                return
            await asyncio.sleep(LOCK_POLL_SECONDS)
        try:
            yield True
        finally:
            with contextlib.suppress(Exception):
                await run_repo.release_evaluation_lock(conn)

    def _is_stale(self, run: Run) -> bool:
        if run.state is not RunState.EXECUTING or run.heartbeat_at is None:
            return False
        age = time.time() - run.heartbeat_at.timestamp()
        return age > self.settings.stale_after_seconds

    # -- one run ------------------------------------------------------------------------------

    async def _execute_claimed(self, conn: Connection, run_id: uuid.UUID) -> None:
        run = await run_repo.claim_run(
            conn,
            run_id,
            self.worker,
            self.settings.stale_after_seconds,
            self.settings.max_attempts,
        )
        if run is None:
            return  # finished, or another worker has it
        started = time.monotonic()
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
        cancel = asyncio.Event()
        if run.cancel_requested_at is not None:  # stopped while it waited: decide nothing
            cancel.set()
        heartbeat = asyncio.create_task(self._beat(run.id, cancel))
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                outcome, run = await self._evaluate(conn, run, cancel, started)
        except TimeoutError:
            await self._finish(run_id, RunState.FAILED, "timeout", started)
        except LostOwnershipError:
            logger.warning("Run was taken over; this worker stops", extra=context(run=run_id))
        except Exception as exc:
            logger.exception("Run failed", extra=context(run=run_id))
            await self._finish(run_id, RunState.FAILED, f"error: {exc}", started)
        else:
            await self._conclude(run, outcome, started)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _evaluate(
        self, conn: Connection, run: Run, cancel: asyncio.Event, started: float
    ) -> tuple[Outcome, Run]:
        deadline = started + self.settings.timeout_seconds
        if run.rules is None or run.max_version_id is None:
            enabled = await rule_repo.list_enabled_rules(conn)
            fixed = await run_repo.fix_run_scope(conn, run.id, self.worker, _snapshot(enabled))
            if fixed is None:
                raise LostOwnershipError
            run = fixed
        assert run.max_version_id is not None  # noqa: S101 - fixed just above
        rules = _rules_of(run)
        pending = await run_repo.count_pending_between(
            conn, run.last_version_id, run.max_version_id
        )
        logger.info(
            "Evaluating %(count)d pending versions", {"count": pending}, extra=context(run=run.id)
        )

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
        after = run.last_version_id
        decided_total = run.approved + run.rejected + run.escalated
        while True:
            if self._draining:
                return Outcome.HANDED_BACK, run
            if cancel.is_set():
                return Outcome.CANCELLED, run
            if cap and decided_total >= cap:
                return Outcome.CAPPED, run
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            async with conn.transaction():
                # No statement of this batch may outlive the run's guard.
                await conn.execute(
                    "SELECT set_config('statement_timeout', $1, true)", str(remaining_ms)
                )
                row = await conn.fetchrow(
                    statement,
                    run.id,
                    after,
                    run.max_version_id,
                    self.settings.batch_size,
                    *rule_columns,
                    cap - decided_total if cap else None,
                    run.dry_run,
                    self.worker,
                    *compiled.params.values,
                )
                if row is None:
                    raise LostOwnershipError
            after = row["last_version_id"]
            decided_total = row["decided_total"]
            if row["cancel_requested"]:
                cancel.set()
            if row["scanned"] < self.settings.batch_size:
                return (Outcome.CAPPED if cap and decided_total >= cap else Outcome.COMPLETED), run

    async def _conclude(self, run: Run, outcome: Outcome, started: float) -> None:
        if outcome is Outcome.HANDED_BACK:
            async with self.pool.acquire() as conn:
                handed = await run_repo.hand_back_run(conn, run.id, self.worker)
            if handed is not None:
                logger.info("Run handed back: this worker is stopping", extra=context(run=run.id))
                await self._republish(run.id)
            return
        if outcome is Outcome.CANCELLED:
            await self._finish(run.id, RunState.FAILED, "cancelled", started)
            return
        await self._finish(
            run.id, RunState.COMPLETED, None, started, capped=outcome is Outcome.CAPPED
        )

    async def _finish(
        self,
        run_id: uuid.UUID,
        state: RunState,
        error: str | None,
        started: float,
        *,
        capped: bool = False,
    ) -> None:
        # A fresh pooled connection: the run's own may be mid-cancellation after a timeout.
        async with self.pool.acquire() as conn:
            run = await run_repo.finish_run(
                conn, run_id, self.worker, state=state, error=error, capped=capped
            )
        if run is None:
            return
        elapsed = time.monotonic() - started
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

    async def _beat(self, run_id: uuid.UUID, cancel: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                async with self.pool.acquire() as conn:
                    cancel_requested = await run_repo.beat_run(conn, run_id, self.worker)
            except Exception:
                logger.warning("Heartbeat failed", extra=context(run=run_id), exc_info=True)
                continue
            if cancel_requested:
                cancel.set()

    async def _republish(self, run_id: uuid.UUID) -> None:
        try:
            await self.publisher.publish(run_id)
        except PublishError:
            # The reaper republishes a stale run; a SCHEDULED one waits in RabbitMQ already.
            logger.warning("Could not republish the run", extra=context(run=run_id))

    # -- the reaper -----------------------------------------------------------------------------

    async def reap_once(self) -> None:
        """Fail runs whose worker vanished too often; republish the others."""
        async with self.pool.acquire() as conn:
            lost = await run_repo.fail_lost_runs(
                conn, self.settings.stale_after_seconds, self.settings.max_attempts
            )
            stale = await run_repo.list_stale_runs(
                conn, self.settings.stale_after_seconds, self.settings.max_attempts
            )
        for run_id in lost:
            logger.warning(
                "Run failed: its worker vanished too often", extra=context(run=run_id, error="lost")
            )
        for run_id in stale:
            logger.info("Republishing a run whose worker stopped", extra=context(run=run_id))
            await self._republish(run_id)

    async def reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await self.reap_once()
            except Exception:
                logger.warning("Reaper round failed; trying again", exc_info=True)

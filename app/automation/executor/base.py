"""What every part of the executor shares: the lease a worker holds, how an evaluation ends,
the executor's state (pool, settings, publisher, its identity, the runs in progress) and the
two calls every part makes (republish a run, refresh a lease)."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from app.automation.publisher import PublishError, RunPublisher
from app.config import AutomationSettings
from app.db import Pool
from app.logging import context
from app.models import Shard
from app.repositories import leases as lease_repo

logger = logging.getLogger("automation")

# The server's statement_timeout reaches this far past the guard's deadline, so that the
# client's timer normally fires first; a cancel by the server within it is the guard too.
GUARD_SLACK_SECONDS = 0.5
# How long a claim waits for the run's row: a session being ended may still hold it.
CLAIM_LOCK_TIMEOUT_MS = 5_000
# How long fixing a run's scope waits for the transactions writing versions (and holds new
# ones back): past it the scope is fixed without the lock, open (docs/performance.md).
SCOPE_LOCK_TIMEOUT_MS = 250


class Outcome(enum.Enum):
    COMPLETED = "completed"
    CAPPED = "capped"
    CANCELLED = "cancelled"
    HANDED_BACK = "handed back"
    SPLIT = "split"


class LostOwnershipError(Exception):
    """Another worker (or the reaper) took the run over; stop without touching it."""


@dataclass
class Lease:
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


class ExecutorBase:
    """The executor's state and lifecycle; `drain()` makes running runs hand back."""

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
    def _tracking(self, run_id: uuid.UUID) -> Iterator[None]:
        self._active.add(run_id)
        self._idle.clear()
        try:
            yield
        finally:
            self._active.discard(run_id)
            if not self._active:
                self._idle.set()

    async def _beat_once(self, lease: Lease) -> bool | None:
        """Refresh the lease: None when it is lost, else whether the run was asked to stop."""
        async with self.pool.acquire() as conn:
            return await lease_repo.beat_lease(
                conn, lease.unit_id, lease.run_id, self.worker, lease.epoch
            )

    async def _republish(self, run_id: uuid.UUID) -> None:
        try:
            await self.publisher.publish(run_id)
        except PublishError:
            # Its row says when it was last published: a reaper publishes it again once
            # AUTOMATION_REDELIVER_SECONDS have passed without a claim.
            logger.warning("Could not republish the run", extra=context(run=run_id))

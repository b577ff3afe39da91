"""The reaper, in every worker: it ends the sessions of stale runs, fails `lost` those out of
attempts, and republishes what lost its message (SCHEDULED past
AUTOMATION_REDELIVER_SECONDS, EXECUTING whose worker stopped beating, the run whose turn
came); and it folds the summaries' delta rows (migration 0011) every minute and after a
run."""

from __future__ import annotations

import logging
import uuid

from app.automation.executor.base import ExecutorBase
from app.i18n import N_
from app.logging import context
from app.loops import every
from app.repositories import leases as lease_repo
from app.repositories import shards as shard_repo
from app.repositories import summaries as summary_repo

logger = logging.getLogger("automation")

# How often a worker folds the summaries' delta rows: a run's batches add a few rows each
# (readers sum them), so a minute keeps the tables a few hundred rows at most.
COMPACT_INTERVAL_SECONDS = 60.0


class Reaper(ExecutorBase):
    """The reaper's rounds."""

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
            due = await lease_repo.mark_leases_for_redelivery(
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
            ended = await lease_repo.end_stale_sessions(conn, self.settings.stale_after_seconds)
            lost = await lease_repo.fail_lost_leases(
                conn, self.settings.stale_after_seconds, self.settings.max_attempts
            )
            # A split run that ended (failed by one shard, `lost`): its other shards stop.
            await shard_repo.stop_shards_of_ended_runs(conn)
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
        """A reaper's round every heartbeat, until cancelled."""
        await every(
            self.settings.heartbeat_seconds,
            self.reap_once,
            log=logger,
            failed=N_("Reaper round failed; trying again"),
            wait_first=True,
        )

    async def compact_summaries(self) -> int:
        """Fold the summaries' delta rows (one short transaction): the rows folded."""
        async with self.pool.acquire() as conn:
            return await summary_repo.compact_summaries(conn)

    async def compact_forever(self) -> None:
        """A compaction of the summaries every COMPACT_INTERVAL_SECONDS, until cancelled."""
        await every(
            COMPACT_INTERVAL_SECONDS,
            self.compact_summaries,
            log=logger,
            failed=N_("Summary compaction failed; trying again later"),
        )

    async def _compact_after_run(self) -> None:
        """After a non-dry run: fold the deltas its batches wrote."""
        try:
            await self.compact_summaries()
        except Exception:  # the next round of compact_forever does the same
            logger.warning("Could not compact the summaries", exc_info=True)

    async def _wake_waiting_runs(self) -> None:
        """After a non-dry run: publish the run whose turn it is now, if one waits."""
        try:
            await self.redeliver_once()
        except Exception:  # a reaper's round does the same a moment later
            logger.warning("Could not wake the waiting runs", exc_info=True)

"""The outbox relay: publishes runs left PENDING (RabbitMQ was down) once it is back.

Rows are locked with SKIP LOCKED, so relays in several processes share the work; a run
published twice is harmless (a worker claims a run only once). A run RabbitMQ confirmed is
SCHEDULED with its `published_at`: if its message is lost after that, the workers' reapers
publish it again (SCHEDULED is a lease; see RunExecutor.redeliver_once).
"""

from __future__ import annotations

import logging

from app.automation.publisher import PublishError, RunPublisher
from app.db import Pool, transaction
from app.i18n import N_
from app.logging import context
from app.loops import every
from app.repositories import idempotency_keys, outbox

logger = logging.getLogger("automation")

RELAY_INTERVAL_SECONDS = 1.0
RELAY_BATCH = 100


async def relay_once(pool: Pool, publisher: RunPublisher) -> int:
    """Publish the runs still PENDING; answers how many went out."""
    if not publisher.connected:
        return 0
    published = 0
    async with transaction(pool) as conn:
        for run_id in await outbox.lock_unpublished_runs(conn, RELAY_BATCH):
            try:
                await publisher.publish(run_id)
            except PublishError:
                break
            await outbox.mark_run_scheduled(conn, run_id)
            published += 1
            logger.info("Relayed a pending run", extra=context(run=run_id))
        await idempotency_keys.delete_expired_idempotency_keys(conn)
    return published


async def relay_forever(pool: Pool, publisher: RunPublisher) -> None:
    """Relay every second until cancelled; a failed round is logged and tried again."""
    await every(
        RELAY_INTERVAL_SECONDS,
        lambda: relay_once(pool, publisher),
        log=logger,
        failed=N_("Relay round failed; trying again"),
        level=logging.ERROR,
    )

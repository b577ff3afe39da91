"""The audit log's retention purge: the only code that deletes audit entries."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from app.db import Pool, transaction
from app.logging import context
from app.repositories import audit

logger = logging.getLogger("automation")

PURGE_INTERVAL_SECONDS = 3600


async def purge_expired_audit_entries(pool: Pool, retention_days: int) -> int:
    """Delete entries older than the retention; answers how many went."""
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=retention_days)
    async with transaction(pool) as conn:
        purged = await audit.purge_audit_entries(conn, before)
    if purged:
        logger.info(
            "Purged audit entries past their retention",
            extra=context(entries=purged, before=before, retention_days=retention_days),
        )
    return purged


async def purge_forever(pool: Pool, retention_days: int) -> None:
    """Purge at start and then hourly, until cancelled; a failed round is tried again."""
    while True:
        try:
            await purge_expired_audit_entries(pool, retention_days)
        except Exception:  # the purge must outlive a database restart
            logger.warning("Audit purge failed; trying again later", exc_info=True)
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)

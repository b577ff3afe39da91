"""The audit log's retention purge: the only code that deletes audit entries.

It calls the owner's function `audit_purge_batch()` (migration 0006) until it answers that
nothing more has expired. The function decides everything (the cutoff from the database's
clock and AUDIT_RETENTION_DAYS as `tasktracker migrate` stored it, the batch size, whole seals
only, a checkpoint per batch); each call is one short transaction on a pooled connection, so
no call comes near the api's command timeout however much has expired."""

from __future__ import annotations

import logging

from app.db import Pool
from app.i18n import N_
from app.logging import context
from app.loops import every
from app.repositories import audit

logger = logging.getLogger("automation")

PURGE_INTERVAL_SECONDS = 3600


async def purge_expired_audit_entries(pool: Pool) -> int:
    """Delete every expired seal and its entries, batch by batch; answers how many entries."""
    entries = seals = batches = 0
    while True:
        async with pool.acquire() as conn:
            gone_seals, gone_entries = await audit.purge_audit_batch(conn)
        if gone_seals == 0:
            break
        batches += 1
        seals += gone_seals
        entries += gone_entries
    if seals:
        logger.info(
            "Purged audit entries past their retention",
            extra=context(entries=entries, seals=seals, batches=batches),
        )
    return entries


async def purge_forever(pool: Pool) -> None:
    """The audit purge at start and then hourly, until cancelled."""
    await every(
        PURGE_INTERVAL_SECONDS,
        lambda: purge_expired_audit_entries(pool),
        log=logger,
        failed=N_("Audit purge failed; trying again later"),
    )

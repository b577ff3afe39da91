"""The one thing app/ needs from the message broker: hand it a run id to deliver."""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

from app.db import Pool
from app.errors import AppError
from app.logging import context
from app.repositories import outbox

logger = logging.getLogger("automation")


class PublishError(AppError):
    """RabbitMQ did not take the message."""


class RunPublisher(Protocol):
    @property
    def connected(self) -> bool:
        """Whether a publish can be tried now."""
        ...

    async def publish(self, run_id: uuid.UUID) -> None:
        """Deliver the run id to the workers' queue; returns once RabbitMQ confirmed it.

        Raises PublishError when it did not."""
        ...


async def publish_run(pool: Pool, publisher: RunPublisher, run_id: uuid.UUID) -> bool:
    """Publish a stored run and mark it SCHEDULED; False (the run stays PENDING for the relay)
    when RabbitMQ cannot take it now."""
    try:
        await publisher.publish(run_id)
    except (PublishError, TimeoutError) as exc:
        logger.warning(
            "Run stays PENDING until RabbitMQ takes it", extra=context(run=run_id, why=str(exc))
        )
        return False
    async with pool.acquire() as conn:
        await outbox.mark_run_scheduled(conn, run_id)
    return True

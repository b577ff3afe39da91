"""Connecting to RabbitMQ in the background, and publishing run ids once connected.

taskiq-aio-pika's startup raises at once when RabbitMQ is unreachable (its robust connection
only reconnects after a first success), so no process waits for it: the first connection is
retried here with backoff, and until it succeeds a publish fails fast with PublishError.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from taskiq_aio_pika import AioPikaBroker
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from app.automation.publisher import PublishError
from broker import CONNECT_TIMEOUT_SECONDS, EVALUATE_RUN

logger = logging.getLogger("automation")


class BrokerConnection:
    """Owns a broker's connection: started in the background, closed on shutdown."""

    def __init__(self, broker: AioPikaBroker, publish_timeout: float) -> None:
        self.broker = broker
        self.publish_timeout = publish_timeout
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._attempting = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="rabbitmq-connect")

    async def _connect(self) -> None:
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception_type(Exception),
            before_sleep=lambda state: logger.warning(
                "RabbitMQ unreachable; retrying in the background",
                extra={"context": {"attempt": state.attempt_number}},
            ),
        )
        async for attempt in retrying:
            with attempt:
                if self._closing:
                    return
                self._attempting = True
                try:
                    await self.broker.startup()
                except Exception:
                    # Close what a half-finished startup opened before the next try.
                    with contextlib.suppress(Exception):
                        await self.broker.shutdown()
                    raise
                finally:
                    self._attempting = False
        self.ready.set()
        logger.info("Connected to RabbitMQ")

    @property
    def connected(self) -> bool:
        """Connected now: after the first connection, the robust connection's own state (it
        drops while RabbitMQ is away and returns when it reconnects)."""
        link = self.broker.write_conn
        return self.ready.is_set() and link is not None and link.connected.is_set()

    async def publish(self, run_id: uuid.UUID) -> None:
        """Publish a run id and wait for RabbitMQ's confirm; fails at once while RabbitMQ is
        away (no point waiting out the timeout: the relay publishes the run later)."""
        if not self.connected:
            raise PublishError("not connected to RabbitMQ")
        task = self.broker.find_task(EVALUATE_RUN)
        if task is None:  # pragma: no cover - registered by create_broker
            raise PublishError(f"task {EVALUATE_RUN} is not registered")
        try:
            async with asyncio.timeout(self.publish_timeout):
                await task.kiq(str(run_id))
        except Exception as exc:
            raise PublishError(f"RabbitMQ did not take the message: {exc!r}") from exc

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            if self._attempting:
                # Cancelling aio-pika mid-connect leaves its reconnect loop running: let the
                # attempt end (it is bounded by the connection timeout) before closing.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(self._task), CONNECT_TIMEOUT_SECONDS * 2)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        # Also after a cancelled first connection: close whatever it had opened.
        with contextlib.suppress(Exception):
            await self.broker.shutdown()

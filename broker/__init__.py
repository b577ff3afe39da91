"""The TaskIQ broker on RabbitMQ (taskiq-aio-pika) and its one task; the worker process.

Messages carry only a run id; everything else is read from PostgreSQL.
"""

from __future__ import annotations

from typing import Annotated

from taskiq import Context, TaskiqDepends
from taskiq_aio_pika import AioPikaBroker
from taskiq_aio_pika.exchange import Exchange
from taskiq_aio_pika.queue import Queue

from app.automation.executor import RunExecutor
from app.config import BrokerSettings

EVALUATE_RUN = "automation.evaluate_run"
CONNECT_TIMEOUT_SECONDS = 5.0


async def evaluate_run(run_id: str, ctx: Annotated[Context, TaskiqDepends()]) -> None:
    """Evaluate one automation run (the worker's executor lives in the broker's state)."""
    executor: RunExecutor = ctx.state.executor
    await executor.execute(run_id)


def create_broker(settings: BrokerSettings) -> AioPikaBroker:
    """A broker bound to the configured exchange and queue; nothing connects until startup."""
    broker = AioPikaBroker(
        settings.url.get_secret_value(),
        exchange=Exchange(name=settings.exchange),
        task_queues=[Queue(name=settings.queue)],
        dead_letter_queue=Queue(name=f"{settings.queue}.dead_letter"),
        qos=10,
        timeout=CONNECT_TIMEOUT_SECONDS,  # bounds each connection attempt
    )
    broker.register_task(evaluate_run, task_name=EVALUATE_RUN)
    return broker

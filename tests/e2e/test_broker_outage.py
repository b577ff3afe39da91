"""RabbitMQ unreachable: the api starts, triggers wait PENDING, and run once it is back."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.config import BrokerSettings
from app.web.app import create_app
from tests.support.polling import is_final, wait_for_run
from tests.support.services import connect_db
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(90)


async def test_a_trigger_while_rabbitmq_is_unreachable_waits_pending_then_runs(
    settings, admin_secret, start_worker
):
    """With the api's RabbitMQ port closed, startup succeeds and a trigger answers 202 PENDING;
    when the port opens, the relay publishes the run and a worker completes it."""
    proxy = TcpProxy(target_port=5672)
    unreachable = settings.model_copy(
        update={
            "broker": BrokerSettings(
                url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/", queue=settings.broker.queue
            )
        }
    )
    worker = start_worker()  # the worker reaches RabbitMQ directly
    app = create_app(unreachable)
    url = settings.database.url.get_secret_value()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {"Authorization": f"Bearer {admin_secret}"}
            assert (await client.get("/api/v1/automation/runs", headers=headers)).status_code == 200
            response = await client.post("/api/v1/automation/trigger", headers=headers)
            assert response.status_code == 202
            assert response.json()["state"] == "PENDING"
            run_id = response.json()["run_id"]
            await worker.ready()
            await asyncio.sleep(1.5)  # two relay rounds pass while the port is still closed
            conn = await connect_db(url)
            try:
                assert (
                    await conn.fetchval("SELECT state FROM automation_runs WHERE id = $1", run_id)
                    == "PENDING"
                )
            finally:
                await conn.close()

            await proxy.start()
            try:
                run = await wait_for_run(url, run_id, is_final, timeout=30)
            finally:
                await proxy.stop()
    assert run["state"] == "COMPLETED"

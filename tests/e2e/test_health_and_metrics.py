"""Readiness follows PostgreSQL and RabbitMQ going away and coming back, without a restart;
/metrics reads every series from PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import BrokerSettings, DatabaseSettings
from app.db import with_database
from app.web.app import create_app
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(90)


async def ready_until(client, done, timeout=20):  # noqa: ASYNC109 - a polling deadline
    """Poll /health/ready until `done(response)`; the response."""
    async with asyncio.timeout(timeout):
        while True:
            response = await client.get("/api/v1/health/ready")
            if done(response):
                return response
            await asyncio.sleep(0.2)


def is_ready(response):
    return response.status_code == 200


async def test_ready_follows_rabbitmq_and_postgresql_going_and_returning(
    settings, database_url, admin_secret
):
    """503 naming RabbitMQ while it is cut off, then naming PostgreSQL (and requests that need
    the database answer 503 at once); 200 again each time it returns, with the same api."""
    database_proxy, broker_proxy = TcpProxy(target_port=5432), TcpProxy(target_port=5672)
    await database_proxy.start()
    await broker_proxy.start()
    proxied = settings.model_copy(
        update={
            "database": DatabaseSettings(
                url=with_database(
                    f"postgresql://postgres@127.0.0.1:{database_proxy.port}/x",
                    database_url.rsplit("/", 1)[1],
                ),
                connect_timeout_seconds=1,
            ),
            "broker": BrokerSettings(
                url=f"amqp://guest:guest@127.0.0.1:{broker_proxy.port}/",
                queue=settings.broker.queue,
            ),
        }
    )
    app = create_app(proxied)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                assert (await ready_until(client, is_ready)).json() == {
                    "status": "ready",
                    "postgresql": "ok",
                    "rabbitmq": "ok",
                }
                await broker_proxy.stop()
                down = await ready_until(client, lambda r: r.status_code == 503)
                assert down.json()["rabbitmq"] == "RabbitMQ unreachable"
                assert down.json()["postgresql"] == "ok"
                await broker_proxy.start()
                await ready_until(client, is_ready, timeout=30)

                await database_proxy.stop()
                down = await ready_until(client, lambda r: r.status_code == 503)
                assert down.json()["postgresql"].startswith("PostgreSQL unreachable")
                async with asyncio.timeout(10):
                    listing = await client.get(
                        "/api/v1/automation/runs",
                        headers={"Authorization": f"Bearer {admin_secret}"},
                    )
                assert listing.status_code == 503
                assert listing.json()["detail"].startswith("PostgreSQL is unavailable")
                await database_proxy.start()
                await ready_until(client, is_ready)
    finally:
        await broker_proxy.stop()
        await database_proxy.stop()


async def test_metrics_are_read_from_postgresql(app_client, admin):
    """Pending versions, runs by trigger and state, the relay backlog, rule decisions, the
    run-duration histogram and the scheduler series, in valid Prometheus text, no token."""
    items = [
        {"entity_type": kind, "entity_id": f"m{i}", "confidence": 0.5, "source": "llm"}
        for i, kind in enumerate(["topic", "topic", "atom"])
    ]
    await app_client.post("/api/v1/versions", json={"items": items}, headers=admin)
    response = await app_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    pending = {
        s.labels["entity_type"]: s.value for s in families["tasktracker_pending_versions"].samples
    }
    assert pending == {"topic": 2, "atom": 1}
    for name in (
        "tasktracker_runs",
        "tasktracker_rule_decisions",
        "tasktracker_relay_backlog",
        "tasktracker_scheduler_tick_lag_seconds",
        "tasktracker_scheduler_missed_ticks",
        "tasktracker_run_duration_seconds",
    ):
        assert name in families, name

    await app_client.post("/api/v1/automation/trigger", json={"dry_run": True}, headers=admin)
    text = (await app_client.get("/metrics")).text
    runs = {
        (s.labels["trigger"], s.labels["state"]): s.value
        for f in text_string_to_metric_families(text)
        if f.name == "tasktracker_runs"
        for s in f.samples
    }
    assert sum(runs.values()) == 1
    assert next(iter(runs))[0] == "manual"

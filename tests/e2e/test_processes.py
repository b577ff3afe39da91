"""The api and dev commands as operators start them: real processes on a real port."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from tests.support.polling import is_final, wait_for_run
from tests.support.processes import TASKTRACKER, ServiceProcess
from tests.support.tcp_proxy import free_port

pytestmark = pytest.mark.timeout(120)


async def until_ready(base: str, timeout: float = 30) -> None:  # noqa: ASYNC109 - polling deadline
    """Poll /health/ready until it answers 200 (the process is up and connected)."""
    async with asyncio.timeout(timeout), httpx.AsyncClient(base_url=base) as client:
        while True:
            try:
                if (await client.get("/api/v1/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.2)


def stop_with(process: ServiceProcess, signum: int) -> int:
    process.process.send_signal(signum)
    return process.process.wait(40)


async def test_tasktracker_api_serves_and_stops_on_sigterm(settings):
    """`tasktracker api --port P` serves health, readiness and metrics; SIGTERM shuts it down."""
    port = free_port()
    api = ServiceProcess(settings, [TASKTRACKER, "api", "--port", str(port)])
    try:
        base = f"http://127.0.0.1:{port}"
        await until_ready(base)
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/metrics")).status_code == 200
            assert (await client.get("/api/v1/automation/runs")).status_code == 401
        # uvicorn shuts down, then ends the process by the signal it caught.
        assert await asyncio.to_thread(stop_with, api, signal.SIGTERM) in (0, -signal.SIGTERM)
        await api.until_line(r"Finished server process")
    finally:
        api.stop()


async def test_tasktracker_dev_is_a_whole_service_in_one_process(settings, admin_secret):
    """`tasktracker dev`: the api answers, its worker completes a triggered run, its scheduler
    leads; Ctrl-C (SIGINT) stops all three cleanly."""
    port = free_port()
    dev = ServiceProcess(
        settings, [TASKTRACKER, "dev", "--port", str(port)], SCHEDULER_RECONCILE_SECONDS="1"
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await until_ready(base)
        await dev.until_line(r"Listening started")
        headers = {"Authorization": f"Bearer {admin_secret}"}
        async with httpx.AsyncClient(base_url=base, headers=headers) as client:
            answer = (await client.post("/api/v1/automation/trigger")).json()
            run = await wait_for_run(
                settings.database.url.get_secret_value(), answer["run_id"], is_final
            )
            assert run["state"] == "COMPLETED"
            await dev.until_line(r"Leadership gained")
            health = (await client.get("/api/v1/health/scheduler")).json()
            assert health["leader"]["pid"] == dev.process.pid
        assert await asyncio.to_thread(stop_with, dev, signal.SIGINT) == 0
        await dev.until_line(r"Worker stopped")
        await dev.until_line(r"Scheduler stopped")
    finally:
        dev.stop()

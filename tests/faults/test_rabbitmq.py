"""RabbitMQ (a private node) stopped and started: triggers during the outage answer 202 and
run after it; api, scheduler and worker reconnect without a restart; a message delivered
again after the restart does not run twice."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import httpx
import pytest

from tests.support.factories import admin_token, seed_with_sql
from tests.support.invariants import assert_invariants
from tests.support.polling import is_final, until, wait_for_run
from tests.support.processes import TASKTRACKER, ServiceProcess, WorkerProcess
from tests.support.services import connect_db
from tests.support.tcp_proxy import free_port

pytestmark = pytest.mark.timeout(300)


async def readiness(base: str) -> int:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        try:
            return (await client.get("/api/v1/health/ready")).status_code
        except httpx.TransportError:
            return 0


async def test_rabbitmq_stop_and_start(settings, private_rabbitmq, report):
    """Stop the broker mid-run and while idle: readiness says so, triggers still answer 202
    (PENDING), cron ticks are stored; after the start every run completes, once."""
    url = settings.database.url.get_secret_value()
    broker = {"RABBITMQ_URL": private_rabbitmq.url}
    await seed_with_sql(url, 150_000)
    token = await admin_token(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = ServiceProcess(settings, [TASKTRACKER, "api", "--port", str(port)], **broker)
    worker = WorkerProcess(settings, AUTOMATION_BATCH_SIZE="1000", **broker)
    scheduler = ServiceProcess(
        settings,
        [sys.executable, "-m", "tests.support.seconds_scheduler"],
        TEST_TICK_SECONDS="3",
        SCHEDULER_RECONCILE_SECONDS="1",
        **broker,
    )
    headers = {"Authorization": f"Bearer {token}"}
    try:
        await until(lambda: _is(readiness(base), 200))
        await worker.ready()
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=15) as client:
            long_run = uuid.UUID((await client.post("/api/v1/automation/trigger")).json()["run_id"])
            await wait_for_run(url, long_run, lambda r: r["state"] == "EXECUTING")

            stopped_at = time.monotonic()
            await asyncio.to_thread(private_rabbitmq.stop)
            noticed = await until(lambda: _is(readiness(base), 503), timeout=30)
            during = []
            for body in ({"dry_run": True}, {"dry_run": True, "reason": "outage"}):
                response = await client.post("/api/v1/automation/trigger", json=body)
                assert response.status_code == 202, response.text
                assert response.json()["state"] == "PENDING"
                during.append(uuid.UUID(response.json()["run_id"]))

            await asyncio.to_thread(private_rabbitmq.start)
            away = time.monotonic() - stopped_at
            back = await until(lambda: _is(readiness(base), 200), timeout=60)
            for run_id in [long_run, *during]:
                await wait_for_run(url, run_id, is_final, timeout=120)
            ticks = await _cron_runs(url)
            assert ticks, "the scheduler fired no tick"
            # A tick after the restart runs through the reconnected scheduler and worker.
            latest = max(ticks, key=lambda r: r["scheduled_for"])["scheduled_for"]
            await until(lambda: _tick_after(url, latest), timeout=30)
            cron = await _cron_runs(url)
            for run in cron:
                await wait_for_run(url, run["id"], is_final, timeout=60)

        conn = await connect_db(url)
        try:
            ids = [long_run, *during, *(r["id"] for r in cron)]
            await assert_invariants(conn, ids)
            long = await conn.fetchrow("SELECT * FROM automation_runs WHERE id = $1", long_run)
            states = await conn.fetch(
                "SELECT state, count(*) FROM automation_runs WHERE id = ANY($1::uuid[])"
                " GROUP BY state",
                ids,
            )
        finally:
            await conn.close()
        assert {r["state"] for r in states} == {"COMPLETED"}, [tuple(r) for r in states]
        assert long["attempts"] == 1, "the redelivered message ran the run again"
        report(
            "rabbitmq stop and start",
            broker_away_s=round(away, 1),
            readiness_503_after_s=round(noticed, 1),
            readiness_200_after_start_s=round(back, 1),
            long_run_attempts=long["attempts"],
            cron_runs=len(cron),
        )
    finally:
        for process in (api, worker, scheduler):
            process.stop()


async def _is(answer, expected: int) -> bool:
    return await answer == expected


async def _cron_runs(url: str):
    conn = await connect_db(url)
    try:
        return await conn.fetch(
            "SELECT id, scheduled_for, state FROM automation_runs WHERE trigger = 'cron'"
        )
    finally:
        await conn.close()


async def _tick_after(url: str, moment) -> bool:
    conn = await connect_db(url)
    try:
        return bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM automation_runs WHERE trigger = 'cron'"
                " AND scheduled_for > $1 AND state = 'COMPLETED')",
                moment,
            )
        )
    finally:
        await conn.close()

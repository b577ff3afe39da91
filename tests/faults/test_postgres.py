"""PostgreSQL restarted (idle, and during a run) and PostgreSQL slow or silent: every process
recovers by itself, requests fail fast, nothing is half-written."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from app.web.app import create_app
from tests.support.factories import admin_token, seed_with_sql
from tests.support.invariants import assert_invariants
from tests.support.polling import is_final, until, wait_for_run
from tests.support.processes import (
    TASKTRACKER,
    ServiceProcess,
    WorkerProcess,
    on,
    through_proxy,
    worker_through_proxy,
)
from tests.support.services import connect_db
from tests.support.tcp_proxy import TcpProxy, free_port

pytestmark = pytest.mark.timeout(240)


async def ready(base: str) -> bool:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        try:
            return (await client.get("/api/v1/health/ready")).status_code == 200
        except httpx.TransportError:
            return False


async def trigger_and_finish(base: str, token: str, url: str) -> uuid.UUID:
    async with httpx.AsyncClient(
        base_url=base, timeout=15, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        response = await client.post("/api/v1/automation/trigger")
    assert response.status_code == 202, response.text
    run_id = uuid.UUID(response.json()["run_id"])
    await wait_for_run(url, run_id, is_final, timeout=60)
    return run_id


async def test_restart_while_idle_every_process_recovers(settings, private_postgres, report):
    """api, worker and scheduler keep running through a PostgreSQL restart: readiness comes
    back, a trigger completes, the scheduler leads again; the invariants hold."""
    url = await asyncio.to_thread(private_postgres.database)
    local = on(settings, url)
    token = await admin_token(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = ServiceProcess(local, [TASKTRACKER, "api", "--port", str(port)])
    worker = WorkerProcess(local)
    scheduler = ServiceProcess(local, [TASKTRACKER, "scheduler"], SCHEDULER_RECONCILE_SECONDS="1")
    try:
        await until(lambda: ready(base))
        await worker.ready()
        await scheduler.until_line("Leadership gained")
        first = await trigger_and_finish(base, token, url)

        away = await asyncio.to_thread(private_postgres.restart)
        recovered = await until(lambda: ready(base))
        second = await trigger_and_finish(base, token, url)
        leads_again = await asyncio.to_thread(
            scheduler.wait_for_line, r"Leadership (lost|gained)", 30
        )
        conn = await connect_db(url)
        try:
            await assert_invariants(conn, [first, second])
            states = await conn.fetch(
                "SELECT state FROM automation_runs WHERE id = ANY($1::uuid[])", [first, second]
            )
        finally:
            await conn.close()
        assert {r["state"] for r in states} == {"COMPLETED"}
        assert leads_again
        await until(lambda: _leader_alive(url), timeout=30)
        report(
            "postgresql restart while idle",
            away_s=round(away, 2),
            ready_again_s=round(recovered, 2),
        )
    finally:
        for process in (api, worker, scheduler):
            process.stop()


async def _leader_alive(url: str) -> bool:
    conn = await connect_db(url)
    try:
        return bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN scheduler_status s"
                " ON l.pid = s.leader_backend WHERE l.locktype = 'advisory' AND l.granted)"
            )
        )
    finally:
        await conn.close()


async def test_restart_during_a_run_fails_cleanly_or_finishes(settings, private_postgres, report):
    """A restart in the middle of a run: the run ends (FAILED cleanly, or reclaimed and
    COMPLETED); a following run finishes the work; nothing is half-written."""
    url = await asyncio.to_thread(private_postgres.database)
    local = on(settings, url)
    await seed_with_sql(url, 200_000)
    token = await admin_token(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = ServiceProcess(local, [TASKTRACKER, "api", "--port", str(port)])
    worker = WorkerProcess(local, AUTOMATION_BATCH_SIZE="2000")
    try:
        await until(lambda: ready(base))
        await worker.ready()
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            run_id = uuid.UUID((await client.post("/api/v1/automation/trigger")).json()["run_id"])
        mid = await wait_for_run(url, run_id, lambda r: r["evaluated"] > 0)
        assert mid["evaluated"] < 200_000, "the run was not caught mid-way"
        await asyncio.to_thread(private_postgres.restart)
        run = await wait_for_run(url, run_id, is_final, timeout=90)
        runs = [run_id]
        if run["state"] == "FAILED":
            await until(lambda: ready(base))
            runs.append(await trigger_and_finish(base, token, url))
        conn = await connect_db(url)
        try:
            await assert_invariants(conn, runs)
            pending_matching = await conn.fetchval(
                "SELECT count(*) FROM versions WHERE status = 'pending' AND confidence >= 0.5"
            )
            final = await conn.fetch(
                "SELECT state, error, attempts FROM automation_runs WHERE id = ANY($1::uuid[])"
                " ORDER BY seq",
                runs,
            )
        finally:
            await conn.close()
        assert pending_matching == 0, "the work was not finished"
        assert final[-1]["state"] == "COMPLETED"
        report(
            "postgresql restart during a run",
            outcome=f"{final[0]['state']} {final[0]['error'] or ''}".strip(),
            attempts=final[0]["attempts"],
            runs=len(final),
        )
    finally:
        api.stop()
        worker.stop()


@pytest.mark.parametrize("mode", ["silent", "reset", "delay"])
async def test_slow_or_silent_postgresql_fails_requests_fast(settings, admin_secret, mode, report):
    """Through a proxy that stalls, resets or slows PostgreSQL: a request answers within a
    few seconds, 503 when the database cannot answer, 200 when it is merely slow; the api
    serves normally once the link is healthy again."""
    proxy = TcpProxy(target_port=5432)
    await proxy.start()
    proxied = through_proxy(settings, proxy, connect_timeout_seconds=2, command_timeout_seconds=2)
    app = create_app(proxied)
    headers = {"Authorization": f"Bearer {admin_secret}"}
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                assert (
                    await client.get("/api/v1/automation/runs", headers=headers)
                ).status_code == 200
                if mode == "reset":
                    await proxy.reset()
                else:
                    proxy.mode, proxy.delay = mode, 0.3
                started = time.monotonic()
                async with asyncio.timeout(10):
                    response = await client.get("/api/v1/automation/runs", headers=headers)
                took = time.monotonic() - started
                expected = 200 if mode == "delay" else 503
                assert response.status_code == expected, response.text
                assert took < 6, took
                proxy.mode = "forward"
                recovered = await until(lambda: _listing_ok(client, headers), timeout=20)
                report(
                    f"postgresql {mode}",
                    answered=response.status_code,
                    answered_in_s=round(took, 2),
                    healthy_again_s=round(recovered, 2),
                )
    finally:
        await proxy.stop()


async def _listing_ok(client: httpx.AsyncClient, headers: dict[str, str]) -> bool:
    return (await client.get("/api/v1/automation/runs", headers=headers)).status_code == 200


async def test_a_run_whose_database_goes_silent_does_not_hang(app_client, admin, settings, report):
    """The worker's PostgreSQL goes silent mid-run: the task ends by the guard plus the
    command timeout instead of hanging; once the link is back the run ends FAILED (its
    attempts used up by the guard) or COMPLETED, and nothing is half-written."""
    url = settings.database.url.get_secret_value()
    await seed_with_sql(url, 150_000)
    proxy = TcpProxy(target_port=5432)
    await proxy.start()
    worker = worker_through_proxy(
        settings, proxy, AUTOMATION_TIMEOUT_SECONDS="3", AUTOMATION_BATCH_SIZE="500"
    )
    try:
        await worker.ready()
        response = await app_client.post("/api/v1/automation/trigger", headers=admin)
        run_id = uuid.UUID(response.json()["run_id"])
        await wait_for_run(url, run_id, lambda r: r["state"] == "EXECUTING" and r["evaluated"] > 0)
        proxy.mode = "silent"
        silent_at = time.monotonic()
        # The guard (3 s) and then the statement that records the end (at most 3 + 5 s, the
        # worker pool's command timeout) bound the task.
        await worker.until_line(r"Run failed|Exception|timed out|TimeoutError", timeout=20)
        ended_in = time.monotonic() - silent_at
        assert ended_in < 15, ended_in
        proxy.mode = "forward"
        run = await wait_for_run(url, run_id, is_final, timeout=90)
        conn = await connect_db(url)
        try:
            await assert_invariants(conn, [run_id])
        finally:
            await conn.close()
        assert worker.process.poll() is None, "the worker died"
        report(
            "postgresql silent under a running worker",
            task_ended_after_s=round(ended_in, 1),
            outcome=f"{run['state']} {run['error'] or ''}".strip(),
            attempts=run["attempts"],
        )
    finally:
        worker.stop()
        await proxy.stop()

"""The benchmark's processes and what it watches: a fresh migrated database, the real
`tasktracker api` and `tasktracker worker`, triggering a run and waiting for it, the workers'
peak memory, and the machine's CPU, WAL and wait events over a block."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import httpx

from app.config import DatabaseSettings
from app.db import with_database
from app.migrate import migrate

TASKTRACKER = str(Path(sys.executable).with_name("tasktracker"))
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def service(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(  # noqa: S603 - our own console script
        argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# The processes connect as a role of their own, as deployed (SPEC section 3); the benchmark
# itself (its floor creates tables) as the owner.
BENCH_APP_ROLE = "tasktracker_bench_app"


def as_app(url: str) -> str:
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    return urlunsplit(parts._replace(netloc=f"{BENCH_APP_ROLE}:bench@{host}"))


def service_env(url: str, queue: str) -> dict[str, str]:
    """The environment of a benchmark's api and worker: the database as the processes' role,
    their own queue, no authentication, warnings only."""
    return {
        "DATABASE_URL": as_app(url),
        "RABBITMQ_URL": AMQP_URL,
        "RABBITMQ_QUEUE": queue,
        "AUTH_DISABLED": "true",
        "LOG_LEVEL": "WARNING",
    }


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A migrated database: the owner's URL (the processes' is `as_app` of it)."""
    name = f"tt_bench_{uuid.uuid4().hex[:10]}"
    url = with_database(ADMIN_URL, name)
    await asyncio.to_thread(migrate, DatabaseSettings(url=as_app(url)), owner_url=url)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def wait_run(conn: asyncpg.Connection, run_id: str, states: set[str]) -> asyncpg.Record:
    """Poll the run every 2 ms until it reaches one of `states` (within 5 minutes)."""
    async with asyncio.timeout(300):
        while True:
            row = await conn.fetchrow(
                "SELECT * FROM automation_runs WHERE id = $1", uuid.UUID(run_id)
            )
            if row is not None and row["state"] in states:
                return row
            await asyncio.sleep(0.002)


FINAL = {"COMPLETED", "FAILED"}


async def trigger(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/v1/automation/trigger")
    response.raise_for_status()
    return str(response.json()["run_id"])


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@contextlib.asynccontextmanager
async def observe(url: str, into: dict[str, Any]) -> AsyncIterator[None]:
    """Fill `into` with the CPU busy share, WAL megabytes and the sampled wait events of the
    database's active sessions over the block (shares of the samples; `CPU` = not waiting)."""
    sampler = await asyncpg.connect(url)
    counts: dict[str, int] = {}
    samples = 0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal samples
        while not stop.is_set():
            rows = await sampler.fetch(
                "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS event"
                " FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'active' AND pid <> pg_backend_pid()"
            )
            samples += 1
            for row in rows:
                counts[row["event"]] = counts.get(row["event"], 0) + 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.02)

    wal_before = await sampler.fetchval("SELECT wal_bytes FROM pg_stat_wal")
    busy_before, total_before = _cpu_times()
    task = asyncio.create_task(sample())
    try:
        yield
    finally:
        stop.set()
        await task
        busy_after, total_after = _cpu_times()
        wal_after = await sampler.fetchval("SELECT wal_bytes FROM pg_stat_wal")
        await sampler.close()
        into["cpu_busy"] = round((busy_after - busy_before) / max(1, total_after - total_before), 3)
        into["wal_mb"] = round(float(wal_after - wal_before) / 1e6, 1)
        into["samples"] = samples
        top = sorted(counts.items(), key=lambda item: -item[1])[:8]
        into["active_sessions"] = round(sum(counts.values()) / max(1, samples), 2)
        into["waits"] = {event: round(n / max(1, samples), 3) for event, n in top}


async def until_ready(client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(60):
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/api/v1/health/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


async def delete_queue(name: str) -> None:
    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(name)
            with contextlib.suppress(Exception):
                await channel.queue_delete(f"{name}.dead_letter")

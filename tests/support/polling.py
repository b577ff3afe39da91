"""Waiting for something another process or session does: a condition, a run's row, the
publisher, a session blocked on a lock; and a run's row as it is now."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx

from tests.support.services import connect_db


async def until(
    predicate: Callable[[], Awaitable[bool]],
    timeout: float = 30,  # noqa: ASYNC109 - a deadline for polling, not for I/O
    every: float = 0.1,
) -> float:
    """Await `predicate()` (async) until it holds; the seconds it took."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while not await predicate():  # noqa: ASYNC110 - a condition outside this process
            await asyncio.sleep(every)
    return time.monotonic() - started


async def wait_for_run(
    database_url: str,
    run_id: uuid.UUID | str,
    done: Callable[[asyncpg.Record], bool],
    timeout: float = 30,  # noqa: ASYNC109 - a deadline for polling the database, not for I/O
) -> asyncpg.Record:
    """Poll the run's row until `done(row)` holds; the row."""
    conn = await connect_db(database_url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                row = await conn.fetchrow(
                    "SELECT * FROM automation_runs WHERE id = $1", uuid.UUID(str(run_id))
                )
                if row is not None and done(row):
                    return row
                await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def run_row(url: str, run_id: uuid.UUID) -> dict[str, object]:
    """The run's row as it is now."""
    conn = await connect_db(url)
    try:
        row = await conn.fetchrow("SELECT * FROM automation_runs WHERE id = $1", run_id)
    finally:
        await conn.close()
    assert row is not None
    return dict(row)


def is_final(row: asyncpg.Record) -> bool:
    return row["state"] in ("COMPLETED", "FAILED")


async def publisher_ready(client: httpx.AsyncClient) -> None:
    """Wait until the in-process api is connected to RabbitMQ."""
    async with asyncio.timeout(20):
        await client.app.state.publisher.ready.wait()  # type: ignore[attr-defined]


async def until_blocked_by(conn: asyncpg.Connection, timeout: float = 10) -> None:  # noqa: ASYNC109
    """Until another session of `conn`'s database waits on a lock `conn` holds (a request
    has reached the lock it must wait for)."""
    async with asyncio.timeout(timeout):
        while not await conn.fetchval(  # noqa: ASYNC110 - a state of another session
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
            " AND pg_backend_pid() = ANY (pg_blocking_pids(pid)))"
        ):
            await asyncio.sleep(0.01)

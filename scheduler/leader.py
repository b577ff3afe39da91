"""Leader election: one replica holds a session-level advisory lock on a dedicated connection.

A pooled connection would lose the lock when released, so the lock lives on a connection of
its own. Both ends watch it: the server drops a silent client after its TCP keepalives and
user timeout (so the lock frees within about ten seconds of a half-open link), and the leader
probes its connection every PROBE_SECONDS, stepping down the moment a probe fails or is late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from app.config import DatabaseSettings
from app.db import DATABASE_ERRORS, Connection, connect
from app.logging import context
from app.repositories import jobs as job_repo
from app.repositories import session as session_repo

logger = logging.getLogger("scheduler")

PROBE_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 3.0
STANDBY_POLL_SECONDS = 1.0
# The server notices a vanished leader (and frees its lock) after 4 s idle + 3 probes 2 s
# apart, or 8 s of unacknowledged data.
LEADER_SESSION_SETTINGS = {
    "tcp_keepalives_idle": "4",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "8000",
}


def identity() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


async def _open(settings: DatabaseSettings) -> Connection:
    conn = await connect(settings, "tasktracker-scheduler-leader")
    await session_repo.set_session_settings(conn, LEADER_SESSION_SETTINGS)
    return conn


async def close_quietly(conn: Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), timeout=2)
        if not conn.is_closed():
            conn.terminate()


async def wait_for_leadership(settings: DatabaseSettings, stop: asyncio.Event) -> Connection | None:
    """The leader's connection once this replica holds the lock; None when `stop` is set first.

    Reconnects after database failures; logs once when it starts waiting as standby."""
    host, pid = identity()
    conn: Connection | None = None
    announced = False
    while not stop.is_set():
        try:
            if conn is None or conn.is_closed():
                conn = await _open(settings)
            if await job_repo.try_scheduler_leadership(conn):
                await job_repo.record_scheduler_leader(conn, host, pid)
                return conn
            if not announced:
                logger.info("Scheduler is standby", extra=context(host=host, pid=pid))
                announced = True
        except DATABASE_ERRORS as exc:
            logger.warning(
                "Cannot reach PostgreSQL to seek leadership", extra=context(why=str(exc))
            )
            await close_quietly(conn)
            conn = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STANDBY_POLL_SECONDS)
    await close_quietly(conn)
    return None


async def watch_leadership(conn: Connection, lost: asyncio.Event) -> None:
    """Probe the leader's connection until a probe fails, then set `lost`."""
    try:
        while True:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                still_leader = await job_repo.record_scheduler_wakeup(conn)
            if not still_leader:
                logger.warning("Another scheduler is recorded as leader")
                break
            await asyncio.sleep(PROBE_SECONDS)
    except DATABASE_ERRORS as exc:
        logger.warning("Leader's connection to PostgreSQL failed", extra=context(why=str(exc)))
    lost.set()

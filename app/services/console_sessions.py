"""The console's sessions: rows on the server, a random id in the browser's cookie.

The cookie carries `secrets.token_urlsafe(32)`; the database keeps only its SHA-256, with the
token it stands for, the role, a CSRF nonce and an expiry. Every request looks the row up
joined with the still-live token, so `Sign out` (the row deleted) and revoking the token end a
session at once, wherever the cookie is replayed from.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass

from app.audit.retention import PURGE_INTERVAL_SECONDS
from app.db import Pool
from app.i18n import N_
from app.logging import context
from app.loops import every
from app.models import Principal, Role
from app.repositories import console_sessions as session_repo

logger = logging.getLogger(__name__)

# An id a browser could send: token_urlsafe(32) is 43 characters; refuse anything far off.
MAX_SESSION_ID_LENGTH = 100


@dataclass(frozen=True)
class ConsoleSession:
    """A live session: who it is for and the CSRF nonce its forms carry."""

    principal: Principal
    csrf: str


def _hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


async def open_session(pool: Pool, token_hash: bytes, lifetime_seconds: float) -> str | None:
    """A new session for the live token with `token_hash`: the id for the cookie, or None
    when the token is unknown or revoked."""
    session_id = secrets.token_urlsafe(32)
    async with pool.acquire() as conn:
        expires_at = await session_repo.insert_console_session(
            conn,
            session_hash=_hash(session_id),
            token_hash=token_hash,
            csrf=secrets.token_urlsafe(24),
            lifetime_seconds=lifetime_seconds,
        )
    return session_id if expires_at is not None else None


async def find_session(pool: Pool, session_id: str | None) -> ConsoleSession | None:
    """The live session a cookie's id names, or None (unknown, expired, signed out, or its
    token revoked)."""
    if not session_id or len(session_id) > MAX_SESSION_ID_LENGTH:
        return None
    async with pool.acquire() as conn:
        row = await session_repo.get_console_session(conn, _hash(session_id))
    if row is None:
        return None
    return ConsoleSession(Principal(name=row["name"], role=Role(row["role"])), row["csrf"])


async def end_session(pool: Pool, session_id: str | None) -> None:
    """Delete the session a cookie's id names (nothing when there is none)."""
    if not session_id or len(session_id) > MAX_SESSION_ID_LENGTH:
        return
    async with pool.acquire() as conn:
        await session_repo.delete_console_session(conn, _hash(session_id))


async def purge_expired_sessions(pool: Pool) -> int:
    """Delete every expired session; answers how many."""
    async with pool.acquire() as conn:
        gone = await session_repo.delete_expired_console_sessions(conn)
    if gone:
        logger.info("Purged expired console sessions", extra=context(sessions=gone))
    return gone


async def purge_sessions_forever(pool: Pool) -> None:
    """The expired sessions' purge at start and then hourly, until cancelled."""
    await every(
        PURGE_INTERVAL_SECONDS,
        lambda: purge_expired_sessions(pool),
        log=logger,
        failed=N_("Console session purge failed; trying again later"),
    )

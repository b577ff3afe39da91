"""The console's sessions, stored by the SHA-256 of the id their cookie carries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.db import Connection
from app.sql import queries


async def insert_console_session(
    conn: Connection, *, session_hash: bytes, token_hash: bytes, csrf: str, lifetime_seconds: float
) -> dt.datetime | None:
    """Open a session for the live token with `token_hash`; its expiry, or None when the token
    is unknown or revoked."""
    row = await queries.insert_console_session(
        conn,
        session_hash=session_hash,
        token_hash=token_hash,
        csrf=csrf,
        lifetime_seconds=lifetime_seconds,
    )
    return row["expires_at"] if row is not None else None


async def get_console_session(conn: Connection, session_hash: bytes) -> dict[str, Any] | None:
    """The unexpired session of a live token (name, role, csrf, expires_at), its last sighting
    refreshed at most once a minute; None otherwise."""
    row = await queries.get_console_session(conn, session_hash=session_hash)
    return dict(row) if row is not None else None


async def delete_console_session(conn: Connection, session_hash: bytes) -> None:
    await queries.delete_console_session(conn, session_hash=session_hash)


async def delete_expired_console_sessions(conn: Connection) -> int:
    return int(await queries.delete_expired_console_sessions(conn))

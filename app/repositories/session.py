"""A session's settings: the one setter of a transaction's limits (statement_timeout,
lock_timeout, idle time, jit), a session-wide setting, and a ping."""

from __future__ import annotations

from collections.abc import Mapping

from app.db import Connection
from app.sql import queries


async def limit_transaction(
    conn: Connection,
    *,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int | None = None,
    idle_timeout_ms: int | None = None,
    jit: bool | None = None,
) -> None:
    """Bound the current transaction in one round trip; each setting is local to it (the
    pooled connection goes back without it), None leaves a setting as it is. A timeout of 0
    would mean none: callers pass at least 1 ms."""
    await queries.limit_transaction(
        conn,
        statement_timeout=_text(statement_timeout_ms),
        lock_timeout=_text(lock_timeout_ms),
        idle_timeout=_text(idle_timeout_ms),
        jit=None if jit is None else ("on" if jit else "off"),
    )


async def set_session_settings(conn: Connection, settings: Mapping[str, str]) -> None:
    """Set each of `settings` for the rest of the session (a dedicated connection's)."""
    for name, value in settings.items():
        await queries.set_session_setting(conn, name=name, value=value)


async def ping(conn: Connection) -> None:
    """Ask the server for an answer (raises what the driver raises when it cannot)."""
    await queries.ping(conn)


def _text(milliseconds: int | None) -> str | None:
    return None if milliseconds is None else str(milliseconds)

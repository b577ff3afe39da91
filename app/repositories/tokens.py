"""API tokens, stored by the SHA-256 of their secret (never the secret itself)."""

from __future__ import annotations

from typing import Any

from app.db import Connection
from app.errors import NotFoundError
from app.models import Role, Token
from app.repositories import fetch_all, translated_errors
from app.sql import queries


async def insert_token(conn: Connection, *, name: str, role: Role, token_hash: bytes) -> Token:
    with translated_errors(f"a token named {name!r} already exists"):
        row = await queries.insert_token(conn, name=name, role=role.value, token_hash=token_hash)
    return Token.model_validate(dict(row))


async def get_active_token_by_hash(conn: Connection, token_hash: bytes) -> dict[str, Any] | None:
    """The live token row with this hash (hash included, for the constant-time comparison)."""
    row = await queries.get_active_token_by_hash(conn, token_hash=token_hash)
    return dict(row) if row is not None else None


async def list_tokens(conn: Connection) -> list[Token]:
    return [Token.model_validate(dict(row)) for row in await fetch_all(queries.list_tokens(conn))]


async def revoke_token(conn: Connection, name: str) -> Token:
    row = await queries.revoke_token(conn, name=name)
    if row is None:
        raise NotFoundError(f"no live token named {name!r}")
    return Token.model_validate(dict(row))

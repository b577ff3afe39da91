"""API tokens: random secrets shown once, stored as SHA-256, compared in constant time.

The secrets are 256-bit random values, so a fast hash is enough: there is no password to
guess, only a hash to look up.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from app.db import Pool, transaction
from app.errors import InvalidInputError
from app.models import TOKEN_NAME_PATTERN, NewToken, Principal, Role, Token
from app.repositories import audit
from app.repositories import tokens as token_repo

TOKEN_PREFIX = "tt_"  # noqa: S105 - a visible prefix, not a secret


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def create_token(pool: Pool, name: str, role: Role, actor: str) -> NewToken:
    if not re.match(TOKEN_NAME_PATTERN, name):
        raise InvalidInputError(
            "a token name is 1-100 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with transaction(pool) as conn:
        token = await token_repo.insert_token(
            conn, name=name, role=role, token_hash=hash_secret(secret)
        )
        await audit.insert_audit_entry(
            conn, actor=actor, action="token.create", details={"name": name, "role": role.value}
        )
    return NewToken(token=token, secret=secret)


async def revoke_token(pool: Pool, name: str, actor: str) -> Token:
    async with transaction(pool) as conn:
        token = await token_repo.revoke_token(conn, name)
        await audit.insert_audit_entry(
            conn, actor=actor, action="token.revoke", details={"name": name}
        )
    return token


async def list_tokens(pool: Pool) -> list[Token]:
    async with pool.acquire() as conn:
        return await token_repo.list_tokens(conn)


async def authenticate(pool: Pool, secret: str) -> Principal | None:
    """The principal a bearer secret stands for, or None for an unknown or revoked one."""
    presented = hash_secret(secret)
    async with pool.acquire() as conn:
        row = await token_repo.get_active_token_by_hash(conn, presented)
    if row is None or not hmac.compare_digest(bytes(row["token_hash"]), presented):
        return None
    return Principal(name=row["name"], role=Role(row["role"]))

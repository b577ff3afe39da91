"""The console through the ASGI client: its CSRF field, signing in."""

from __future__ import annotations

import re
import uuid

import httpx

from app.db import Pool
from app.models import Role
from app.services.tokens import create_token


def csrf_of(html: str) -> str:
    """The CSRF token of the page's form."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF field"
    return found.group(1)


async def post_sign_in(
    client: httpx.AsyncClient, secret: str, next_page: str | None = None
) -> httpx.Response:
    """Fill in the sign-in form with `secret` (and the way back, `next_page`); the answer."""
    form = await client.get("/ui/sign-in", params={"next": next_page} if next_page else None)
    data = {"token": secret, "csrf_token": csrf_of(form.text)}
    if next_page is not None:
        data["next"] = next_page
    return await client.post("/ui/sign-in", data=data)


async def sign_in_as(client: httpx.AsyncClient, pool: Pool, role: Role) -> tuple[str, str]:
    """Sign in with a new token of `role`; answers (token name, secret)."""
    name = f"{role.value}-{uuid.uuid4().hex[:8]}"
    secret = (await create_token(pool, name, role, "test")).secret
    answer = await post_sign_in(client, secret)
    assert answer.status_code == 303, answer.text
    return name, secret

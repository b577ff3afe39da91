"""Every route of the OpenAPI schema against no token, a wrong token, a revoked one, each role."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from app.config import AuthSettings, DatabaseSettings, load_settings
from app.models import Role
from app.services.tokens import create_token, revoke_token
from app.web.app import create_app
from app.web.auth import PUBLIC, ROLE_EXTENSION

pytestmark = pytest.mark.timeout(120)


def operations(app) -> list[tuple[str, str, str]]:
    """(method, concrete path, required role) for every operation the app documents."""
    found = []
    for path, item in app.openapi()["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method, operation in item.items():
            found.append((method.upper(), concrete, operation[ROLE_EXTENSION]))
    return found


def test_every_route_states_its_role(settings):
    """No route is documented without x-required-role; only health is public."""
    ops = operations(create_app(settings))
    assert len(ops) >= 9
    assert {role for *_, role in ops} <= {PUBLIC, *(r.value for r in Role)}
    assert {path for _, path, role in ops if role == PUBLIC} == {
        "/api/v1/health",
        "/api/v1/health/ready",
        "/metrics",
    }


async def test_role_walk(app_client, pool):
    """401 without or with a bad token, 403 below the route's role, never either at or above it.

    Requests carry an invalid body: the role is checked before the body is read."""
    app = app_client.app
    secrets = {
        role: (await create_token(pool, f"walk-{role.value}", role, "test")).secret for role in Role
    }
    revoked = (await create_token(pool, "walk-revoked", Role.ADMIN, "test")).secret
    async with asyncio.timeout(20):  # /health/ready answers 200 once RabbitMQ is connected
        await app.state.publisher.ready.wait()
    await revoke_token(pool, "walk-revoked", "test")

    for method, path, required in operations(app):

        async def call(headers, method=method, path=path):
            return await app_client.request(method, path, headers=headers, content=b"{bad json")

        if required == PUBLIC:
            assert (await call({})).status_code == 200, path
            continue
        needed = Role(required)
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Bearer {revoked}"},
            {"Authorization": f"Basic {secrets[Role.ADMIN]}"},
        ):
            response = await call(headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
        for role, secret in secrets.items():
            response = await call({"Authorization": f"Bearer {secret}"})
            if role.allows(needed):
                assert response.status_code not in (401, 403), (method, path, role)
            else:
                assert response.status_code == 403, (method, path, role, response.text)
                assert needed.value in response.json()["detail"]


async def test_auth_disabled_acts_as_admin(database_url):
    """With AUTH_DISABLED=true a request without a token may do what an admin may."""
    settings = load_settings(
        database=DatabaseSettings(url=database_url), auth=AuthSettings(disabled=True)
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/api/v1/automation/rules",
                json={
                    "name": "r",
                    "priority": 1,
                    "action": "reject",
                    "conditions": {"field": "confidence", "op": "lt", "value": 0.1},
                },
            )
    assert response.status_code == 201


async def test_tokens_are_stored_hashed(pool):
    """The database holds a SHA-256 of the secret, never the secret."""
    new = await create_token(pool, "hashed", Role.VIEWER, "test")
    async with pool.acquire() as conn:
        stored = await conn.fetchval("SELECT token_hash FROM api_tokens WHERE name = 'hashed'")
        dumped = await conn.fetchval("SELECT row_to_json(t)::text FROM api_tokens t")
    assert len(stored) == 32
    assert new.secret not in dumped

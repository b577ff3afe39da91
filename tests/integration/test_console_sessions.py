"""Console sessions on the server (sign-out and revocation end them, replays fail), the way
back to the page that asked, and the sign-in throttle."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import uuid

import asyncpg
import httpx
import pytest

from app.console.throttle import client_address
from app.db import Pool
from app.models import Role
from app.services.console_sessions import purge_expired_sessions
from app.services.tokens import create_token, hash_secret, revoke_token
from tests.support.console import csrf_of, post_sign_in

pytestmark = pytest.mark.timeout(60)


async def _new_secret(pool: Pool, role: Role) -> tuple[str, str]:
    name = f"{role.value}-{uuid.uuid4().hex[:8]}"
    return name, (await create_token(pool, name, role, "test")).secret


def _session_cookie(answer: httpx.Response) -> str:
    found = re.search(r"tt_console=([^;]+)", answer.headers.get("set-cookie", ""))
    assert found, "no session cookie was set"
    return found.group(1)


# --- sessions on the server -------------------------------------------------------------------


async def test_the_cookie_is_a_random_id_stored_only_as_its_hash(
    app_client: httpx.AsyncClient, pool: Pool, owner_database_url: str
) -> None:
    """The cookie carries a random id; the database keeps its SHA-256, the token's role and a
    CSRF nonce, and expires it after CONSOLE_SESSION_HOURS."""
    name, secret = await _new_secret(pool, Role.OPERATOR)
    answer = await post_sign_in(app_client, secret)
    assert answer.status_code == 303
    session_id = _session_cookie(answer)
    assert len(session_id) == 43  # secrets.token_urlsafe(32)
    assert hash_secret(secret).hex() not in session_id
    conn = await asyncpg.connect(owner_database_url)
    try:
        row = await conn.fetchrow(
            "SELECT s.*, t.name, s.expires_at - s.created_at AS lifetime FROM console_sessions AS s"
            " JOIN api_tokens AS t ON t.id = s.token_id"
        )
    finally:
        await conn.close()
    assert bytes(row["session_hash"]) == hashlib.sha256(session_id.encode()).digest()
    assert session_id.encode() not in bytes(row["session_hash"])
    assert (row["name"], row["role"]) == (name, "operator")
    assert row["lifetime"].total_seconds() == 12 * 3600
    page = await app_client.get("/ui")
    assert csrf_of(page.text) == row["csrf"]


async def test_a_cookie_replayed_after_sign_out_opens_nothing(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """After Sign out, the same cookie (kept by an attacker) neither opens /ui nor lets its
    CSRF token trigger a run."""
    _, secret = await _new_secret(pool, Role.ADMIN)
    session_id = _session_cookie(await post_sign_in(app_client, secret))
    page = await app_client.get("/ui")
    csrf = csrf_of(page.text)
    answer = await app_client.post("/ui/sign-out", data={"csrf_token": csrf})
    assert answer.status_code == 303

    app_client.cookies.set("tt_console", session_id, path="/ui")
    assert (await app_client.get("/ui")).status_code == 303
    trigger = await app_client.post("/ui/runs/trigger", data={"csrf_token": csrf})
    assert trigger.status_code in (303, 403)
    assert not trigger.headers.get("location", "").startswith("/ui/runs/")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM automation_runs") == 0
        assert await conn.fetchval("SELECT count(*) FROM console_sessions") == 0


async def test_revoking_the_token_ends_a_replayed_session(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """A session of a revoked token opens nothing, even with its cookie replayed."""
    name, secret = await _new_secret(pool, Role.VIEWER)
    session_id = _session_cookie(await post_sign_in(app_client, secret))
    await revoke_token(pool, name, "test")
    app_client.cookies.clear()
    app_client.cookies.set("tt_console", session_id, path="/ui")
    assert (await app_client.get("/ui")).status_code == 303


async def test_expired_sessions_are_refused_and_purged(
    app_client: httpx.AsyncClient, pool: Pool, owner_database_url: str
) -> None:
    """A session past its expiry opens nothing, and the purge deletes it."""
    _, secret = await _new_secret(pool, Role.VIEWER)
    await post_sign_in(app_client, secret)
    assert (await app_client.get("/ui")).status_code == 200
    conn = await asyncpg.connect(owner_database_url)
    try:
        await conn.execute("UPDATE console_sessions SET expires_at = now() - interval '1 second'")
    finally:
        await conn.close()
    assert (await app_client.get("/ui")).status_code == 303
    assert await purge_expired_sessions(pool) == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM console_sessions") == 0


async def test_last_seen_moves_at_most_once_a_minute(
    app_client: httpx.AsyncClient, pool: Pool, owner_database_url: str
) -> None:
    """A request refreshes last_seen_at when it is older than a minute, not on every request."""
    _, secret = await _new_secret(pool, Role.VIEWER)
    await post_sign_in(app_client, secret)
    conn = await asyncpg.connect(owner_database_url)
    try:
        first = await conn.fetchval("SELECT last_seen_at FROM console_sessions")
        await app_client.get("/ui")
        assert await conn.fetchval("SELECT last_seen_at FROM console_sessions") == first
        await conn.execute("UPDATE console_sessions SET last_seen_at = now() - interval '2 min'")
        await app_client.get("/ui")
        assert await conn.fetchval(
            "SELECT last_seen_at > now() - interval '10 seconds' FROM console_sessions"
        )
    finally:
        await conn.close()


# --- the way back -----------------------------------------------------------------------------


async def test_sign_in_returns_to_the_page_that_asked(
    app_client: httpx.AsyncClient, pool: Pool
) -> None:
    """A bookmarked filtered page sends to sign-in, which comes back to it with its query."""
    _, secret = await _new_secret(pool, Role.VIEWER)
    asked = await app_client.get("/ui/runs", params={"state": "FAILED"})
    assert asked.headers["location"] == "/ui/sign-in?next=%2Fui%2Fruns%3Fstate%3DFAILED"
    form = await app_client.get(asked.headers["location"])
    assert 'name="next" value="/ui/runs?state=FAILED"' in form.text
    answer = await app_client.post(
        "/ui/sign-in",
        data={"token": secret, "csrf_token": csrf_of(form.text), "next": "/ui/runs?state=FAILED"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/runs?state=FAILED"


async def test_an_htmx_request_is_sent_to_sign_in_and_back_to_its_page(
    app_client: httpx.AsyncClient,
) -> None:
    """A fragment asked without a session reloads the sign-in form naming its page."""
    answer = await app_client.get(
        "/ui/runs",
        headers={"HX-Request": "true", "HX-Current-URL": "http://test/ui/audit?actor=cli"},
    )
    assert answer.status_code == 401
    assert answer.headers["hx-redirect"] == "/ui/sign-in?next=%2Fui%2Faudit%3Factor%3Dcli"


@pytest.mark.parametrize(
    "hostile",
    [
        "//evil.example/ui",
        "/\\evil.example",
        "https://evil.example/ui/runs",
        "http:/ui/runs",
        "/ui/../api/v1/rules",
        "/ui/%2e%2e/docs",
        "/docs",
        "/uix",
        "ui/runs",
        "/ui/runs\r\nSet-Cookie: x=1",
        " /ui",
    ],
)
async def test_the_way_back_never_leaves_the_console(
    app_client: httpx.AsyncClient, pool: Pool, hostile: str
) -> None:
    """Anything but a path under /ui lands on the overview: no open redirect."""
    _, secret = await _new_secret(pool, Role.VIEWER)
    form = await app_client.get("/ui/sign-in", params={"next": hostile})
    assert 'name="next" value="/ui"' in form.text
    answer = await app_client.post(
        "/ui/sign-in", data={"token": secret, "csrf_token": csrf_of(form.text), "next": hostile}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui"


# --- throttling -------------------------------------------------------------------------------


async def test_past_ten_failures_a_minute_sign_in_answers_429(
    app_client: httpx.AsyncClient, pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    """Ten wrong tokens are refused 401; then even a right one is answered 429 with
    Retry-After, and the failures are logged with the address, never the token."""
    _, secret = await _new_secret(pool, Role.VIEWER)
    form = await app_client.get("/ui/sign-in")
    csrf = csrf_of(form.text)
    wrong = f"tt_wrong-{uuid.uuid4().hex}"
    with caplog.at_level(logging.WARNING):
        for _ in range(10):
            answer = await app_client.post("/ui/sign-in", data={"token": wrong, "csrf_token": csrf})
            assert answer.status_code == 401
        answer = await app_client.post("/ui/sign-in", data={"token": secret, "csrf_token": csrf})
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert "tt_console=" not in answer.headers.get("set-cookie", "")
    refused = [r for r in caplog.records if r.getMessage() == "Console sign-in refused"]
    assert len(refused) == 10
    assert refused[0].context["client"] == "127.0.0.1"  # type: ignore[attr-defined]
    assert wrong not in caplog.text
    assert secret not in caplog.text


async def test_another_address_is_not_throttled(app_client: httpx.AsyncClient, pool: Pool) -> None:
    """The count is per client address: one address's failures do not lock out another."""
    _, secret = await _new_secret(pool, Role.VIEWER)
    throttle = app_client.app.state.console_throttle  # type: ignore[attr-defined]
    for _ in range(11):
        throttle.record_failure("192.0.2.7")
    assert throttle.retry_after("192.0.2.7") is not None
    assert (await post_sign_in(app_client, secret)).status_code == 303


def test_x_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    """The client is the rightmost untrusted address, and only behind a trusted proxy."""
    trusted = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]
    assert client_address("203.0.113.5", "198.51.100.1", trusted) == "203.0.113.5"
    assert client_address("10.0.0.2", "198.51.100.1", []) == "10.0.0.2"
    assert client_address("10.0.0.2", "1.1.1.1, 198.51.100.1, 10.0.0.9", trusted) == (
        "198.51.100.1"
    )
    assert client_address("::1", "198.51.100.1", trusted) == "198.51.100.1"
    assert client_address("10.0.0.2", None, trusted) == "10.0.0.2"
    assert client_address("10.0.0.2", "10.0.0.3", trusted) == "10.0.0.3"
    assert client_address("10.0.0.2", "garbage", trusted) == "10.0.0.2"

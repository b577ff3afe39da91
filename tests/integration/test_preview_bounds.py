"""Previews are bounded: at most API_PREVIEW_CONCURRENCY at once (one more answers 429 with
Retry-After) and API_PREVIEW_TIMEOUT_SECONDS each (a statement the server cancels answers
503 with Retry-After and a message), never 500; a refused or timed-out preview frees its slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.config import ApiSettings, Settings
from app.models import Role
from tests.support.polling import until_blocked_by
from tests.support.services import connect_db

pytestmark = pytest.mark.timeout(60)

PREVIEW = "/api/v1/automation/rules/preview"
TIMEOUT_SECONDS = 1.0
BODY = {
    "name": "candidate",
    "priority": 10,
    "action": "approve",
    "conditions": {"field": "confidence", "op": "gte", "value": 0.5},
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """One preview slot and a one-second bound, so that the scenarios are quick."""
    return settings.model_copy(
        update={"api": ApiSettings(preview_concurrency=1, preview_timeout_seconds=TIMEOUT_SECONDS)}
    )


@pytest.fixture
async def viewer(auth_headers) -> dict[str, str]:
    return await auth_headers(Role.VIEWER)


@pytest.fixture
async def versions_locked(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """`versions` locked by another session: a preview's scan waits on the lock (counted by its
    statement_timeout) until the lock is released or the server cancels the scan."""
    conn = await connect_db(database_url)
    await conn.execute("BEGIN; LOCK TABLE versions IN ACCESS EXCLUSIVE MODE")
    try:
        yield conn
    finally:
        await conn.close()  # the lock goes with the session


async def test_a_preview_out_of_time_is_503_with_a_message_and_frees_its_slot(
    app_client, viewer, versions_locked
):
    """A scan the server cancels at API_PREVIEW_TIMEOUT_SECONDS answers 503 naming the bound,
    with Retry-After, within the bound plus a margin; the next preview is served."""
    started = time.monotonic()
    response = await app_client.post(PREVIEW, json=BODY, headers=viewer)
    took = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert "API_PREVIEW_TIMEOUT_SECONDS" in response.json()["detail"]
    assert int(response.headers["Retry-After"]) > 0
    assert TIMEOUT_SECONDS * 0.9 <= took < TIMEOUT_SECONDS + 2
    await versions_locked.execute("ROLLBACK")
    again = await app_client.post(PREVIEW, json=BODY, headers=viewer)
    assert again.status_code == 200, again.text


async def test_a_preview_beyond_the_slots_is_429_at_once_and_the_first_still_answers(
    app_client, viewer, versions_locked
):
    """While the one slot is busy another preview answers 429 with Retry-After at once; the
    busy one answers 200 once it can scan; then a new one is served."""
    first = asyncio.create_task(app_client.post(PREVIEW, json=BODY, headers=viewer))
    await until_blocked_by(versions_locked)
    started = time.monotonic()
    refused = await app_client.post(PREVIEW, json=BODY, headers=viewer)
    assert refused.status_code == 429, refused.text
    assert time.monotonic() - started < 0.5
    assert int(refused.headers["Retry-After"]) > 0
    assert "API_PREVIEW_CONCURRENCY" in refused.json()["detail"]
    await versions_locked.execute("ROLLBACK")
    assert (await first).status_code == 200
    assert (await app_client.post(PREVIEW, json=BODY, headers=viewer)).status_code == 200


async def test_a_statement_cancelled_elsewhere_is_503_not_500(app_client, viewer, database_url):
    """A preview whose statement an operator cancels (pg_cancel_backend, SQLSTATE 57014 as
    for a timeout) answers 503, not 500."""
    conn = await connect_db(database_url)
    try:
        await conn.execute("BEGIN; LOCK TABLE versions IN ACCESS EXCLUSIVE MODE")
        first = asyncio.create_task(app_client.post(PREVIEW, json=BODY, headers=viewer))
        await until_blocked_by(conn)
        await conn.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pg_backend_pid() = ANY (pg_blocking_pids(pid))"
        )
        response = await first
        assert response.status_code == 503, response.text
    finally:
        await conn.close()


async def test_preview_settings_are_validated_and_documented():
    """API_PREVIEW_CONCURRENCY and API_PREVIEW_TIMEOUT_SECONDS default to 2 and 5 s and refuse
    values that would remove the bound."""
    defaults = ApiSettings()
    assert (defaults.preview_concurrency, defaults.preview_timeout_seconds) == (2, 5.0)
    for bad in ({"preview_concurrency": 0}, {"preview_timeout_seconds": 0}):
        with pytest.raises(ValueError, match="greater than"):
            ApiSettings(**bad)

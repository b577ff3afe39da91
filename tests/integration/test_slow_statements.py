"""A statement the server stops at the API's command timeout is a slow request (504 naming the
route, logged as slow), not an outage; console pages answer HTML for both."""

from __future__ import annotations

import logging

import httpx
import pytest

from app.config import AuthSettings, BrokerSettings, DatabaseSettings, Settings, load_settings
from app.models import Role
from app.web.app import create_app
from tests.support.console import sign_in_as
from tests.support.processes import through_proxy
from tests.support.services import connect_db
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(60)

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
PENDING_COUNT = "/api/v1/versions/pending-count"


@pytest.fixture
def settings(database_url: str, queue_name: str) -> Settings:
    """The api with a command timeout of 1.25 s (the server stops statements at 1 s)."""
    return load_settings(
        database=DatabaseSettings(url=database_url, command_timeout_seconds=1.25),
        broker=BrokerSettings(url=AMQP_URL, queue=queue_name),
        auth=AuthSettings(disabled=False),
    )


async def test_a_statement_stopped_by_the_timeout_is_504_naming_the_route(
    app_client, auth_headers, owner_database_url, caplog
):
    """A request whose statement waits past the command timeout answers 504 with the route
    and the limit, logs "Request took too long", and never "PostgreSQL unavailable"."""
    viewer = await auth_headers(Role.VIEWER)
    blocker = await connect_db(owner_database_url)
    try:
        # What the pending count and the Overview read: the counts kept beside the versions.
        await blocker.execute("BEGIN; LOCK TABLE version_counts IN ACCESS EXCLUSIVE MODE")
        with caplog.at_level(logging.WARNING, logger="app.api"):
            response = await app_client.get(PENDING_COUNT, headers=viewer)
    finally:
        await blocker.close()
    assert response.status_code == 504, response.text
    detail = response.json()["detail"]
    assert detail.startswith("GET /api/v1/versions/pending-count took longer than 1 s"), detail
    assert "Request took too long" in caplog.text
    assert "PostgreSQL unavailable" not in caplog.text
    assert (await app_client.get(PENDING_COUNT, headers=viewer)).status_code == 200


async def test_a_console_page_answers_html_when_its_statement_is_stopped(
    app_client, pool, owner_database_url
):
    """The Overview whose statement is stopped by the timeout answers the refused page (HTML,
    504, naming the page's route), not JSON."""
    await sign_in_as(app_client, pool, Role.VIEWER)
    blocker = await connect_db(owner_database_url)
    try:
        # What the pending count and the Overview read: the counts kept beside the versions.
        await blocker.execute("BEGIN; LOCK TABLE version_counts IN ACCESS EXCLUSIVE MODE")
        page = await app_client.get("/ui")
    finally:
        await blocker.close()
    assert page.status_code == 504, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "GET /ui took longer than 1 s" in page.text


async def test_a_console_page_answers_html_when_postgresql_is_away(settings, caplog):
    """With PostgreSQL out of reach (its link cut, new ones refused), a console page answers
    the refused page (HTML, 503) and the API JSON 503 "PostgreSQL is unavailable"."""
    proxy = TcpProxy(target_port=5432)
    await proxy.start()
    app = create_app(through_proxy(settings, proxy, connect_timeout_seconds=2))
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                _, secret = await sign_in_as(client, app.state.pool, Role.VIEWER)
                await proxy.reset()
                with caplog.at_level(logging.WARNING, logger="app.api"):
                    page = await client.get("/ui")
                    api = await client.get(
                        PENDING_COUNT, headers={"Authorization": f"Bearer {secret}"}
                    )
    finally:
        await proxy.stop()
    assert page.status_code == 503, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "PostgreSQL is unavailable" in page.text
    assert api.status_code == 503, api.text
    assert api.json()["detail"].startswith("PostgreSQL is unavailable")
    assert "PostgreSQL unavailable" in caplog.text

"""Shared fixtures: a migrated template database per session, a clone of it per test, and
worker and scheduler processes for it."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aio_pika
import httpx
import pytest
from psycopg import sql

from app.config import AuthSettings, BrokerSettings, DatabaseSettings, Settings, load_settings
from app.db import Pool, create_pool, with_database
from app.models import Role
from app.services.tokens import create_token
from app.web.app import create_app
from tests.support.processes import TASKTRACKER, ServiceProcess, WorkerProcess
from tests.support.services import (
    ADMIN_URL,
    AMQP_URL,
    admin_execute,
    as_app,
    drop_database,
    migrate_as_owner,
)


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    """A database migrated once per session, cloned by every test that needs one."""
    name = f"tt_template_{uuid.uuid4().hex[:12]}"
    migrate_as_owner(with_database(ADMIN_URL, name))  # creates it
    yield name
    drop_database(name)


@pytest.fixture
def owner_database_url(template_database: str) -> Iterator[str]:
    """A fresh database of this test's own, cloned from the migrated template, as its owner
    (a superuser): for tests that arrange what the processes' role may not write."""
    name = f"tt_test_{uuid.uuid4().hex[:12]}"
    admin_execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template_database)
        )
    )
    yield with_database(ADMIN_URL, name)
    drop_database(name)


@pytest.fixture
def database_url(owner_database_url: str) -> str:
    """The test's own database as the processes' role (what DATABASE_URL names)."""
    return as_app(owner_database_url)


async def _delete_queues(names: list[str]) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)


@pytest.fixture
def queue_name() -> Iterator[str]:
    """A RabbitMQ queue of this test's own (and its dead-letter queue), deleted afterwards."""
    name = f"tt-test-{uuid.uuid4().hex[:12]}"
    yield name
    asyncio.run(_delete_queues([name, f"{name}.dead_letter"]))


@pytest.fixture
def settings(database_url: str, queue_name: str) -> Settings:
    return load_settings(
        database=DatabaseSettings(url=database_url),
        broker=BrokerSettings(url=AMQP_URL, queue=queue_name),
        auth=AuthSettings(disabled=False),
    )


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client wired to the app in this process, its lifespan running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]  # tests reach the pool through it
            yield client


@pytest.fixture
def pool(app_client: httpx.AsyncClient) -> Pool:
    pool: Pool = app_client.app.state.pool  # type: ignore[attr-defined]
    return pool


TokenFactory = Callable[[Role], Awaitable[dict[str, str]]]


@pytest.fixture
def auth_headers(pool: Pool) -> TokenFactory:
    """Make a token of a role; answers the Authorization header that carries it."""

    async def make(role: Role) -> dict[str, str]:
        new = await create_token(pool, f"{role.value}-{uuid.uuid4().hex[:8]}", role, "test")
        return {"Authorization": f"Bearer {new.secret}"}

    return make


@pytest.fixture
async def admin(auth_headers: TokenFactory) -> dict[str, str]:
    return await auth_headers(Role.ADMIN)


@pytest.fixture
async def admin_secret(settings: Settings) -> str:
    """An admin token made directly in the database (for tests that build their own app)."""
    conn_pool = await create_pool(settings.database, "tests")
    try:
        return (await create_token(conn_pool, "test-admin", Role.ADMIN, "test")).secret
    finally:
        await conn_pool.close()


@pytest.fixture
def start_worker(settings: Settings) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes for this test's database and queue; all stopped afterwards."""
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        worker = WorkerProcess(settings, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def start_scheduler(settings: Settings) -> Iterator[Callable[..., ServiceProcess]]:
    """Start scheduler replicas for this test's database and queue; all stopped afterwards.

    `tick_seconds` runs the test seam tests.support.seconds_scheduler, whose jobs fire every so
    many seconds instead of on their cron; otherwise `tasktracker scheduler` itself."""
    started: list[ServiceProcess] = []

    def start(tick_seconds: int | None = None, **env: str) -> ServiceProcess:
        if tick_seconds is None:
            argv = [TASKTRACKER, "scheduler"]
        else:
            argv = [sys.executable, "-m", "tests.support.seconds_scheduler"]
            env = {"TEST_TICK_SECONDS": str(tick_seconds), **env}
        replica = ServiceProcess(
            settings, argv, SCHEDULER_RECONCILE_SECONDS="1", LOG_LEVEL="DEBUG", **env
        )
        started.append(replica)
        return replica

    yield start
    for replica in started:
        replica.stop()

"""Shared fixtures: a migrated template database per session, a clone of it per test."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import httpx
import psycopg
import pytest
from psycopg import sql

from app.config import AuthSettings, BrokerSettings, DatabaseSettings, Settings, load_settings
from app.db import Pool, connect, create_pool, with_database
from app.migrate import migrate
from app.models import Role
from app.services.tokens import create_token
from app.web.app import create_app

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# The processes' role (SPEC section 3, least privilege): `migrate` runs as ADMIN_URL's role (the
# owner) and creates this one; tests and the processes they start connect as it.
APP_ROLE = os.environ.get("TEST_APP_ROLE", "tasktracker_test_app")
APP_PASSWORD = "test-app-password"


def as_app(url: str) -> str:
    """The same database as the processes' role."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{APP_ROLE}:{APP_PASSWORD}@{host}"))


def migrate_as_owner(url: str) -> None:
    """What `tasktracker migrate` does with MIGRATE_DATABASE_URL = `url` (the owner) and
    DATABASE_URL = the same database as the processes' role."""
    migrate(DatabaseSettings(url=as_app(url)), owner_url=url)


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


def drop_database(name: str) -> None:
    """Drop the database `name` if it exists, ending its sessions."""
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def connect_db(url: str) -> asyncpg.Connection:
    """A connection set up like the service's own (jsonb arrives as Python objects)."""
    return await connect(DatabaseSettings(url=url), "tests")


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
    _admin(
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


AMQP_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


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

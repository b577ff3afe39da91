"""The services tests run against: PostgreSQL (as its owner and as the processes' role) and
RabbitMQ, from TEST_DATABASE_URL, TEST_APP_ROLE and TEST_RABBITMQ_URL."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psycopg
from psycopg import sql

from app.config import DatabaseSettings
from app.db import connect
from app.migrate import migrate

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


def admin_execute(statement: sql.Composable) -> None:
    """Run `statement` on the server as ADMIN_URL's role (the owner), outside a transaction."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


def drop_database(name: str) -> None:
    """Drop the database `name` if it exists, ending its sessions."""
    admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def connect_db(url: str) -> asyncpg.Connection:
    """A connection set up like the service's own (jsonb arrives as Python objects)."""
    return await connect(DatabaseSettings(url=url), "tests")


AMQP_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")

"""Connection pools and per-connection setup; the only place that opens PostgreSQL connections.
Also the one place that reads the driver's errors (see "Driver errors" below): every other
part names them by the words defined here."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import asyncpg.pool

from app.config import DatabaseSettings
from app.errors import ConflictError, InvalidInputError

# A connection of its own or one lent by a pool: repositories accept either. The driver's
# classes are generic only in their type stubs, hence the two spellings.
if TYPE_CHECKING:
    Connection: TypeAlias = (
        asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
    )
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:
    Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
    Pool = asyncpg.Pool


def statement_timeout_within(command_timeout_seconds: float) -> int:
    """The server-side statement_timeout (ms) that stops a slow statement a little before the
    client's command timeout would give up on it (by up to a second): a slow statement is then
    StatementCancelledError (it took too long), and the client's TimeoutError keeps meaning a
    server that does not answer."""
    margin = min(1.0, command_timeout_seconds * 0.2)
    return max(1, round((command_timeout_seconds - margin) * 1000))


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb arrives as Python objects and leaves as JSON text, for every query on the pool.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def _server_settings(application_name: str, statement_timeout_ms: int = 0) -> dict[str, str]:
    return {
        "application_name": application_name,
        "statement_timeout": str(statement_timeout_ms),  # 0: none
        # asyncpg prepares every statement; after five runs PostgreSQL may switch to a generic
        # plan that guesses array and batch sizes. For statements over parameter arrays that
        # guess turns a 10,000-item insert from 0.3 s into 20 s (nested loops), so plan each
        # execution with its real parameters.
        "plan_cache_mode": "force_custom_plan",
    }


async def create_pool(
    settings: DatabaseSettings,
    application_name: str,
    *,
    statement_timeout_ms: int = 0,
    max_size: int | None = None,
    command_timeout_seconds: float | None = None,
) -> Pool:
    """Open a pool; connections set up with jsonb codecs and a name seen in pg_stat_activity.

    A statement_timeout set here is a server setting, so it survives the pool's resets."""
    return await asyncpg.create_pool(
        settings.url.get_secret_value(),
        min_size=settings.pool_min_size,
        max_size=max_size or settings.pool_max_size,
        timeout=settings.connect_timeout_seconds,
        init=_init_connection,
        server_settings=_server_settings(application_name, statement_timeout_ms),
        command_timeout=command_timeout_seconds or settings.command_timeout_seconds,
    )


async def connect(
    settings: DatabaseSettings, application_name: str
) -> asyncpg.Connection[asyncpg.Record]:
    """Open one connection set up like the pool's (for the CLI and dedicated sessions)."""
    conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(
        settings.url.get_secret_value(),
        timeout=settings.connect_timeout_seconds,
        server_settings=_server_settings(application_name),
    )
    await _init_connection(conn)
    return conn


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    """A pooled connection inside one transaction: committed on success, rolled back on error."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn


def database_name(url: str) -> str:
    """The database a URL points at."""
    return urlsplit(url).path.lstrip("/") or "postgres"


def with_database(url: str, name: str) -> str:
    """The same URL pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def sqlalchemy_url(url: str, driver: str = "psycopg") -> str:
    """The URL in SQLAlchemy's form, with a synchronous driver (migrations, job store)."""
    scheme, rest = url.split("://", 1)
    del scheme
    return f"postgresql+{driver}://{rest}"


def quote_ident(name: str) -> str:
    """Quote an identifier we generated ourselves (database names in admin commands)."""
    return '"' + name.replace('"', '""') + '"'


# Driver errors: what asyncpg raises, in the service's words.

DATABASE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
"""PostgreSQL unreachable, restarting, its link gone, or a statement refused: what a loop that
must outlive the database (the scheduler's, the leader's, a readiness probe) catches and
tries again."""

CONNECTION_LOST_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
)
"""PostgreSQL unreachable, restarting, or a connection gone mid-request: a request may
succeed later (the api answers 503 with Retry-After, not 500)."""

CONNECTION_UNUSABLE_ERRORS: tuple[type[Exception], ...] = (
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
)
"""Errors after which a connection cannot be trusted for further statements (the doctor
stops using it)."""

StatementCancelledError: type[asyncpg.QueryCanceledError] = asyncpg.QueryCanceledError
"""A statement cancelled by its statement_timeout (or by an operator): SQLSTATE 57014, a
PostgresError, not a TimeoutError."""


@contextmanager
def translated_errors(conflict: str = "conflicts with an existing object") -> Iterator[None]:
    """Turn the driver's constraint errors into the service's own (ConflictError,
    InvalidInputError)."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise ConflictError(conflict) from exc
    except asyncpg.CheckViolationError as exc:
        raise InvalidInputError(f"refused by the database: {exc.constraint_name}") from exc

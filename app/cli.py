"""The `tasktracker` command: run the processes, migrate, manage tokens."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import asyncpg
import typer

from app.config import Settings, load_settings
from app.db import create_pool
from app.errors import AppError, ConfigurationError
from app.logging import configure_logging
from app.models import Role

T = TypeVar("T")

cli = typer.Typer(
    name="tasktracker",
    help="Task Tracker automation service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
token_cli = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
cli.add_typer(token_cli, name="token")

CLI_ACTOR = "cli"


def _settings(*, server: bool = False) -> Settings:
    """Settings, or exit 2 naming the bad variable. Servers log to stdout (what `docker logs`
    shows); the other commands keep stdout for their results and log to stderr."""
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        typer.echo(f"tasktracker: {exc.message}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log, stream=None if server else sys.stderr)
    return settings


def _run(work: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(work())  # type: ignore[arg-type]  # any awaitable from an async def
    except AppError as exc:
        typer.echo(f"tasktracker: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        # The URL (and its password) stays out of the message: only the driver's own words.
        typer.echo(f"tasktracker: cannot use PostgreSQL: {exc}", err=True)
        raise typer.Exit(1) from None


@cli.command()
def api(
    host: Annotated[str | None, typer.Option(help="address to listen on (API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on (API_PORT)")] = None,
) -> None:
    """Serve the HTTP API until interrupted."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from app.api import create_app  # noqa: PLC0415 - keeps `tasktracker token` light

    settings = _settings(server=True)
    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_config=None,
        proxy_headers=True,
    )


@cli.command()
def worker() -> None:
    """Consume runs from RabbitMQ and execute them until SIGTERM or Ctrl-C."""
    from broker.worker import serve_worker  # noqa: PLC0415 - only this command needs it

    settings = _settings(server=True)
    _run(lambda: serve_worker(settings))


@cli.command()
def scheduler() -> None:
    """Run a scheduler replica (leader or standby) until SIGTERM or Ctrl-C."""
    from scheduler.daemon import serve_scheduler  # noqa: PLC0415 - only this command needs it

    settings = _settings(server=True)
    _run(lambda: serve_scheduler(settings))


@cli.command()
def trigger(
    wait: Annotated[bool, typer.Option("--wait", help="wait for the run to finish")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="decide nothing, report")] = False,
    reason: Annotated[str | None, typer.Option(help="why, for the audit log")] = None,
) -> None:
    """Start an automation run now (or join the active one), as POST /automation/trigger does."""
    from app.automation.trigger import trigger_run  # noqa: PLC0415
    from app.models import RunView, TriggerRequest  # noqa: PLC0415
    from app.repositories.runs import get_run  # noqa: PLC0415
    from broker import create_broker  # noqa: PLC0415
    from broker.connection import BrokerConnection  # noqa: PLC0415

    settings = _settings()

    async def work() -> RunView:
        pool = await create_pool(settings.database, "tasktracker-cli")
        connection = BrokerConnection(
            create_broker(settings.broker), settings.broker.publish_timeout_seconds
        )
        connection.start()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.broker.publish_timeout_seconds):
                    await connection.ready.wait()
            answer = await trigger_run(
                pool,
                connection,
                TriggerRequest(dry_run=dry_run, reason=reason),
                actor=CLI_ACTOR,
                token_name=CLI_ACTOR,
            )
            joined = " (joined the active run)" if answer.coalesced else ""
            typer.echo(f"run {answer.run_id} {answer.state.value}{joined}", err=True)
            while True:
                async with pool.acquire() as conn:
                    view = RunView.of(await get_run(conn, answer.run_id))
                if not wait or view.state.is_final:
                    return view
                typer.echo(f"  {view.state.value}: {view.evaluated} evaluated", err=True)
                await asyncio.sleep(0.5)
        finally:
            await connection.close()
            await pool.close()

    view = _run(work)
    typer.echo(view.model_dump_json(indent=2))
    if wait and view.state.value == "FAILED":
        raise typer.Exit(1)


@cli.command()
def migrate() -> None:
    """Create the database if needed and apply every migration (safe to run again)."""
    from app.migrate import migrate as run_migrations  # noqa: PLC0415 - alembic is heavy

    settings = _settings()
    run_migrations(settings.database)
    typer.echo("database schema is up to date")


@token_cli.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="who uses the token; shown in the audit log")],
    role: Annotated[Role, typer.Option(help="what the token may do")] = Role.VIEWER,
) -> None:
    """Create a token and print its secret (the only time it is shown) on stdout."""
    from app.services.tokens import create_token  # noqa: PLC0415

    settings = _settings()

    async def work() -> str:
        pool = await create_pool(settings.database, "tasktracker-cli")
        try:
            return (await create_token(pool, name, role, CLI_ACTOR)).secret
        finally:
            await pool.close()

    typer.echo(_run(work))


@token_cli.command("list")
def token_list() -> None:
    """List tokens (names, roles, state; never the secrets)."""
    from app.services.tokens import list_tokens  # noqa: PLC0415

    settings = _settings()

    async def work() -> None:
        pool = await create_pool(settings.database, "tasktracker-cli")
        try:
            for token in await list_tokens(pool):
                state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
                typer.echo(f"{token.name}\t{token.role.value}\t{state}")
        finally:
            await pool.close()

    _run(work)


@token_cli.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="the token's name")]) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from app.services.tokens import revoke_token  # noqa: PLC0415

    settings = _settings()

    async def work() -> None:
        pool = await create_pool(settings.database, "tasktracker-cli")
        try:
            await revoke_token(pool, name, CLI_ACTOR)
        finally:
            await pool.close()

    _run(work)
    typer.echo(f"revoked {name}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tasktracker")


if __name__ == "__main__":
    main()

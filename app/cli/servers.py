"""The processes: api, worker, scheduler, all three in one (dev), and migrate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Annotated

import typer

from app.cli.common import cli, run, settings
from app.config import Settings
from app.errors import ConfigurationError
from app.loops import watched

logger = logging.getLogger(__name__)


@cli.command()
def api(
    host: Annotated[str | None, typer.Option(help="address to listen on (API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on (API_PORT)")] = None,
) -> None:
    """Serve the HTTP API until interrupted."""
    import uvicorn  # noqa: PLC0415 - only the servers need it

    from app.web.app import create_app  # noqa: PLC0415 - keeps the other commands light

    loaded = settings(server=True)
    uvicorn.run(
        create_app(loaded),
        host=host or loaded.api.host,
        port=port or loaded.api.port,
        log_config=None,
        proxy_headers=True,
    )


@cli.command()
def worker() -> None:
    """Consume runs from RabbitMQ and execute them until SIGTERM or Ctrl-C."""
    from broker.worker import serve_worker  # noqa: PLC0415 - only this command needs it

    loaded = settings(server=True)
    run(lambda: serve_worker(loaded))


@cli.command()
def scheduler() -> None:
    """Run a scheduler replica (leader or standby) until SIGTERM or Ctrl-C."""
    from scheduler.daemon import serve_scheduler  # noqa: PLC0415 - only this command needs it

    loaded = settings(server=True)
    run(lambda: serve_scheduler(loaded))


async def serve_dev(loaded: Settings, host: str, port: int) -> None:
    """The api, a worker and a scheduler in one event loop; Ctrl-C stops all three."""
    import uvicorn  # noqa: PLC0415

    from app.web.app import create_app  # noqa: PLC0415
    from broker.worker import serve_worker  # noqa: PLC0415
    from scheduler.daemon import serve_scheduler  # noqa: PLC0415

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the signals stop all three parts: handled below, not by uvicorn alone

    server = Server(uvicorn.Config(create_app(loaded), host=host, port=port, log_config=None))
    stop = asyncio.Event()

    def shut_down() -> None:
        stop.set()
        server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, shut_down)
    background = [
        watched(asyncio.create_task(serve_worker(loaded, stop), name="worker"), logger),
        watched(asyncio.create_task(serve_scheduler(loaded, stop), name="scheduler"), logger),
    ]
    try:
        await server.serve()  # returns after Ctrl-C or SIGTERM
    finally:
        stop.set()
        for task in background:
            with contextlib.suppress(Exception):  # logged when it died
                await task


@cli.command()
def dev(
    host: Annotated[str | None, typer.Option(help="address to listen on (API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on (API_PORT)")] = None,
) -> None:
    """api + scheduler + worker in one process, for a laptop; Ctrl-C stops them cleanly."""
    loaded = settings(server=True)
    run(lambda: serve_dev(loaded, host or loaded.api.host, port or loaded.api.port))


@cli.command()
def migrate() -> None:
    """Create the database if needed and apply every migration (safe to run again)."""
    from app.migrate import migrate as run_migrations  # noqa: PLC0415 - alembic is heavy

    loaded = settings()
    owner = loaded.migrate_database.url
    try:
        run_migrations(
            loaded.database,
            owner_url=owner.get_secret_value() if owner is not None else None,
            retention_days=loaded.audit.retention_days,
        )
    except ConfigurationError as exc:
        typer.echo(f"tasktracker: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo("database schema is up to date")

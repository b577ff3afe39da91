"""What every `tasktracker` command shares: the Typer app, settings, error handling, output."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from app.config import Settings, load_settings
from app.db import DATABASE_ERRORS, Pool, create_pool
from app.errors import AppError, ConfigurationError
from app.logging import configure_logging

T = TypeVar("T")

# Actions taken from the command line are audited with this actor.
CLI_ACTOR = "cli"

cli = typer.Typer(
    name="tasktracker",
    help="Task Tracker automation service: run its processes, operate it, troubleshoot it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

JsonOutput = Annotated[
    bool, typer.Option("--json", help="print JSON on stdout (for scripts) instead of a table")
]


def settings(*, server: bool = False) -> Settings:
    """Settings, or exit 2 naming the bad variable. Servers log to stdout (what `docker logs`
    shows); the other commands keep stdout for their results and log to stderr."""
    try:
        loaded = load_settings()
    except ConfigurationError as exc:
        typer.echo(f"tasktracker: {exc.message}", err=True)
        raise typer.Exit(2) from None
    configure_logging(loaded.log, stream=None if server else sys.stderr)
    return loaded


def run(work: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; the service's errors and connection failures become exit code 1 with
    a message (never a traceback, never a URL with its password)."""
    try:
        return asyncio.run(work())  # type: ignore[arg-type]  # any awaitable from an async def
    except AppError as exc:
        typer.echo(f"tasktracker: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except DATABASE_ERRORS as exc:
        typer.echo(f"tasktracker: cannot use PostgreSQL: {exc}", err=True)
        raise typer.Exit(1) from None


def with_pool(loaded: Settings, work: Callable[[Pool], Awaitable[T]]) -> T:
    """Run `work` with a small pool that is closed afterwards."""

    async def scoped() -> T:
        pool = await create_pool(loaded.database, "tasktracker-cli", max_size=2)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return run(scoped)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool) -> None:
    """Rows as JSON (`--json`), a table on a terminal, or tab-separated lines otherwise."""
    if as_json:
        typer.echo(json.dumps(list(rows), default=str, indent=2))
        return
    if sys.stdout.isatty():
        table = Table(*columns)
        for row in rows:
            table.add_row(*(_cell(row.get(column)) for column in columns))
        Console().print(table)
        return
    for row in rows:
        typer.echo("\t".join(_cell(row.get(column)) for column in columns))


def emit_one(row: dict[str, Any], *, as_json: bool) -> None:
    """One object: JSON, or a two-column table of its fields."""
    if as_json:
        typer.echo(json.dumps(row, default=str, indent=2))
        return
    emit([{"field": k, "value": v} for k, v in row.items()], ["field", "value"], as_json=False)

"""The audit log: `tasktracker audit verify` recomputes its hash chain."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from app.audit.report import VerifyReport, summary_lines
from app.audit.verify import verify_chain
from app.cli.common import JsonOutput, cli, run, settings
from app.db import connect

audit = typer.Typer(help="The audit log: verify its hash chain.", no_args_is_help=True)
cli.add_typer(audit, name="audit")


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


@audit.command("verify")
def verify(
    since: Annotated[
        dt.datetime | None,
        typer.Option(
            help="start at the first seal sealed at or after this time (UTC if no offset)"
        ),
    ] = None,
    expect_head: Annotated[
        str | None,
        typer.Option(help="a head hash recorded earlier: fail unless it is still in the chain"),
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first entry or seal that was
    changed, removed or inserted out of order."""
    loaded = settings()

    async def work() -> VerifyReport:
        conn = await connect(loaded.database, "tasktracker-cli")
        try:
            return await verify_chain(
                conn, since=_aware(since), expect_head=expect_head.lower() if expect_head else None
            )
        finally:
            await conn.close()

    report = run(work)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for line in summary_lines(report):
            typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)

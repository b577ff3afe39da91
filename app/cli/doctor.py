"""`tasktracker doctor`: the troubleshooting checklist, one line per check."""

from __future__ import annotations

import typer

from app.cli.common import JsonOutput, cli, emit, run, settings


@cli.command()
def doctor(as_json: JsonOutput = False) -> None:
    """Check the service for real: OK, WARN or FAIL per check with the fix to try. Exits 1
    when a check FAILs."""
    from app.doctor import Status, run_checks  # noqa: PLC0415

    loaded = settings()
    checks = run(lambda: run_checks(loaded))
    rows = [
        {"status": c.status.value, "check": c.name, "detail": c.detail, "fix": c.fix}
        for c in checks
    ]
    emit(rows, ["status", "check", "detail", "fix"], as_json=as_json)
    if any(c.status is Status.FAIL for c in checks):
        raise typer.Exit(1)

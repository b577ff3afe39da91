"""The `tasktracker` command: one entry point for running and operating the service.

Each module registers its commands on the shared Typer app."""

from __future__ import annotations

from app.cli import audit, doctor, jobs, rules, runs, servers, tokens
from app.cli.common import cli

__all__ = ["audit", "cli", "doctor", "jobs", "main", "rules", "runs", "servers", "tokens"]


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="tasktracker")

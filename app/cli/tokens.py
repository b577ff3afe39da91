"""API tokens: create, list, revoke."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import CLI_ACTOR, JsonOutput, cli, emit, settings, with_pool
from app.models import Role

tokens = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
cli.add_typer(tokens, name="token")


@tokens.command("create")
def create(
    name: Annotated[str, typer.Option(help="who uses the token; shown in the audit log")],
    role: Annotated[Role, typer.Option(help="what the token may do")] = Role.VIEWER,
) -> None:
    """Create a token and print its secret (the only time it is shown) on stdout."""
    from app.services.tokens import create_token  # noqa: PLC0415

    new = with_pool(settings(), lambda pool: create_token(pool, name, role, CLI_ACTOR))
    typer.echo(new.secret)


@tokens.command("list")
def list_(as_json: JsonOutput = False) -> None:
    """List tokens (names, roles, state; never the secrets)."""
    from app.services.tokens import list_tokens  # noqa: PLC0415

    rows = [
        {
            "name": token.name,
            "role": token.role.value,
            "state": f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active",
        }
        for token in with_pool(settings(), list_tokens)
    ]
    emit(rows, ["name", "role", "state"], as_json=as_json)


@tokens.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="the token's name")]) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from app.services.tokens import revoke_token  # noqa: PLC0415

    with_pool(settings(), lambda pool: revoke_token(pool, name, CLI_ACTOR))
    typer.echo(f"revoked {name}")

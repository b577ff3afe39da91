"""Rules as files: list, apply (idempotent by name), export (YAML or JSON)."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import TypeAdapter, ValidationError

from app.cli.common import CLI_ACTOR, JsonOutput, cli, emit, settings, with_pool
from app.db import Pool
from app.models import Rule
from app.rules.models import RuleBody

rules = typer.Typer(help="Automation rules: list, apply FILE, export.", no_args_is_help=True)
cli.add_typer(rules, name="rules")

_BODIES = TypeAdapter(list[RuleBody])


class Format(enum.StrEnum):
    YAML = "yaml"
    JSON = "json"


async def _live_rules(pool: Pool) -> list[Rule]:
    from app.repositories.rules import list_rules  # noqa: PLC0415

    async with pool.acquire() as conn:
        return await list_rules(conn, after=None, include_deleted=False, limit=100_000)


def _body(rule: Rule, *more: str) -> dict[str, Any]:
    """The rule as `rules apply` takes it (and `more` of its fields after)."""
    from app.repositories.rules import BODY_FIELDS, rule_dict  # noqa: PLC0415

    return rule_dict(rule, (*BODY_FIELDS, *more))


@rules.command("list")
def list_(as_json: JsonOutput = False) -> None:
    """Live rules in evaluation order."""
    found = with_pool(settings(), _live_rules)
    rows = [
        _body(rule, "id", "revision")
        if as_json
        else {
            "id": rule.id,
            "priority": rule.priority,
            "name": rule.name,
            "action": rule.action.value,
            "enabled": rule.enabled,
            "revision": rule.revision,
        }
        for rule in found
    ]
    emit(rows, ["id", "priority", "name", "action", "enabled", "revision"], as_json=as_json)


def _read(path: Path) -> list[RuleBody]:
    """Rule bodies from a YAML or JSON file: a list, or {"rules": [...]}."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except (OSError, yaml.YAMLError) as exc:
        typer.echo(f"tasktracker: cannot read {path}: {exc}", err=True)
        raise typer.Exit(1) from None
    if isinstance(document, dict) and "rules" in document:
        document = document["rules"]
    try:
        return _BODIES.validate_python(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"rules[{'.'.join(map(str, e['loc']))}]: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        typer.echo(f"tasktracker: {path} is not a list of rules: {problems}", err=True)
        raise typer.Exit(1) from None


@rules.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="YAML or JSON: a list of rules, or {rules: [...]}")],
    as_json: JsonOutput = False,
) -> None:
    """Create or update rules by name to match the file (rules it does not name are kept);
    running it again changes nothing. Prints what changed."""
    from app.services.rules import apply_rules  # noqa: PLC0415

    bodies = _read(file)
    names = [body.name for body in bodies]
    if len(set(names)) != len(names):
        typer.echo(f"tasktracker: {file} names a rule twice", err=True)
        raise typer.Exit(1)
    outcomes = with_pool(settings(), lambda pool: apply_rules(pool, bodies, CLI_ACTOR))
    emit([{"name": n, "change": c} for n, c in outcomes], ["change", "name"], as_json=as_json)


@rules.command("export")
def export(
    output_format: Annotated[Format, typer.Option("--format", help="yaml or json")] = Format.YAML,
) -> None:
    """Print the live rules as a file `rules apply` takes back unchanged."""
    bodies = [_body(rule) for rule in with_pool(settings(), _live_rules)]
    if output_format is Format.JSON:
        typer.echo(json.dumps(bodies, indent=2))
    else:
        typer.echo(yaml.safe_dump(bodies, sort_keys=False, allow_unicode=True), nl=False)

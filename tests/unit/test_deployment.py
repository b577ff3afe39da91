"""Static properties of the deployment files that a running stack cannot show (pinned bases,
required secrets, limits on every service). The deployment itself is tested on a real Docker
engine by tests/containers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]


class ComposeLoader(yaml.SafeLoader):
    """YAML as compose reads it, including its `!reset` tag."""


ComposeLoader.add_constructor("!reset", lambda loader, node: None)


def load(name: str) -> dict:
    return yaml.load((ROOT / name).read_text(), Loader=ComposeLoader)  # noqa: S506 - a SafeLoader


@pytest.fixture(scope="module")
def compose() -> dict:
    return load("compose.yaml")


def test_secrets_are_required_and_rabbitmq_has_its_own_user(compose):
    """Passwords and the broker user come from .env with ${VAR:?}; `guest` appears nowhere;
    .env.example names a user other than guest."""
    text = (ROOT / "compose.yaml").read_text()
    for variable in (
        "POSTGRES_PASSWORD",
        "APP_DATABASE_PASSWORD",
        "RABBITMQ_USER",
        "RABBITMQ_PASSWORD",
    ):
        assert re.search(r"\$\{" + variable + r":\?", text), variable
    assert "guest" not in text.replace("`guest`", "")
    example = (ROOT / ".env.example").read_text()
    user = re.search(r"^RABBITMQ_USER=(.*)$", example, re.MULTILINE)
    assert user is not None
    assert user.group(1) not in ("", "guest")


def test_only_the_migration_connects_as_the_owner(compose):
    """The api, scheduler and worker connect as a role of their own; only the migrate
    service is given the owner's URL and password (SPEC section 3, least privilege)."""
    services = compose["services"]
    migrate = services["migrate"]["environment"]
    assert migrate["MIGRATE_DATABASE_URL"].startswith("postgresql://postgres@")
    assert "POSTGRES_PASSWORD" in migrate["MIGRATE_DATABASE_PASSWORD"]
    for name in ("migrate", "api", "scheduler", "worker"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgresql://${APP_DATABASE_USER"), name
        assert "APP_DATABASE_PASSWORD" in environment["DATABASE_PASSWORD"], name
    for name in ("api", "scheduler", "worker"):
        assert "MIGRATE_DATABASE_URL" not in services[name]["environment"], name


def test_resource_limits_on_every_service(compose):
    for name, service in compose["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert limits["cpus"], name
        assert limits["memory"], name


def test_dockerfile_is_multi_stage_pinned_non_root_with_a_postgres_client():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(stages) >= 2
    for image in stages:
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", image), f"unpinned base {image}"
    assert "postgresql-client" in text
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user
    assert user[-1] not in ("root", "0")
    assert "--frozen" in text  # the lock file decides the versions

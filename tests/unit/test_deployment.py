"""The deployment files, checked by parsing (no Docker engine runs here): compose.yaml,
compose.scale.yaml and the Dockerfile say what SPEC section 8 and the operators' guide say,
and each container runs a command the test suite runs natively."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]

# The commands the containers run, each started natively by a test: migrate by test_cli,
# api and dev by tests/e2e/test_processes.py, the scheduler by tests/e2e/test_scheduler.py,
# the worker by tests/e2e/test_run_pipeline.py.
EXERCISED = {
    ("tasktracker", "migrate"),
    ("tasktracker", "api"),
    ("tasktracker", "scheduler"),
    ("tasktracker", "worker"),
}


class ComposeLoader(yaml.SafeLoader):
    """YAML as compose reads it, including its `!reset` tag."""


ComposeLoader.add_constructor("!reset", lambda loader, node: None)


def load(name: str) -> dict:
    return yaml.load((ROOT / name).read_text(), Loader=ComposeLoader)  # noqa: S506 - a SafeLoader


@pytest.fixture(scope="module")
def compose() -> dict:
    return load("compose.yaml")


def test_project_services_and_containers(compose):
    """Project task-tracker; the six services; the three named containers; the api on 80."""
    assert compose["name"] == "task-tracker"
    services = compose["services"]
    assert set(services) == {"postgres", "rabbitmq", "migrate", "api", "scheduler", "worker"}
    names = {name: s.get("container_name") for name, s in services.items()}
    assert names["api"] == "task-tracker-api"
    assert names["scheduler"] == "task-tracker-scheduler"
    assert names["worker"] == "task-tracker-worker"
    assert services["api"]["ports"] == ["80:8000"]
    assert services["api"]["environment"]["API_HOST"] == "0.0.0.0"  # noqa: S104 - in a container


def test_each_container_runs_a_command_the_tests_run(compose):
    for name in ("migrate", "api", "scheduler", "worker"):
        assert tuple(compose["services"][name]["command"]) in EXERCISED, name
    assert compose["services"]["migrate"]["restart"] == "no"


def test_health_gated_start(compose):
    """postgres and rabbitmq are health-checked; migrate waits for postgres; the processes
    wait for a finished migration and healthy dependencies."""
    services = compose["services"]
    for name in ("postgres", "rabbitmq", "api"):
        assert services[name]["healthcheck"]["test"], name
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "tasktracker"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("api", "scheduler", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["rabbitmq"] == {"condition": "service_healthy"}, name


def test_secrets_are_required_and_rabbitmq_has_its_own_user(compose):
    """Passwords and the broker user come from .env with ${VAR:?}; `guest` appears nowhere;
    .env.example names a user other than guest."""
    text = (ROOT / "compose.yaml").read_text()
    for variable in ("POSTGRES_PASSWORD", "RABBITMQ_USER", "RABBITMQ_PASSWORD"):
        assert re.search(r"\$\{" + variable + r":\?", text), variable
    assert "guest" not in text.replace("`guest`", "")
    example = (ROOT / ".env.example").read_text()
    user = re.search(r"^RABBITMQ_USER=(.*)$", example, re.MULTILINE)
    assert user is not None
    assert user.group(1) not in ("", "guest")


def test_psql_works_in_the_api_container(compose):
    """`docker exec task-tracker-api psql -U postgres -d tasktracker -c ...` finds the server
    and its password in the container's environment."""
    environment = compose["services"]["api"]["environment"]
    assert environment["PGHOST"] == "postgres"
    assert environment["PGUSER"] == "postgres"
    assert environment["PGPASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_resource_limits_on_every_service(compose):
    for name, service in compose["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert limits["cpus"], name
        assert limits["memory"], name


def test_the_scale_override_lets_workers_scale():
    """compose.scale.yaml resets the worker's fixed name (one container per name)."""
    override = load("compose.scale.yaml")
    assert override["services"]["worker"] == {"container_name": None}
    assert "!reset" in (ROOT / "compose.scale.yaml").read_text()


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

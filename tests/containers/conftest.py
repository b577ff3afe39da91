"""The compose stack on a real Docker engine: the image built from this checkout, every service
up and healthy, and the operators' commands run verbatim against it.

The engine and the stand-in images come from scripts/docker-engine.sh (idempotent). The stack
runs from a copy of the checkout in a temporary folder with its own `.env`, as an operator's
would; it is taken down with its volumes after the module's tests, failed or not, and the teardown
checks that nothing of it is left.
"""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "task-tracker"  # compose.yaml's `name:`
HOST_CA_FOLDER = Path("/usr/local/share/ca-certificates")

# Secrets as operators make them: `openssl rand -base64` output and worse.
POSTGRES_PASSWORD = "Xk7/q+Zr9w=@:%2F"
# The processes' own role's password (the migrate service creates the role with it).
APP_DATABASE_PASSWORD = "Ap9/p+Qs3=@:%2Fx"
RABBITMQ_PASSWORD = "Rb/+=@:%41z"
# Settings an operator changes in .env; each must reach the processes (checked by the tests).
ENV_CHANGES = {"LOG_LANGUAGE": "uk", "API_MAX_BODY_BYTES": "65536"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Stack:
    """A running stack, its folder and its published port, and ways to talk to it."""

    folder: Path
    port: int
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=f"http://localhost:{self.port}", timeout=30)

    def sh(self, command: str, timeout: float = 120, check: bool = True, stdin: str = "") -> str:
        """Run a shell command as an operator types it, in the stack's folder; its stdout."""
        done = subprocess.run(  # noqa: S602 - the operators' commands are shell lines
            command,
            shell=True,
            cwd=self.folder,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            executable="/bin/bash",
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"`{command}` exited {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def compose(self, *args: str, timeout: float = 600) -> str:
        return self.sh("docker compose " + " ".join(shlex.quote(a) for a in args), timeout)

    def psql(self, query: str, **variables: object) -> str:
        """A query's rows, read with psql inside the api container; `variables` are psql
        variables (`:'name'` in the query quotes one as a literal)."""
        flags = " ".join(f"-v {shlex.quote(f'{k}={v}')}" for k, v in variables.items())
        return self.sh(
            f"docker exec -i task-tracker-api psql -U postgres -d tasktracker -At "
            f"-v ON_ERROR_STOP=1 {flags} -f -",
            stdin=query,
        ).strip()

    def wait_until(
        self, what: str, probe: Callable[[], object], timeout: float = 120, every: float = 0.2
    ) -> object:
        """Poll `probe` until it answers something true; fail naming `what` past `timeout`."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = probe()
            except (httpx.HTTPError, AssertionError) as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(every)
        raise AssertionError(f"timed out waiting for {what}; last answer: {last!r}")


_DOWN = "docker compose -f compose.yaml -f compose.scale.yaml down -v --remove-orphans --timeout 20"


def _leftovers() -> list[str]:
    """Containers, volumes and networks of the project that still exist."""
    found = []
    for kind in ("container", "volume", "network"):
        args = [
            "docker",
            kind,
            "ls",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
        ]
        if kind == "container":
            args.insert(3, "-a")
        done = subprocess.run(args, capture_output=True, text=True, check=True)  # noqa: S603
        listed = done.stdout.split()
        found += [f"{kind} {name}" for name in listed]
    return found


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A Docker engine with Compose v2 and the stand-in images (prepared if missing)."""
    script = str(ROOT / "scripts" / "docker-engine.sh")
    subprocess.run([script], check=True, timeout=1200)  # noqa: S603 - the project's own script


@pytest.fixture(scope="module")
def stack_folder(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Path:
    """A copy of this checkout (what git tracks, and new files it does not ignore) with an
    operator's .env: special-character secrets, a free port, some settings changed."""
    folder = tmp_path_factory.mktemp("stack")
    git_ls_files = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(  # noqa: S603 - a fixed argv
        git_ls_files,
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            target = folder / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    # This machine's egress re-signs TLS: the build trusts its CAs through the optional folder.
    for certificate in HOST_CA_FOLDER.glob("*.crt"):
        shutil.copy(certificate, folder / "extra-ca-certificates" / certificate.name)
    env = (ROOT / ".env.example").read_text()
    values = {
        "POSTGRES_PASSWORD": POSTGRES_PASSWORD,
        "APP_DATABASE_PASSWORD": APP_DATABASE_PASSWORD,
        "RABBITMQ_PASSWORD": RABBITMQ_PASSWORD,
        "TASKTRACKER_HTTP_PORT": str(_free_port()),
        **ENV_CHANGES,
    }
    lines = [line for line in env.splitlines() if line.split("=", 1)[0] not in values] + [
        f"{key}={value}" for key, value in values.items()
    ]
    (folder / ".env").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def stack(stack_folder: Path) -> Iterator[Stack]:
    """The whole stack built and up (`docker compose up -d --wait`); down with its volumes at
    the end, also when a test failed."""
    env = dict(
        line.split("=", 1)
        for line in (stack_folder / ".env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    running = Stack(stack_folder, int(env["TASKTRACKER_HTTP_PORT"]))
    try:
        # A stack an interrupted session left behind (same project name) goes first.
        running.sh(_DOWN, timeout=300, check=False)
        running.sh("DOCKER_BUILDKIT=0 docker compose build", timeout=1200)
        running.sh("docker compose up -d --wait --pull never", timeout=600)
        yield running
    finally:
        running.http.close()
        logs = running.sh("docker compose logs --no-color --tail=200", check=False)
        (stack_folder / "compose.log").write_text(logs)
        running.sh(_DOWN, timeout=300, check=False)
    assert _leftovers() == [], "docker compose down -v left these behind"


@pytest.fixture(scope="module")
def admin_token(stack: Stack) -> str:
    """A token made the operators' way: `docker exec task-tracker-api tasktracker token create`."""
    name = f"ops-{uuid.uuid4().hex[:6]}"
    return stack.sh(
        f"docker exec task-tracker-api tasktracker token create --name {name} --role admin"
    ).strip()


def run_of(stack: Stack, token: str, run_id: str) -> dict[str, object]:
    answer = stack.http.get(
        f"/api/v1/automation/runs/{run_id}", headers={"Authorization": f"Bearer {token}"}
    )
    answer.raise_for_status()
    run: dict[str, object] = answer.json()
    return run


def trigger_with_curl(stack: Stack, token: str) -> dict[str, object]:
    """The operators' trigger line, with this stack's port and the token added."""
    url = f"http://localhost:{stack.port}/api/v1/automation/trigger"
    out = stack.sh(f'curl -X POST {url} -H "Authorization: Bearer {token}"')
    answer: dict[str, object] = json.loads(out)
    return answer

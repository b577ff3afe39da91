"""Fault scenarios: private service instances that tests may stop, restart and cut off while
the machine's own PostgreSQL and RabbitMQ keep serving everything else.

- `private_postgres`: a PostgreSQL cluster made with initdb in a temporary directory, on a
  port of its own (started and stopped with pg_ctl).
- `private_rabbitmq`: a RabbitMQ node of its own (its own node name, ports and data
  directory), started with `rabbitmq-server` and stopped with `rabbitmqctl`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.db import with_database
from tests.support.services import as_app, migrate_as_owner
from tests.support.tcp_proxy import free_port


def _as(user: str, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a server command as its service user (PostgreSQL and RabbitMQ refuse root)."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(  # noqa: S603 - fixed commands of the test harness
        argv, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


class PrivatePostgres:
    """One PostgreSQL cluster for the fault tests; `restart`, `stop`, `start` as they need."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not binaries:
            pytest.skip("PostgreSQL server binaries are not installed")
        self.bin = Path(binaries[-1])

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, *argv: str) -> subprocess.CompletedProcess[str]:
        result = _as("postgres", [str(self.bin / argv[0]), *argv[1:]])
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=200"
        )
        self._pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> float:
        """Stop and start (fast mode: sessions are cut); the seconds it was away."""
        started = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - started

    def database(self) -> str:
        """A fresh database on this cluster, migrated by its owner (postgres); the URL of the
        processes' role, which the migration created."""
        url = with_database(self.admin_url, f"tt_fault_{uuid.uuid4().hex[:10]}")
        migrate_as_owner(url)
        return as_app(url)


@pytest.fixture(scope="session")
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    root = Path("/tmp") / f"tt-faults-pg-{uuid.uuid4().hex[:8]}"  # noqa: S108 - short socket path
    cluster = PrivatePostgres(root)
    cluster.init()
    cluster.start()
    yield cluster
    cluster.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)


class PrivateRabbitMQ:
    """A RabbitMQ node of the test's own: `stop` and `start` it without touching the
    machine's broker."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.node = f"tt-faults-{uuid.uuid4().hex[:8]}@localhost"
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_PID_FILE": str(root / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq"),
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        # `guest` may log in only from loopback by default: the tests connect from loopback.
        (self.root / "rabbitmq.conf").write_text("")
        if os.geteuid() == 0:
            for path in (self.root, self.root / "enabled_plugins", self.root / "rabbitmq.conf"):
                shutil.chown(path, "rabbitmq", "rabbitmq")

    def start(self) -> None:
        result = _as("rabbitmq", ["rabbitmq-server", "-detached"], env=self.env)
        assert result.returncode == 0, result.stdout + result.stderr
        # -detached returns at once; the node registers with epmd a few seconds later, and
        # await_startup fails at once while it cannot reach the node: ask until it answers.
        deadline = time.monotonic() + 90
        while True:
            waited = _as(
                "rabbitmq",
                ["rabbitmqctl", "-n", self.node, "await_startup", "--timeout", "60"],
                env=self.env,
            )
            if waited.returncode == 0:
                return
            assert time.monotonic() < deadline, waited.stdout + waited.stderr
            time.sleep(0.5)

    def stop(self) -> None:
        _as("rabbitmq", ["rabbitmqctl", "-n", self.node, "stop"], env=self.env)


@pytest.fixture(scope="session")
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    root = Path("/tmp") / f"tt-faults-mq-{uuid.uuid4().hex[:8]}"  # noqa: S108
    node = PrivateRabbitMQ(root)
    node.init()
    node.start()
    yield node
    node.stop()
    shutil.rmtree(root, ignore_errors=True)


REPORT = Path(os.environ.get("FAULTS_REPORT", "/tmp/tt-faults-report.jsonl"))  # noqa: S108


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record a scenario's measured figures (recovery times, attempts) for the reliability
    notes: one JSON line per call in FAULTS_REPORT."""

    def record(scenario: str, **figures: object) -> None:
        line = {"scenario": scenario, "test": request.node.name, **figures}
        with REPORT.open("a") as out:
            out.write(json.dumps(line, default=str) + "\n")

    return record

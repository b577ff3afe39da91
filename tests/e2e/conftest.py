"""End-to-end fixtures: real worker and scheduler processes, and waiting on a run's state."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.config import Settings
from app.db import with_database
from tests.conftest import ADMIN_URL, AMQP_URL, as_app, connect_db, drop_database
from tests.tcp_proxy import free_port

TASKTRACKER = str(Path(sys.executable).with_name("tasktracker"))
ROOT = Path(__file__).parents[2]


class ServiceProcess:
    """A service command in a subprocess for this test's database and queue; its output is
    collected line by line."""

    def __init__(self, settings: Settings, argv: list[str], **env: str) -> None:
        environment = {
            **os.environ,
            "DATABASE_URL": settings.database.url.get_secret_value(),
            "RABBITMQ_URL": AMQP_URL,
            "RABBITMQ_QUEUE": settings.broker.queue,
            "AUTOMATION_HEARTBEAT_SECONDS": "0.5",
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.process = subprocess.Popen(  # noqa: S603 - our own console script
            argv,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = 30) -> str:
        """Block until a line matching `pattern` appears; its text."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (
                    self.process.poll() is not None and not self._reader.is_alive()
                ):
                    raise AssertionError(
                        f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines[-40:])
                    )
                self._changed.wait(remaining)

    def count_lines(self, pattern: str) -> int:
        regex = re.compile(pattern)
        with self._changed:
            return sum(1 for line in self.lines if regex.search(line))

    async def until_line(self, pattern: str, timeout: float = 30) -> str:  # noqa: ASYNC109
        """wait_for_line without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for_line, pattern, timeout)

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_output()
        return self.process.returncode

    def _close_output(self) -> None:
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._close_output()


# The scenarios written for a run's own lease (150,000-250,000 versions, above the default
# AUTOMATION_SHARD_MIN_VERSIONS) keep their run unsplit; tests/faults/test_shards.py and
# tests/integration/test_shards.py set it low to split theirs.
UNSPLIT = {"AUTOMATION_SHARD_MIN_VERSIONS": "10000000"}


class WorkerProcess(ServiceProcess):
    """`tasktracker worker` (runs unsplit unless `env` sets AUTOMATION_SHARD_MIN_VERSIONS)."""

    def __init__(self, settings: Settings, **env: str) -> None:
        super().__init__(settings, [TASKTRACKER, "worker"], **{**UNSPLIT, **env})

    async def ready(self) -> None:
        await self.until_line(r"Listening started")


@pytest.fixture
def start_worker(settings: Settings) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker processes for this test's database and queue; all stopped afterwards."""
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        worker = WorkerProcess(settings, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


async def wait_for_run(
    database_url: str,
    run_id: uuid.UUID | str,
    done: Callable[[asyncpg.Record], bool],
    timeout: float = 30,  # noqa: ASYNC109 - a deadline for polling the database, not for I/O
) -> asyncpg.Record:
    """Poll the run's row until `done(row)` holds; the row."""
    conn = await connect_db(database_url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                row = await conn.fetchrow(
                    "SELECT * FROM automation_runs WHERE id = $1", uuid.UUID(str(run_id))
                )
                if row is not None and done(row):
                    return row
                await asyncio.sleep(0.02)
    finally:
        await conn.close()


def is_final(row: asyncpg.Record) -> bool:
    return row["state"] in ("COMPLETED", "FAILED")


async def publisher_ready(client: httpx.AsyncClient) -> None:
    """Wait until the in-process api is connected to RabbitMQ."""
    async with asyncio.timeout(20):
        await client.app.state.publisher.ready.wait()  # type: ignore[attr-defined]


async def load_generated_versions(database_url: str, count: int) -> None:
    """Insert `count` pending versions server-side (fast; for runs that must take a while)."""
    conn = await connect_db(database_url)
    try:
        await conn.execute(
            "INSERT INTO versions (entity_type, entity_id, version, data, confidence, similarity,"
            " source)"
            " SELECT CASE WHEN g % 2 = 0 THEN 'topic' ELSE 'atom' END, 'g-' || g, 1,"
            " jsonb_build_object('name', 'item ' || g), (g % 100) / 100.0,"
            " CASE WHEN g % 5 = 0 THEN NULL ELSE ((g * 7) % 100) / 100.0 END, 'llm'"
            " FROM generate_series(1, $1) g",
            count,
        )
        await conn.execute("ANALYZE versions")
    finally:
        await conn.close()


@pytest.fixture
def start_scheduler(settings: Settings) -> Iterator[Callable[..., ServiceProcess]]:
    """Start scheduler replicas for this test's database and queue; all stopped afterwards.

    `tick_seconds` runs the test seam tests.e2e.seconds_scheduler, whose jobs fire every so
    many seconds instead of on their cron; otherwise `tasktracker scheduler` itself."""
    started: list[ServiceProcess] = []

    def start(tick_seconds: int | None = None, **env: str) -> ServiceProcess:
        if tick_seconds is None:
            argv = [TASKTRACKER, "scheduler"]
        else:
            argv = [sys.executable, "-m", "tests.e2e.seconds_scheduler"]
            env = {"TEST_TICK_SECONDS": str(tick_seconds), **env}
        replica = ServiceProcess(
            settings, argv, SCHEDULER_RECONCILE_SECONDS="1", LOG_LEVEL="DEBUG", **env
        )
        started.append(replica)
        return replica

    yield start
    for replica in started:
        replica.stop()


class MakeRun:
    """`make run` in a process group of its own (as a terminal runs it), with `env`; its output
    (stdout and stderr) collected."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.base_url = f"http://127.0.0.1:{env['API_PORT']}"
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],  # noqa: S607 - make from PATH, as people run it
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.group = self.process.pid
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.output)

    def wait_healthy(self, timeout: float = 120) -> None:
        """Poll GET /api/v1/health until it answers 200 (make run installs, migrates, starts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "make run ended:\n" + self.text()
            try:
                if httpx.get(f"{self.base_url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("make run never became healthy:\n" + self.text())

    def wait_for_line(self, pattern: str, timeout: float = 30) -> None:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while not any(regex.search(line) for line in list(self.output)):
            assert time.monotonic() < deadline, f"no line {pattern!r}:\n" + self.text()
            time.sleep(0.05)

    def interrupt(self) -> None:
        """What Ctrl-C does: SIGINT to the whole foreground process group (if any is left)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.group, signal.SIGINT)

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def group_alive(self) -> bool:
        try:
            os.killpg(self.group, 0)
        except ProcessLookupError:
            return False
        return True

    def wait_group_gone(self, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while self.group_alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def kill_group(self) -> None:
        """Whatever is left of the group (a failed test's cleanup): SIGTERM, then SIGKILL."""
        for signum in (signal.SIGTERM, signal.SIGKILL):
            if not self.group_alive():
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.group, signum)
            self.wait_group_gone(15)
        if self.process.poll() is None:
            self.process.wait(5)
        if self.process.stdout is not None:
            self._reader.join(5)
            self.process.stdout.close()


@pytest.fixture
def make_run_env(queue_name: str) -> Iterator[dict[str, str]]:
    """The environment `make run` documents as its overrides, pointing at a uuid-named database
    (created by make run's migrate, dropped afterwards), this test's queue and a free port."""
    name = f"tt_make_run_{uuid.uuid4().hex[:12]}"
    owner_url = with_database(ADMIN_URL, name)
    yield {
        **os.environ,
        "MIGRATE_DATABASE_URL": owner_url,
        "DATABASE_URL": as_app(owner_url),
        "RABBITMQ_URL": AMQP_URL,
        "RABBITMQ_QUEUE": queue_name,
        "API_PORT": str(free_port()),
    }
    drop_database(name)


@pytest.fixture
def start_make_run(make_run_env: dict[str, str]) -> Iterator[Callable[[], MakeRun]]:
    """Start `make run` with make_run_env; its process group is stopped afterwards."""
    started: list[MakeRun] = []

    def start() -> MakeRun:
        started.append(MakeRun(make_run_env))
        return started[-1]

    yield start
    for make_run in started:
        make_run.kill_group()

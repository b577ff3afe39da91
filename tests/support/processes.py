"""The service's commands as real processes for a test's database and queue, their output
collected line by line; and settings that reach PostgreSQL another way (a proxy, a cluster)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from app.config import DatabaseSettings, Settings
from tests.support.services import AMQP_URL
from tests.support.tcp_proxy import TcpProxy

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


# Short lifecycle timings: stale after 3 x 0.3 s, a SCHEDULED run republished after 1 s.
LEASE = {"AUTOMATION_HEARTBEAT_SECONDS": "0.3", "AUTOMATION_REDELIVER_SECONDS": "1"}
STALE_S = 0.9
REDELIVER_S = 1.0


class WorkerProcess(ServiceProcess):
    """`tasktracker worker` (runs unsplit unless `env` sets AUTOMATION_SHARD_MIN_VERSIONS)."""

    def __init__(self, settings: Settings, **env: str) -> None:
        super().__init__(settings, [TASKTRACKER, "worker"], **{**UNSPLIT, **env})

    async def ready(self) -> None:
        await self.until_line(r"Listening started")


def on(settings: Settings, url: str) -> Settings:
    """`settings` with the database at `url`."""
    return settings.model_copy(update={"database": DatabaseSettings(url=url)})


def through_proxy(settings: Settings, proxy: TcpProxy, **database: Any) -> Settings:
    """`settings` with the test's database reached as its owner through `proxy` (a TcpProxy
    in front of PostgreSQL), with `database`'s other settings (timeouts)."""
    name = settings.database.url.get_secret_value().rsplit("/", 1)[1]
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}/{name}"
    return settings.model_copy(update={"database": DatabaseSettings(url=url, **database)})


def worker_through_proxy(settings: Settings, proxy: TcpProxy, **env: str) -> WorkerProcess:
    """A worker that reaches the test's database through `proxy`, with two-second connect and
    command timeouts (a link the proxy stalls or cuts is noticed in seconds)."""
    return WorkerProcess(
        through_proxy(settings, proxy),
        DATABASE_CONNECT_TIMEOUT_SECONDS="2",
        DATABASE_COMMAND_TIMEOUT_SECONDS="2",
        **env,
    )


def pid_of(claimed_by: str) -> int:
    """The process id in a run's or shard's `claimed_by`."""
    return int(claimed_by.split(":")[1])  # host:pid:nonce (executor.worker_identity)

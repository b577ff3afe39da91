"""End-to-end fixtures: `make run` as a terminal runs it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from app.db import with_database
from tests.support.processes import ROOT
from tests.support.services import ADMIN_URL, AMQP_URL, as_app, drop_database
from tests.support.tcp_proxy import free_port


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

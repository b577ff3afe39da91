"""The README's shell blocks, run verbatim against `make run`, so that they cannot drift."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.e2e.conftest import MakeRun
from tests.support.processes import ROOT

# Commands of the README that this test does not run, each with why. A command is matched
# after its leading `NAME=value` assignments.
NOT_RUN = {
    "make run": "the test starts it itself, with the same overrides (a database of its own)",
    "make test": "the whole suite, this test among it",
}

_FENCE = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_ASSIGNMENTS = re.compile(r"^(?:\w+=\S+\s+)*")


def shell_blocks() -> list[str]:
    """The README's ```sh blocks, in order."""
    return _FENCE.findall((ROOT / "README.md").read_text())


def logical_lines(block: str) -> list[str]:
    """The block's lines, a line ending in a backslash joined with the next."""
    lines: list[str] = []
    pending = ""
    for line in block.splitlines(keepends=True):
        pending += line
        if not line.rstrip("\n").endswith("\\"):
            lines.append(pending)
            pending = ""
    return [*lines, pending] if pending else lines


def not_run(line: str) -> str | None:
    """The NOT_RUN entry this line is, if any."""
    command = _ASSIGNMENTS.sub("", " ".join(line.replace("\\\n", " ").split()))
    command = command.split("#", 1)[0].strip()
    return command if command in NOT_RUN else None


def test_the_readme_has_shell_blocks_and_skips_only_what_it_says():
    """The blocks exist, and every command left out is in NOT_RUN (each entry used)."""
    blocks = shell_blocks()
    assert len(blocks) >= 3
    skipped = {name for block in blocks for line in logical_lines(block) if (name := not_run(line))}
    assert skipped == set(NOT_RUN)


@pytest.mark.timeout(240)
def test_every_readme_shell_block_runs_against_make_run(start_make_run, make_run_env):
    """Against `make run` started with the README's overrides (a uuid database, queue and a
    free port), the other blocks run verbatim, in order, in one shell that has the same
    variables, as the README asks: every command succeeds (`set -e`, curl --fail-with-body)."""
    make_run: MakeRun = start_make_run()
    make_run.wait_healthy()
    make_run.wait_for_line(r"Listening started")  # the worker: the run below completes

    script = "".join(
        line for block in shell_blocks() for line in logical_lines(block) if not not_run(line)
    )
    result = subprocess.run(  # noqa: S603 - the README's own commands
        ["bash", "-c", "set -euxo pipefail\n" + script],  # noqa: S607 - bash from PATH
        cwd=ROOT,
        env=make_run_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{result.stderr}\n{result.stdout}\nmake run:\n{make_run.text()}"
    assert '"name":"High Confidence"' in result.stdout
    assert re.search(r'"run_id":"[0-9a-f-]{36}"', result.stdout)
    assert "automation" in result.stdout  # psql: the automation job's func_ref

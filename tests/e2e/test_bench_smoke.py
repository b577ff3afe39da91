"""The benchmark's quick variant: the real pipeline on 20,000 versions decides exactly as the
reference evaluator does (correctness only; timings are the benchmark's business)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.processes import ROOT

pytestmark = pytest.mark.timeout(300)


def test_bench_quick_variant_decides_like_the_reference_evaluator(tmp_path):
    """`python -m bench.run --versions 20000 --verify` completes its run and every decision
    equals the Python evaluator's."""
    output = tmp_path / "bench.json"
    result = subprocess.run(  # noqa: S603 - our own module
        [
            sys.executable,
            "-m",
            "bench.run",
            "--versions",
            "20000",
            "--verify",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(output.read_text())
    assert figures["run_state"] == "COMPLETED"
    assert figures["verified"] is True
    assert figures["versions"] == 20_000
    assert 0.7 < figures["decided"] / 20_000 < 0.9  # the rules decide about four in five

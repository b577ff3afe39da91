"""`make bench --year` at a tiny scale: it builds its database through the service's own
paths (the batch route, real runs of a real worker, people's decide routes), times every call
and console page five times, and `--reuse` measures the same database without building it
again (correctness of the mode only; timings are the benchmark's business)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from bench.year_calls import SAMPLES
from tests.support.processes import ROOT
from tests.support.services import drop_database

pytestmark = pytest.mark.timeout(300)

# Every call of the list (SPEC sections 7, 9 and 10): its name in the report.
EXPECTED_CALLS = {
    "GET /versions (first page)",
    "GET /versions (20 pages deep)",
    "GET /versions/{id}",
    "GET /versions/pending-count",
    "GET /versions/{id}/explain",
    "GET /automation/stats",
    "GET /automation/trends?period=7d",
    "GET /automation/trends?period=30d",
    "GET /automation/trends?period=90d",
    "GET /automation/runs",
    "GET /automation/runs/{id}",
    "GET /audit (20 pages deep)",
    "GET /audit?run_id= (old run)",
    "GET /audit?actor= (a person)",
    "GET /audit?action=escalate",
    "GET /audit?version_id=",
    "GET /audit?since=&until=",
    "GET /automation/rules",
    "POST /automation/rules/preview",
    "GET /scheduler/jobs",
    "GET /health",
    "GET /metrics",
    "console Overview",
    "console Runs",
    "console a run",
    "console Audit",
    "console Review queue",
    "console a version",
    "console Rules",
    "console Schedules",
    "POST /automation/trigger",
    "trigger to EXECUTING",
    "run over 1,000 new versions, trigger to COMPLETED",
}


def _year(database: str, output, *extra: str) -> dict:
    result = subprocess.run(  # noqa: S603 - our own module
        [
            sys.executable,
            "-m",
            "bench.run",
            "--year",
            "--year-versions",
            "2000",
            "--year-database",
            database,
            "--year-output",
            str(output),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=130,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(output.read_text())


def test_year_mode_builds_through_the_service_and_times_every_call(tmp_path):
    """2,000 versions: 1% escalated and 3% pending by the year's rules, decided by real runs;
    people's decisions in the log; every call five samples, all 2xx; `--reuse` builds
    nothing and measures again."""
    database = f"tt_bench_year_test_{uuid.uuid4().hex[:8]}"
    try:
        built = _year(database, tmp_path / "year.json")
        assert built["reused"] is False
        assert built["counts"]["versions"] == 2_000
        assert {"submit", "runs", "people", "measure"} <= set(built["phases"])
        assert [run["state"] for run in built["build_runs"]][-1] == "COMPLETED"
        assert built["people_decisions"] >= 20
        assert built["counts"]["audit_entries"] >= 1_900 + built["people_decisions"]
        by_name = {call["name"]: call for call in built["calls"]}
        assert set(by_name) >= EXPECTED_CALLS
        for call in built["calls"]:
            assert len(call["samples_ms"]) == SAMPLES, call
            assert call["ok"], call
            assert call["median_ms"] <= call["max_ms"]
        assert built["failures"] == []

        again = _year(database, tmp_path / "again.json", "--reuse")
        assert again["reused"] is True
        assert "submit" not in again["phases"]
        # the measurement's own runs added 5 x 1,000 versions; nothing else was built
        assert again["counts"]["versions"] == 2_000 + 5 * 1_000
        assert {call["name"] for call in again["calls"]} == set(by_name)
    finally:
        drop_database(database)

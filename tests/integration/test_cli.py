"""The tasktracker command, run as operators run it (a subprocess with the environment set)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from app.services.tokens import hash_secret
from tests.support.services import AMQP_URL

pytestmark = pytest.mark.timeout(120)

TASKTRACKER = str(Path(sys.executable).with_name("tasktracker"))


def run(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATABASE_URL": database_url, **env}
    return subprocess.run(  # noqa: S603 - our own console script
        [TASKTRACKER, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


async def test_token_create_prints_only_the_secret_and_it_authenticates(database_url):
    """stdout is exactly the new token; the hash of that token is what the database holds."""
    result = run(database_url, "token", "create", "--name", "ci-bot", "--role", "operator")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    secret = lines[0]
    assert secret.startswith("tt_")
    assert len(secret) > 40

    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT role, token_hash FROM api_tokens WHERE name = 'ci-bot'")
        audit = await conn.fetchrow("SELECT actor, action FROM audit_log")
    finally:
        await conn.close()
    assert row["role"] == "operator"
    assert bytes(row["token_hash"]) == hash_secret(secret)
    assert (audit["actor"], audit["action"]) == ("cli", "token.create")

    listed = run(database_url, "token", "list")
    assert "ci-bot\toperator\tactive" in listed.stdout
    assert secret not in listed.stdout
    assert run(database_url, "token", "revoke", "ci-bot").returncode == 0
    assert "revoked" in run(database_url, "token", "list").stdout


def test_a_duplicate_token_name_fails_with_a_message(database_url):
    """A second token with the same name exits non-zero and says why."""
    assert run(database_url, "token", "create", "--name", "dup").returncode == 0
    again = run(database_url, "token", "create", "--name", "dup")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert again.stdout == ""


def test_migrate_twice_is_harmless(database_url, owner_database_url):
    """`tasktracker migrate` on a migrated database succeeds and changes nothing, with the
    owner's URL (as deployed) or with the processes' URL alone (nothing left to do)."""
    first = run(database_url, "migrate", MIGRATE_DATABASE_URL=owner_database_url)
    second = run(database_url, "migrate", MIGRATE_DATABASE_URL=owner_database_url)
    alone = run(database_url, "migrate")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert alone.returncode == 0, alone.stderr


def test_a_bad_setting_stops_the_process_naming_it(database_url):
    """A bad value exits 2 before doing anything, naming the variable."""
    result = run(database_url, "migrate", AUTOMATION_BATCH_SIZE="lots")
    assert result.returncode == 2
    assert "AUTOMATION_BATCH_SIZE" in result.stderr


def test_the_database_password_never_reaches_the_logs(database_url):
    """Even when the connection fails, the password in DATABASE_URL is not printed."""
    bad = "postgresql://postgres:sup3rsecret@127.0.0.1:1/nowhere"
    result = run(bad, "token", "list", DATABASE_CONNECT_TIMEOUT_SECONDS="2")
    assert result.returncode == 1
    assert "cannot use PostgreSQL" in result.stderr
    assert "sup3rsecret" not in result.stdout + result.stderr


def test_every_command_has_help():
    """--help works for the command and every subcommand, exiting 0."""
    commands = [
        [],
        ["api"],
        ["worker"],
        ["scheduler"],
        ["dev"],
        ["migrate"],
        ["trigger"],
        ["doctor"],
        ["runs"],
        ["runs", "list"],
        ["runs", "show"],
        ["jobs"],
        ["jobs", "list"],
        ["jobs", "pause"],
        ["jobs", "resume"],
        ["jobs", "run"],
        ["rules"],
        ["rules", "list"],
        ["rules", "apply"],
        ["rules", "export"],
        ["token"],
        ["token", "create"],
        ["token", "list"],
        ["token", "revoke"],
    ]
    for command in commands:
        result = run("postgresql://unused@127.0.0.1:1/x", *command, "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert "Usage" in result.stdout, command


RULES_FILE = """
- name: High Confidence
  priority: 90
  action: approve
  conditions:
    all:
      - {field: confidence, op: gte, value: 0.9}
- name: Low Confidence
  priority: 10
  action: reject
  enabled: false
  conditions: {field: confidence, op: lt, value: 0.3}
"""


async def test_rules_apply_is_idempotent_by_name_and_export_round_trips(database_url, tmp_path):
    """apply creates, then reports unchanged; a changed file updates by name; export gives a
    file that applies back unchanged; each change is audited as the cli."""
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_FILE)
    first = run(database_url, "rules", "apply", str(path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["created\tHigh Confidence", "created\tLow Confidence"]
    again = run(database_url, "rules", "apply", str(path))
    assert again.stdout.splitlines() == ["unchanged\tHigh Confidence", "unchanged\tLow Confidence"]
    path.write_text(RULES_FILE.replace("priority: 90", "priority: 95"))
    changed = run(database_url, "rules", "apply", str(path), "--json")
    assert json.loads(changed.stdout) == [
        {"name": "High Confidence", "change": "updated"},
        {"name": "Low Confidence", "change": "unchanged"},
    ]
    exported = run(database_url, "rules", "export", "--format", "json")
    export_path = tmp_path / "export.json"
    export_path.write_text(exported.stdout)
    back = run(database_url, "rules", "apply", str(export_path))
    assert back.stdout.splitlines() == ["unchanged\tHigh Confidence", "unchanged\tLow Confidence"]
    listed = json.loads(run(database_url, "rules", "list", "--json").stdout)
    assert [(r["name"], r["priority"], r["revision"]) for r in listed] == [
        ("High Confidence", 95, 2),
        ("Low Confidence", 10, 1),
    ]
    conn = await asyncpg.connect(database_url)
    try:
        actors = await conn.fetch("SELECT DISTINCT actor, action FROM audit_log ORDER BY 2")
    finally:
        await conn.close()
    assert [tuple(a) for a in actors] == [("cli", "rule.create"), ("cli", "rule.update")]


def test_a_bad_rules_file_fails_naming_the_problem(database_url, tmp_path):
    """A rule the API would refuse is refused here too, with a message; nothing is applied."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        "- {name: x, priority: 1, action: approve, conditions: {field: password, op: eq, value: 1}}"
    )
    result = run(database_url, "rules", "apply", str(path))
    assert result.returncode == 1
    assert "password" in result.stderr
    assert run(database_url, "rules", "list", "--json").stdout.strip() == "[]"


async def test_jobs_and_runs_from_the_command_line(database_url):
    """jobs list/pause/resume act on scheduled_jobs and are audited as the cli; runs list and
    show read runs; an unknown job or run exits 1 with a message."""
    listed = json.loads(run(database_url, "jobs", "list", "--json").stdout)
    assert [job["id"] for job in listed] == ["daily-automation"]
    paused = json.loads(run(database_url, "jobs", "pause", "daily-automation", "--json").stdout)
    assert paused["enabled"] is False
    resumed = json.loads(run(database_url, "jobs", "resume", "daily-automation", "--json").stdout)
    assert resumed["enabled"] is True
    missing = run(database_url, "jobs", "pause", "nope")
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr

    conn = await asyncpg.connect(database_url)
    try:
        run_id = await conn.fetchval(
            "INSERT INTO automation_runs (trigger, dry_run) VALUES ('manual', true) RETURNING id"
        )
        actions = await conn.fetch("SELECT actor, action FROM audit_log ORDER BY id")
    finally:
        await conn.close()
    assert [tuple(a) for a in actions] == [("cli", "job.pause"), ("cli", "job.resume")]
    runs = json.loads(run(database_url, "runs", "list", "--json").stdout)
    assert [r["id"] for r in runs] == [str(run_id)]
    shown = json.loads(run(database_url, "runs", "show", str(run_id), "--json").stdout)
    assert (shown["state"], shown["dry_run"]) == ("PENDING", True)
    table = run(database_url, "runs", "list")
    assert str(run_id) in table.stdout
    unknown = run(database_url, "runs", "show", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 1
    assert "does not exist" in unknown.stderr


def test_the_broker_password_never_reaches_the_logs(database_url):
    """A worker that cannot reach RabbitMQ logs its retries without the URL's password."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RABBITMQ_URL": "amqp://guest:sup3rsecret@127.0.0.1:1/",
    }
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [TASKTRACKER, "worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "RabbitMQ unreachable" in line:
                break
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=30)
    output = "".join(lines) + rest
    assert "RabbitMQ unreachable" in output
    assert "sup3rsecret" not in output


# A log line as app/logging.py writes it (text format).
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


@pytest.mark.parametrize(
    "args",
    [
        ["migrate"],
        ["token", "list"],
        ["rules", "list"],
        ["rules", "export"],
        ["runs", "list"],
        ["jobs", "list"],
        ["audit", "verify"],
        ["doctor"],
    ],
)
def test_commands_log_to_stderr_and_keep_stdout_for_their_output(database_url, args):
    """With LOG_LEVEL=DEBUG, a command's log lines are on stderr, none on stdout."""
    result = run(database_url, *args, LOG_LEVEL="DEBUG", RABBITMQ_URL=AMQP_URL)
    assert not [line for line in result.stdout.splitlines() if LOG_LINE.match(line)]
    if args == ["migrate"]:
        assert result.returncode == 0, result.stderr
        assert any(LOG_LINE.match(line) for line in result.stderr.splitlines())


def test_token_create_without_its_database_fails_loudly(database_url):
    """Against a database that does not exist, `token create` prints nothing on stdout, says
    why on stderr and exits 1, so `TOKEN=$(...)` fails under `set -e` instead of being empty."""
    missing = database_url.rsplit("/", 1)[0] + "/tt_missing_" + "0" * 12
    result = run(missing, "token", "create", "--name", "alice", "--role", "admin")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "does not exist" in result.stderr
    script = f'set -e; TOKEN=$("{TASKTRACKER}" token create --name a); echo "got $TOKEN"'
    shell = subprocess.run(  # noqa: S603 - our own console script, in bash as people run it
        ["bash", "-c", script],  # noqa: S607 - bash from PATH
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": missing},
        timeout=60,
        check=False,
    )
    assert shell.returncode == 1
    assert "got" not in shell.stdout

"""The tasktracker command, run as operators run it (a subprocess with the environment set)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from app.services.tokens import hash_secret

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


def test_migrate_twice_is_harmless(database_url):
    """`tasktracker migrate` on a migrated database succeeds and changes nothing."""
    first = run(database_url, "migrate")
    second = run(database_url, "migrate")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr


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

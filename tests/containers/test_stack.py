"""The operators' deployment, on a real Docker engine: the commands of their own document
(shared/operators/job-management.uk.md) run verbatim against the compose stack.

The tests share one stack and run in file order, from a fresh stack to a scaled one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest

from tests.containers.conftest import (
    ENV_CHANGES,
    POSTGRES_PASSWORD,
    Stack,
    run_of,
    trigger_with_curl,
)

pytestmark = pytest.mark.timeout(900)  # the first test also builds the image (cold: minutes)

API = "/api/v1"
QUEUE = "tasktracker.automation"
APP_CONTAINERS = ("task-tracker-api", "task-tracker-worker", "task-tracker-scheduler")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _wait_for_final_run(stack: Stack, token: str, run_id: str, timeout: float = 120) -> dict:
    return stack.wait_until(  # type: ignore[return-value]
        f"run {run_id} to end",
        lambda: (run := run_of(stack, token, run_id))["state"] in ("COMPLETED", "FAILED") and run,
        timeout=timeout,
    )


def _consumers(stack: Stack) -> int:
    listed = stack.sh("docker compose exec -T rabbitmq rabbitmqctl list_queues -q name consumers")
    for line in listed.splitlines():
        name, _, count = line.partition("\t")
        if name == QUEUE:
            return int(count)
    return 0


def test_every_service_is_healthy_none_runs_as_root_and_rabbitmq_has_no_guest(stack: Stack):
    """After `docker compose up -d --wait`: migrate exited 0, the three app containers carry the
    operators' names and run, api healthy; no container's main process is root; no `guest`."""
    services = {
        entry["Service"]: entry
        for entry in map(json.loads, stack.sh("docker compose ps -a --format json").splitlines())
    }
    assert set(services) == {"postgres", "rabbitmq", "migrate", "api", "scheduler", "worker"}
    assert (services["migrate"]["State"], services["migrate"]["ExitCode"]) == ("exited", 0)
    for name in ("postgres", "rabbitmq", "api"):
        assert services[name]["Health"] == "healthy", services[name]
    assert {services[s]["Name"] for s in ("api", "worker", "scheduler")} == set(APP_CONTAINERS)
    for service in ("postgres", "rabbitmq", "api", "scheduler", "worker"):
        uid = stack.sh(
            f"docker exec {services[service]['Name']} sh -c 'grep ^Uid: /proc/1/status'"
        ).split()[1]
        assert uid != "0", f"{service} runs as root"
    users = stack.sh("docker compose exec -T rabbitmq rabbitmqctl list_users -q")
    assert "guest" not in users.split()
    assert "tasktracker" in users.split()


def test_the_operators_psql_query_prints_the_default_job(stack: Stack):
    """Their query, verbatim: psql inside the api container needs no flags."""
    out = stack.sh(
        """docker exec task-tracker-api psql -U postgres -d tasktracker -c "SELECT id, func_ref FROM apscheduler_jobs WHERE func_ref LIKE '%automation%';\""""  # noqa: E501 - verbatim
    )
    assert re.search(r"daily-automation\s*\|\s*\S*automation\S*", out), out
    assert "(1 row)" in out


def test_the_processes_connect_as_their_own_role_and_the_audit_log_verifies(
    stack: Stack, admin_token: str
):
    """migrate (as postgres) created the `tasktracker` role; the api, worker and scheduler
    connect as it, it is no superuser and owns nothing; `tasktracker audit verify` in the api
    container passes (the token made above is an audited, sealed entry)."""
    stack.wait_until("the worker to consume", lambda: _consumers(stack) == 1)
    users = stack.psql(
        "SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity"
        " WHERE application_name LIKE 'tasktracker-%'"
    )
    assert users == "tasktracker", users
    assert stack.psql("SELECT rolsuper FROM pg_roles WHERE rolname = 'tasktracker'") == "f"
    assert (
        stack.psql("SELECT count(*) FROM pg_class WHERE relowner = 'tasktracker'::regrole") == "0"
    )
    out = stack.sh("docker exec task-tracker-api tasktracker audit verify")
    assert "OK: every entry and seal matches the chain" in out, out
    doctor = stack.sh("docker exec task-tracker-api tasktracker doctor", check=False)
    assert "OK\tdatabase role\ttasktracker: not the owner" in doctor, doctor


def test_no_process_holds_the_superusers_or_the_owners_credentials(stack: Stack):
    """compose hands every app container all of .env (POSTGRES_PASSWORD with it) and the api
    container the PG* variables of the operators' psql; the entrypoint removes them before it
    execs the process: no app container's PID 1 (the process itself, not a shell) holds the
    superuser's password, a PG* variable or the owner's MIGRATE_* connection. The api
    container's own configuration keeps them for `docker exec`, which the test above used."""
    for name in APP_CONTAINERS:
        command = [a for a in stack.sh(f"docker exec {name} cat /proc/1/cmdline").split("\0") if a]
        assert command[-2].endswith("/tasktracker"), command
        assert command[-1] == name.rsplit("-", 1)[1], command
        environ = stack.sh(f"docker exec {name} cat /proc/1/environ")
        names = {entry.split("=", 1)[0] for entry in environ.split("\0") if entry}
        assert "DATABASE_PASSWORD" in names, f"{name}: the processes' own password is missing"
        held = names & {"POSTGRES_PASSWORD", "MIGRATE_DATABASE_URL", "MIGRATE_DATABASE_PASSWORD"}
        held |= {n for n in names if n.startswith("PG")}
        assert not held, f"{name}'s process holds {sorted(held)}"
        assert POSTGRES_PASSWORD not in environ, f"{name}'s process holds the superuser password"
    exec_env = stack.sh("docker exec task-tracker-api env")
    assert f"PGPASSWORD={POSTGRES_PASSWORD}" in exec_env.splitlines()


def test_secrets_with_url_characters_and_env_settings_reach_every_process(
    stack: Stack, admin_token: str
):
    """Passwords with `/ + = @ : %` work for every process (the api is ready on PostgreSQL and
    RabbitMQ, the worker consumes, the scheduler leads), and settings changed in .env reach
    them: the api's body limit, and the log language of each process."""
    ready = stack.http.get(f"{API}/health/ready")
    assert ready.status_code == 200, ready.text
    stack.wait_until("the worker to consume", lambda: _consumers(stack) == 1)
    leader = stack.wait_until(
        "a scheduler leader",
        lambda: stack.http.get(f"{API}/health/scheduler", headers=_bearer(admin_token)).json()[
            "leader"
        ],
    )
    assert leader["host"]  # type: ignore[index]

    limit = int(ENV_CHANGES["API_MAX_BODY_BYTES"])
    item = {"entity_type": "topic", "entity_id": "big", "source": "ops", "confidence": 0.5}
    too_big = {"items": [item] * (limit // 60)}
    answer = stack.http.post(f"{API}/versions", json=too_big, headers=_bearer(admin_token))
    assert answer.status_code == 413, answer.text
    small = stack.http.post(f"{API}/versions", json=item, headers=_bearer(admin_token))
    assert small.status_code == 201, small.text
    stack.http.post(  # out of the way of the runs that follow
        f"{API}/versions/{small.json()['id']}/reject", headers=_bearer(admin_token)
    ).raise_for_status()

    assert ENV_CHANGES["LOG_LANGUAGE"] == "uk"
    for container in APP_CONTAINERS:
        logs = stack.sh(f"docker logs {container} 2>&1")
        assert re.search(r"[\u0400-\u04ff]{4,}", logs), f"{container} does not log in Ukrainian"


@pytest.fixture(scope="module")
def high_confidence_rule(stack: Stack, admin_token: str) -> dict:
    """The operators' example rule: the API's High Confidence template, enabled, saved."""
    headers = _bearer(admin_token)
    templates = stack.http.get(f"{API}/automation/templates", headers=headers).json()["items"]
    (template,) = [t for t in templates if t["name"] == "High Confidence"]
    rule = stack.http.post(
        f"{API}/automation/rules", json={**template, "enabled": True}, headers=headers
    )
    assert rule.status_code == 201, rule.text
    created: dict = rule.json()
    return created


def test_curl_trigger_decides_the_operators_47_versions_and_the_worker_logs_them(
    stack: Stack, admin_token: str, high_confidence_rule: dict
):
    """The operators' example: 47 pending, High Confidence matches 34. Versions and the rule
    over HTTP, the trigger with their curl line, COMPLETED with those decisions, and their grep
    over the worker's logs shows the run's lines (SPEC 6.7, in Ukrainian as .env asks)."""
    headers = _bearer(admin_token)
    items = [
        {
            "entity_type": "topic",
            "entity_id": f"t{i}",
            "source": "llm",
            "confidence": 0.95 if i < 34 else 0.5,
            "similarity": 0.9 if i < 34 else 0.5,
        }
        for i in range(47)
    ]
    answer = stack.http.post(f"{API}/versions", json={"items": items}, headers=headers)
    assert answer.status_code == 201, answer.text
    assert high_confidence_rule["enabled"]

    triggered = trigger_with_curl(stack, admin_token)
    run = _wait_for_final_run(stack, admin_token, str(triggered["run_id"]))
    assert (run["state"], run["evaluated"], run["decisions"]) == (
        "COMPLETED",
        47,
        {"approve": 34, "reject": 0, "escalate": 0},
    ), run
    assert stack.psql("SELECT count(*) FROM versions WHERE status = 'approved'") == "34"

    grep = stack.sh("""docker logs task-tracker-worker | grep -i "automation\\|schedule\"""")
    run_lines = [line for line in grep.splitlines() if f"run={run['id']}" in line]
    expected = [
        r"INFO automation: Запущено виконання автоматизації .*trigger=manual",
        r"INFO automation: Оцінювання 47 незавершених версій",
        r"INFO automation: Правило 'High Confidence' відповідало 34 версіям",
        r"INFO automation: Авто-затверджено 34 версій",
        r"INFO automation: Виконання завершено \(\d+\.\ds\)",
    ]
    for pattern in expected:
        assert any(re.search(pattern, line) for line in run_lines), (pattern, run_lines)
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line) for line in run_lines)


def test_compose_restart_worker_then_the_next_run_completes(
    stack: Stack, admin_token: str, high_confidence_rule: dict
):
    """`docker compose restart worker`, verbatim; the next run completes."""
    headers = _bearer(admin_token)
    stack.sh("docker compose restart worker", timeout=120)
    items = [
        {
            "entity_type": "atom",
            "entity_id": f"a{i}",
            "source": "llm",
            "confidence": 0.97,
            "similarity": 0.99,
        }
        for i in range(5)
    ]
    stack.http.post(f"{API}/versions", json={"items": items}, headers=headers).raise_for_status()
    triggered = trigger_with_curl(stack, admin_token)
    run = _wait_for_final_run(stack, admin_token, str(triggered["run_id"]))
    assert (run["state"], run["decisions"]["approve"]) == ("COMPLETED", 5), run  # type: ignore[index]
    assert stack.sh("docker logs task-tracker-worker --tail=50")  # the operators' first look


def test_a_worker_killed_mid_run_comes_back_and_the_run_completes_deciding_each_once(
    stack: Stack, admin_token: str, high_confidence_rule: dict
):
    """SIGKILL to the worker's main process during a run over 300,000 versions: the container
    comes back by its restart policy, the run is reclaimed and completes, and every decision
    is written once with one audit row."""
    count = 300_000
    stack.psql(
        "INSERT INTO versions (entity_type, entity_id, version, confidence, similarity, source) "
        "SELECT 'topic', 'bulk-' || g, 1, (g % 100) / 100.0, 0.9, 'bulk' "
        "FROM generate_series(1, :count) AS g",
        count=count,
    )
    restarts_before = int(stack.sh("docker inspect -f '{{.RestartCount}}' task-tracker-worker"))
    triggered = trigger_with_curl(stack, admin_token)
    run_id = str(triggered["run_id"])
    stack.wait_until(
        "the run to commit its first batch",
        lambda: (
            (run := run_of(stack, admin_token, run_id))["state"] == "EXECUTING"
            and run["evaluated"] > 0
        ),  # type: ignore[operator]
        every=0.02,
    )
    pid = int(stack.sh("docker inspect -f '{{.State.Pid}}' task-tracker-worker"))
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    assert run_of(stack, admin_token, run_id)["state"] == "EXECUTING"  # it was mid-run

    stack.wait_until(
        "the worker container to come back",
        lambda: (
            int(stack.sh("docker inspect -f '{{.RestartCount}}' task-tracker-worker"))
            > restarts_before
            and stack.sh("docker inspect -f '{{.State.Running}}' task-tracker-worker").strip()
            == "true"
        ),
    )
    run = _wait_for_final_run(stack, admin_token, run_id, timeout=180)
    print(f"run completed {time.monotonic() - killed_at:.1f}s after the kill")  # noqa: T201
    assert run["state"] == "COMPLETED", run
    assert run["attempts"] >= 2, run  # type: ignore[operator]
    decided = stack.psql("SELECT count(*) FROM versions WHERE run_id = :'run'", run=run_id)
    approved = count * 10 // 100  # confidence >= 0.9: g % 100 in 90..99
    assert run["decisions"] == {"approve": approved, "reject": 0, "escalate": 0}, run
    assert decided == str(approved)
    audited = stack.psql(
        "SELECT count(*), count(DISTINCT version_id) FROM audit_log "
        "WHERE run_id = :'run' AND action IN ('approve', 'reject', 'escalate')",
        run=run_id,
    )
    assert audited == f"{approved}|{approved}"
    assert (
        stack.psql("SELECT count(*) FROM versions WHERE status = 'pending' AND confidence >= 0.9")
        == "0"
    )


def test_scale_to_three_workers_gives_three_consumers(stack: Stack):
    """With compose.scale.yaml, `--scale worker=3`: three consumers on the queue."""
    stack.sh(
        "docker compose -f compose.yaml -f compose.scale.yaml up -d --wait --pull never "
        "--scale worker=3",
        timeout=300,
    )
    stack.wait_until("three consumers", lambda: _consumers(stack) == 3, timeout=120)

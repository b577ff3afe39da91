"""The trusted audit log (SPEC section 3): the processes' role cannot change it by any path,
every change a superuser makes is named by `tasktracker audit verify`, and the purge deletes
only expired seals, in batches, leaving a checkpoint that verify starts from."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from app.audit.report import ProblemKind, VerifyReport
from app.audit.retention import purge_expired_audit_entries
from app.audit.verify import verify_chain
from app.config import DatabaseSettings
from app.migrate import migrate
from app.models import Role
from app.repositories import audit as audit_repo
from tests.support.services import APP_ROLE, connect_db

pytestmark = pytest.mark.timeout(120)

TASKTRACKER = str(Path(sys.executable).with_name("tasktracker"))


async def append(url: str, statements: int, per_statement: int = 3) -> None:
    """Entries as the processes write them: several INSERT statements (one seal each)."""
    conn = await connect_db(url)
    try:
        for n in range(statements):
            await conn.execute(
                "INSERT INTO audit_log (actor, action, version_id, details)"
                " SELECT 'user:alice', 'approve', g, jsonb_build_object('from', 'pending',"
                " 'reason', 'statement ' || $1::int || ' | \"quoted\"\n')"
                " FROM generate_series(1, $2::int) AS g",
                n,
                per_statement,
            )
    finally:
        await conn.close()


async def verify(url: str, **options: object) -> VerifyReport:
    conn = await connect_db(url)
    try:
        return await verify_chain(conn, **options)  # type: ignore[arg-type]
    finally:
        await conn.close()


Statement = str | tuple[str, int]


async def as_superuser(url: str, *statements: Statement) -> None:
    """Statements (alone, or with the one argument each takes) run by a superuser with every
    trigger of the log's tables off."""
    conn = await connect_db(url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            for statement in statements:
                if isinstance(statement, tuple):
                    await conn.execute(statement[0], statement[1])
                else:
                    await conn.execute(statement)
    finally:
        await conn.close()


async def entry_ids(url: str) -> list[int]:
    conn = await connect_db(url)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM audit_log ORDER BY id")]
    finally:
        await conn.close()


# Every way the processes' role might try to change the log, each refused by the database.
APP_ROLE_ATTEMPTS = [
    # The old loophole: a session setting that opened the log to DELETE.
    "SELECT set_config('tasktracker.audit_purge_before', 'infinity', true); DELETE FROM audit_log",
    "UPDATE audit_log SET actor = 'user:mallory'",
    "DELETE FROM audit_log",
    "DELETE FROM audit_log WHERE at < now() + interval '1 day'",
    "TRUNCATE audit_log",
    "TRUNCATE audit_log CASCADE",
    "UPDATE audit_seals SET hash = hash",
    "DELETE FROM audit_seals",
    "TRUNCATE audit_seals",
    "INSERT INTO audit_seals SELECT * FROM audit_seals",
    "DELETE FROM audit_checkpoints",
    "INSERT INTO audit_checkpoints (seq, hash, seals, entries, cutoff)"
    " VALUES (999, '\\x00', 1, 1, now())",
    "UPDATE audit_chain_head SET seq = 0",
    "UPDATE audit_settings SET retention_days = 0",
    # The purge takes no argument: none widens it.
    "SELECT audit_purge_batch('infinity')",
    "SELECT audit_purge_batch(0)",
    "SELECT audit_purge_batch(now() + interval '1 year')",
    # Writing the columns the database fills in.
    "INSERT INTO audit_log (at, actor, action) VALUES ('1970-01-01', 'cli', 'rule.create')",
    "INSERT INTO audit_log (xid, actor, action) VALUES ('1', 'cli', 'rule.create')",
    "INSERT INTO audit_log (id, actor, action) OVERRIDING SYSTEM VALUE"
    " VALUES (1, 'cli', 'rule.create')",
    # DDL and becoming someone else.
    "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only_rows",
    "DROP TRIGGER audit_log_append_only_rows ON audit_log",
    "ALTER TABLE audit_log ADD COLUMN x int",
    "CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql"
    " AS $$ BEGIN RETURN OLD; END $$",
    "CREATE OR REPLACE FUNCTION audit_purge_batch(OUT seals bigint, OUT entries bigint)"
    " LANGUAGE sql AS $$ SELECT 0::bigint, 0::bigint $$",
    "ALTER FUNCTION audit_purge_batch() RESET search_path",
    "DROP TABLE audit_log",
    "CREATE TABLE audit_copy (x int)",
    "ALTER TABLE audit_log OWNER TO CURRENT_USER",
    "SET ROLE postgres",
    "SET SESSION AUTHORIZATION postgres",
    "ALTER ROLE CURRENT_USER SUPERUSER",
    "SELECT set_config('session_replication_role', 'replica', false)",
    "ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY",
    # A function of the app's own named like the purge runs as the app, not as the owner.
    "CREATE FUNCTION pg_temp.audit_purge_batch() RETURNS void LANGUAGE plpgsql"
    " AS $$ BEGIN DELETE FROM audit_log; END $$; SELECT pg_temp.audit_purge_batch()",
]


@pytest.mark.parametrize("attempt", APP_ROLE_ATTEMPTS)
async def test_the_processes_role_cannot_change_the_log(database_url, attempt):
    """Each attempt fails (a privilege error or a function that does not exist); the log and
    its chain are whole afterwards."""
    await append(database_url, 2)
    before = await entry_ids(database_url)
    conn = await connect_db(database_url)
    try:
        assert await conn.fetchval("SELECT current_user") == APP_ROLE
        with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.UndefinedFunctionError)):
            async with conn.transaction():
                await conn.execute(attempt)
    finally:
        await conn.close()
    assert await entry_ids(database_url) == before
    report = await verify(database_url)
    assert report.ok, report.problems
    assert report.entries == len(before) == 6


async def test_the_purge_function_removes_nothing_unexpired(database_url):
    """The processes may call the purge; with nothing older than the retention it deletes
    nothing, whatever the session says."""
    await append(database_url, 2)
    conn = await connect_db(database_url)
    try:
        async with conn.transaction():
            await conn.execute(
                "SELECT set_config('tasktracker.audit_purge_before', 'infinity', true)"
            )
            assert tuple(await conn.fetchrow("SELECT * FROM audit_purge_batch()")) == (0, 0)
    finally:
        await conn.close()
    assert len(await entry_ids(database_url)) == 6


async def test_even_a_superuser_cannot_delete_without_disabling_triggers(owner_database_url):
    """The append-only triggers bind the owner too; only the purge function passes them."""
    await append(owner_database_url, 1)
    conn = await connect_db(owner_database_url)
    try:
        for statement in (
            "SELECT set_config('tasktracker.audit_purge_before', 'infinity', true);"
            " DELETE FROM audit_log",
            "UPDATE audit_log SET actor = 'x'",
            "TRUNCATE audit_log",
            "DELETE FROM audit_seals",
            "CREATE FUNCTION pg_temp.audit_purge_batch() RETURNS void LANGUAGE plpgsql"
            " AS $$ BEGIN DELETE FROM audit_log; END $$; SELECT pg_temp.audit_purge_batch()",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                async with conn.transaction():
                    await conn.execute(statement)
    finally:
        await conn.close()
    assert len(await entry_ids(owner_database_url)) == 3


async def test_an_intact_log_verifies(database_url):
    """Seals in commit order, one per inserting statement; the recomputed chain matches and the
    report says how many entries it checked, how fast, and the head."""
    await append(database_url, 4)
    report = await verify(database_url)
    assert report.ok, report.problems
    assert (report.seals, report.entries) == (4, 12)
    assert report.seconds > 0
    assert report.entries_per_second > 0
    assert report.head_seq == 4
    conn = await connect_db(database_url)
    try:
        head = await conn.fetchval("SELECT encode(hash, 'hex') FROM audit_chain_head")
    finally:
        await conn.close()
    assert report.head_hash == head
    anchored = await verify(database_url, expect_head=head)
    assert anchored.ok
    gone = await verify(database_url, expect_head="0" * 63 + "1")
    assert [p.kind for p in gone.problems] == [ProblemKind.HEAD]


async def _ids(url: str) -> tuple[int, int, int]:
    """Three entry ids of the log: one in the first seal, one in the middle, one in the last."""
    ids = await entry_ids(url)
    return ids[1], ids[len(ids) // 2], ids[-2]


async def test_verify_names_an_entry_a_superuser_changed(owner_database_url):
    await append(owner_database_url, 4)
    _, middle, _ = await _ids(owner_database_url)
    await as_superuser(
        owner_database_url, ("UPDATE audit_log SET actor = 'user:mallory' WHERE id = $1", middle)
    )
    report = await verify(owner_database_url)
    assert not report.ok
    first = report.problems[0]
    assert (first.kind, first.entry_id) == (ProblemKind.CHANGED, middle)
    assert report.problem_count == 1


async def test_verify_names_an_entry_a_superuser_deleted(owner_database_url):
    await append(owner_database_url, 4)
    _, middle, _ = await _ids(owner_database_url)
    await as_superuser(owner_database_url, ("DELETE FROM audit_log WHERE id = $1", middle))
    report = await verify(owner_database_url)
    first = report.problems[0]
    assert (first.kind, first.entry_id) == (ProblemKind.REMOVED, middle)
    assert report.problem_count == 1


async def test_verify_names_an_entry_a_superuser_inserted_with_triggers_off(
    owner_database_url,
):
    await append(owner_database_url, 4)
    await as_superuser(
        owner_database_url,
        "INSERT INTO audit_log (actor, action, version_id) VALUES ('user:mallory', 'approve', 7)",
    )
    forged = (await entry_ids(owner_database_url))[-1]
    report = await verify(owner_database_url)
    first = report.problems[0]
    assert (first.kind, first.entry_id) == (ProblemKind.INSERTED, forged)


async def test_verify_names_an_entry_slipped_into_a_sealed_transaction(owner_database_url):
    """Inserted with the xid and an id inside an existing seal's range: still named."""
    await append(owner_database_url, 3)
    first_id, _, _ = await _ids(owner_database_url)
    await as_superuser(
        owner_database_url,
        ("DELETE FROM audit_log WHERE id = $1", first_id),
        (
            "INSERT INTO audit_log (id, xid, actor, action) OVERRIDING SYSTEM VALUE"
            " SELECT $1::int8, xid, 'user:mallory', 'approve' FROM audit_log"
            " WHERE id = $1::int8 - 1",
            first_id,
        ),
    )
    report = await verify(owner_database_url)
    first = report.problems[0]
    assert (first.kind, first.entry_id) == (ProblemKind.CHANGED, first_id)


async def test_verify_names_two_entries_a_superuser_reordered(owner_database_url):
    """Two entries swap their contents (ids are the database's): the first is named."""
    await append(owner_database_url, 4)
    low, _, high = await _ids(owner_database_url)
    conn = await connect_db(owner_database_url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "UPDATE audit_log AS a SET (at, actor, action, version_id, details) ="
                " (SELECT at, actor, action, version_id, details FROM audit_log AS b"
                "  WHERE b.id = CASE a.id WHEN $1 THEN $2 ELSE $1 END)"
                " WHERE a.id IN ($1, $2)",
                low,
                high,
            )
    finally:
        await conn.close()
    report = await verify(owner_database_url)
    kinds = [(p.kind, p.entry_id) for p in report.problems]
    assert kinds[0] == (ProblemKind.CHANGED, low)
    assert (ProblemKind.CHANGED, high) in kinds


async def test_verify_names_two_seals_a_superuser_reordered(owner_database_url):
    await append(owner_database_url, 4)
    await as_superuser(
        owner_database_url,
        "UPDATE audit_seals SET seq = seq + 1000 WHERE seq IN (2, 3)",
        "UPDATE audit_seals SET seq = CASE seq WHEN 1002 THEN 3 ELSE 2 END WHERE seq > 1000",
    )
    report = await verify(owner_database_url)
    first = report.problems[0]
    assert (first.kind, first.seal) == (ProblemKind.OUT_OF_ORDER, 2)


async def test_verify_names_a_removed_seal_and_a_cut_tail(owner_database_url):
    await append(owner_database_url, 4)
    await as_superuser(
        owner_database_url,
        "DELETE FROM audit_log AS a USING audit_seals AS s WHERE s.seq = 2 AND a.xid = s.xid",
        "DELETE FROM audit_seals WHERE seq = 2",
    )
    report = await verify(owner_database_url)
    first = report.problems[0]
    assert (first.kind, first.seal) == (ProblemKind.REMOVED, 2)

    await as_superuser(
        owner_database_url,
        "DELETE FROM audit_log AS a USING audit_seals AS s WHERE s.seq = 4 AND a.xid = s.xid",
        "DELETE FROM audit_seals WHERE seq = 4",
    )
    report = await verify(owner_database_url)
    assert ProblemKind.REMOVED in [p.kind for p in report.problems]
    assert "head is seal 4 but the last seal is 3" in " ".join(p.detail for p in report.problems)


async def test_verify_names_a_seal_a_superuser_rewrote(owner_database_url):
    await append(owner_database_url, 3)
    await as_superuser(
        owner_database_url,
        "UPDATE audit_seals SET sealed_at = sealed_at - interval '1 year' WHERE seq = 2",
    )
    report = await verify(owner_database_url)
    first = report.problems[0]
    assert (first.kind, first.seal) == (ProblemKind.CHANGED, 2)


def test_the_command_exits_non_zero_naming_the_entry(owner_database_url, database_url):
    asyncio.run(append(database_url, 2))
    ok = subprocess.run(  # noqa: S603 - our own console script
        [TASKTRACKER, "audit", "verify"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "checked 6 entries in 2 seals" in ok.stdout
    assert "entries/s" in ok.stdout
    assert "OK" in ok.stdout
    target = asyncio.run(entry_ids(database_url))[4]
    asyncio.run(
        as_superuser(
            owner_database_url,
            ("UPDATE audit_log SET details = '{}' WHERE id = $1", target),
        )
    )
    failed = subprocess.run(  # noqa: S603 - our own console script
        [TASKTRACKER, "audit", "verify"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=60,
        check=False,
    )
    assert failed.returncode == 1
    assert f"FAIL: entry {target} (seal 2) changed" in failed.stdout


async def test_get_audit_verify_answers_what_the_command_prints(
    app_client, auth_headers, admin, owner_database_url
):
    response = await app_client.post(
        "/api/v1/automation/rules",
        headers=admin,
        json={
            "name": "r",
            "action": "approve",
            "priority": 1,
            "conditions": {"all": [{"field": "confidence", "op": "gte", "value": 0.9}]},
        },
    )
    assert response.status_code == 201, response.text
    viewer = await auth_headers(Role.VIEWER)
    assert (await app_client.get("/api/v1/audit/verify", headers=viewer)).status_code == 403
    answer = (await app_client.get("/api/v1/audit/verify", headers=admin)).json()
    assert answer["ok"] is True
    assert answer["entries"] >= 2  # token.create, rule.create
    assert answer["lines"][-1] == "OK: every entry and seal matches the chain"
    listed = (await app_client.get("/api/v1/audit", headers=admin)).json()["items"]
    assert listed[0]["seal"]["seq"] == answer["head"]["seq"]
    assert listed[0]["seal"]["hash"] == answer["head"]["hash"]
    bad = await app_client.get("/api/v1/audit/verify?expect_head=nope", headers=admin)
    assert bad.status_code == 422

    await as_superuser(owner_database_url, "UPDATE audit_log SET actor = 'x'")
    broken = (await app_client.get("/api/v1/audit/verify", headers=admin)).json()
    assert broken["ok"] is False
    assert broken["first_problem"].startswith(f"entry {listed[-1]['id']} ")
    assert broken["lines"][-1].startswith("FAIL: ") or broken["lines"][2].startswith("FAIL: ")


async def backdated(owner_url: str, statements: int, per_statement: int, days: int) -> None:
    """Entries written `days` ago (only the owner may write `at`), one seal per statement."""
    conn = await connect_db(owner_url)
    try:
        for _ in range(statements):
            await conn.execute(
                "INSERT INTO audit_log (at, actor, action, version_id, rule_id, rule_revision,"
                " run_id)"
                " SELECT now() - make_interval(days => $1), 'rule:1@1', 'approve', g, 1, 1,"
                " gen_random_uuid() FROM generate_series(1, $2::int) AS g",
                days,
                per_statement,
            )
    finally:
        await conn.close()


async def test_verify_passes_after_a_purge(pool, database_url, owner_database_url):
    """Expired seals go whole, a checkpoint stays, and verify starts after it."""
    await backdated(owner_database_url, 3, 5, days=400)
    await append(database_url, 2)
    assert await purge_expired_audit_entries(pool) == 15  # AUDIT_RETENTION_DAYS=365
    report = await verify(database_url)
    assert report.ok, report.problems
    assert report.from_checkpoint
    assert (report.start_after_seq, report.seals, report.entries) == (3, 2, 6)
    assert await purge_expired_audit_entries(pool) == 0
    await append(database_url, 1)
    assert (await verify(database_url)).ok
    since = await verify(database_url, since=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    assert since.ok
    assert since.seals == 3


@pytest.mark.timeout(900)
async def test_the_purge_deletes_a_million_expired_entries_in_batches(
    pool, database_url, owner_database_url
):
    """1,000,000 expired entries in 100 seals go in bounded batches, each its own short
    transaction on the api's pool (DATABASE_COMMAND_TIMEOUT_SECONDS applies to every call);
    the processes keep appending meanwhile; verify passes afterwards."""
    started = time.perf_counter()
    await backdated(owner_database_url, 100, 10_000, days=400)
    written = time.perf_counter() - started
    stop = asyncio.Event()

    async def keep_appending() -> int:
        count = 0
        while not stop.is_set():
            await append(database_url, 1, per_statement=1)
            count += 1
        return count

    appender = asyncio.create_task(keep_appending())
    began = time.perf_counter()
    purged = await purge_expired_audit_entries(pool)
    seconds = time.perf_counter() - began
    stop.set()
    appended = await appender
    assert purged == 1_000_000
    conn = await connect_db(owner_database_url)
    try:
        checkpoints = await conn.fetch(
            "SELECT seq, seals, entries, purged_at FROM audit_checkpoints ORDER BY seq"
        )
        left = await conn.fetchval("SELECT count(*) FROM audit_log")
    finally:
        await conn.close()
    assert len(checkpoints) == 100  # a batch is at most 10,000 entries (whole seals)
    assert all(c["entries"] <= 10_000 for c in checkpoints)
    gaps = [
        (b["purged_at"] - a["purged_at"]).total_seconds()
        for a, b in itertools.pairwise(checkpoints)
    ]
    assert max(gaps) < 10  # each batch well inside the api's 10 s command timeout
    assert left == appended >= 1
    report = await verify(database_url)
    assert report.ok, report.problems
    assert report.entries == appended
    print(  # noqa: T201 - the figures, for the record (pytest -s)
        f"wrote 1,000,000 sealed entries in {written:.1f} s; purged them in {seconds:.1f} s"
        f" ({len(checkpoints)} batches, longest gap {max(gaps):.2f} s)"
    )


async def test_a_purge_batch_is_bounded_by_whole_seals(database_url, owner_database_url, pool):
    """A batch takes whole seals up to purge_batch_entries entries (at least one seal)."""
    await backdated(owner_database_url, 4, 4, days=400)
    conn = await connect_db(owner_database_url)
    try:
        await conn.execute("UPDATE audit_settings SET purge_batch_entries = 10")
    finally:
        await conn.close()
    async with pool.acquire() as app:
        assert await audit_repo.purge_audit_batch(app) == (2, 8)
        assert await audit_repo.purge_audit_batch(app) == (2, 8)
        assert await audit_repo.purge_audit_batch(app) == (0, 0)
    assert (await verify(database_url)).ok


async def _privileges(owner_url: str, role: str) -> dict[str, object]:
    conn = await connect_db(owner_url)
    try:
        row = await conn.fetchrow(
            "SELECT r.rolcanlogin, r.rolsuper, a.rolpassword IS NOT NULL AS has_password,"
            " (SELECT count(*) FROM pg_class WHERE relowner = r.oid) AS owns,"
            " has_schema_privilege($1, 'public', 'CREATE') AS creates,"
            " has_function_privilege($1, 'audit_purge_batch()', 'EXECUTE') AS purges,"
            " has_function_privilege($1, 'summaries_compact()', 'EXECUTE') AS compacts,"
            " has_column_privilege($1, 'audit_log', 'actor', 'INSERT') AS writes_actor,"
            " has_column_privilege($1, 'audit_log', 'at', 'INSERT') AS writes_at,"
            " has_column_privilege($1, 'audit_log', 'xid', 'INSERT') AS writes_xid,"
            " (SELECT array_agg(c.relname || ':' || p.privilege ORDER BY c.relname, p.privilege)"
            "  FROM pg_class AS c"
            "  CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'])"
            "    AS p(privilege)"
            "  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"
            "    AND has_table_privilege($1, c.oid, p.privilege)) AS granted"
            " FROM pg_roles AS r JOIN pg_authid AS a ON a.oid = r.oid WHERE r.rolname = $1",
            role,
        )
    finally:
        await conn.close()
    return dict(row)


def test_migrate_creates_the_processes_role_and_grants_exactly_what_they_use(
    owner_database_url,
):
    """A role that does not exist yet: created with the URL's password, owning nothing,
    reading and appending to the audit log only; a second migrate changes nothing and takes
    back a privilege granted by hand."""
    role = f"tt_role_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(owner_database_url)
    app_url = urlunsplit(parts._replace(netloc=f"{role}:s3cr%2Fet@{parts.hostname}:{parts.port}"))
    try:
        migrate(DatabaseSettings(url=app_url), owner_url=owner_database_url)
        first = asyncio.run(_privileges(owner_database_url, role))
        assert first["rolcanlogin"] is True
        assert first["rolsuper"] is False
        assert first["has_password"] is True
        assert first["owns"] == 0
        assert first["creates"] is False
        assert first["purges"] is True
        assert first["compacts"] is True
        assert (first["writes_actor"], first["writes_at"], first["writes_xid"]) == (
            True,
            False,
            False,
        )
        granted = set(first["granted"])
        summaries = ("version_counts", "decision_counts")  # written by the owner's triggers
        for table in (
            "audit_log",
            "audit_seals",
            "audit_checkpoints",
            "audit_chain_head",
            *summaries,
        ):
            assert f"{table}:SELECT" in granted
            for verb in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
                assert f"{table}:{verb}" not in granted, (table, verb)
        assert {"versions:SELECT", "versions:INSERT", "versions:UPDATE"} <= granted
        assert "versions:DELETE" not in granted
        deletes = {g.split(":")[0] for g in granted if g.endswith(":DELETE")}
        assert deletes == {"apscheduler_jobs", "idempotency_keys", "console_sessions"}
        assert "api_tokens:UPDATE" not in granted  # only revoked_at (a column grant)
        assert not any(g.endswith(":TRUNCATE") for g in granted)

        asyncio.run(_grant_by_hand(owner_database_url, role))
        migrate(DatabaseSettings(url=app_url), owner_url=owner_database_url)
        assert asyncio.run(_privileges(owner_database_url, role)) == first
    finally:
        asyncio.run(_drop_role(owner_database_url, role))


async def _grant_by_hand(owner_url: str, role: str) -> None:
    conn = await connect_db(owner_url)
    try:
        await conn.execute(f'GRANT DELETE, TRUNCATE ON versions, audit_log TO "{role}"')
    finally:
        await conn.close()


async def _drop_role(owner_url: str, role: str) -> None:
    conn = await connect_db(owner_url)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            await conn.execute(f'DROP OWNED BY "{role}"')
            database = await conn.fetchval("SELECT current_database()")
            await conn.execute(f'REVOKE ALL ON DATABASE "{database}" FROM "{role}"')
            await conn.execute(f'DROP ROLE "{role}"')
    finally:
        await conn.close()

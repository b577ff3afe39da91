"""The schema: created by migrations, idempotent, append-only audit, a pending-only index,
and what the processes' role may change in tokens and sessions."""

from __future__ import annotations

import asyncpg
import pytest

from app.config import DatabaseSettings
from app.db import create_pool
from app.migrate import migrate
from app.models import Role
from app.services.tokens import authenticate, create_token, revoke_token

pytestmark = pytest.mark.timeout(60)


async def test_migrating_again_changes_nothing(database_url):
    """A second `migrate` on a migrated database is harmless."""
    conn = await asyncpg.connect(database_url)
    try:
        before = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
        )
        migrate(DatabaseSettings(url=database_url))
        after = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
        )
    finally:
        await conn.close()
    assert sorted(before) == sorted(after)
    assert {"versions", "automation_rules", "audit_log"} <= {r["table_name"] for r in after}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
async def test_audit_log_refuses_changes_even_for_a_superuser(owner_database_url, statement):
    """UPDATE, DELETE and TRUNCATE on audit_log fail for the owner and superuser too."""
    conn = await asyncpg.connect(owner_database_url)  # the postgres superuser
    try:
        await conn.execute("INSERT INTO audit_log (actor, action) VALUES ('system', 'test')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1
    finally:
        await conn.close()


async def test_only_the_retention_purge_may_delete_old_entries(owner_database_url):
    """No session setting opens the log (the old purge setting is now refused like any
    DELETE); the purge function removes the seal older than AUDIT_RETENTION_DAYS only."""
    conn = await asyncpg.connect(owner_database_url)
    try:
        await conn.execute(
            "INSERT INTO audit_log (actor, action, at) VALUES"
            " ('system', 'old', now() - interval '400 days')"
        )
        await conn.execute("INSERT INTO audit_log (actor, action) VALUES ('system', 'new')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            async with conn.transaction():
                await conn.execute(
                    "SELECT set_config('tasktracker.audit_purge_before',"
                    " (now() - interval '365 days')::text, true)"
                )
                await conn.execute("DELETE FROM audit_log WHERE action = 'old'")
        assert tuple(await conn.fetchrow("SELECT * FROM audit_purge_batch()")) == (1, 1)
        assert await conn.fetchval("SELECT array_agg(action) FROM audit_log") == ["new"]
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("DELETE FROM audit_log WHERE action = 'new'")
    finally:
        await conn.close()


async def test_a_pending_scan_uses_the_pending_only_index(database_url):
    """With few pending rows among many decided ones, the planner reads a pending-only partial
    index (by id, or by created_at and a sort of the few it finds), never the whole table."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO versions (entity_type, entity_id, version, confidence, source, status)"
            " SELECT 'topic', 'e' || g, 1, 0.5, 's',"
            " CASE WHEN g % 1000 = 0 THEN 'pending' ELSE 'approved' END"
            " FROM generate_series(1, 50000) g"
        )
        await conn.execute("ANALYZE versions")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT id FROM versions WHERE status = 'pending' ORDER BY id LIMIT 100"
            )
        )
    finally:
        await conn.close()
    assert "versions_pending_idx" in plan or "versions_pending_created_idx" in plan, plan
    assert "Seq Scan" not in plan, plan


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE api_tokens SET role = 'admin'",
        "UPDATE api_tokens SET token_hash = '\\x00'::bytea",
        "UPDATE api_tokens SET name = 'someone-else'",
        "UPDATE console_sessions SET role = 'admin'",
        "UPDATE console_sessions SET expires_at = now() + interval '1 year'",
    ],
)
async def test_the_processes_role_cannot_rewrite_tokens_or_sessions(
    database_url: str, statement: str
) -> None:
    """As DATABASE_URL's role, changing a token's role, hash or name is refused."""
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_the_processes_role_still_creates_and_revokes_tokens(database_url: str) -> None:
    """As DATABASE_URL's role, a token is created (as `tasktracker token create` does), and
    revoked."""
    pool = await create_pool(DatabaseSettings(url=database_url), "tests")
    try:
        new = await create_token(pool, "grants-check", Role.VIEWER, "cli")
        assert await authenticate(pool, new.secret) is not None
        revoked = await revoke_token(pool, "grants-check", "cli")
        assert revoked.revoked_at is not None
        assert await authenticate(pool, new.secret) is None
    finally:
        await pool.close()

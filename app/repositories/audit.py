"""The append-only audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.db import Connection
from app.models import AuditEntry, AuditSeal
from app.repositories import fetch_all
from app.sql import queries


async def insert_audit_entry(
    conn: Connection,
    *,
    actor: str,
    action: str,
    version_id: int | None = None,
    rule_id: int | None = None,
    rule_revision: int | None = None,
    run_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    row = await queries.insert_audit_entry(
        conn,
        actor=actor,
        action=action,
        version_id=version_id,
        rule_id=rule_id,
        rule_revision=rule_revision,
        run_id=run_id,
        details=details or {},
    )
    return AuditEntry.model_validate(dict(row))


async def lock_chain(conn: Connection) -> None:
    """Take the audit chain's head (held to commit) before locking a run: a batch locks the
    head (sealing) before its run, so a transaction that locks a run and then writes an audit
    entry would deadlock with it (migration 0009)."""
    await queries.lock_audit_chain(conn)


@dataclass(frozen=True)
class AuditFilter:
    """What GET /audit may filter on (None: any)."""

    version_id: int | None = None
    rule_id: int | None = None
    run_id: uuid.UUID | None = None
    actor: str | None = None
    action: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


async def list_audit_entries(
    conn: Connection, where: AuditFilter, *, before_id: int | None, limit: int
) -> list[AuditEntry]:
    rows = await fetch_all(
        listing_for(where)(
            conn,
            version_id=where.version_id,
            rule_id=where.rule_id,
            run_id=where.run_id,
            actor=where.actor,
            action=where.action,
            since=where.since,
            until=where.until,
            before_id=before_id,
            limit=limit,
        )
    )
    return [_entry(row) for row in rows]


# Entries of these actions are nearly the whole log: not in the partial (action, id) index.
DECISION_ACTIONS = frozenset({"approve", "reject", "escalate"})


def listing_for(where: AuditFilter) -> Any:
    """The listing that reads the index of the most selective filter given (see audit.sql):
    a run, a version, a rule, an actor that is not a rule, an action that is not a decision;
    or else the primary key backwards (the rules' actors and the decisions are most of the
    log, so it meets them at once; a time window alone: the key, or the BRIN index on `at`)."""
    if where.run_id is not None:
        return queries.list_audit_entries_by_run
    if where.version_id is not None:
        return queries.list_audit_entries_by_version
    if where.rule_id is not None:
        return queries.list_audit_entries_by_rule
    if where.actor is not None and not where.actor.startswith("rule:"):
        return queries.list_audit_entries_by_actor
    if where.action is not None and where.action not in DECISION_ACTIONS:
        return queries.list_audit_entries_by_action
    return queries.list_audit_entries


async def purge_audit_batch(conn: Connection) -> tuple[int, int]:
    """One batch of the retention purge in its own transaction: (seals, entries) removed."""
    row = await queries.purge_audit_batch(conn)
    return int(row["seals"]), int(row["entries"])


def _entry(row: asyncpg.Record) -> AuditEntry:
    values = dict(row)
    seq, digest = values.pop("seal_seq", None), values.pop("seal_hash", None)
    seal = AuditSeal(seq=seq, hash=digest) if seq is not None else None
    return AuditEntry.model_validate({**values, "seal": seal})


@dataclass(frozen=True)
class ChainStart:
    """Where verification starts: after seal `after_seq`, whose hash is `prev_hash`."""

    after_seq: int
    prev_hash: bytes
    checkpoint: bool


GENESIS_HASH = bytes(32)


async def chain_start(conn: Connection, since: dt.datetime | None) -> ChainStart | None:
    """After the latest purge checkpoint (or the beginning), or at the first seal sealed since
    `since` (None when there is none)."""
    if since is not None:
        first = await queries.get_first_seal_since(conn, since=since)
        if first is None:
            return None
        return ChainStart(int(first["seq"]) - 1, bytes(first["prev_hash"]), checkpoint=False)
    checkpoint = await queries.get_audit_checkpoint(conn)
    if checkpoint is None:
        return ChainStart(0, GENESIS_HASH, checkpoint=False)
    return ChainStart(int(checkpoint["seq"]), bytes(checkpoint["hash"]), checkpoint=True)


async def chain_head(conn: Connection) -> tuple[int, bytes]:
    row = await queries.get_audit_chain_head(conn)
    return int(row["seq"]), bytes(row["hash"])


async def stream(
    conn: Connection, query: Any, *args: Any, prefetch: int = 1000
) -> AsyncIterator[asyncpg.Record]:
    """A named query's rows through a server-side cursor (inside a transaction)."""
    cursor = await conn.cursor(query.sql, *args)
    while rows := await cursor.fetch(prefetch):
        for row in rows:
            yield row


def stream_seals(conn: Connection, after_seq: int) -> AsyncIterator[asyncpg.Record]:
    return stream(conn, queries.stream_audit_seals, after_seq, prefetch=100)


def stream_sealed_entries(conn: Connection, after_seq: int) -> AsyncIterator[asyncpg.Record]:
    return stream(conn, queries.stream_sealed_entries, after_seq, prefetch=5000)


async def list_unsealed_entries(conn: Connection, from_id: int, limit: int) -> list[int]:
    rows = await fetch_all(queries.list_unsealed_entries(conn, from_id=from_id, limit=limit))
    return [int(row["id"]) for row in rows]

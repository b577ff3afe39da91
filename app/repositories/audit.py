"""The append-only audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from app.db import Connection
from app.models import AuditEntry
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
        queries.list_audit_entries(
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
    return [AuditEntry.model_validate(dict(row)) for row in rows]


async def purge_audit_entries(conn: Connection, before: dt.datetime) -> int:
    """Delete entries older than `before`; call inside a transaction."""
    await queries.allow_audit_purge(conn, before=before)
    return int(await queries.purge_audit_entries(conn, before=before))

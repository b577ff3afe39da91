"""The append-only audit log."""

from __future__ import annotations

import uuid
from typing import Any

from app.db import Connection
from app.models import AuditEntry
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

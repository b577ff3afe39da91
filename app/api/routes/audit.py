"""The audit log: every decision and every change, newest first."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.audit.report import summary_lines
from app.audit.verify import verify_chain
from app.models import AuditEntry, Page, Role
from app.repositories import audit
from app.validation import StorableText
from app.web.auth import GuardedRoute, requires
from app.web.deps import Cursor, DbPool, Limit
from app.web.pagination import decode_cursor, encode_cursor

router = APIRouter(prefix="/audit", tags=["audit"], route_class=GuardedRoute)


@router.get("", openapi_extra=requires(Role.VIEWER), summary="Audit entries, newest first")
async def list_audit(  # noqa: PLR0917 - one parameter per filter of SPEC section 7
    pool: DbPool,
    limit: Limit = 50,
    cursor: Cursor = None,
    version_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    rule_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    run_id: uuid.UUID | None = None,
    actor: Annotated[StorableText | None, Query(max_length=300)] = None,
    action: Annotated[StorableText | None, Query(max_length=100)] = None,
    since: Annotated[dt.datetime | None, Query(description="inclusive, ISO 8601")] = None,
    until: Annotated[dt.datetime | None, Query(description="exclusive, ISO 8601")] = None,
) -> Page[AuditEntry]:
    before = decode_cursor(cursor, 1)[0] if cursor else None
    where = audit.AuditFilter(
        version_id=version_id,
        rule_id=rule_id,
        run_id=run_id,
        actor=actor,
        action=action,
        since=_aware(since),
        until=_aware(until),
    )
    async with pool.acquire() as conn:
        items = await audit.list_audit_entries(conn, where, before_id=before, limit=limit)
    next_cursor = encode_cursor(items[-1].id) if len(items) == limit else None
    return Page[AuditEntry](items=items, next_cursor=next_cursor)


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """A time without an offset is read as UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


@router.get(
    "/verify",
    openapi_extra=requires(Role.ADMIN),
    summary="Recompute the audit log's hash chain (what `tasktracker audit verify` prints)",
)
async def verify_audit(
    pool: DbPool,
    since: Annotated[
        dt.datetime | None, Query(description="start at the first seal sealed since, ISO 8601")
    ] = None,
    expect_head: Annotated[
        str | None,
        Query(pattern="^[0-9a-fA-F]{64}$", description="a head hash recorded earlier"),
    ] = None,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        report = await verify_chain(
            conn, since=_aware(since), expect_head=expect_head.lower() if expect_head else None
        )
    return {**report.as_dict(), "lines": summary_lines(report)}

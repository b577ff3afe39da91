"""The console's Audit page: the trail with the API's filters, newest first."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from app.console.render import PAGE_SIZE, positive, render
from app.console.viewer import CurrentViewer, database_pool
from app.repositories import audit as audit_repo

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/audit")
async def audit_page(  # noqa: PLR0917 - one parameter per filter of the API's audit list
    who: CurrentViewer,
    actor: Annotated[str, Query(max_length=300)] = "",
    action: Annotated[str, Query(max_length=100)] = "",
    version_id: Annotated[str, Query(max_length=20)] = "",
    rule_id: Annotated[str, Query(max_length=20)] = "",
    run_id: Annotated[str, Query(max_length=40)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    before: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    try:
        run = uuid.UUID(run_id) if run_id else None
    except ValueError:
        run = None
    problems = [
        name for name, text in (("since", since), ("until", until)) if _instant(text) is _BAD
    ]
    where = audit_repo.AuditFilter(
        version_id=positive(version_id),
        rule_id=positive(rule_id),
        run_id=run,
        actor=actor or None,
        action=action or None,
        since=_moment(since),
        until=_moment(until),
    )
    async with database_pool(who.request).acquire() as conn:
        items = await audit_repo.list_audit_entries(
            conn, where, before_id=positive(before), limit=PAGE_SIZE
        )
    filters = {
        "actor": actor or "",
        "action": action or "",
        "version_id": version_id,
        "rule_id": rule_id,
        "run_id": run_id,
        "since": since,
        "until": until,
    }
    return render(
        who,
        who.request,
        "audit.html",
        page="audit",
        items=items,
        next_before=items[-1].id if len(items) == PAGE_SIZE else None,
        filters=filters,
        query=urlencode(filters),
        problems=problems,
        status=422 if problems else 200,
    )


_BAD = object()  # a time filter that is not an ISO 8601 instant


def _instant(text: str) -> dt.datetime | object | None:
    """A time filter as the API reads it (no offset: UTC); None when empty, _BAD if garbled."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return _BAD
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _moment(text: str) -> dt.datetime | None:
    moment = _instant(text)
    return moment if isinstance(moment, dt.datetime) else None

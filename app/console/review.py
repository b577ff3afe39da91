"""The console's Review queue: pending and held versions with their scores, snapshot, changes
and each rule's explain; Approve and Reject one, or the selected ones."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.console.refusal import refusing
from app.console.render import PAGE_SIZE, done, positive, render, utc
from app.console.viewer import ActingOperator, CurrentViewer, Viewer, database_pool
from app.errors import ConflictError, InvalidInputError
from app.models import BulkDecisionRequest, EntityType, VersionStatus
from app.repositories import rules as rule_repo
from app.repositories import versions as version_repo
from app.services import review as review_service
from app.services import versions as version_service
from app.services.review import QUEUE_ORDER, QueueCursor, ReviewFilter, SelectionOutcome

router = APIRouter(prefix="/ui", include_in_schema=False)

# Past this many enabled rules the queue loads each version's explain when it is opened,
# so that a page of 50 versions stays small (the summary still names the deciding rule).
EXPLAIN_INLINE_RULES = 12
VersionId = Annotated[int, FastApiPath(ge=1, le=2**63 - 1)]
QUEUE = "/ui/review"


@router.get("/review")
async def review_page(  # noqa: PLR0917 - one parameter per filter of the queue, and its page
    who: CurrentViewer,
    status: Annotated[str, Query(max_length=20)] = "",
    entity_type: Annotated[str, Query(max_length=20)] = "",
    source: Annotated[str, Query(max_length=200)] = "",
    rule: Annotated[str, Query(max_length=20)] = "",
    after: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    return await _review(who, _review_filters(status, entity_type, source, rule), after)


def _review_filters(status: str, entity_type: str, source: str, rule: str) -> ReviewFilter:
    # Filters arrive as the form sends them, empty when unset; unknown values are ignored.
    return ReviewFilter(
        status=VersionStatus(status) if status in {s.value for s in QUEUE_ORDER} else None,
        entity_type=EntityType(entity_type) if entity_type in set(EntityType) else None,
        source=source or None,
        rule_id=rule_id if (rule_id := positive(rule)) and rule_id < 2**31 else None,
    )


async def _review(
    who: Viewer,
    where: ReviewFilter,
    after: str = "",
    report: SelectionOutcome | None = None,
    verb: str = "",
) -> HTMLResponse:
    cursor = QueueCursor.decode(after)
    queue = await review_service.review_queue(database_pool(who.request), where, cursor, PAGE_SIZE)
    async with database_pool(who.request).acquire() as conn:
        rules = await rule_repo.list_rules(conn, after=None, include_deleted=True, limit=500)
    filters = {
        "status": where.status.value if where.status else "",
        "entity_type": where.entity_type.value if where.entity_type else "",
        "source": where.source or "",
        "rule": str(where.rule_id or ""),
    }
    return render(
        who,
        who.request,
        "review.html",
        page="review",
        queue=queue,
        filters=filters,
        query=urlencode(filters),
        first_page=cursor is None,
        rules={rule.id: rule for rule in rules},
        explain_inline=EXPLAIN_INLINE_RULES,
        report=report,
        verb=verb,
    )


@router.get("/review/{version_id}/why", dependencies=[refusing(QUEUE)])
async def review_why(who: CurrentViewer, version_id: VersionId) -> HTMLResponse:
    """One version as the queue shows it: scores, snapshot beside the latest approved
    version, what changes, and the explain of every enabled rule (a fragment for htmx, a
    page of its own otherwise)."""
    item = await review_service.review_item(database_pool(who.request), version_id)
    if who.request.headers.get("hx-request"):
        return render(who, who.request, "_review_item.html", item=item)
    return render(who, who.request, "review_version.html", page="review", item=item)


@router.get("/review/{version_id}/data", dependencies=[refusing(QUEUE)])
async def review_data(who: CurrentViewer, version_id: VersionId) -> Response:
    """A version's whole snapshot, exactly as stored: what a page's excerpt links to."""
    async with database_pool(who.request).acquire() as conn:
        version = await version_repo.get_version(conn, version_id)
    return Response(version.data_json, media_type="application/json")


@router.get("/review/{version_id}/explain", dependencies=[refusing(QUEUE)])
async def review_explain(who: CurrentViewer, version_id: VersionId) -> HTMLResponse:
    """The explain part alone: what the queue loads when its `Why` is opened and there are
    more enabled rules than it renders inline."""
    item = await review_service.review_item(database_pool(who.request), version_id)
    return render(who, who.request, "_review_why.html", e=item.explanation)


@router.post("/review/selected", dependencies=[refusing(QUEUE)])
async def decide_selected(  # noqa: PLR0917 - the selection, the decision and the queue's filters
    who: ActingOperator,
    verb: Annotated[str, Form(max_length=20)],
    ids: Annotated[list[int] | None, Form()] = None,
    reason: Annotated[str, Form(max_length=1000)] = "",
    status: Annotated[str, Form(max_length=20)] = "",
    entity_type: Annotated[str, Form(max_length=20)] = "",
    source: Annotated[str, Form(max_length=200)] = "",
    rule: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """`Approve selected` / `Reject selected`: the API's bulk decision, then the queue again
    with what was decided and who had decided the versions already taken."""
    try:
        action = version_service.PersonAction(verb)
    except ValueError:
        return HTMLResponse("unknown action", status_code=404)
    try:
        body = BulkDecisionRequest(ids=ids or [], reason=reason or None)
    except ValidationError as exc:
        problem = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidInputError(problem) from exc
    outcome = await review_service.decide_selection(
        database_pool(who.request), body.ids, action, who.principal.actor, body.reason
    )
    where = _review_filters(status, entity_type, source, rule)
    return await _review(who, where, report=outcome, verb=action.value)


async def _queue(request: Request) -> str:
    """The queue as it was filtered, the form's `back` (only a /ui/review URL is followed)."""
    back = (await request.form()).get("back")
    return back if isinstance(back, str) and back.startswith(QUEUE) else QUEUE


@router.post("/review/{version_id}/{verb}", dependencies=[refusing(_queue)])
async def decide(
    who: ActingOperator,
    version_id: VersionId,
    verb: str,
    reason: Annotated[str, Form(max_length=1000)] = "",
    back: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        action = version_service.PersonAction(verb)
        await version_service.decide_version(
            database_pool(who.request), version_id, action, who.principal.actor, reason or None
        )
    except ValueError:
        return HTMLResponse("unknown action", status_code=404)
    except ConflictError as exc:
        # Someone decided it meanwhile: nothing was overwritten; say who, and when.
        async with database_pool(who.request).acquire() as conn:
            current = await version_repo.get_version(conn, version_id)
        when = utc(current.decided_at)
        message = f"{exc.message}: decided by {current.decided_by or 'unknown'} at {when}"
        raise ConflictError(message) from exc
    return done(back if back.startswith(QUEUE) else QUEUE)

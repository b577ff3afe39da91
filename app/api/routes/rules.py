"""Automation rules: admins write them, everyone reads them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, status
from fastapi.responses import Response
from pydantic import BaseModel, Discriminator, Tag

from app.automation.preview import preview_rule
from app.models import Page, PreviewAnswer, PreviewByRuleId, Role, Rule
from app.repositories import rules as rule_repo
from app.rules.models import RuleBody
from app.services import rules as rule_service
from app.web.auth import GuardedRoute, requires
from app.web.deps import AppSettings, CurrentPrincipal, Cursor, DbPool, Limit, Slots
from app.web.pagination import decode_cursor, encode_cursor
from app.web.stored_json import stored_json_response

router = APIRouter(prefix="/automation/rules", tags=["rules"], route_class=GuardedRoute)

RuleId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("", openapi_extra=requires(Role.VIEWER), summary="Rules in evaluation order")
async def list_rules(
    pool: DbPool, limit: Limit = 50, cursor: Cursor = None, include_deleted: bool = False
) -> Page[Rule]:
    after = decode_cursor(cursor, 2) if cursor else None
    async with pool.acquire() as conn:
        items = await rule_repo.list_rules(
            conn,
            after=(after[0], after[1]) if after else None,
            include_deleted=include_deleted,
            limit=limit,
        )
    last = items[-1] if len(items) == limit else None
    return Page[Rule](
        items=items, next_cursor=encode_cursor(last.priority, last.id) if last else None
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=requires(Role.ADMIN),
    summary="Create a rule",
)
async def create_rule(pool: DbPool, principal: CurrentPrincipal, body: RuleBody) -> Rule:
    return await rule_service.create_rule(pool, body, principal.actor)


def _preview_kind(value: Any) -> str:
    return "stored" if isinstance(value, dict) and "rule_id" in value else "unsaved"


PreviewRequest = Annotated[
    Annotated[RuleBody, Tag("unsaved")] | Annotated[PreviewByRuleId, Tag("stored")],
    Discriminator(_preview_kind),
]


class Problem(BaseModel):
    detail: str


@router.post(
    "/preview",
    response_model=PreviewAnswer,
    openapi_extra=requires(Role.VIEWER),
    summary="What a rule (unsaved, {rule_id}, or {rule_id, edited}) would do to the pending"
    " versions now",
    responses={
        429: {"model": Problem, "description": "every preview slot is busy (Retry-After)"},
        503: {"model": Problem, "description": "the preview ran out of time (Retry-After)"},
    },
)
async def preview(
    pool: DbPool,
    settings: AppSettings,
    slots: Slots,
    body: Annotated[PreviewRequest, Body()],
) -> Response:
    if isinstance(body, PreviewByRuleId) and body.edited is not None:
        # An edit before it is saved: the edited body in the stored rule's place.
        answer = await preview_rule(
            pool,
            body=body.edited,
            rule_id=None,
            timeout_seconds=settings.api.preview_timeout_seconds,
            slots=slots,
            replacing=body.rule_id,
        )
    else:
        answer = await preview_rule(
            pool,
            body=body if isinstance(body, RuleBody) else None,
            rule_id=body.rule_id if isinstance(body, PreviewByRuleId) else None,
            timeout_seconds=settings.api.preview_timeout_seconds,
            slots=slots,
        )
    return stored_json_response(answer)  # its sample holds versions


@router.get("/{rule_id}", openapi_extra=requires(Role.VIEWER), summary="One rule, deleted or not")
async def get_rule(pool: DbPool, rule_id: RuleId) -> Rule:
    async with pool.acquire() as conn:
        return await rule_repo.get_rule(conn, rule_id)


@router.put("/{rule_id}", openapi_extra=requires(Role.ADMIN), summary="Replace a rule's body")
async def update_rule(
    pool: DbPool, principal: CurrentPrincipal, rule_id: RuleId, body: RuleBody
) -> Rule:
    return await rule_service.update_rule(pool, rule_id, body, principal.actor)


@router.delete("/{rule_id}", openapi_extra=requires(Role.ADMIN), summary="Delete (soft) a rule")
async def delete_rule(pool: DbPool, principal: CurrentPrincipal, rule_id: RuleId) -> Rule:
    return await rule_service.delete_rule(pool, rule_id, principal.actor)


@router.post("/{rule_id}/enable", openapi_extra=requires(Role.ADMIN), summary="Enable a rule")
async def enable_rule(pool: DbPool, principal: CurrentPrincipal, rule_id: RuleId) -> Rule:
    return await rule_service.set_rule_enabled(pool, rule_id, True, principal.actor)


@router.post("/{rule_id}/disable", openapi_extra=requires(Role.ADMIN), summary="Disable a rule")
async def disable_rule(pool: DbPool, principal: CurrentPrincipal, rule_id: RuleId) -> Rule:
    return await rule_service.set_rule_enabled(pool, rule_id, False, principal.actor)

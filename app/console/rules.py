"""The console's Rules page: the list in evaluation order, the condition tree editor with its
live preview, templates, save, enable/disable/delete, and each rule's revisions.

The editor is a plain HTML form (app.console.rule_form names its fields by path); every
structural edit is a round trip that answers the re-rendered editor, so it works without
JavaScript, and htmx only swaps the parts that changed. Rules are judged by the rule
language's own models, previewed by the API's preview service and saved through
app.services.rules, as the API does."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from app.automation.preview import preview_rule
from app.console import rule_form
from app.console.refusal import refusing
from app.console.render import done, render
from app.console.rule_form import DraftNode, Problem
from app.console.viewer import (
    Acting,
    ActingAdmin,
    AdminViewer,
    CurrentViewer,
    Viewer,
    database_pool,
)
from app.errors import AppError
from app.models import AuditEntry, PreviewAnswer, Role, Rule, RunState, RunView
from app.repositories import audit as audit_repo
from app.repositories import rules as rule_repo
from app.repositories import runs as run_repo
from app.rules.models import Action, RuleBody, dump_conditions
from app.rules.templates import TEMPLATES
from app.services import rules as rule_service

router = APIRouter(prefix="/ui", include_in_schema=False)

RULES = "/ui/rules"
REVISIONS_SHOWN = 100
SNAPSHOT_FIELDS = ("name", "description", "enabled", "priority", "action")
BLANK = {"name": "", "description": "", "priority": "50", "action": "approve", "enabled": True}


@router.get("/rules")
async def rules_page(who: CurrentViewer) -> HTMLResponse:
    async with database_pool(who.request).acquire() as conn:
        rules = await rule_repo.list_rules(conn, after=None, include_deleted=False, limit=500)
        latest = await run_repo.list_runs(
            conn, state=RunState.COMPLETED, trigger=None, job_id=None, before_seq=None, limit=1
        )
    matches = {}
    if latest:
        matches = {item.rule_id: item.matched for item in RunView.of(latest[0]).rules}
    return render(
        who,
        who.request,
        "rules.html",
        page="rules",
        rules=rules,
        matches=matches,
        templates=TEMPLATES,
    )


def _values_of(body: RuleBody) -> dict[str, Any]:
    return {
        "name": body.name,
        "description": body.description,
        "priority": str(body.priority),
        "action": body.action.value,
        "enabled": body.enabled,
    }


def _values_from(form: Mapping[str, Any]) -> dict[str, Any]:
    values = {key: form.get(key) if isinstance(form.get(key), str) else "" for key in BLANK}
    values["enabled"] = form.get("enabled") == "true"
    return values


async def _preview(
    who: Viewer, body: RuleBody | None, replacing: int | None, stored: int | None = None
) -> tuple[PreviewAnswer | None, str]:
    """The API's preview of `body` (as rule `replacing` when editing one) or of the stored
    rule `stored`, or why there is none (every slot busy, out of time: the service's words)."""
    request = who.request
    try:
        answer = await preview_rule(
            database_pool(request),
            body=body,
            rule_id=stored,
            timeout_seconds=request.app.state.settings.api.preview_timeout_seconds,
            slots=request.app.state.preview_slots,
            replacing=replacing,
        )
    except AppError as exc:
        return None, exc.message
    return answer, ""


def _editor(
    who: Viewer,
    *,
    rule: Rule | None,
    values: dict[str, Any],
    tree: DraftNode,
    problems: list[Problem],
    preview: PreviewAnswer | None = None,
    preview_problem: str = "",
    judged: bool = True,
    focus: str = "",
    tree_status: str = "",
    status: int = 200,
    revisions: list[dict[str, Any]] | None = None,
) -> HTMLResponse:
    editable = who.can(Role.ADMIN) and not (rule and rule.deleted_at)
    return render(
        who,
        who.request,
        "rule_edit.html",
        status=status,
        page="rules",
        rule=rule,
        editable=editable,
        save_refused=status == 422,
        values=values,
        tree=tree,
        problems=problems,
        problems_by=_by_place(problems),
        conditions=json.dumps(dump_conditions(rule.conditions), indent=2) if rule else "",
        preview=preview,
        preview_problem=preview_problem,
        judged=judged,
        focus=focus,
        tree_status=tree_status,
        revisions=revisions or [],
        fields=rule_form.FIELD_CHOICES,
        ops=rule_form.OP_CHOICES,
        actions=[action.value for action in Action],
        templates=TEMPLATES,
    )


def _by_place(problems: list[Problem]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in problems:
        found.setdefault(problem.where, []).append(problem.msg)
    return found


async def _judged_editor(
    who: Viewer,
    rule: Rule | None,
    values: dict[str, Any],
    tree: DraftNode,
    **more: Any,
) -> HTMLResponse:
    """The editor with the rule language's verdict on the draft, and the preview if valid."""
    body, problems = rule_form.judge({**values, "conditions": rule_form.tree_json(tree)})
    preview, why = (None, "")
    if body is not None:
        preview, why = await _preview(who, body, rule.id if rule else None)
    return _editor(
        who,
        rule=rule,
        values=values,
        tree=tree,
        problems=problems,
        preview=preview,
        preview_problem=why,
        **more,
    )


@router.get("/rules/new", dependencies=[refusing(RULES)])
async def new_rule_page(
    who: AdminViewer, template: Annotated[str, Query(max_length=200)] = ""
) -> HTMLResponse:
    chosen = next((t for t in TEMPLATES if t.name == template), None)
    if chosen is None:
        tree = rule_form.new_group()
        return _editor(who, rule=None, values=dict(BLANK), tree=tree, problems=[], judged=False)
    return await _judged_editor(
        who, None, _values_of(chosen), rule_form.draft_of(chosen.conditions)
    )


async def _rule_and_revisions(who: Viewer, rule_id: int) -> tuple[Rule, list[dict[str, Any]]]:
    async with database_pool(who.request).acquire() as conn:
        rule = await rule_repo.get_rule(conn, rule_id)
        entries = await audit_repo.list_audit_entries(
            conn, audit_repo.AuditFilter(rule_id=rule_id), before_id=None, limit=REVISIONS_SHOWN
        )
    return rule, [_revision(entry) for entry in entries if entry.action.startswith("rule.")]


def _revision(entry: AuditEntry) -> dict[str, Any]:
    """An audit entry of a rule as a revision: what changed, before -> after."""
    before = entry.details.get("before") or {}
    after = entry.details.get("after") or {}
    changes = [
        (name, before.get(name), after.get(name))
        for name in SNAPSHOT_FIELDS
        if before.get(name) != after.get(name)
    ]
    conditions_changed = before.get("conditions") != after.get("conditions")
    return {
        "entry": entry,
        "change": entry.details.get("change") or entry.action.removeprefix("rule."),
        "changes": changes if before else [],
        "conditions": json.dumps(after.get("conditions"), indent=2)
        if conditions_changed and after.get("conditions") is not None
        else "",
    }


@router.get("/rules/{rule_id}", dependencies=[refusing(RULES)])
async def rule_page(who: CurrentViewer, rule_id: int) -> HTMLResponse:
    rule, revisions = await _rule_and_revisions(who, rule_id)
    tree = rule_form.draft_of(rule.conditions)
    if not who.can(Role.ADMIN) or rule.deleted_at is not None:
        # Read-only: the stored rule as it stands, previewed as the API's `{rule_id}` does.
        preview, why = (None, "")
        if rule.deleted_at is None:
            preview, why = await _preview(who, None, None, stored=rule.id)
        return _editor(
            who,
            rule=rule,
            values=_values_of(rule.body()),
            tree=tree,
            problems=[],
            preview=preview,
            preview_problem=why,
            judged=preview is not None or bool(why),
            revisions=revisions,
        )
    return await _judged_editor(who, rule, _values_of(rule.body()), tree, revisions=revisions)


async def _rule_of_form(who: Viewer, form: Mapping[str, Any]) -> Rule | None:
    """The stored rule the form edits (its hidden `rule_id`), or None for a new rule."""
    text = form.get("rule_id")
    if not isinstance(text, str) or not text.isdigit() or not 0 < int(text) < 2**31:
        return None
    async with database_pool(who.request).acquire() as conn:
        return await rule_repo.get_rule(conn, int(text))


@router.post("/rules/form", dependencies=[refusing(RULES)])
async def rule_form_round_trip(who: ActingAdmin) -> Response:
    """The editor re-rendered after a structural edit (add or remove a condition or group)
    or the no-script `Preview` button; htmx takes the tree, its status and the preview."""
    form = await who.request.form()
    rule = await _rule_of_form(who, form)
    tree = rule_form.parse_tree(form)
    edit = form.get("edit")
    focus, happened = rule_form.apply_edit(tree, edit) if isinstance(edit, str) else ("", "")
    return await _judged_editor(
        who,
        rule,
        _values_from(form),
        tree,
        focus=focus,
        tree_status=happened,
    )


@router.post("/rules/preview")
async def rule_preview(who: Acting) -> HTMLResponse:
    """The preview fragment: what the rule being edited would do now, or what is wrong."""
    form = await who.request.form()
    text = form.get("rule_id")
    replacing = int(text) if isinstance(text, str) and text.isdigit() and len(text) < 10 else None
    tree = rule_form.parse_tree(form)
    body, problems = rule_form.judge(
        {**_values_from(form), "conditions": rule_form.tree_json(tree)}
    )
    preview, why = (None, "")
    if body is not None:
        preview, why = await _preview(who, body, replacing)
    return render(
        who,
        who.request,
        "_rule_preview.html",
        problems=problems,
        preview=preview,
        preview_problem=why,
        judged=True,
    )


async def _save(who: Viewer, rule_id: int | None) -> Response:
    form = await who.request.form()
    values = _values_from(form)
    tree = rule_form.parse_tree(form)
    body, problems = rule_form.judge({**values, "conditions": rule_form.tree_json(tree)})
    pool, actor = database_pool(who.request), who.principal.actor
    rule = None
    if rule_id is not None:
        async with pool.acquire() as conn:
            rule = await rule_repo.get_rule(conn, rule_id)
    if body is None:
        # Refused as the API refuses it (422), with its words beside each field.
        return _editor(who, rule=rule, values=values, tree=tree, problems=problems, status=422)
    if rule_id is None:
        await rule_service.create_rule(pool, body, actor)
    else:
        await rule_service.update_rule(pool, rule_id, body, actor)
    return done(RULES)


@router.post("/rules/new", dependencies=[refusing(RULES)])
async def create_rule(who: ActingAdmin) -> Response:
    return await _save(who, None)


@router.post("/rules/{rule_id}/edit", dependencies=[refusing(RULES + "/{rule_id}")])
async def update_rule(who: ActingAdmin, rule_id: int) -> Response:
    return await _save(who, rule_id)


@router.post("/rules/{rule_id}/{verb}", dependencies=[refusing(RULES)])
async def rule_action(who: ActingAdmin, rule_id: int, verb: str) -> Response:
    if verb not in ("enable", "disable", "delete"):
        return HTMLResponse("unknown action", status_code=404)
    pool, actor = database_pool(who.request), who.principal.actor
    if verb == "delete":
        await rule_service.delete_rule(pool, rule_id, actor)
    else:
        await rule_service.set_rule_enabled(pool, rule_id, verb == "enable", actor)
    return done(RULES)

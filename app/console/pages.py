"""The console's pages and actions. Each handler reads or acts through the same repositories
and services as the API route it mirrors (SPEC 7), then renders a template."""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from pydantic import ValidationError

from app.api.auth import DEV_PRINCIPAL
from app.api.errors import STATUS_BY_ERROR
from app.automation import brake
from app.automation.trigger import trigger_run
from app.console.session import COOKIE, CSRF_FIELD, CSRF_HEADER, LANGUAGE_COOKIE
from app.errors import AppError, ConflictError, InvalidInputError, PermissionDeniedError
from app.i18n import LOCALES_DIR, SOURCE_LANGUAGE, languages
from app.models import (
    BulkDecisionRequest,
    EntityType,
    JobView,
    Principal,
    Role,
    Run,
    RunState,
    RunTrigger,
    RunView,
    TriggerRequest,
    Version,
    VersionStatus,
)
from app.repositories import audit as audit_repo
from app.repositories import brake as brake_repo
from app.repositories import jobs as job_repo
from app.repositories import rules as rule_repo
from app.repositories import runs as run_repo
from app.repositories import stats as stats_repo
from app.repositories import versions as version_repo
from app.services import jobs as job_service
from app.services import review as review_service
from app.services import versions as version_service
from app.services.console_sessions import ConsoleSession, find_session
from app.services.review import (
    QUEUE_ORDER,
    QueueCursor,
    ReviewFilter,
    SelectionOutcome,
)

router = APIRouter(prefix="/ui", include_in_schema=False)

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
PRE_CSRF_COOKIE = "tt_signin_csrf"
PAGES = (
    ("overview", "/ui", "Overview"),
    ("runs", "/ui/runs", "Runs"),
    ("schedules", "/ui/schedules", "Schedules"),
    ("audit", "/ui/audit", "Audit"),
    ("review", "/ui/review", "Review queue"),
    ("rules", "/ui/rules", "Rules"),
)
PAGE_SIZE = 50
# Past this many enabled rules the queue loads each version's explain when it is opened,
# so that a page of 50 versions stays small (the summary still names the deciding rule).
EXPLAIN_INLINE_RULES = 12
VersionId = Annotated[int, FastApiPath(ge=1, le=2**63 - 1)]
ACTIVE_STATES = (RunState.PENDING, RunState.SCHEDULED, RunState.EXECUTING)


CONSOLE_DOMAIN = "console"  # the pages' own catalogue, beside the logs' `messages`


@functools.cache
def translator(language: str) -> gettext.NullTranslations:
    """The console's translations into `language`; the identity for English."""
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    return gettext.translation(CONSOLE_DOMAIN, localedir=LOCALES_DIR, languages=[language])


class SignInRequired(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by `viewer` when there is no valid session; the handler redirects to sign-in."""


class Viewer:
    """Who is looking, in which language, with the session that carries the CSRF nonce."""

    def __init__(
        self, request: Request, principal: Principal, session: ConsoleSession | None
    ) -> None:
        self.request = request
        self.principal = principal
        self.session = session
        self.language = _language(request)
        self.gettext: Callable[[str], str] = translator(self.language).gettext

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""

    def can(self, role: Role) -> bool:
        return self.principal.role.allows(role)


def _language(request: Request) -> str:
    known = languages()
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in known:
        return str(chosen)
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in known:
            return tag
    return known[0]


async def viewer(request: Request) -> Viewer:
    """The signed-in viewer; SignInRequired without a live session (unknown, expired, signed
    out, or its token revoked)."""
    session = await find_session(database_pool(request), request.cookies.get(COOKIE))
    if request.app.state.settings.auth.disabled:
        return Viewer(request, DEV_PRINCIPAL, session)
    if session is None:
        raise SignInRequired
    return Viewer(request, session.principal, session)


CurrentViewer = Annotated[Viewer, Depends(viewer)]


async def checked(request: Request, who: CurrentViewer) -> Viewer:
    """`viewer` for a state-changing request: its CSRF token must match the session's."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if who.session is None or not sent or not hmac.compare_digest(sent, who.session.csrf):
        raise CsrfRefused
    return who


class CsrfRefused(Exception):  # noqa: N818 - answered 403 by its handler
    """A state-changing request without the session's CSRF token."""


Acting = Annotated[Viewer, Depends(checked)]


def render(
    who: Viewer | None, request: Request, template: str, status: int = 200, **values: Any
) -> HTMLResponse:
    """Render `template` with the navigation, the viewer and their language's gettext."""
    gettext = who.gettext if who else translator(_language(request)).gettext
    page = TEMPLATES.get_template(template).render(
        request=request,
        who=who,
        _=gettext,
        pages=PAGES,
        languages=languages(),
        language=who.language if who else _language(request),
        Role=Role,
        csrf_field=CSRF_FIELD,
        here=_here(request),
        **values,
    )
    return HTMLResponse(page, status_code=status)


def _here(request: Request) -> str:
    """Where the language switch comes back to: this page with its filters, or the overview
    after a form's answer (a POST's URL cannot be reloaded)."""
    if request.method != "GET":
        return "/ui"
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def _status_of(exc: AppError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def refused(who: Viewer, exc: AppError, back: str) -> HTMLResponse:
    """The page that says what the service refused, with its message, and the way back."""
    return render(
        who, who.request, "refused.html", status=_status_of(exc), message=exc.message, back=back
    )


def done(url: str) -> RedirectResponse:
    """After a successful action: back to a page (POST-redirect-GET)."""
    return RedirectResponse(url, status_code=303)


def database_pool(request: Request) -> Any:
    """The app's connection pool (the console's pages and forms share the api's)."""
    return request.app.state.pool


# --- signing in and out, language -------------------------------------------------------------


@router.post("/language")
async def choose_language(
    request: Request, language: Annotated[str, Form(max_length=10)], back: str = "/ui"
) -> Response:
    # Changing the language changes nothing stored, so it needs no session or CSRF token.
    response = done(back if back.startswith("/ui") else "/ui")
    if language in languages():
        set_cookie(request, response, LANGUAGE_COOKIE, language, max_age=365 * 86400)
    return response


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


# --- overview and the brake -------------------------------------------------------------------


@router.get("")
async def overview(who: CurrentViewer, period: Annotated[int, Query()] = 7) -> HTMLResponse:
    days = period if period in (7, 30, 90) else 7
    async with database_pool(who.request).acquire() as conn:
        stats = await stats_repo.get_stats(conn)
        trends = await stats_repo.get_trends(conn, days)
        state = await brake_repo.get_automation_state(conn)
        health = await job_repo.get_scheduler_health(conn)
        jobs = await job_repo.list_jobs(conn, removed=False, after_seq=0, limit=PAGE_SIZE)
        runs = await run_repo.list_runs(
            conn, state=None, trigger=None, job_id=None, before_seq=None, limit=10
        )
    return render(
        who,
        who.request,
        "overview.html",
        page="overview",
        stats=stats,
        trends=trends,
        period=days,
        state=state,
        health=health,
        fires=await _next_fires(who, [job for _, job in jobs if job.enabled][:5]),
        runs=[RunView.of(run) for run in runs],
    )


async def _next_fires(who: Viewer, jobs: list[JobView]) -> list[tuple[JobView, dt.datetime, bool]]:
    """Each enabled job's next fire: the scheduler's registered one, or else its cron's (with
    no scheduler running nothing fires; the page says which is which)."""
    fires: list[tuple[JobView, dt.datetime, bool]] = []
    for job in jobs:
        if job.next_run_at is not None:
            fires.append((job, job.next_run_at, True))
            continue
        try:
            upcoming = await job_service.next_fires(database_pool(who.request), job.id, 1)
        except AppError:
            continue  # removed meanwhile
        if upcoming:
            fires.append((job, upcoming[0], False))
    return sorted(fires, key=lambda fire: fire[1])


@router.post("/brake/pause")
async def pause(who: Acting, reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    if not who.can(Role.ADMIN):
        return refused(who, role_denied(Role.ADMIN, who), "/ui")
    try:
        await brake.pause_automation(
            database_pool(who.request), who.principal.actor, reason or None
        )
    except AppError as exc:
        return refused(who, exc, "/ui")
    return done("/ui")


@router.post("/brake/resume")
async def resume(who: Acting) -> Response:
    if not who.can(Role.ADMIN):
        return refused(who, role_denied(Role.ADMIN, who), "/ui")
    try:
        await brake.resume_automation(database_pool(who.request), who.principal.actor, None)
    except AppError as exc:
        return refused(who, exc, "/ui")
    return done("/ui")


def role_denied(role: Role, who: Viewer) -> AppError:
    """What a viewer without `role` is told (the API's words for a 403)."""
    return PermissionDeniedError(
        f"this needs the {role.value} role; token {who.principal.name!r} is"
        f" {who.principal.role.value}"
    )


# --- runs ---------------------------------------------------------------------------------------


@router.get("/runs")
async def runs_page(
    who: CurrentViewer,
    state: Annotated[str, Query(max_length=20)] = "",
    trigger: Annotated[str, Query(max_length=20)] = "",
    job: Annotated[str, Query(max_length=200)] = "",
    before: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    # Filters arrive as the form sends them, empty when unset; unknown values are ignored.
    chosen_state = RunState(state) if state in set(RunState) else None
    chosen_trigger = RunTrigger(trigger) if trigger in set(RunTrigger) else None
    async with database_pool(who.request).acquire() as conn:
        runs = await run_repo.list_runs(
            conn,
            state=chosen_state,
            trigger=chosen_trigger.value if chosen_trigger else None,
            job_id=job or None,
            before_seq=_positive(before),
            limit=PAGE_SIZE,
        )
    return render(
        who,
        who.request,
        "runs.html",
        page="runs",
        runs=[RunView.of(run) for run in runs],
        next_before=runs[-1].seq if len(runs) == PAGE_SIZE else None,
        filters={"state": chosen_state, "trigger": chosen_trigger, "job": job},
        states=list(RunState),
        triggers=list(RunTrigger),
    )


def _positive(text: str) -> int | None:
    """A filter's whole number, or None when empty or not one."""
    return int(text) if text.isdigit() and 0 < int(text) < 2**63 else None


@router.post("/runs/trigger")
async def trigger(who: Acting, dry_run: Annotated[bool, Form()] = False) -> Response:
    if not who.can(Role.OPERATOR):
        return refused(who, role_denied(Role.OPERATOR, who), "/ui/runs")
    try:
        answer = await trigger_run(
            database_pool(who.request),
            who.request.app.state.publisher,
            TriggerRequest(dry_run=dry_run),
            actor=who.principal.actor,
            token_name=who.principal.name,
            idempotency_key=None,
        )
    except AppError as exc:
        return refused(who, exc, "/ui/runs")
    return done(f"/ui/runs/{answer.run_id}")


async def _run(who: Viewer, run_id: uuid.UUID) -> tuple[Run, RunView]:
    async with database_pool(who.request).acquire() as conn:
        row = await run_repo.get_run(conn, run_id)
    return row, RunView.of(row)


@router.get("/runs/{run_id}")
async def run_page(who: CurrentViewer, run_id: uuid.UUID) -> HTMLResponse:
    try:
        row, run = await _run(who, run_id)
    except AppError as exc:
        return refused(who, exc, "/ui/runs")
    return render(
        who,
        who.request,
        "run.html",
        page="runs",
        run=run,
        row=row,
        active=run.state in ACTIVE_STATES,
        fragment=False,
    )


@router.get("/runs/{run_id}/numbers")
async def run_numbers(
    who: CurrentViewer, run_id: uuid.UUID, seen: Annotated[str, Query(max_length=20)] = ""
) -> HTMLResponse:
    """The fragment an active run's page polls: its state, timeline and counts; the state's
    live region is updated (out of band) only when the state differs from the `seen` one."""
    try:
        row, run = await _run(who, run_id)
    except AppError as exc:
        return refused(who, exc, "/ui/runs")
    return render(
        who,
        who.request,
        "run_numbers.html",
        run=run,
        row=row,
        active=run.state in ACTIVE_STATES,
        fragment=True,
        seen=seen,
    )


@router.post("/runs/{run_id}/cancel")
async def cancel(who: Acting, run_id: uuid.UUID) -> Response:
    back = f"/ui/runs/{run_id}"
    if not who.can(Role.OPERATOR):
        return refused(who, role_denied(Role.OPERATOR, who), back)
    try:
        await brake.cancel_run(database_pool(who.request), run_id, who.principal.actor)
    except AppError as exc:
        return refused(who, exc, back)
    return done(back)


# --- audit --------------------------------------------------------------------------------------


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
        version_id=_positive(version_id),
        rule_id=_positive(rule_id),
        run_id=run,
        actor=actor or None,
        action=action or None,
        since=_moment(since),
        until=_moment(until),
    )
    async with database_pool(who.request).acquire() as conn:
        items = await audit_repo.list_audit_entries(
            conn, where, before_id=_positive(before), limit=PAGE_SIZE
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


# --- review queue -------------------------------------------------------------------------------


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
        rule_id=rule_id if (rule_id := _positive(rule)) and rule_id < 2**31 else None,
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


@router.get("/review/{version_id}/why")
async def review_why(who: CurrentViewer, version_id: VersionId) -> HTMLResponse:
    """One version as the queue shows it: scores, snapshot beside the latest approved
    version, what changes, and the explain of every enabled rule (a fragment for htmx, a
    page of its own otherwise)."""
    try:
        item = await review_service.review_item(database_pool(who.request), version_id)
    except AppError as exc:
        return refused(who, exc, "/ui/review")
    if who.request.headers.get("hx-request"):
        return render(who, who.request, "_review_item.html", item=item)
    return render(who, who.request, "review_version.html", page="review", item=item)


@router.get("/review/{version_id}/data")
async def review_data(who: CurrentViewer, version_id: VersionId) -> Response:
    """A version's whole snapshot, exactly as stored: what a page's excerpt links to."""
    try:
        async with database_pool(who.request).acquire() as conn:
            version = await version_repo.get_version(conn, version_id)
    except AppError as exc:
        return refused(who, exc, "/ui/review")
    return Response(version.data_json, media_type="application/json")


@router.get("/review/{version_id}/explain")
async def review_explain(who: CurrentViewer, version_id: VersionId) -> HTMLResponse:
    """The explain part alone: what the queue loads when its `Why` is opened and there are
    more enabled rules than it renders inline."""
    try:
        item = await review_service.review_item(database_pool(who.request), version_id)
    except AppError as exc:
        return refused(who, exc, "/ui/review")
    return render(who, who.request, "_review_why.html", e=item.explanation)


@router.post("/review/selected")
async def decide_selected(  # noqa: PLR0917 - the selection, the decision and the queue's filters
    who: Acting,
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
    if not who.can(Role.OPERATOR):
        return refused(who, role_denied(Role.OPERATOR, who), "/ui/review")
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
        return refused(who, InvalidInputError(problem), "/ui/review")
    outcome = await review_service.decide_selection(
        database_pool(who.request), body.ids, action, who.principal.actor, body.reason
    )
    where = _review_filters(status, entity_type, source, rule)
    return await _review(who, where, report=outcome, verb=action.value)


@router.post("/review/{version_id}/{verb}")
async def decide(
    who: Acting,
    version_id: VersionId,
    verb: str,
    reason: Annotated[str, Form(max_length=1000)] = "",
    back: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    # Back to the queue as it was filtered (only a /ui/review URL is followed).
    queue = back if back.startswith("/ui/review") else "/ui/review"
    if not who.can(Role.OPERATOR):
        return refused(who, role_denied(Role.OPERATOR, who), queue)
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
        when = _utc(current.decided_at)
        message = f"{exc.message}: decided by {current.decided_by or 'unknown'} at {when}"
        return refused(who, ConflictError(message), queue)
    except AppError as exc:
        return refused(who, exc, queue)
    return done(queue)


def _utc(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).isoformat() if moment else ""


# A snapshot may be megabytes: a page shows its first SNAPSHOT_EXCERPT characters, the first
# CHANGES_SHOWN changed keys and each value cut to VALUE_EXCERPT, with a link to the whole.
SNAPSHOT_EXCERPT = 65_536
CHANGES_SHOWN = 200
VALUE_EXCERPT = 200


@dataclass(frozen=True)
class Excerpt:
    text: str
    total: int  # characters of the whole, as the page would print it

    @property
    def cut(self) -> bool:
        return self.total > len(self.text)


def _excerpt(version: Version) -> Excerpt:
    """The start of a version's snapshot: indented when it is an object, else as stored."""
    whole = version.data_json
    if whole.startswith("{"):
        whole = json.dumps(version.data, indent=2, ensure_ascii=False)
    return Excerpt(whole[:SNAPSHOT_EXCERPT], len(whole))


def _short_json(value: Any) -> Markup:
    """Jinja's `tojson` (HTML-safe: <, >, & and ' as \\u escapes), cut to VALUE_EXCERPT."""
    text = htmlsafe_json_dumps(value)
    # A slice of Markup stays Markup, and "…" is added escaped: nothing unescaped gets in.
    return text if len(text) <= VALUE_EXCERPT else text[: VALUE_EXCERPT - 1] + "…"


TEMPLATES.filters["utc"] = _utc
TEMPLATES.filters["excerpt"] = _excerpt
TEMPLATES.filters["short_json"] = _short_json
TEMPLATES.globals["changes_shown"] = CHANGES_SHOWN

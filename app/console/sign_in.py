"""Signing in and out of the console: the form, its throttle, and the way back to the page
that asked for a session; and choosing the console's language."""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated
from urllib.parse import unquote, urlencode, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.console.render import done, render, set_cookie
from app.console.session import COOKIE, LANGUAGE_COOKIE, NEXT_FIELD
from app.console.throttle import SignInThrottle, client_address
from app.console.viewer import Acting, CsrfRefused, database_pool
from app.i18n import languages
from app.logging import context
from app.services import console_sessions
from app.services.tokens import authenticate, hash_secret

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/ui", include_in_schema=False)

HOME = "/ui"
SIGN_IN = "/ui/sign-in"
MAX_NEXT_LENGTH = 2000
PRE_CSRF_COOKIE = "tt_signin_csrf"


def safe_next(value: str | None) -> str:
    """`value` when it is a page of this console, else the overview: an open redirect is
    impossible."""
    return value if value and _is_console_page(value) else HOME


def _is_console_page(value: str) -> bool:
    """A path under /ui with no scheme, host, backslash, control character or dot segment
    (never another site, never outside the console), and not the sign-in form itself."""
    if len(value) > MAX_NEXT_LENGTH or not value.startswith("/") or value.startswith("//"):
        return False
    if any(c == "\\" or ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return False
    parts = urlsplit(value)
    under_ui = parts.path == HOME or parts.path.startswith(HOME + "/")
    # Browsers resolve `..` (and `%2e%2e`) before asking: /ui/../x is not under /ui.
    dotted = any(unquote(segment) in (".", "..") for segment in parts.path.split("/"))
    return (
        not parts.scheme and not parts.netloc and under_ui and not dotted and parts.path != SIGN_IN
    )


def sign_in_url(next_page: str | None) -> str:
    """The sign-in form that returns to `next_page` (when it is a console page) afterwards."""
    back = safe_next(next_page)
    return SIGN_IN if back == HOME else f"{SIGN_IN}?{urlencode({NEXT_FIELD: back})}"


def _throttle(request: Request) -> SignInThrottle:
    throttle: SignInThrottle = request.app.state.console_throttle
    return throttle


def _client(request: Request) -> str:
    return client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        request.app.state.settings.console.trusted_proxies,
    )


@router.get("/sign-in")
async def sign_in_page(
    request: Request, next_page: Annotated[str, Query(alias=NEXT_FIELD)] = HOME
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    response = render(
        None, request, "sign_in.html", csrf=nonce, problem=None, next_page=safe_next(next_page)
    )
    set_cookie(request, response, PRE_CSRF_COOKIE, nonce, max_age=3600)
    return response


@router.post("/sign-in")
async def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=500)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next_page: Annotated[str, Form(alias=NEXT_FIELD, max_length=MAX_NEXT_LENGTH)] = HOME,
) -> Response:
    address = _client(request)
    wait = _throttle(request).retry_after(address)
    if wait is not None:
        logger.warning("Console sign-in throttled", extra=context(client=address, retry_after=wait))
        answer = render(
            None,
            request,
            "sign_in.html",
            status=429,
            csrf=request.cookies.get(PRE_CSRF_COOKIE, ""),
            problem="Too many failed sign-ins from your address. Try again in a minute.",
            next_page=safe_next(next_page),
        )
        answer.headers["Retry-After"] = str(wait)
        return answer
    expected = request.cookies.get(PRE_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        raise CsrfRefused
    secret = token.strip()
    principal = await authenticate(database_pool(request), secret) if secret else None
    settings = request.app.state.settings.console
    session_id = (
        await console_sessions.open_session(
            database_pool(request), hash_secret(secret), settings.session_hours * 3600
        )
        if principal is not None
        else None
    )
    if session_id is None:
        _throttle(request).record_failure(address)
        logger.warning("Console sign-in refused", extra=context(client=address))
        return render(
            None,
            request,
            "sign_in.html",
            status=401,
            csrf=expected,
            problem="That token is not valid (unknown or revoked).",
            next_page=safe_next(next_page),
        )
    response = done(safe_next(next_page))
    set_cookie(request, response, COOKIE, session_id, max_age=int(settings.session_hours * 3600))
    response.delete_cookie(PRE_CSRF_COOKIE, path="/ui")
    return response


@router.post("/sign-out")
async def sign_out(who: Acting) -> Response:
    await console_sessions.end_session(database_pool(who.request), who.request.cookies.get(COOKIE))
    response = done(SIGN_IN)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.post("/language")
async def choose_language(
    request: Request, language: Annotated[str, Form(max_length=10)], back: str = "/ui"
) -> Response:
    # Changing the language changes nothing stored, so it needs no session or CSRF token.
    response = done(back if back.startswith("/ui") else "/ui")
    if language in languages():
        set_cookie(request, response, LANGUAGE_COOKIE, language, max_age=365 * 86400)
    return response

"""The web console under /ui: server-rendered pages over the same services as the API.

`install_console(app, settings)` mounts the pages, their static files and the `/` redirect.
A route handler here reads through repositories and acts through services, exactly as the
API's routes do, then renders; it decides nothing itself. The kernel: language (gettext),
viewer (sessions, CSRF, role dependencies), render (templates), refusal (the refused page);
one module per page: sign_in, overview, runs, audit, review, rules, schedules.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.config import Settings
from app.console import audit, overview, review, rules, runs, schedules, sign_in
from app.console.refusal import Refused, answer_database_failure, answer_refused
from app.console.security import SecurityHeadersMiddleware
from app.console.throttle import SignInThrottle
from app.console.viewer import CsrfRefused, SignInRequired
from app.web.errors import DATABASE_FAILURES

STATIC_DIR = Path(__file__).with_name("static")


def install_console(app: FastAPI, settings: Settings) -> None:
    """Mount the console on `app`: pages under /ui, files under /ui/static, `/` -> /ui."""
    app.state.console_throttle = SignInThrottle()
    for page in (sign_in, overview, runs, audit, review, rules, schedules):
        app.include_router(page.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(Refused, answer_refused)
    # Replaces the API's handlers of these (install_error_handlers): pages answer HTML.
    for error in DATABASE_FAILURES:
        app.add_exception_handler(error, answer_database_failure)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=307)


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    # An htmx request cannot follow a redirect into a full page; it is told to reload there,
    # coming back afterwards to the page it was made from.
    if request.headers.get("hx-request"):
        current = urlsplit(request.headers.get("hx-current-url", ""))
        page = f"{current.path}?{current.query}" if current.query else current.path
        return Response(status_code=401, headers={"HX-Redirect": sign_in.sign_in_url(page)})
    # A form's POST cannot be replayed after signing in: only a page comes back.
    back: str | None = None
    if request.method == "GET":
        query = request.url.query
        back = f"{request.url.path}?{query}" if query else request.url.path
    return RedirectResponse(sign_in.sign_in_url(back), status_code=303)


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return HTMLResponse(
        "<!doctype html><title>Refused</title><p>This form has expired or did not come from"
        " the console (missing or wrong CSRF token). Go back, reload the page and try again.",
        status_code=403,
    )

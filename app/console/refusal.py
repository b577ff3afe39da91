"""The refused page: what the service refused, in its words and with its status, and the way
back. A route declares its way back once, `dependencies=[refusing(back)]`, and every
AppError it raises (a too-low role from the role dependencies included) is answered so."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.console.render import render
from app.console.viewer import CurrentViewer, Viewer
from app.errors import AppError
from app.web.errors import database_failed, database_problem, status_of

CONSOLE_PREFIX = "/ui"


def refused(who: Viewer, exc: AppError, back: str) -> HTMLResponse:
    """The page that says what the service refused, with its message, and the way back."""
    return render(
        who, who.request, "refused.html", status=status_of(exc), message=exc.message, back=back
    )


class Refused(Exception):  # noqa: N818 - answered by its handler with the refused page
    """An AppError of a console route, with the viewer and the route's way back."""

    def __init__(self, who: Viewer, error: AppError, back: str) -> None:
        super().__init__(error.message)
        self.who = who
        self.error = error
        self.back = back


async def answer_refused(request: Request, exc: Exception) -> Response:
    """The handler of Refused: the refused page."""
    assert isinstance(exc, Refused)  # noqa: S101 - registered for Refused only
    return refused(exc.who, exc.error, exc.back)


def refusing(back: str | Callable[[Request], Awaitable[str]]) -> Any:
    """A route dependency: the route's AppErrors become the refused page, whose way back is
    `back` (with the route's {path parameters} filled in), or what `back(request)` answers."""

    async def refuse(request: Request, who: CurrentViewer) -> AsyncIterator[None]:
        try:
            yield
        except AppError as exc:
            to = (
                back.format(**request.path_params) if isinstance(back, str) else await back(request)
            )
            raise Refused(who, exc, to) from exc

    return Depends(refuse)


async def answer_database_failure(request: Request, exc: Exception) -> Response:
    """A request that failed in the database (web.errors.database_problem): a console page
    answers the refused page with the same status and words (504 for a slow statement, 503
    for PostgreSQL away), without the viewer (reading it needs the database); the API, JSON."""
    if request.url.path != CONSOLE_PREFIX and not request.url.path.startswith(CONSOLE_PREFIX + "/"):
        return await database_failed(request, exc)
    problem = database_problem(request, exc)
    page = render(
        None, request, "refused.html", status=problem.status, message=problem.detail, back="/ui"
    )
    page.headers.update(problem.headers)
    return page

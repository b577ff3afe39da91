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
from app.web.errors import status_of


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

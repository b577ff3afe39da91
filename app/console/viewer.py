"""Who is looking: the viewer of a signed-in session, the CSRF check of the requests that
change something, and the role dependencies (the console's counterpart of the API's
`requires`)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from app.console.language import language_of, translator
from app.console.session import COOKIE, CSRF_FIELD, CSRF_HEADER
from app.errors import PermissionDeniedError
from app.models import Principal, Role
from app.services.console_sessions import ConsoleSession, find_session
from app.web.auth import DEV_PRINCIPAL


class SignInRequired(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by `viewer` when there is no valid session; the handler redirects to sign-in."""


class CsrfRefused(Exception):  # noqa: N818 - answered 403 by its handler
    """A state-changing request without the session's CSRF token."""


class Viewer:
    """Who is looking, in which language, with the session that carries the CSRF nonce."""

    def __init__(
        self, request: Request, principal: Principal, session: ConsoleSession | None
    ) -> None:
        self.request = request
        self.principal = principal
        self.session = session
        self.language = language_of(request)
        self.gettext: Callable[[str], str] = translator(self.language).gettext

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""

    def can(self, role: Role) -> bool:
        return self.principal.role.allows(role)


def database_pool(request: Request) -> Any:
    """The app's connection pool (the console's pages and forms share the api's)."""
    return request.app.state.pool


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


Acting = Annotated[Viewer, Depends(checked)]


def role_denied(role: Role, who: Viewer) -> PermissionDeniedError:
    """What a viewer without `role` is told (the API's words for a 403)."""
    return PermissionDeniedError(
        f"this needs the {role.value} role; token {who.principal.name!r} is"
        f" {who.principal.role.value}"
    )


def allowed(role: Role, who: Viewer) -> Viewer:
    """`who`, when they have `role`; else the API's words for a 403, raised."""
    if not who.can(role):
        raise role_denied(role, who)
    return who


def viewing_as(role: Role) -> Callable[[Viewer], Awaitable[Viewer]]:
    """A dependency: the viewer, who must have `role` (else the route's refused page)."""

    async def viewing(who: CurrentViewer) -> Viewer:
        return allowed(role, who)

    return viewing


def acting_as(role: Role) -> Callable[[Viewer], Awaitable[Viewer]]:
    """A dependency: the CSRF-checked viewer, who must have `role` (else the refused page)."""

    async def acting(who: Acting) -> Viewer:
        return allowed(role, who)

    return acting


# A too-low role raises the API's PermissionDeniedError: the route's `refusing` dependency
# (app.console.refusal) answers it as the refused page, 403.
AdminViewer = Annotated[Viewer, Depends(viewing_as(Role.ADMIN))]
ActingAdmin = Annotated[Viewer, Depends(acting_as(Role.ADMIN))]
ActingOperator = Annotated[Viewer, Depends(acting_as(Role.OPERATOR))]

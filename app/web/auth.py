"""Bearer-token authentication and role checks, done before a route reads its body.

Every route states the role it needs in its OpenAPI extension `x-required-role` (see
`requires`); `GuardedRoute` refuses to build a route that does not, and checks the caller
before FastAPI parses the request body.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from app.errors import AuthenticationError, PermissionDeniedError
from app.models import Principal, Role
from app.services.tokens import authenticate

ROLE_EXTENSION = "x-required-role"
PUBLIC = "public"
DEV_PRINCIPAL = Principal(name="dev", role=Role.ADMIN)


def requires(role: Role | str) -> dict[str, Any]:
    """`openapi_extra` for a route that needs `role` (or `PUBLIC` for no token at all)."""
    return {ROLE_EXTENSION: str(role), "security": [] if role == PUBLIC else [{"bearer": []}]}


def _bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


async def principal_for(request: Request, required: Role) -> Principal:
    if request.app.state.settings.auth.disabled:
        return DEV_PRINCIPAL
    secret = _bearer_secret(request)
    principal = await authenticate(request.app.state.pool, secret) if secret else None
    if principal is None:
        raise AuthenticationError("a valid bearer token is required (Authorization: Bearer ...)")
    if not principal.role.allows(required):
        raise PermissionDeniedError(
            f"this needs the {required.value} role;"
            f" token {principal.name!r} is {principal.role.value}"
        )
    return principal


class GuardedRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # Set before the base class builds the handler, which reads it.
        required = (kwargs.get("openapi_extra") or {}).get(ROLE_EXTENSION)
        if required is None:
            raise RuntimeError(f"route {path} does not say which role it needs")
        self.required_role: Role | None = None if required == PUBLIC else Role(required)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        required = self.required_role
        if required is None:
            return handler

        async def guarded(request: Request) -> Response:
            request.state.principal = await principal_for(request, required)
            return await handler(request)

        return guarded

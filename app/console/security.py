"""Headers every console response carries: a strict Content-Security-Policy and friends, and
`Cache-Control: no-store` on pages and fragments (a shared or back-button cache never keeps a
page someone signed in to see); the files under /ui/static stay cacheable."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style and no eval: every script and sheet is a file under /ui/static.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
NO_STORE = (b"cache-control", b"no-store")
STATIC_PREFIX = "/ui/static/"


class SecurityHeadersMiddleware:
    """Adds HEADERS (and NO_STORE but under /ui/static) to the responses of paths under /ui
    (the API keeps its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/ui"):
            await self.app(scope, receive, send)
            return

        added = HEADERS if str(scope["path"]).startswith(STATIC_PREFIX) else [*HEADERS, NO_STORE]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (key, value)
                    for key, value in message.get("headers", [])
                    if NO_STORE not in added or key.lower() != NO_STORE[0]
                ]
                message["headers"] = [*kept, *added]
            await send(message)

        await self.app(scope, receive, with_headers)

"""A request id on every request: taken from X-Request-ID when it is sane, made otherwise,
echoed in the response and carried by every log line of the request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logging import context, scoped

logger = logging.getLogger("app.api")

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._-]{1,64}")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER, b"")
        request_id = given.decode() if _SANE.fullmatch(given) else uuid.uuid4().hex
        status = 500
        started = time.monotonic()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        with scoped(request=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                logger.info(
                    "Request handled",
                    extra=context(
                        method=scope["method"],
                        path=scope["path"],
                        status=status,
                        ms=round((time.monotonic() - started) * 1000, 1),
                    ),
                )

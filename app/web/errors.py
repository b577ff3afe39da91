"""The one place that chooses HTTP statuses for the service's exceptions."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.db import CONNECTION_LOST_ERRORS, StatementCancelledError
from app.errors import (
    AppError,
    AuthenticationError,
    BusyError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from app.i18n import N_
from app.logging import context

logger = logging.getLogger("app.api")

STATUS_BY_ERROR: dict[type[AppError], int] = {
    InvalidInputError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    BusyError: 429,
    UnavailableError: 503,  # OutOfTimeError included
}


def status_of(exc: AppError) -> int:
    """The HTTP status of `exc`: its nearest class in STATUS_BY_ERROR, else 500."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
    status = status_of(exc)
    if isinstance(exc, InvalidInputError):
        # The same shape as FastAPI's own validation errors, so clients parse one format.
        problem = {"loc": list(exc.loc), "msg": exc.message, "type": "invalid_input"}
        return JSONResponse({"detail": [problem]}, status_code=status)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, UnavailableError):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    return JSONResponse({"detail": exc.message}, status_code=status, headers=headers)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each bad field. The offending input is not echoed back: it may be huge, or a
    NaN that JSON cannot carry."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    problems = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": problems}, status_code=422)


# What a 503 says and logs, by the kind of failure: the request may succeed later, so 503
# (with Retry-After), not 500.
_UNAVAILABLE = {
    "database": (N_("PostgreSQL unavailable"), "PostgreSQL is unavailable; try again shortly"),
    # A statement cancelled by its statement_timeout (or by an operator) where no domain
    # exception names it.
    "statement": (
        N_("Statement cancelled"),
        "a database statement ran out of time or was cancelled; try again shortly",
    ),
}


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    kind = "statement" if isinstance(exc, StatementCancelledError) else "database"
    logged, detail = _UNAVAILABLE[kind]
    logger.warning(logged, extra=context(path=request.url.path, why=type(exc).__name__))
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    unavailable: tuple[type[Exception], ...] = (*CONNECTION_LOST_ERRORS, StatementCancelledError)
    for error in unavailable:
        app.add_exception_handler(error, _unavailable)

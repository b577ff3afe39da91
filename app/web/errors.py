"""The one place that chooses HTTP statuses for the service's exceptions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.db import CONNECTION_LOST_ERRORS, StatementCancelledError, statement_timeout_within
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


@dataclass(frozen=True)
class DatabaseProblem:
    """What a request the database failed answers: its status, message and headers."""

    status: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)


def operation_of(request: Request) -> str:
    """What a request asked for, as people name it (`GET /api/v1/automation/stats`)."""
    return f"{request.method} {request.url.path}"


def database_problem(request: Request, exc: Exception) -> DatabaseProblem:
    """The answer to a request that failed in the database, logged once: 504 when the server
    stopped a statement (its statement_timeout, or an operator: the request was slow, the
    database is fine), else 503 with Retry-After (unreachable, restarting, a link gone: it may
    succeed later)."""
    if isinstance(exc, StatementCancelledError):
        operation = operation_of(request)
        limit = request.app.state.settings.database.command_timeout_seconds
        seconds = statement_timeout_within(limit) / 1000
        if "statement timeout" in str(exc):
            detail = (
                f"{operation} took longer than {seconds:g} s (within"
                f" DATABASE_COMMAND_TIMEOUT_SECONDS={limit:g}) and was stopped; try again later"
                " or narrow the request"
            )
        else:
            detail = f"{operation} was stopped by the database (a statement was cancelled)"
        logger.warning("Request took too long", extra=context(operation=operation, seconds=seconds))
        return DatabaseProblem(504, detail)
    logger.warning(
        "PostgreSQL unavailable",
        extra=context(path=request.url.path, why=type(exc).__name__),
    )
    return DatabaseProblem(
        503, "PostgreSQL is unavailable; try again shortly", {"Retry-After": "5"}
    )


async def database_failed(request: Request, exc: Exception) -> JSONResponse:
    """The API's answer to a request that failed in the database (database_problem)."""
    problem = database_problem(request, exc)
    return JSONResponse(
        {"detail": problem.detail}, status_code=problem.status, headers=problem.headers
    )


DATABASE_FAILURES: tuple[type[Exception], ...] = (*CONNECTION_LOST_ERRORS, StatementCancelledError)
"""What database_failed answers (the console answers them with a page of its own)."""


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    for error in DATABASE_FAILURES:
        app.add_exception_handler(error, database_failed)

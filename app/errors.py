"""One exception root for the service; the API layer alone maps these to HTTP statuses."""

from __future__ import annotations


class AppError(Exception):
    """Something the service refuses or cannot do."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.__class__.__name__).strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class InvalidInputError(AppError):
    """The input is not valid."""

    def __init__(self, message: str | None = None, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.loc = loc  # where in the request: ("query", "cursor"), ("body", "items", 3), ...


class NotFoundError(AppError):
    """No such object."""


class ConflictError(AppError):
    """The request conflicts with the current state."""


class AuthenticationError(AppError):
    """A valid bearer token is required."""


class PermissionDeniedError(AppError):
    """The token's role does not allow this."""


class UnavailableError(AppError):
    """The service cannot answer this now; try again shortly."""

    retry_after_seconds = 5


class BusyError(UnavailableError):
    """Too many requests of this kind are running; try again shortly."""

    retry_after_seconds = 2


class OutOfTimeError(UnavailableError):
    """The request needed more time than it is allowed; try again later."""


class ConfigurationError(AppError):
    """A setting is invalid."""

"""Kept for the routes that still import it from here: authentication lives in app.web.auth."""

from app.web.auth import PUBLIC, GuardedRoute, requires

__all__ = ["PUBLIC", "GuardedRoute", "requires"]

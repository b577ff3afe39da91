"""Kept for the routes that still import it from here: the dependencies live in app.web.deps."""

from app.web.deps import AppSettings, CurrentPrincipal, Cursor, DbPool, Limit

__all__ = ["AppSettings", "CurrentPrincipal", "Cursor", "DbPool", "Limit"]

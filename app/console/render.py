"""Rendering a page: the templates, with the navigation, the viewer, their language's gettext
and the filters the pages use; and the answers after an action."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from app.console.language import language_of, translator
from app.console.session import CSRF_FIELD
from app.console.viewer import Viewer
from app.i18n import languages
from app.models import Role, Version

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
PAGES = (
    ("overview", "/ui", "Overview"),
    ("runs", "/ui/runs", "Runs"),
    ("schedules", "/ui/schedules", "Schedules"),
    ("audit", "/ui/audit", "Audit"),
    ("review", "/ui/review", "Review queue"),
    ("rules", "/ui/rules", "Rules"),
)
PAGE_SIZE = 50


def render(
    who: Viewer | None, request: Request, template: str, status: int = 200, **values: Any
) -> HTMLResponse:
    """Render `template` with the navigation, the viewer and their language's gettext."""
    gettext = who.gettext if who else translator(language_of(request)).gettext
    page = TEMPLATES.get_template(template).render(
        request=request,
        who=who,
        _=gettext,
        pages=PAGES,
        languages=languages(),
        language=who.language if who else language_of(request),
        Role=Role,
        csrf_field=CSRF_FIELD,
        here=_here(request),
        **values,
    )
    return HTMLResponse(page, status_code=status)


def _here(request: Request) -> str:
    """Where the language switch comes back to: this page with its filters, or the overview
    after a form's answer (a POST's URL cannot be reloaded)."""
    if request.method != "GET":
        return "/ui"
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def done(url: str) -> RedirectResponse:
    """After a successful action: back to a page (POST-redirect-GET)."""
    return RedirectResponse(url, status_code=303)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def positive(text: str) -> int | None:
    """A filter's whole number, or None when empty or not one."""
    return int(text) if text.isdigit() and 0 < int(text) < 2**63 else None


def utc(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).isoformat() if moment else ""


# A snapshot may be megabytes: a page shows its first SNAPSHOT_EXCERPT characters, the first
# CHANGES_SHOWN changed keys and each value cut to VALUE_EXCERPT, with a link to the whole.
SNAPSHOT_EXCERPT = 65_536
CHANGES_SHOWN = 200
VALUE_EXCERPT = 200


@dataclass(frozen=True)
class Excerpt:
    text: str
    total: int  # characters of the whole, as the page would print it

    @property
    def cut(self) -> bool:
        return self.total > len(self.text)


def _excerpt(version: Version) -> Excerpt:
    """The start of a version's snapshot: indented when it is an object, else as stored."""
    whole = version.data_json
    if whole.startswith("{"):
        whole = json.dumps(version.data, indent=2, ensure_ascii=False)
    return Excerpt(whole[:SNAPSHOT_EXCERPT], len(whole))


def _short_json(value: Any) -> Markup:
    """Jinja's `tojson` (HTML-safe: <, >, & and ' as \\u escapes), cut to VALUE_EXCERPT."""
    text = htmlsafe_json_dumps(value)
    # A slice of Markup stays Markup, and "…" is added escaped: nothing unescaped gets in.
    return text if len(text) <= VALUE_EXCERPT else text[: VALUE_EXCERPT - 1] + "…"


TEMPLATES.filters["utc"] = utc
TEMPLATES.filters["excerpt"] = _excerpt
TEMPLATES.filters["short_json"] = _short_json
TEMPLATES.globals["changes_shown"] = CHANGES_SHOWN

"""The console's language: chosen by its cookie, else the browser's Accept-Language, and the
gettext translations of the pages' own catalogue."""

from __future__ import annotations

import functools
import gettext

from fastapi import Request

from app.console.session import LANGUAGE_COOKIE
from app.i18n import LOCALES_DIR, SOURCE_LANGUAGE, languages

CONSOLE_DOMAIN = "console"  # the pages' own catalogue, beside the logs' `messages`


@functools.cache
def translator(language: str) -> gettext.NullTranslations:
    """The console's translations into `language`; the identity for English."""
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    return gettext.translation(CONSOLE_DOMAIN, localedir=LOCALES_DIR, languages=[language])


def language_of(request: Request) -> str:
    """The language the request's cookie chose, else the first known one it accepts."""
    known = languages()
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in known:
        return str(chosen)
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in known:
            return tag
    return known[0]

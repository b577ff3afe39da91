"""Message catalogues: one gettext catalogue per language, kept with Babel.

Messages are written in English in the code (the msgid is the English text) and translated
where they are shown: log lines by app.logging's formatters, later the console's pages. The
sources are `locales/<language>/LC_MESSAGES/messages.po`; the compiled `.mo` beside each is
committed, so the installed package (the wheel carries every file under app/) needs no build
step. `make i18n` extracts the messages from the code (`babel.cfg` says where), updates the
`.po` files and compiles them; a unit test fails when a message in the code has no
translation or a `.mo` lags its `.po`.

English needs no catalogue: its translator returns every msgid unchanged.
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "messages"
# The language the msgids are written in.
SOURCE_LANGUAGE = "en"


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for a no-op marker
    """Mark `message` as a msgid kept in a table and translated later, where it is shown
    (Babel extracts the marked strings); returns it unchanged."""
    return message


@functools.cache
def translator(language: str) -> gettext.NullTranslations:
    """The translations into `language` (a catalogue in LOCALES_DIR); the identity for English.

    Raises FileNotFoundError for a language that has no compiled catalogue, so that a
    missing `.mo` fails at process start rather than leaving messages untranslated."""
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=LOCALES_DIR, languages=[language])


def languages() -> list[str]:
    """Every language with a catalogue, the source language first."""
    found = sorted(
        path.parent.parent.name for path in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")
    )
    return [SOURCE_LANGUAGE, *found]

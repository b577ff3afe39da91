"""Every message the console's templates translate has a Ukrainian translation, and the
committed console.mo holds exactly the console.po's translations."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from app.console.language import CONSOLE_DOMAIN
from app.console.render import PAGES
from app.i18n import LOCALES_DIR

TEMPLATES = Path(__file__).parents[2] / "app" / "console" / "templates"
MSGID = re.compile(r"""_\(\s*(["'])(.*?)\1\s*\)""")


def _template_messages() -> set[str]:
    found = {label for _, _, label in PAGES}
    for path in TEMPLATES.glob("*.html"):
        found.update(match.group(2) for match in MSGID.finditer(path.read_text()))
    return found


def _catalogue(suffix: str) -> dict[str, str]:
    path = LOCALES_DIR / "uk" / "LC_MESSAGES" / f"{CONSOLE_DOMAIN}.{suffix}"
    with path.open("rb") as source:
        catalog = read_po(source) if suffix == "po" else read_mo(source)
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str)}


def test_the_templates_have_messages_to_check() -> None:
    assert {"Sign in", "Token", "Overview", "Pause automation"} <= _template_messages()


def test_every_console_message_has_a_ukrainian_translation() -> None:
    translated = {msgid for msgid, text in _catalogue("po").items() if text}
    assert sorted(_template_messages() - translated) == []


def test_the_console_mo_matches_its_po() -> None:
    assert _catalogue("mo") == _catalogue("po")

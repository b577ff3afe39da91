"""The message catalogues: every log message in the code is a constant msgid with a
Ukrainian translation, the compiled .mo matches its .po, and the wheel carries them."""

from __future__ import annotations

import ast
import gettext
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app.i18n import DOMAIN, LOCALES_DIR, languages

ROOT = Path(__file__).parents[2]
SOURCES = ("app", "broker", "scheduler")
LOG_METHODS = ("debug", "info", "warning", "error", "exception", "critical")
# The same keywords as the Makefile's `i18n` target gives pybabel.
KEYWORDS = {**dict.fromkeys(LOG_METHODS), "N_": None}
PLACEHOLDER = re.compile(r"%\((?P<name>\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


def placeholders(text: str) -> list[str]:
    """The named %-placeholders of `text`, whole (`%(count)d`), sorted."""
    return sorted(match.group() for match in PLACEHOLDER.finditer(text))


def code_msgids() -> dict[str, str]:
    """Every msgid in the code, as `make i18n` extracts it, with where it is."""
    found: dict[str, str] = {}
    for source in SOURCES:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / source,
            method_map=[("**.py", "python")],
            keywords=KEYWORDS,
            comment_tags=(),
        ):
            assert isinstance(message, str), f"{source}/{filename}:{lineno}: plural msgid"
            found.setdefault(message, f"{source}/{filename}:{lineno}")
    return found


def catalogue(language: str) -> dict[str, str]:
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as source:
        po = read_po(source)
    return {m.id: m.string for m in po if m.id and not m.fuzzy and isinstance(m.id, str)}


def log_calls() -> list[tuple[str, ast.Call]]:
    """Every `logger.<level>(...)` call in the code, with where it is."""
    calls = []
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LOG_METHODS
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id.endswith("logger")
                ):
                    calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return calls


def test_the_code_has_log_messages_to_check():
    """The extraction finds the messages (a broken extraction would make the rest vacuous)."""
    msgids = code_msgids()
    assert "Evaluating %(count)d pending versions" in msgids
    assert "Auto-approved %(count)d versions" in msgids  # marked with N_ in a table
    assert len(log_calls()) >= 50


def test_no_log_message_is_computed():
    """A log call's message is a constant (a literal, or a name/table entry marked with N_),
    never an f-string, a concatenation, `%` or `.format`: values go in the args mapping."""
    computed = [
        where
        for where, call in log_calls()
        if call.args and isinstance(call.args[0], (ast.JoinedStr, ast.BinOp, ast.Call))
    ]
    assert computed == []


def test_log_arguments_are_one_mapping_for_named_placeholders():
    """A message with placeholders is called with one mapping (`{"count": n}`), named ones
    only, so that a translation may reorder them."""
    wrong = []
    for where, call in log_calls():
        first = call.args[0] if call.args else None
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        positional = re.search(r"%[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]", first.value)
        named = {match["name"] for match in PLACEHOLDER.finditer(first.value)}
        if positional or (
            named and (len(call.args) != 2 or not isinstance(call.args[1], ast.Dict))
        ):
            wrong.append(where)
        elif named:
            keys = {k.value for k in call.args[1].keys if isinstance(k, ast.Constant)}  # type: ignore[union-attr]
            if keys != named:
                wrong.append(f"{where}: {sorted(keys)} != {sorted(named)}")
    assert wrong == []


@pytest.mark.parametrize("language", [lang for lang in languages() if lang != "en"])
def test_every_msgid_in_the_code_is_translated(language):
    """No message goes untranslated: each msgid the code uses has a non-empty, non-fuzzy
    translation in the language's catalogue."""
    translations = catalogue(language)
    missing = [
        f"{where}: {msgid!r}"
        for msgid, where in sorted(code_msgids().items())
        if not translations.get(msgid)
    ]
    assert missing == []


@pytest.mark.parametrize("language", [lang for lang in languages() if lang != "en"])
def test_translations_keep_the_placeholders(language):
    """A translation has exactly the named placeholders of its msgid (same conversions), so
    applying the args cannot fail or drop a value."""
    wrong = [
        msgid
        for msgid, text in catalogue(language).items()
        if placeholders(msgid) != placeholders(text)
    ]
    assert wrong == []


@pytest.mark.parametrize("language", [lang for lang in languages() if lang != "en"])
def test_the_compiled_catalogue_matches_its_source(language):
    """The committed .mo holds exactly the .po's translations (run `make i18n` after editing)."""
    mo_path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with mo_path.open("rb") as compiled:
        loaded = gettext.GNUTranslations(compiled)
    expected = {msgid: text for msgid, text in catalogue(language).items() if text}
    for msgid, text in expected.items():
        assert loaded.gettext(msgid) == text, msgid
    # and nothing stale beyond the header
    assert len(loaded._catalog) - 1 == len(expected)  # type: ignore[attr-defined]


@pytest.mark.timeout(120)
def test_the_wheel_carries_the_catalogues(tmp_path):
    """The installed package (a wheel, as the image installs it) contains every .mo."""
    uv = ROOT / ".tools" / "bin" / "uv"
    subprocess.run(  # noqa: S603 - the project's own uv, building this project
        [str(uv), "build", "--wheel", "--quiet", "-o", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for language in languages():
        if language != "en":
            assert f"app/i18n/locales/{language}/LC_MESSAGES/{DOMAIN}.mo" in names

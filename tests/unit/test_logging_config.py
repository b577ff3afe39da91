"""LOG_LANGUAGE: English by default, Ukrainian on request, a bad value named at start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Language, load_settings
from app.errors import ConfigurationError

ROOT = Path(__file__).parents[2]


def test_the_default_language_is_english(monkeypatch, tmp_path):
    """With nothing set, log messages are English."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOG_LANGUAGE", raising=False)
    assert load_settings().log.language is Language.EN


@pytest.mark.parametrize("value", ["uk", "UK"])
def test_uk_is_read_from_the_environment(monkeypatch, tmp_path, value):
    """LOG_LANGUAGE=uk (any case) selects Ukrainian."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOG_LANGUAGE", value)
    assert load_settings().log.language is Language.UK


def test_uk_is_read_from_dotenv(monkeypatch, tmp_path):
    """As every setting, LOG_LANGUAGE may come from .env."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOG_LANGUAGE", raising=False)
    (tmp_path / ".env").write_text("LOG_LANGUAGE=uk\n")
    assert load_settings().log.language is Language.UK


@pytest.mark.parametrize("value", ["ua", "fr", ""])
def test_a_language_without_a_catalogue_is_refused_naming_log_language(
    monkeypatch, tmp_path, value
):
    """An unknown language stops loading with a message naming LOG_LANGUAGE."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOG_LANGUAGE", value)
    with pytest.raises(ConfigurationError, match="LOG_LANGUAGE"):
        load_settings()


@pytest.mark.timeout(30)
def test_a_bad_language_stops_the_process_at_start(tmp_path):
    """`tasktracker` with LOG_LANGUAGE=ua exits 2 naming the variable, before doing anything."""
    tasktracker = Path(sys.executable).with_name("tasktracker")
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(tasktracker), "doctor"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "LOG_LANGUAGE": "ua"},
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert done.returncode == 2
    assert "LOG_LANGUAGE" in done.stderr


def test_log_language_is_listed_in_env_example():
    """.env.example lists LOG_LANGUAGE with its default and names both languages."""
    example = (ROOT / ".env.example").read_text()
    assert "\nLOG_LANGUAGE=en\n" in example
    assert "`uk`" in example

"""Settings: defaults, environment over .env, and a bad value named at start."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from app.config import load_settings
from app.errors import ConfigurationError

ROOT = Path(__file__).parents[2]


def test_defaults_are_safe_for_local_use(monkeypatch, tmp_path):
    """With nothing set, the service targets local services with the SPEC's defaults."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.automation.timeout_seconds == 30
    assert settings.automation.max_attempts == 3
    assert settings.automation.max_decisions_per_run == 0
    assert settings.scheduler.timezone == "UTC"
    assert settings.auth.disabled is False
    assert settings.api.max_body_bytes == 8 * 1024 * 1024


def test_environment_overrides_dotenv(monkeypatch, tmp_path):
    """A variable in the environment wins over the same one in .env."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("AUTOMATION_BATCH_SIZE=123\nLOG_LEVEL=debug\n")
    assert load_settings().automation.batch_size == 123
    monkeypatch.setenv("AUTOMATION_BATCH_SIZE", "456")
    settings = load_settings()
    assert settings.automation.batch_size == 456
    assert settings.log.level.value == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTOMATION_TIMEOUT_SECONDS", "soon"),
        ("AUTOMATION_TIMEOUT_SECONDS", "-1"),
        ("AUTOMATION_BATCH_SIZE", "0"),
        ("AUTOMATION_MAX_DECISIONS_PER_RUN", "-5"),
        ("SCHEDULER_TIMEZONE", "Mars/Olympus"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "loud"),
        ("AUTH_DISABLED", "perhaps"),
        ("DATABASE_URL", "mysql://localhost/x"),
        ("RABBITMQ_URL", "http://localhost"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(monkeypatch, tmp_path, name, value):
    """Loading fails with a message that names the offending variable."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        load_settings()


def test_secrets_do_not_show_in_the_settings_repr(monkeypatch, tmp_path):
    """A password in DATABASE_URL or RABBITMQ_URL never appears when settings are printed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2@db/x")
    monkeypatch.setenv("RABBITMQ_URL", "amqp://u:hunter3@mq/")
    shown = repr(load_settings())
    assert "hunter2" not in shown
    assert "hunter3" not in shown


@pytest.mark.parametrize("password", ["Xk7/q+Zr9w=", "a@b:c%d/e+f=g", "p%40ss"])
def test_passwords_on_their_own_reach_the_urls_percent_encoded(monkeypatch, tmp_path, password):
    """DATABASE_PASSWORD and RABBITMQ_PASSWORD replace the URLs' passwords, encoded so that
    drivers decode exactly what the operator generated (`/`, `+`, `=`, `@`, `:`, `%`)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@postgres:5432/tasktracker")
    monkeypatch.setenv("DATABASE_PASSWORD", password)
    monkeypatch.setenv("RABBITMQ_URL", "amqp://tasktracker@rabbitmq:5672/")
    monkeypatch.setenv("RABBITMQ_PASSWORD", password)
    settings = load_settings()
    for url, host, port, user in (
        (settings.database.url, "postgres", 5432, "postgres"),
        (settings.broker.url, "rabbitmq", 5672, "tasktracker"),
    ):
        parts = urlsplit(url.get_secret_value())
        assert (parts.hostname, parts.port, parts.username) == (host, port, user)
        assert unquote(parts.password or "") == password


def test_an_empty_password_leaves_the_url_alone(monkeypatch, tmp_path):
    """`.env.example`'s empty RABBITMQ_PASSWORD= (a compose-only value) changes nothing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("RABBITMQ_PASSWORD=\nDATABASE_PASSWORD=\n")
    settings = load_settings()
    assert settings.broker.url.get_secret_value() == "amqp://guest:guest@127.0.0.1:5672/"
    assert settings.database.url.get_secret_value().startswith(
        "postgresql://tasktracker:tasktracker-local@127.0.0.1"
    )


def _assignments(text: str, pattern: str) -> dict[str, str]:
    return {m.group(1): m.group(2).strip() for m in re.finditer(pattern, text, re.MULTILINE)}


def test_the_code_env_example_and_make_run_share_the_database_defaults(monkeypatch, tmp_path):
    """DATABASE_URL defaults to the processes' own role (not the superuser) alike in the code,
    .env.example and the Makefile; MIGRATE_DATABASE_URL to the same owner in the last two."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code = load_settings().database.url.get_secret_value()
    example = _assignments((ROOT / ".env.example").read_text(), r"^(\w+)=(.*)$")
    make = _assignments((ROOT / "Makefile").read_text(), r"^migrate run: export (\w+) \?= (.*)$")
    assert urlsplit(code).username not in ("postgres", None)
    assert code == example["DATABASE_URL"] == make["DATABASE_URL"]
    assert example["MIGRATE_DATABASE_URL"] == make["MIGRATE_DATABASE_URL"]
    owner, processes = urlsplit(make["MIGRATE_DATABASE_URL"]), urlsplit(code)
    assert (owner.hostname, owner.port, owner.path) == (
        processes.hostname,
        processes.port,
        processes.path,
    )

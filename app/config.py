"""Settings read from the environment (and `.env`), validated once at process start.

Each group reads its own prefix, so the variable names stay the flat ones operators know
(`DATABASE_URL`, `AUTOMATION_TIMEOUT_SECONDS`, ...). Environment variables override `.env`.
"""

from __future__ import annotations

import enum
import ipaddress
import zoneinfo
from typing import Annotated, Any
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.errors import ConfigurationError


def _group(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", extra="ignore", validate_default=True
    )


def _with_password(url: SecretStr, password: SecretStr | None) -> SecretStr:
    """`url` with its password replaced by `password`, percent-encoded (drivers decode it)."""
    if password is None:
        return url
    parts = urlsplit(url.get_secret_value())
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    secret = quote(password.get_secret_value(), safe="")
    return SecretStr(urlunsplit(parts._replace(netloc=f"{user}:{secret}@{host}")))


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class Language(enum.StrEnum):
    """A language the service writes its messages in (a catalogue in app/i18n/locales)."""

    EN = "en"
    UK = "uk"


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class _PostgresConnection(BaseSettings):
    """A postgresql:// URL and, on its own, its password.

    The password as operators generate it (`openssl rand -base64` gives `/`, `+` and `=`):
    when set it replaces the URL's, percent-encoded, so nobody has to encode it."""

    url: SecretStr | None = None
    password: SecretStr | None = None

    @field_validator("password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("url")
    @classmethod
    def _postgres_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _password_into_url(self) -> _PostgresConnection:
        if self.url is not None:
            self.url = _with_password(self.url, self.password)
        return self


class DatabaseSettings(_PostgresConnection):
    """The processes' connection (DATABASE_URL, DATABASE_PASSWORD)."""

    model_config = _group("DATABASE_")

    # The processes' own role on the local server, as `make run` provisions it and as
    # .env.example lists it (README, Configuration): not the superuser, whom the audit log's
    # privileges do not bind.
    url: SecretStr = SecretStr(
        "postgresql://tasktracker:tasktracker-local@127.0.0.1:5432/tasktracker"
    )
    pool_min_size: int = Field(default=1, ge=0, le=100)
    pool_max_size: int = Field(default=10, ge=1, le=100)
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    # A statement that gets no answer for this long fails (the server may be silent rather
    # than down): requests answer 503 instead of hanging. The api's statements are stopped by
    # the server a little before it (app.db.statement_timeout_within): 504, "took too long".
    # The worker allows its run guard.
    command_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)


class MigrateDatabaseSettings(_PostgresConnection):
    """The owner's connection, for `tasktracker migrate` only (MIGRATE_DATABASE_URL,
    MIGRATE_DATABASE_PASSWORD).

    The owner creates and alters the schema and, when DATABASE_URL names another role, creates
    that role and grants it what the api, worker and scheduler use. Unset: DATABASE_URL (one
    role for everything, for a laptop; `tasktracker doctor` warns)."""

    model_config = _group("MIGRATE_DATABASE_")

    @field_validator("url", mode="before")
    @classmethod
    def _empty_url_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value


class BrokerSettings(BaseSettings):
    model_config = _group("RABBITMQ_")

    url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    exchange: str = Field(default="tasktracker", min_length=1, max_length=200)
    queue: str = Field(default="tasktracker.automation", min_length=1, max_length=200)
    publish_timeout_seconds: float = Field(default=5.0, gt=0, le=120)

    # As DATABASE_PASSWORD: replaces the URL's password, percent-encoded.
    password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _amqp_scheme(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("amqp://", "amqps://")):
            raise ValueError("must be an amqp:// or amqps:// URL")
        return value

    @field_validator("password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _password_into_url(self) -> BrokerSettings:
        self.url = _with_password(self.url, self.password)
        return self


class SchedulerSettings(BaseSettings):
    model_config = _group("SCHEDULER_")

    timezone: str = "UTC"
    misfire_grace_seconds: int = Field(default=300, ge=1, le=86_400)
    # Reconcile scheduled_jobs into APScheduler at least this often (and on every change).
    reconcile_seconds: float = Field(default=30.0, gt=0, le=30)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class AutomationSettings(BaseSettings):
    model_config = _group("AUTOMATION_")

    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    batch_size: int = Field(default=10_000, ge=1, le=1_000_000)
    max_attempts: int = Field(default=3, ge=1, le=100)
    max_decisions_per_run: int = Field(default=0, ge=0)
    heartbeat_seconds: float = Field(default=2.0, gt=0, le=60)
    # SCHEDULED is a lease: a run published but not claimed within this time is published
    # again by the workers' reapers (its message may have been lost).
    redeliver_seconds: float = Field(default=30.0, gt=0, le=3600)
    # A run with more pending versions than this at its first claim is split into `shards`
    # id ranges of about equal pending count, each a message and a lease of its own, so that
    # several workers decide it together (SPEC 6.3). 1: never split.
    shards: int = Field(default=2, ge=1, le=64)
    shard_min_versions: int = Field(default=100_000, ge=1)

    @property
    def stale_after_seconds(self) -> float:
        """A run whose worker has not beaten for this long is taken to have lost its worker."""
        return 3 * self.heartbeat_seconds


class AuditSettings(BaseSettings):
    model_config = _group("AUDIT_")

    # Entries older than this are purged by the api, hourly: the only deletion the log allows.
    # `tasktracker migrate` writes it into the database (audit_settings), where the purge
    # function reads it: the api cannot widen the purge.
    retention_days: int = Field(default=365, ge=1, le=36_500)


class ApiSettings(BaseSettings):
    model_config = _group("API_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Previews scan every pending version for any viewer: at most this many at once per api
    # process (more answer 429), each bounded by a server-side statement_timeout (503 past
    # it), so that they never take most of the pool or the database's cores.
    preview_concurrency: int = Field(default=2, ge=1, le=50)
    preview_timeout_seconds: float = Field(default=5.0, gt=0, le=300)


class LogSettings(BaseSettings):
    model_config = _group("LOG_")

    level: LogLevel = LogLevel.INFO
    format: LogFormat = LogFormat.TEXT
    # The language of log messages (operators read them); logger names and keys never change.
    language: Language = Language.EN

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("language", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class AuthSettings(BaseSettings):
    model_config = _group("AUTH_")

    disabled: bool = False


class ConsoleSettings(BaseSettings):
    """The web console under /ui: its sessions and sign-in."""

    model_config = _group("CONSOLE_")

    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # No longer used: sessions live in the database and the cookie carries a random id, so
    # nothing is signed. Still accepted so that existing environments keep starting.
    secret_key: SecretStr = SecretStr("")
    # Proxies whose X-Forwarded-For is believed when counting failed sign-ins per address:
    # comma-separated addresses or CIDRs. Empty: the peer address is the client.
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = ()

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in value.split(",")
                if part.strip()
            )
        return value


class Settings(BaseSettings):
    """Every setting of the service, grouped by the part of it that uses them."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    migrate_database: MigrateDatabaseSettings = Field(default_factory=MigrateDatabaseSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    automation: AutomationSettings = Field(default_factory=AutomationSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning a validation failure into a message that names the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    prefix = _GROUP_PREFIXES.get(exc.title, "")
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        name = prefix + "_".join(str(part) for part in error["loc"]).upper()
        problems.append(f"{name}: {error['msg']}")
    return "invalid setting " + "; ".join(problems)


_GROUP_PREFIXES = {
    DatabaseSettings.__name__: "DATABASE_",
    MigrateDatabaseSettings.__name__: "MIGRATE_DATABASE_",
    BrokerSettings.__name__: "RABBITMQ_",
    SchedulerSettings.__name__: "SCHEDULER_",
    AutomationSettings.__name__: "AUTOMATION_",
    ApiSettings.__name__: "API_",
    AuditSettings.__name__: "AUDIT_",
    LogSettings.__name__: "LOG_",
    AuthSettings.__name__: "AUTH_",
    ConsoleSettings.__name__: "CONSOLE_",
}

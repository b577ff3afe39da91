"""Migrations (Alembic): `tasktracker migrate` creates the database if needed, upgrades it as
the owner, and provisions the processes' role.

Two roles (SPEC section 3, least privilege): the owner (MIGRATE_DATABASE_URL) owns every table
and function and runs the migrations; the api, worker and scheduler connect as DATABASE_URL's
role, which owns nothing and holds only the privileges in `APP_GRANTS`. When the two URLs name
the same role (a laptop) there is nothing to provision and `tasktracker doctor` warns.
"""

from __future__ import annotations

import getpass
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import psycopg.errors
from alembic import command
from alembic.config import Config
from psycopg import sql

from app.config import DatabaseSettings
from app.db import database_name, sqlalchemy_url, with_database
from app.errors import ConfigurationError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# The audit log's tables: the processes read them and append entries (sealing, the purge and
# checkpoints run as the owner, in its SECURITY DEFINER functions). Every other table of the
# schema: SELECT, INSERT, UPDATE (a new migration's table is granted at the next migrate), UPDATE
# limited to some columns for the tables of APP_UPDATE_COLUMNS.
AUDIT_TABLES = (
    "audit_log",
    "audit_seals",
    "audit_chain_head",
    "audit_checkpoints",
    "audit_settings",
)
# The summaries (migration 0011): written only by the owner's trigger functions and its
# compaction, summaries_compact(), which the processes call.
SUMMARY_TABLES = ("version_counts", "decision_counts")
# Read, never written, by the processes.
READ_ONLY_TABLES = (*AUDIT_TABLES, *SUMMARY_TABLES, "alembic_version")
# The columns the processes may write in an entry: id, at and xid always take their defaults.
AUDIT_INSERT_COLUMNS = (
    "actor",
    "action",
    "version_id",
    "rule_id",
    "rule_revision",
    "run_id",
    "details",
)
# The only tables the processes delete from: APScheduler removes its job rows, the api expires
# idempotency keys and ends console sessions. (Find every DELETE in app/sql and scheduler/
# before adding one here.)
APP_DELETES = ("apscheduler_jobs", "idempotency_keys", "console_sessions")
# Tables whose rows the processes change in some columns only: a token is revoked (never
# renamed, re-roled or re-hashed), a session is seen again. (Find every UPDATE of the table in
# app/sql before adding a column here.)
APP_UPDATE_COLUMNS = {
    "api_tokens": ("revoked_at",),
    "console_sessions": ("last_seen_at",),
}
# The functions the processes call that PUBLIC may not.
APP_FUNCTIONS = ("audit_purge_batch()", "audit_lock_chain()", "summaries_compact()")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would read a '%' in a password as a format directive.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def ensure_database(url: str) -> bool:
    """Create the URL's database when it does not exist; True if it was created."""
    name = database_name(url)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def role_of(url: str) -> str:
    """The role a URL connects as (libpq's default when it names none)."""
    user = urlsplit(url).username
    return unquote(user) if user else os.environ.get("PGUSER") or getpass.getuser()


def migrate(
    settings: DatabaseSettings,
    *,
    owner_url: str | None = None,
    retention_days: int | None = None,
) -> None:
    """Bring the schema to the newest revision as the owner (`owner_url`, default the
    processes' URL), provision the processes' role when it is another one, and store the audit
    retention; running it again changes nothing."""
    app_url = settings.url.get_secret_value()
    url = owner_url or app_url
    if database_name(url) != database_name(app_url):
        raise ConfigurationError(
            "MIGRATE_DATABASE_URL and DATABASE_URL must name the same database"
        )
    if ensure_database(url):
        logger.info("Created database", extra={"context": {"database": database_name(url)}})
    command.upgrade(alembic_config(url), "head")
    with psycopg.connect(url, autocommit=True) as conn:
        stored = conn.execute("SELECT retention_days FROM audit_settings").fetchone()
        if retention_days is not None and stored is not None and stored[0] != retention_days:
            conn.execute("UPDATE audit_settings SET retention_days = %s", (retention_days,))
        app_role = role_of(app_url)
        owner = conn.execute("SELECT current_user").fetchone()
        if owner is not None and app_role != owner[0]:
            password = urlsplit(app_url).password
            provision_app_role(conn, app_role, unquote(password) if password else None)


def provision_app_role(conn: psycopg.Connection[Any], role: str, password: str | None) -> None:
    """Create `role` if missing (LOGIN, with `password`) and grant it exactly what the api,
    worker and scheduler use in this database's current schema, revoking anything else."""
    with conn.transaction():
        # One migrate at a time provisions (two racing CREATE ROLEs would fail one of them).
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('tasktracker.provision', 0))")
        _create_role(conn, role, password)
        for statement in _grant_statements(conn, sql.Identifier(role)):
            conn.execute(statement)


def _create_role(conn: psycopg.Connection[Any], role: str, password: str | None) -> None:
    """CREATE ROLE `role` LOGIN (with `password`) unless it exists."""
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
        create = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role))
        if password:
            create = sql.SQL("{} PASSWORD {}").format(create, sql.Literal(password))
        try:
            with conn.transaction():  # a savepoint: a migrate of another database may race
                conn.execute(create)
        except psycopg.errors.DuplicateObject:
            pass
        else:
            logger.info(
                "Created the database role of the processes", extra={"context": {"role": role}}
            )


def _grant_statements(conn: psycopg.Connection[Any], name: sql.Identifier) -> list[sql.Composed]:
    """Revoke everything from the role `name`, then grant what the processes use: the database,
    the schema, each table of the current schema, the audit log's columns and the functions."""
    schema = conn.execute("SELECT current_schema()").fetchone()
    assert schema is not None  # noqa: S101 - every session has one
    here = sql.Identifier(schema[0])
    database = sql.Identifier(conn.info.dbname)
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class AS c"
            " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v')"
            " ORDER BY c.relname"
        )
    ]
    statements = [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, name),
        sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(here, name),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(here, name),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(here, name),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(here, name),
        sql.SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {} FROM {}").format(here, name),
    ]
    for table in tables:
        statements += _table_grants(table, name)
    statements.append(
        sql.SQL("GRANT INSERT ({}) ON audit_log TO {}").format(
            sql.SQL(", ").join(map(sql.Identifier, AUDIT_INSERT_COLUMNS)), name
        )
    )
    statements.extend(
        sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(function), name)
        for function in APP_FUNCTIONS
    )
    return statements


def _table_grants(table: str, name: sql.Identifier) -> list[sql.Composed]:
    """What the processes may do with one table (READ_ONLY_TABLES, APP_UPDATE_COLUMNS,
    APP_DELETES; any other: SELECT, INSERT, UPDATE)."""
    statements = []
    ident = sql.Identifier(table)
    if table in READ_ONLY_TABLES:
        statements.append(sql.SQL("GRANT SELECT ON {} TO {}").format(ident, name))
    elif table in APP_UPDATE_COLUMNS:
        columns = sql.SQL(", ").join(map(sql.Identifier, APP_UPDATE_COLUMNS[table]))
        statements.append(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(ident, name))
        statements.append(sql.SQL("GRANT UPDATE ({}) ON {} TO {}").format(columns, ident, name))
    else:
        statements.append(sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(ident, name))
    if table in APP_DELETES:
        statements.append(sql.SQL("GRANT DELETE ON {} TO {}").format(ident, name))
    return statements

"""Migrations (Alembic): `tasktracker migrate` creates the database if needed, then upgrades."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql

from app.config import DatabaseSettings
from app.db import database_name, sqlalchemy_url, with_database

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


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


def migrate(settings: DatabaseSettings) -> None:
    """Bring the schema to the newest revision; running it again changes nothing."""
    url = settings.url.get_secret_value()
    if ensure_database(url):
        logger.info("Created database", extra={"context": {"database": database_name(url)}})
    command.upgrade(alembic_config(url), "head")

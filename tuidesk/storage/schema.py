"""Bringing the schema up to date. The CLI does it on every start, so the common case, already
current, is one small query and never imports Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

from tuidesk.storage.db import DatabaseUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration's revision; tests check it matches Alembic's head.
HEAD_REVISION = "0009"


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade_schema(engine: Engine) -> bool:
    """Upgrade to the newest revision; True when anything ran."""
    if current_revision(engine) == HEAD_REVISION:
        return False
    from alembic import command

    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"schema upgrade failed: {exc}") from exc
    return True


def open_database(url: str) -> Engine:
    """An engine on an up-to-date schema; a SQLite file's folder is made if missing."""
    from tuidesk.storage.db import make_engine

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    upgrade_schema(engine)
    return engine

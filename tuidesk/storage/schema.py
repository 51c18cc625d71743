"""Bringing the schema up to date. The CLI does it on every start, so the common case, already
current, is one small query and never imports Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

from tuidesk.storage.db import DatabaseUnavailable, unavailable_on_error

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration's revision; tests check it matches Alembic's head.
HEAD_REVISION = "0016"


def current_revision(engine: Engine) -> str | None:
    """None when the database holds no tuidesk schema; DatabaseUnavailable when it cannot be
    reached (that is "try later", not "no database")."""
    with unavailable_on_error(), engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError as exc:
            if "no such table" not in str(exc.orig):  # SQLite's word for it; else: locked, gone
                raise
            return None
        except SQLAlchemyError:  # PostgreSQL's undefined table; a file that is no database
            return None


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade_schema(engine: Engine) -> bool:
    """Upgrade to the newest revision; True when anything ran."""
    return _upgrade_from(current_revision(engine), engine)


def _upgrade_from(revision: str | None, engine: Engine) -> bool:
    if revision == HEAD_REVISION:
        return False
    from alembic import command

    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"schema upgrade failed: {exc}") from exc
    return True


class NoDatabase(Exception):
    """The URL names no tuidesk database. Only the console and `db upgrade` make one: a
    mistyped URL must not send an MTA's mail into a new database nobody looks at."""


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_database(url: str, *, create: bool = False, home: Path | None = None) -> Engine:
    """An engine on an up-to-date schema. With `create`, a SQLite file is made (0600, in an
    existing folder, or in `home`, the default data folder, made 0700 if missing) and an empty
    database gets the schema; without it, both raise NoDatabase."""
    from tuidesk.storage.db import make_engine

    path = sqlite_file(url)
    if path is not None and not path.exists():
        if not create:
            raise _missing(url)
        _create_sqlite_file(path, home)
    engine = make_engine(url)
    try:
        revision = current_revision(engine)
    except DatabaseError as exc:  # e.g. a file that is no SQLite database at all
        engine.dispose()
        raise NoDatabase(f"{shown_url(url)} is no database tuidesk can open: {exc.orig}") from exc
    if revision is None and not create:
        engine.dispose()
        raise _missing(url)
    _upgrade_from(revision, engine)
    return engine


def _missing(url: str) -> NoDatabase:
    return NoDatabase(
        f"no tuidesk database at {shown_url(url)}; run `tuidesk db upgrade` to create it"
    )


def _create_sqlite_file(path: Path, home: Path | None) -> None:
    import os

    from tuidesk.paths import PRIVATE_FILE, make_private_dir

    folder = path.parent
    if home is not None and folder.resolve() == home.resolve():
        make_private_dir(folder)
    elif not folder.is_dir():
        raise NoDatabase(f"cannot create {path}: there is no folder {folder}")
    # SQLite gives its -wal and -shm files the database file's mode.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))


def shown_url(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparseable URL is shown without its middle
        return url.split("@")[-1]

"""The database connection: SQLite (WAL, busy timeout, immediate writes, deferred reads) or any
SQLAlchemy URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError

if TYPE_CHECKING:
    from sqlmodel import Session


# Set on connections that will write: they take SQLite's write lock at BEGIN.
WRITE_OPTION = "tuidesk_write"


def _timeout() -> float:
    """How long to wait for a locked or unreachable database before answering 'try later'."""
    return float(os.environ.get("TUIDESK_DB_TIMEOUT", "30"))


class DatabaseUnavailable(Exception):
    """The database cannot be reached or stayed locked past its timeout: try again later."""


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3, which is what we install."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": _timeout(), "check_same_thread": False}
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url, pool_pre_ping=True, connect_args={"connect_timeout": max(1, int(_timeout()))}
    )


def _configure_sqlite(engine: Engine) -> None:
    """WAL lets readers work beside a writer; BEGIN IMMEDIATE takes the write lock up front,
    so parallel pipes queue on the busy timeout instead of failing on a lock upgrade."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(_timeout() * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        # Reads (`engine.connect()`) begin deferred: WAL lets them run beside a writer, and the
        # console's once-a-second poll must not queue behind, or hold up, a pipe.
        writing = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One ORM transaction (console, admin commands): commit on success, roll back on error."""
    from sqlmodel import Session

    writer = engine.execution_options(**{WRITE_OPTION: True})
    with unavailable_on_error(), Session(writer, expire_on_commit=False) as session:
        yield session
        session.commit()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """An ORM session that only reads: on SQLite it begins deferred, beside any writer."""
    from sqlmodel import Session

    with unavailable_on_error(), Session(engine, expire_on_commit=False) as session:
        yield session


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One Core transaction, for the ingest path: no ORM, so the pipe starts fast."""
    with unavailable_on_error(), engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


@contextmanager
def unavailable_on_error() -> Iterator[None]:
    """Lock and connection errors become DatabaseUnavailable, so every door can answer 'try
    again' (the pipe exits 75)."""
    try:
        yield
    except OperationalError as exc:
        raise DatabaseUnavailable(str(exc.orig) if exc.orig else str(exc)) from exc

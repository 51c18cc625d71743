"""The tables as the database has them, for the ingest path's Core statements.

The SQLModel classes in `models` declare the schema and Alembic migrates it; the pipe must not
pay for importing SQLModel and pydantic (over 100 ms), so the write path reflects the migrated
tables instead (about 15 ms on SQLite) and speaks SQLAlchemy Core."""

from __future__ import annotations

import threading
import weakref
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, MetaData, Table

from tuidesk.clock import utcnow  # noqa: F401  (re-exported: storage reads the one clock)

_reflected: weakref.WeakKeyDictionary[Engine, Tables] = weakref.WeakKeyDictionary()
_reflecting = threading.Lock()


class Tables:
    def __init__(self, metadata: MetaData) -> None:
        self._metadata = metadata

    def __getattr__(self, name: str) -> Table:
        try:
            return self._metadata.tables[name]
        except KeyError:
            raise AttributeError(name) from None


def tables(conn: Connection) -> Tables:
    """Reflected once per engine, by one thread: the console's first reads start together on
    several, and reflecting on each at once (every SQLite call giving up the GIL to a busy UI
    thread) held its first paint back about 60 ms at a million tickets."""
    found = _reflected.get(conn.engine)
    if found is None:
        with _reflecting:
            found = _reflected.get(conn.engine)
            if found is None:
                metadata = MetaData()
                metadata.reflect(conn)
                found = _reflected[conn.engine] = Tables(metadata)
    return found


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)

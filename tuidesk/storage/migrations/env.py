"""Alembic environment: runs on the connection tuidesk hands it (see storage.schema)."""

from alembic import context
from sqlalchemy import text
from sqlmodel import SQLModel

import tuidesk.storage.models  # noqa: F401 - registers the tables on SQLModel.metadata
from tuidesk.storage.search_index import include_name

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    include_name=include_name,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Two processes starting at once on a new database: one migrates, the other waits.
        connection.execute(text("SELECT pg_advisory_xact_lock(7370726)"))
    context.run_migrations()

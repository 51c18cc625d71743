"""The migrations are the schema: they create exactly the tables the models describe."""

import pytest
from alembic.script import ScriptDirectory

from tuidesk.storage.schema import HEAD_REVISION, alembic_config, current_revision, upgrade_schema


def test_head_revision_constant_matches_alembic_head():
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_current_head() == HEAD_REVISION


def test_upgrade_is_a_no_op_when_current(db_engine):
    assert current_revision(db_engine) == HEAD_REVISION
    assert upgrade_schema(db_engine) is False


# SQLite cannot reflect an expression index (message's sender, PostgreSQL's only): nothing to
# compare there.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_migrations_match_the_models(db_engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    from tuidesk.storage.search_index import include_name

    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_channels_made_before_imap_settings_existed_get_the_defaults(db_url, _isolated_home):
    """Upgrade path: a database at 0001 with a channel row goes to head with sane values."""
    from alembic import command
    from sqlalchemy import text

    from tuidesk.storage.db import make_engine

    if db_url.startswith("sqlite"):
        url = f"sqlite:///{_isolated_home / 'old.sqlite3'}"
    else:
        url = db_url.rsplit("/", 1)[0] + "/postgres"
        with make_engine(url).connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("CREATE DATABASE old_schema_test"))
        url = url.rsplit("/", 1)[0] + "/old_schema_test"
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO channel (name, kind, field_defaults, allowed_domains, attach_original)"
                " VALUES ('old', 'pipe', '{}', '[]', false)"
            )
        )
    assert upgrade_schema(engine) is True
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, folders, max_tries FROM channel")).one()
    engine.dispose()
    assert (row.status, row.max_tries) == ("draft", 3)
    assert row.folders in (["INBOX"], '["INBOX"]')

"""The migrations are the schema: they create exactly the tables the models describe."""

from alembic.script import ScriptDirectory

from tuidesk.storage.schema import HEAD_REVISION, alembic_config, current_revision, upgrade_schema


def test_head_revision_constant_matches_alembic_head():
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_current_head() == HEAD_REVISION


def test_upgrade_is_a_no_op_when_current(db_engine):
    assert current_revision(db_engine) == HEAD_REVISION
    assert upgrade_schema(db_engine) is False


def test_migrations_match_the_models(db_engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with db_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []

"""PostgreSQL tells listeners when tickets, messages or the quarantine change (LISTEN/NOTIFY on
tuidesk_changes), so consoles on any host wake at once instead of polling; nothing on SQLite

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12
"""

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# The channel tuidesk.storage.changes listens on; the payload is the table's name.
CHANNEL = 'tuidesk_changes'
_FUNCTION = 'tuidesk_notify_change'
_TABLES = ('ticket', 'message', 'quarantine')


def _postgresql() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def upgrade() -> None:
    if not _postgresql():
        return
    # Statement-level: one notification per statement, and PostgreSQL folds identical ones of
    # a transaction into one, delivered at commit (never for a rollback).
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END;
        $$
        """
    )
    for table in _TABLES:
        op.execute(
            f'CREATE TRIGGER {table}_notify_change AFTER INSERT OR UPDATE OR DELETE ON "{table}"'
            f' FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()'
        )


def downgrade() -> None:
    if not _postgresql():
        return
    for table in _TABLES:
        op.execute(f'DROP TRIGGER IF EXISTS {table}_notify_change ON "{table}"')
    op.execute(f'DROP FUNCTION IF EXISTS {_FUNCTION}()')

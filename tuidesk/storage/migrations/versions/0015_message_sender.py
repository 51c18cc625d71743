"""search: a sender's messages by address, newest first, for PostgreSQL's `from:` with a
whole address (SQLite's full-text index finds them as fast itself)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.create_index('ix_message_sender', 'message', [sa.text('lower(from_email)'), 'id'],
                    unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_index('ix_message_sender', table_name='message')

"""channel field mappings and the ticket types that take updates by email (existing channels get none)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field_mappings', sa.JSON(), nullable=False, server_default=sa.text("""'[]'""")))
        batch_op.add_column(sa.Column('update_types', sa.JSON(), nullable=False, server_default=sa.text("""'[]'""")))


def downgrade() -> None:
    with op.batch_alter_table('channel', schema=None) as batch_op:
        batch_op.drop_column('update_types')
        batch_op.drop_column('field_mappings')

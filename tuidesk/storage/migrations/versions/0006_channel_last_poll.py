"""when each channel was last read without error, for the admin's channel list

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_poll_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('channel', schema=None) as batch_op:
        batch_op.drop_column('last_poll_at')

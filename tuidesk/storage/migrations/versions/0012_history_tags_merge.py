"""find and keep: every change to a ticket as an event, tags, and the ticket a merged one
went into

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ticket_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('actor_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_ticket_event_ticket', 'ticket_event', ['ticket_id', 'id'], unique=False)
    op.create_table('ticket_tag',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('tag', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', 'tag')
    )
    op.create_index(op.f('ix_ticket_tag_tag'), 'ticket_tag', ['tag'], unique=False)
    # No foreign key: SQLite would rebuild the whole ticket table to add one.
    op.add_column('ticket', sa.Column('merged_into_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_ticket_merged_into_id'), 'ticket', ['merged_into_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ticket_merged_into_id'), table_name='ticket')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_column('merged_into_id')
    op.drop_index(op.f('ix_ticket_tag_tag'), table_name='ticket_tag')
    op.drop_table('ticket_tag')
    op.drop_index('ix_ticket_event_ticket', table_name='ticket_event')
    op.drop_table('ticket_event')

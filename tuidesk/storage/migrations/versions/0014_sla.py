"""service levels: business calendars, SLA policies, and each ticket's due times

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sla_calendar',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tz', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('hours', sa.JSON(), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('sla_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('first_response', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('next_response', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('resolution', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('branch_id', sa.Integer(), nullable=True),
    sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('queue_id', sa.Integer(), nullable=True),
    sa.Column('calendar_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], ),
    sa.ForeignKeyConstraint(['calendar_id'], ['sla_calendar.id'], ),
    sa.ForeignKeyConstraint(['queue_id'], ['queue.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    for name in ('first_response_due', 'next_response_due', 'resolution_due', 'due_at',
                 'first_response_at', 'resolved_at'):
        op.add_column('ticket', sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column('ticket', sa.Column('sla_policy', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('ticket', sa.Column('first_response_minutes', sa.Float(), nullable=True))
    op.add_column('ticket', sa.Column('resolution_minutes', sa.Float(), nullable=True))
    op.create_index(op.f('ix_ticket_due_at'), 'ticket', ['due_at'], unique=False)
    op.add_column('branch', sa.Column('escalation_agents', sa.JSON(), nullable=False,
                                      server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('branch', schema=None) as batch_op:
        batch_op.drop_column('escalation_agents')
    op.drop_index(op.f('ix_ticket_due_at'), table_name='ticket')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        for name in ('first_response_due', 'next_response_due', 'resolution_due', 'due_at',
                     'first_response_at', 'resolved_at', 'sla_policy', 'first_response_minutes',
                     'resolution_minutes'):
            batch_op.drop_column(name)
    op.drop_table('sla_policy')
    op.drop_table('sla_calendar')

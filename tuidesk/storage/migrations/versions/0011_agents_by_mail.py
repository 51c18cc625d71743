"""an agent's day: which events each agent is mailed about, the addresses they mail from and
their signature; the channel's signature; canned replies; the notifications sent (to fold
events within the minimum interval); the agent who wrote a message

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('canned_reply',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('last_sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('agent_id', 'ticket_id')
    )
    op.create_index(op.f('ix_notification_ticket_id'), 'notification', ['ticket_id'], unique=False)
    # Existing agents get the defaults: replies on their tickets, assignments, failed mail.
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify', sa.JSON(), nullable=False, server_default=sa.text("""'["reply", "assigned", "failed"]'""")))
        batch_op.add_column(sa.Column('aliases', sa.JSON(), nullable=False, server_default=sa.text("""'[]'""")))
        batch_op.add_column(sa.Column('signature', sa.Text(), nullable=False, server_default=sa.text("''")))
    # No foreign key: SQLite would rebuild the whole message table to add one.
    op.add_column('message', sa.Column('agent_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('outgoing_channel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signature', sa.Text(), nullable=False, server_default=sa.text("''")))


def downgrade() -> None:
    with op.batch_alter_table('outgoing_channel', schema=None) as batch_op:
        batch_op.drop_column('signature')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_column('agent_id')
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.drop_column('signature')
        batch_op.drop_column('aliases')
        batch_op.drop_column('notify')
    op.drop_index(op.f('ix_notification_ticket_id'), table_name='notification')
    op.drop_table('notification')
    op.drop_table('canned_reply')

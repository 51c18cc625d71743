"""a ticket opened by a reply that could not join the ticket it answered (a non-participant's)
names that ticket

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No foreign key: SQLite would rebuild the whole ticket table to add one. The index keeps
    # "which tickets were opened against this one" (every ticket view asks) off a table scan.
    op.add_column('ticket', sa.Column('linked_ticket_id', sa.Integer(), nullable=True))
    op.create_index('ix_ticket_linked_ticket_id', 'ticket', ['linked_ticket_id'])


def downgrade() -> None:
    op.drop_index('ix_ticket_linked_ticket_id', table_name='ticket')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_column('linked_ticket_id')

"""report: the period's tickets read from two covering indexes, by when they were opened and
when they were resolved (the resolved ones only), not from the table

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

RESOLVED = sa.text("resolved_at IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_ticket_opened",
        "ticket",
        ["created_at", "assignee_id", "branch_id", "first_response_minutes", "sla_policy"],
        unique=False,
    )
    op.create_index(
        "ix_ticket_resolved",
        "ticket",
        ["resolved_at", "assignee_id", "branch_id", "resolution_minutes", "sla_policy"],
        unique=False,
        sqlite_where=RESOLVED,
        postgresql_where=RESOLVED,
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_resolved", table_name="ticket")
    op.drop_index("ix_ticket_opened", table_name="ticket")

"""find anything: a full-text index over messages, titles, requesters and attachment names,
kept by triggers in the writer's transaction, filled from what is already stored

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from alembic import op

from tuidesk.storage.search_index import backfill, create_search_index, drop_search_index

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    create_search_index(conn)
    backfill(conn)


def downgrade() -> None:
    drop_search_index(op.get_bind())

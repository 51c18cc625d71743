"""a database with no branch gets the default one (Support, SUP, no address), so the first mail
piped, imported or polled with no set-up becomes a ticket instead of waiting in quarantine

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_branch = sa.table(
    'branch',
    sa.column('name', sa.String()),
    sa.column('key', sa.String()),
    sa.column('addresses', sa.JSON()),
    sa.column('domains', sa.JSON()),
    sa.column('is_default', sa.Boolean()),
    sa.column('created_at', sqlmodel.sql.sqltypes.UTCDateTime()),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.select(sa.func.count()).select_from(_branch)).scalar_one():
        return
    op.bulk_insert(
        _branch,
        [
            {
                'name': 'Support', 'key': 'SUP', 'addresses': [], 'domains': [],
                'is_default': True, 'created_at': datetime.now(UTC),
            }
        ],
    )


def downgrade() -> None:
    # The branch is the admin's from the moment it exists: leave it.
    pass

"""OAuth2 settings, the pasted refresh token and MSAL's token cache on incoming and outgoing channels

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_TABLES = ('channel', 'outgoing_channel')


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('oauth_tenant', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
            batch_op.add_column(sa.Column('oauth_client_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
            batch_op.add_column(sa.Column('oauth_scopes', sa.JSON(), nullable=False, server_default=sa.text("""'[]'""")))
            batch_op.add_column(sa.Column('oauth_authority', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
            batch_op.add_column(sa.Column('oauth_redirect_url', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
            batch_op.add_column(sa.Column('oauth_certificate', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
            batch_op.add_column(sa.Column('oauth_refresh_token', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
            batch_op.add_column(sa.Column('token_cache', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
            batch_op.add_column(sa.Column('token_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in ('token_expires_at', 'token_cache', 'oauth_refresh_token', 'oauth_certificate',
                           'oauth_redirect_url', 'oauth_authority', 'oauth_scopes',
                           'oauth_client_id', 'oauth_tenant'):
                batch_op.drop_column(column)

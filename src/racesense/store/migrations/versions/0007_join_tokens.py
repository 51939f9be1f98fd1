"""tokens: when a one-time join token (a QR code's) was exchanged

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null for every token made before this release, and for every token of another
    # scope: only a "join" token is ever marked used.
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("used_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Join tokens mean nothing to an older release: they go (used or not), rather than
    # become tokens of a scope it does not know.
    op.execute("DELETE FROM tokens WHERE scope = 'join'")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("used_at")

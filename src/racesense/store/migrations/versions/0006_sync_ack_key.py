"""syncs: the per-sync secret that proves an upload's acknowledgement to the logger

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Syncs made before this release keep a null key: their uploads carry no proof, and
    # a logger that asks for one treats the file as not acknowledged (it stays pending).
    with op.batch_alter_table("syncs") as batch:
        batch.add_column(sa.Column("ack_key", sa.LargeBinary(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("syncs") as batch:
        batch.drop_column("ack_key")

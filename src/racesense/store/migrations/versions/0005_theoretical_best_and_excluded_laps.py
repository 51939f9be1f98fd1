"""sessions: theoretical best in the summary; laps the user excluded by hand

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("theoretical_best_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("excluded_laps", sa.Text(), nullable=True))
    # The summary column is filled from the stored documents: no re-analysis needed.
    sessions = sa.table(
        "sessions",
        sa.column("id", sa.String),
        sa.column("result", sa.Text),
        sa.column("theoretical_best_s", sa.Float),
    )
    bind = op.get_bind()
    import json

    for row in bind.execute(sa.select(sessions.c.id, sessions.c.result)).all():
        if not row.result:
            continue
        value = json.loads(row.result).get("theoretical_best_s")
        if isinstance(value, int | float):
            bind.execute(
                sessions.update()
                .where(sessions.c.id == row.id)
                .values(theoretical_best_s=float(value))
            )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("excluded_laps")
        batch.drop_column("theoretical_best_s")

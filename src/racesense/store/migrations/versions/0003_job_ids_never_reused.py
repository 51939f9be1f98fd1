"""job ids are never reused (SQLite AUTOINCREMENT)

SQLite gives a new row the largest id + 1 unless the table is AUTOINCREMENT, so the job
of a deleted session could hand its id to the next upload's job while a worker still
held it. PostgreSQL's sequences never reuse ids: nothing to do there.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "jobs", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.alter_column("id", autoincrement=True)


def downgrade() -> None:
    pass  # AUTOINCREMENT does no harm to an older release

"""results without per-request state, Arrow traces, error codes, start/finish columns

The stored results document no longer carries id/status/error, traces are Arrow IPC
instead of gzip JSON, and failures keep their code apart. Derived data is rebuilt from
the raw files, so rather than convert it, this drops it and queues every session for
analysis again: the server does that at its next start.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sf_lat", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("sf_lon", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_sessions_sf_lat"), ["sf_lat"], unique=False)

    now = dt.datetime.now(dt.UTC)
    op.execute("DELETE FROM traces")
    op.execute(
        "UPDATE sessions SET result = NULL, error = NULL, status = 'queued', analysed_at = NULL"
    )
    op.execute("DELETE FROM jobs WHERE state IN ('queued', 'processing')")
    jobs = sa.table(
        "jobs",
        sa.column("session_id", sa.String),
        sa.column("state", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("not_before", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    ids = [row[0] for row in op.get_bind().execute(sa.text("SELECT id FROM sessions"))]
    if ids:
        op.bulk_insert(
            jobs,
            [
                {
                    "session_id": i,
                    "state": "queued",
                    "attempts": 0,
                    "not_before": now,
                    "created_at": now,
                }
                for i in ids
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_sf_lat"))
        batch_op.drop_column("sf_lon")
        batch_op.drop_column("sf_lat")
        batch_op.drop_column("error_code")

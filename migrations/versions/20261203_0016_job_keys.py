"""job run keys long enough for an organisation's slug

Revision ID: 0016_job_keys
Revises: 0015_return_comment
Create Date: 2026-12-03 13:10:00

A job's guard key is ``<organisation slug>:<key>``: with a slug of up to 64 characters and a key
such as ``enquete-1234-2026-11-30`` it outgrew 32 characters (PostgreSQL refused it; SQLite does
not check lengths).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_job_keys"
down_revision: str | None = "0015_return_comment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.alter_column(
            "period_key",
            existing_type=sa.String(length=32),
            type_=sa.String(length=160),
            existing_nullable=False,
        )


def downgrade() -> None:
    op.execute("DELETE FROM job_runs WHERE length(period_key) > 32")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.alter_column(
            "period_key",
            existing_type=sa.String(length=160),
            type_=sa.String(length=32),
            existing_nullable=False,
        )

"""the direction's return comment kept apart from the service's own comment

Revision ID: 0015_return_comment
Revises: 0014_scenario_sharing
Create Date: 2026-12-03 20:00:00

Returning a value used to append « Renvoyée par la direction : … » to the manager's comment, which
the manager's next save then carried as their own. The direction's comment now has its own column,
``measurements.review_comment``. Existing comments are split: the last « Renvoyée par la
direction : » note moves to the new column, the text before it stays the manager's. Downgrade
writes the note back into the comment, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_return_comment"
down_revision: str | None = "0014_scenario_sharing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTE = "Renvoyée par la direction : "

measurements = sa.table(
    "measurements",
    sa.column("id", sa.Integer()),
    sa.column("comment", sa.Text()),
    sa.column("review_comment", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_comment", sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(measurements.c.id, measurements.c.comment).where(measurements.c.comment.like(f"%{NOTE}%"))
    ).all()
    for row_id, comment in rows:
        own, _, note = comment.rpartition(NOTE)
        bind.execute(
            measurements.update()
            .where(measurements.c.id == row_id)
            .values(comment=own.rstrip("\n") or None, review_comment=note.strip() or None)
        )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(measurements.c.id, measurements.c.comment, measurements.c.review_comment).where(
            measurements.c.review_comment.is_not(None)
        )
    ).all()
    for row_id, comment, review in rows:
        note = f"{NOTE}{review}"
        bind.execute(
            measurements.update()
            .where(measurements.c.id == row_id)
            .values(comment=f"{comment}\n{note}" if comment else note)
        )
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.drop_column("review_comment")

"""effective dates of objectives and indicators

Revision ID: 0009_effective_dates
Revises: 0008
Create Date: 2026-12-03 11:00:00

Objectives and indicators count in scorecards (and indicators' values are owed) from their
``effective_from`` date. Existing rows are given the start of their organisation's earliest
period (or, with no period, the day they were created), so that the history they already have
keeps counting; NULL stays allowed and means "since always" for rows written without one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_effective_dates"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("objectives", "indicators")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("effective_from", sa.Date(), nullable=True))
    periods = sa.table("periods", sa.column("organisation_id"), sa.column("start_date"))
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name in TABLES:
        rows = sa.table(
            name, sa.column("organisation_id"), sa.column("created_at"), sa.column("effective_from")
        )
        first_period = (
            sa.select(sa.func.min(periods.c.start_date))
            .where(periods.c.organisation_id == rows.c.organisation_id)
            .scalar_subquery()
        )
        created_day = sa.func.date(rows.c.created_at) if sqlite else sa.cast(rows.c.created_at, sa.Date)
        op.execute(rows.update().values(effective_from=sa.func.coalesce(first_period, created_day)))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("effective_from")

"""stored benchmark indicators: one value per organisation and standard indicator, with its vintage

Revision ID: 0019_benchmark_values
Revises: 0018_tasks
Create Date: 2026-12-03 15:40:00

The benchmark page and CLI read these rows instead of recomputing every organisation at each view;
``benchmark_refreshes`` says when an organisation's rows were computed and whether they are stale.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_benchmark_values"
down_revision: str | None = "0018_tasks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "benchmark_values",
        sa.Column("id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("code", sa.String(length=80), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_benchmark_values_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benchmark_values")),
        sa.UniqueConstraint("organisation_id", "code", name=op.f("uq_benchmark_values_organisation_id_code")),
    )
    op.create_index("ix_benchmark_values_code_value", "benchmark_values", ["code", "value"], unique=False)
    op.create_table(
        "benchmark_refreshes",
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_benchmark_refreshes_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_benchmark_refreshes")),
    )


def downgrade() -> None:
    op.drop_table("benchmark_refreshes")
    op.drop_index("ix_benchmark_values_code_value", table_name="benchmark_values")
    op.drop_table("benchmark_values")

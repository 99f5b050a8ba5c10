"""objective links: "contributes to" links between objectives, drawn on the strategy map

Revision ID: 0012_objective_links
Revises: 0011_org_setup
Create Date: 2026-12-03 15:00:00

The direction links an objective to another of a different perspective (training the staff
contributes to shorter processing delays); one link per ordered pair, never to itself.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_objective_links"
down_revision: str | None = "0011_org_setup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "objective_links",
        sa.Column("id", ID_TYPE, nullable=False),
        sa.Column("organisation_id", ID_TYPE, nullable=False),
        sa.Column("source_id", ID_TYPE, nullable=False),
        sa.Column("target_id", ID_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("source_id <> target_id", name=op.f("ck_objective_links_not_to_itself")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_objective_links_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["objectives.id"],
            name=op.f("fk_objective_links_source_id_objectives"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["objectives.id"],
            name=op.f("fk_objective_links_target_id_objectives"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objective_links")),
        sa.UniqueConstraint("source_id", "target_id", name=op.f("uq_objective_links_source_id_target_id")),
    )
    with op.batch_alter_table("objective_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_objective_links_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_objective_links_source_id"), ["source_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_objective_links_target_id"), ["target_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("objective_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_objective_links_target_id"))
        batch_op.drop_index(batch_op.f("ix_objective_links_source_id"))
        batch_op.drop_index(batch_op.f("ix_objective_links_organisation_id"))
    op.drop_table("objective_links")

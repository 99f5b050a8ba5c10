"""action plans: fiches action, milestones and follow-ups

Revision ID: 0017_action_plans
Revises: 0016_job_keys
Create Date: 2026-12-03 14:18:53

Fiches action (issue 18): an action serves one objective, with a pilot, a referent élu, partners,
a budget, dates, a status and a progress percentage; the activities and indicators it moves and
the needs it answers; dated milestones (jalons) with a state; follow-ups (progress and comment)
written at a review or between reviews.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_action_plans"
down_revision: str | None = "0016_job_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "action_plans",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("objective_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("service_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("elected_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("partners", sa.String(length=500), nullable=True),
        sa.Column("budget", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("review_action_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('planned', 'in_progress', 'done', 'suspended', 'dropped')",
            name=op.f("ck_action_plans_status_known"),
        ),
        sa.CheckConstraint("budget IS NULL OR budget >= 0", name=op.f("ck_action_plans_budget_non_negative")),
        sa.CheckConstraint(
            "due_date IS NULL OR start_date IS NULL OR due_date >= start_date",
            name=op.f("ck_action_plans_dates_order"),
        ),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 100", name=op.f("ck_action_plans_progress_percent")
        ),
        sa.ForeignKeyConstraint(
            ["elected_id"], ["users.id"], name=op.f("fk_action_plans_elected_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["objective_id"],
            ["objectives.id"],
            name=op.f("fk_action_plans_objective_id_objectives"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_action_plans_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_action_plans_owner_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["review_action_id"],
            ["review_actions.id"],
            name=op.f("fk_action_plans_review_action_id_review_actions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_action_plans_service_id_services"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_plans")),
        sa.UniqueConstraint("organisation_id", "code", name=op.f("uq_action_plans_organisation_id_code")),
    )
    with op.batch_alter_table("action_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_plans_objective_id"), ["objective_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_action_plans_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_action_plans_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_action_plans_service_id"), ["service_id"], unique=False)

    op.create_table(
        "action_milestones",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(state = 'done') = (done_on IS NOT NULL)", name=op.f("ck_action_milestones_done_on_iff_done")
        ),
        sa.CheckConstraint(
            "state IN ('planned', 'done', 'dropped')", name=op.f("ck_action_milestones_state_known")
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["action_plans.id"],
            name=op.f("fk_action_milestones_action_id_action_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_action_milestones_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_milestones")),
    )
    with op.batch_alter_table("action_milestones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_milestones_action_id"), ["action_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_action_milestones_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "action_plan_activities",
        sa.Column("action_plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("activity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_plan_id"],
            ["action_plans.id"],
            name=op.f("fk_action_plan_activities_action_plan_id_action_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_action_plan_activities_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("action_plan_id", "activity_id", name=op.f("pk_action_plan_activities")),
    )
    op.create_table(
        "action_plan_indicators",
        sa.Column("action_plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("indicator_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_plan_id"],
            ["action_plans.id"],
            name=op.f("fk_action_plan_indicators_action_plan_id_action_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_action_plan_indicators_indicator_id_indicators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("action_plan_id", "indicator_id", name=op.f("pk_action_plan_indicators")),
    )
    op.create_table(
        "action_plan_needs",
        sa.Column("action_plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("need_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_plan_id"],
            ["action_plans.id"],
            name=op.f("fk_action_plan_needs_action_plan_id_action_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["need_id"], ["needs.id"], name=op.f("fk_action_plan_needs_need_id_needs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("action_plan_id", "need_id", name=op.f("pk_action_plan_needs")),
    )
    op.create_table(
        "action_updates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("review_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["action_plans.id"],
            name=op.f("fk_action_updates_action_id_action_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_action_updates_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_action_updates_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_action_updates_review_id_reviews"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_updates")),
    )
    with op.batch_alter_table("action_updates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_updates_action_id"), ["action_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_action_updates_organisation_id"), ["organisation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("action_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_updates_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_action_updates_action_id"))

    op.drop_table("action_updates")
    op.drop_table("action_plan_needs")
    op.drop_table("action_plan_indicators")
    op.drop_table("action_plan_activities")
    with op.batch_alter_table("action_milestones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_milestones_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_action_milestones_action_id"))

    op.drop_table("action_milestones")
    with op.batch_alter_table("action_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_plans_service_id"))
        batch_op.drop_index(batch_op.f("ix_action_plans_owner_id"))
        batch_op.drop_index(batch_op.f("ix_action_plans_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_action_plans_objective_id"))

    op.drop_table("action_plans")

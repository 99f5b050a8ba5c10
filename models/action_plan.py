"""Action plans (fiches action): what a service does to move an objective, with its milestones.

An action belongs to one objective (the one it serves; its service is the objective's or
another one the direction names), has a pilot and a referent élu, partners, a budget, start and
due dates, a status and a progress percentage, the activities and indicators it moves and the
needs it answers. Milestones (jalons) are dated steps with a state; a milestone still planned
after its date is late (computed, not stored). Each review may leave a comment and a progress
figure on the action (:class:`ActionUpdate`), so the sheet keeps its history.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.activity import Activity, Service
from models.base import Base, IdType, Money, TimestampMixin, VersionedMixin, utcnow
from models.indicator import Indicator
from models.need import Need
from models.objective import Objective

#: The states of an action, in the order of its life.
ACTION_STATUSES = ("planned", "in_progress", "done", "suspended", "dropped")
#: The states of a milestone.
MILESTONE_STATES = ("planned", "done", "dropped")

action_plan_activities = Table(
    "action_plan_activities",
    Base.metadata,
    Column("action_plan_id", ForeignKey("action_plans.id", ondelete="CASCADE"), primary_key=True),
    Column("activity_id", ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True),
)

action_plan_indicators = Table(
    "action_plan_indicators",
    Base.metadata,
    Column("action_plan_id", ForeignKey("action_plans.id", ondelete="CASCADE"), primary_key=True),
    Column("indicator_id", ForeignKey("indicators.id", ondelete="CASCADE"), primary_key=True),
)

action_plan_needs = Table(
    "action_plan_needs",
    Base.metadata,
    Column("action_plan_id", ForeignKey("action_plans.id", ondelete="CASCADE"), primary_key=True),
    Column("need_id", ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True),
)


class ActionPlan(TimestampMixin, VersionedMixin, Base):
    """A fiche action: one action serving one objective, followed up at the reviews."""

    __tablename__ = "action_plans"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        CheckConstraint(
            "status IN ('planned', 'in_progress', 'done', 'suspended', 'dropped')", name="status_known"
        ),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_percent"),
        CheckConstraint(
            "due_date IS NULL OR start_date IS NULL OR due_date >= start_date", name="dates_order"
        ),
        CheckConstraint("budget IS NULL OR budget >= 0", name="budget_non_negative"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    objective_id: Mapped[int] = mapped_column(ForeignKey("objectives.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    #: The pilot: who carries the action and is told when a milestone is due or late.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    #: The referent élu·e.
    elected_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: Partners taking part (CAF, associations…), as written.
    partners: Mapped[str | None] = mapped_column(String(500))
    budget: Mapped[Decimal | None] = mapped_column(Money)
    start_date: Mapped[date | None]
    due_date: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16), default="planned")
    progress: Mapped[int] = mapped_column(default=0)
    #: The review decision it comes from, if any.
    review_action_id: Mapped[int | None] = mapped_column(ForeignKey("review_actions.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None]

    objective: Mapped[Objective] = relationship()
    service: Mapped[Service | None] = relationship()
    activities: Mapped[list[Activity]] = relationship(secondary=action_plan_activities)
    indicators: Mapped[list[Indicator]] = relationship(secondary=action_plan_indicators)
    needs: Mapped[list[Need]] = relationship(secondary=action_plan_needs)
    milestones: Mapped[list[ActionMilestone]] = relationship(
        back_populates="action",
        cascade="all, delete-orphan",
        order_by="(ActionMilestone.due_date, ActionMilestone.id)",
    )
    updates: Mapped[list[ActionUpdate]] = relationship(
        back_populates="action", cascade="all, delete-orphan", order_by="ActionUpdate.created_at.desc()"
    )


class ActionMilestone(TimestampMixin, VersionedMixin, Base):
    """A jalon: a dated step of an action; late when still planned after its date."""

    __tablename__ = "action_milestones"
    __table_args__ = (
        CheckConstraint("state IN ('planned', 'done', 'dropped')", name="state_known"),
        CheckConstraint("(state = 'done') = (done_on IS NOT NULL)", name="done_on_iff_done"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    action_id: Mapped[int] = mapped_column(ForeignKey("action_plans.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    due_date: Mapped[date]
    state: Mapped[str] = mapped_column(String(16), default="planned")
    done_on: Mapped[date | None]

    action: Mapped[ActionPlan] = relationship(back_populates="milestones")


class ActionUpdate(Base):
    """A follow-up of an action: its progress and a comment, at a review or between reviews."""

    __tablename__ = "action_updates"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    action_id: Mapped[int] = mapped_column(ForeignKey("action_plans.id", ondelete="CASCADE"), index=True)
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id", ondelete="SET NULL"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    progress: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    action: Mapped[ActionPlan] = relationship(back_populates="updates")

"""Objectives: strategic axes from the ABS cascaded into operational objectives of services."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.activity import Activity, Service
from models.base import Base, IdType, TimestampMixin, VersionedMixin, enum_type
from models.enums import ObjectiveLevel, ObjectiveStatus, Perspective
from models.need import Need

objective_needs = Table(
    "objective_needs",
    Base.metadata,
    Column("objective_id", ForeignKey("objectives.id", ondelete="CASCADE"), primary_key=True),
    Column("need_id", ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True),
)

objective_activities = Table(
    "objective_activities",
    Base.metadata,
    Column("objective_id", ForeignKey("objectives.id", ondelete="CASCADE"), primary_key=True),
    Column("activity_id", ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True),
)


class Objective(TimestampMixin, VersionedMixin, Base):
    """A node of the objectives tree.

    An operational objective is assigned to one service; a strategic one may stand above
    services. Its ``weight`` counts in the scorecard's roll-up to its parent and perspective.
    """

    __tablename__ = "objectives"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        CheckConstraint("level = 'strategic' OR service_id IS NOT NULL", name="operational_has_service"),
        CheckConstraint("weight > 0", name="weight_positive"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at_iff_closed"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("objectives.id", ondelete="RESTRICT"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    level: Mapped[ObjectiveLevel] = mapped_column(enum_type(ObjectiveLevel))
    perspective: Mapped[Perspective] = mapped_column(enum_type(Perspective))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="RESTRICT"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deadline: Mapped[date | None]
    weight: Mapped[float] = mapped_column(default=1.0)
    #: The first day it counts in scorecards (None: since always, rows made before effective
    #: dates); a period that ended before it is computed without it.
    effective_from: Mapped[date | None]
    status: Mapped[ObjectiveStatus] = mapped_column(
        enum_type(ObjectiveStatus), default=ObjectiveStatus.ACTIVE
    )
    closed_at: Mapped[datetime | None]

    parent: Mapped[Objective | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Objective]] = relationship(back_populates="parent")
    service: Mapped[Service | None] = relationship()
    needs: Mapped[list[Need]] = relationship(secondary=objective_needs)
    activities: Mapped[list[Activity]] = relationship(secondary=objective_activities)


class ObjectiveLink(TimestampMixin, VersionedMixin, Base):
    """A "contributes to" link the direction draws on the strategy map between two objectives.

    The cascade (``Objective.parent_id``) says who breaks down what; a link says that reaching
    ``source`` helps reach ``target`` across perspectives (training the staff helps shorten
    processing delays, which helps coverage). One link per ordered pair.
    """

    __tablename__ = "objective_links"
    __table_args__ = (
        UniqueConstraint("source_id", "target_id"),
        CheckConstraint("source_id <> target_id", name="not_to_itself"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    source_id: Mapped[int] = mapped_column(ForeignKey("objectives.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("objectives.id", ondelete="CASCADE"), index=True)

    source: Mapped[Objective] = relationship(foreign_keys=[source_id])
    target: Mapped[Objective] = relationship(foreign_keys=[target_id])

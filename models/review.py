"""Reviews: the scorecard of a period, frozen for the review meeting."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdType, TimestampMixin, utcnow


class Review(TimestampMixin, Base):
    """A frozen scorecard: values, statuses, roll-ups and comments as they were at ``frozen_at``.

    The snapshot is a JSON document so that later edits of measurements, targets or weights
    never change what was reviewed.
    """

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("organisation_id", "period_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    frozen_at: Mapped[datetime]
    frozen_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    snapshot: Mapped[dict[str, Any]]
    #: The review pack (Excel workbook) kept for download, under the instance folder.
    pack_path: Mapped[str | None] = mapped_column(String(500))
    pack_built_at: Mapped[datetime | None]


class ReviewAction(Base):
    """A decision or action item recorded at a review, against an objective or an indicator,
    followed up at the next reviews."""

    __tablename__ = "review_actions"
    __table_args__ = (CheckConstraint("status IN ('open', 'done', 'dropped')", name="status_known"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    objective_id: Mapped[int | None] = mapped_column(ForeignKey("objectives.id", ondelete="SET NULL"))
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due_date: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(8), default="open")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

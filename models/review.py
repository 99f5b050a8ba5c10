"""Reviews: the scorecard of a period, frozen for the review meeting."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdType, TimestampMixin


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

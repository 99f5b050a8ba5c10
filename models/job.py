"""Guard rows of scheduled jobs: one run per job and period, whatever the number of schedulers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdType, utcnow


class JobRun(Base):
    """A run of a scheduled job for a period; only the process that inserted the row works."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job_name", "period_key"),
        CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    job_name: Mapped[str] = mapped_column(String(64))
    #: ``<organisation slug>:<key>`` (a slug is up to 64 characters)
    period_key: Mapped[str] = mapped_column(String(160))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

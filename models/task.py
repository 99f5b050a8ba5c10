"""Background tasks: what a page asked the worker to do, its progress, and its result file.

The row is the one truth the pages read (« en file d'attente », « en cours 40 % », « prêt »,
« échec : … »), whatever carries the work to a worker (procrastinate on PostgreSQL, this table
itself on SQLite: ``pilotis.worker``). A result (a PDF, a Word file) is stored in the row, so that
any web process can serve it, whichever machine's worker wrote it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdType, utcnow

TASK_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="state_known"
        ),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_percent"),
        Index("ix_tasks_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    #: who asked (None: the scheduler)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: what to do: a key of ``pilotis.worker.HANDLERS``
    kind: Mapped[str] = mapped_column(String(32))
    #: what the page looks the task up by (e.g. ``abs-pdf:2026:full:``)
    key: Mapped[str] = mapped_column(String(200), default="")
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[str] = mapped_column(String(200), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: the queue's own job id (procrastinate), to cancel it there
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
    #: the process running it (host:pid), for the people reading a stuck task
    worker: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[bytes | None] = mapped_column(LargeBinary)
    result_name: Mapped[str | None] = mapped_column(String(200))
    result_type: Mapped[str | None] = mapped_column(String(120))

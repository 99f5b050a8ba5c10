"""The audit trail: who changed which field of which row, from what to what, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdType, utcnow


class AuditEntry(Base):
    """One changed field (or one inserted/deleted row), written in the change's transaction."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_table_row", "table_name", "row_id"),
        CheckConstraint("action IN ('insert', 'update', 'delete')", name="action_known"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(8))
    table_name: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str | None] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)

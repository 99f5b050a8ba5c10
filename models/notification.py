"""Notifications to users (in the app, and by e-mail when an SMTP server is configured)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdType, utcnow

NOTIFICATION_KINDS = ("reminder", "alert", "review", "freshness")


class Notification(Base):
    """A message for one user; ``email_status``: ``none`` (not wanted), ``pending``, ``sending``
    (claimed by one delivery at ``email_claimed_at``), ``sent``, ``outbox`` (no SMTP server: waiting
    in the outbox) or ``failed``."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("kind IN ('reminder', 'alert', 'review', 'freshness')", name="kind_known"),
        CheckConstraint(
            "email_status IN ('none', 'pending', 'sending', 'sent', 'outbox', 'failed')",
            name="email_status_known",
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    email_status: Mapped[str] = mapped_column(String(8), default="none")
    emailed_at: Mapped[datetime | None]
    email_claimed_at: Mapped[datetime | None]


class NotificationPreference(Base):
    """What a user wants to receive, per kind of notification."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    in_app: Mapped[bool] = mapped_column(default=True)
    email: Mapped[bool] = mapped_column(default=True)

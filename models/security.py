"""Failed sign-ins by network address: a throttle that holds across workers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdType, utcnow


class LoginFailure(Base):
    """One failed sign-in from an address (kept a day, counted over a sliding window)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_address_at", "address", "occurred_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)

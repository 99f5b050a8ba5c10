"""Accounts: a role within one organisation, and for service managers a scope of services."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.activity import Service
from models.base import Base, IdType, TimestampMixin, VersionedMixin, enum_type
from models.enums import Role

user_services = Table(
    "user_services",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)


class User(TimestampMixin, VersionedMixin, Base):
    """A person who signs in. ``session_token`` is the revocable login id (rotated on logout).

    A server administrator (``is_superadmin``) creates organisations; they may belong to none,
    and then see no organisation's rows.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("failed_logins >= 0", name="failed_logins_non_negative"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint("organisation_id IS NOT NULL OR is_superadmin", name="organisation_or_superadmin"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_type(Role))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    session_token: Mapped[str] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    is_superadmin: Mapped[bool] = mapped_column(default=False, server_default=false())
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    #: Set while the password is a temporary one (issued by an administrator): it must be changed
    #: at the next sign-in and no longer opens a session after this time.
    password_expires_at: Mapped[datetime | None]

    services: Mapped[list[Service]] = relationship(secondary=user_services)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"

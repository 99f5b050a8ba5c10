"""The ABS report's analysis texts, written by the direction section by section (figures stay generated)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdType, TimestampMixin, VersionedMixin


class ReportText(TimestampMixin, VersionedMixin, Base):
    """The analysis text of one section of an ABS report (full diagnostic or thematic analysis).

    Versioned (a stale edit is refused) and audited field by field, so every earlier wording is
    in the journal.
    """

    __tablename__ = "report_texts"
    __table_args__ = (
        UniqueConstraint("organisation_id", "year", "kind", "theme", "section"),
        CheckConstraint("kind IN ('full', 'theme')", name="kind_known"),
        CheckConstraint("year BETWEEN 2000 AND 2200", name="year_plausible"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    year: Mapped[int]
    #: ``full`` (the diagnostic due the year after municipal elections) or ``theme``.
    kind: Mapped[str] = mapped_column(String(8))
    #: The theme of a thematic analysis (a population group code…); empty for the full diagnostic.
    theme: Mapped[str] = mapped_column(String(64), default="")
    section: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

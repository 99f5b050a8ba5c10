"""Population groups (the publics) and the social needs of the ABS."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdType, TimestampMixin, VersionedMixin, enum_type
from models.enums import EvidenceKind
from models.territory import Territory, TerritoryStatistic


class PopulationGroup(TimestampMixin, Base):
    """A public of social policy (familles, personnes âgées, personnes en difficulté…).

    Groups form a shallow tree: *familles monoparentales* sits under *familles*.
    """

    __tablename__ = "population_groups"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("population_groups.id", ondelete="SET NULL"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str]
    description: Mapped[str | None] = mapped_column(Text)

    parent: Mapped[PopulationGroup | None] = relationship(remote_side=[id])


class Need(TimestampMixin, VersionedMixin, Base):
    """A social need: a population group on a territory, quantified, prioritised, evidenced.

    ``size`` is NULL when the figure that would size it is statistically secret: an unknown
    need is never a need of zero.
    """

    __tablename__ = "needs"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        CheckConstraint("size IS NULL OR size >= 0", name="size_non_negative"),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority_level"),
        CheckConstraint("priority_weight >= 0", name="priority_weight_non_negative"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    population_group_id: Mapped[int] = mapped_column(
        ForeignKey("population_groups.id", ondelete="RESTRICT"), index=True
    )
    territory_id: Mapped[int] = mapped_column(ForeignKey("territories.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str]
    description: Mapped[str | None] = mapped_column(Text)
    #: The need in plain words, for residents (priority consultation).
    public_description: Mapped[str | None] = mapped_column(Text)
    size: Mapped[float | None]
    #: What ``size`` counts: personnes, ménages, allocataires, enfants…
    unit: Mapped[str] = mapped_column(String(32))
    #: How the size was obtained, in words or as a formula over statistics' variables.
    sizing_formula: Mapped[str | None] = mapped_column(Text)
    #: Evidence not held as statistics: survey, partner's figure, focus group.
    evidence_note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(128))
    vintage: Mapped[int | None]
    #: Date of a manual size (a count made by the organisation or a partner).
    size_as_of: Mapped[date | None]
    #: Priority level set by the élus, 1 (low) to 5 (high), and its weight for the optimizer.
    priority: Mapped[int] = mapped_column(default=3)
    priority_weight: Mapped[float] = mapped_column(default=1.0)
    priority_set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    priority_set_at: Mapped[datetime | None]

    population_group: Mapped[PopulationGroup] = relationship()
    territory: Mapped[Territory] = relationship()
    evidence: Mapped[list[NeedEvidence]] = relationship(back_populates="need", cascade="all, delete-orphan")
    observations: Mapped[list[NeedObservation]] = relationship(
        back_populates="need", cascade="all, delete-orphan", order_by="NeedObservation.observed_on"
    )


class NeedEvidence(Base):
    """A statistic that evidences a need (and in which role: size, rate, context)."""

    __tablename__ = "need_evidence"

    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True)
    statistic_id: Mapped[int] = mapped_column(
        ForeignKey("territory_statistics.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), default="size")

    need: Mapped[Need] = relationship(back_populates="evidence")
    statistic: Mapped[TerritoryStatistic] = relationship()


class NeedObservation(TimestampMixin, VersionedMixin, Base):
    """Qualitative evidence of a need: a focus group, an interview, a partner's note."""

    __tablename__ = "need_observations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[EvidenceKind] = mapped_column(enum_type(EvidenceKind))
    observed_on: Mapped[date]
    #: Who was heard or who wrote it (a partner, a group of residents): never a resident's name.
    source: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    need: Mapped[Need] = relationship(back_populates="observations")

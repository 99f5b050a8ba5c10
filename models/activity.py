"""Services (own or partners') and their activities: the offer, with its costs and coverage."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdType, TimestampMixin, VersionedMixin, enum_type
from models.enums import ActivityKind, PartnerType, ServiceKind
from models.need import Need


class Service(TimestampMixin, VersionedMixin, Base):
    """A service of the organisation, or a partner's (CAF, Département, association)."""

    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        CheckConstraint("(kind = 'partner') = (partner_type IS NOT NULL)", name="partner_type_iff_partner"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str]
    kind: Mapped[ServiceKind] = mapped_column(enum_type(ServiceKind))
    partner_type: Mapped[PartnerType | None] = mapped_column(enum_type(PartnerType))
    #: A support function (administration…) whose costs are allocated to operational services.
    is_support: Mapped[bool] = mapped_column(default=False)
    #: Main M57 function of the service (``423`` personnes âgées…).
    m57_function: Mapped[str | None] = mapped_column(String(10))
    description: Mapped[str | None] = mapped_column(Text)

    activities: Mapped[list[Activity]] = relationship(back_populates="service")


class Activity(TimestampMixin, VersionedMixin, Base):
    """What a service does, with its output unit, unit cost, capacity, staff and fixed cost.

    ``unit_cost`` is NULL for a partner's activity whose cost the organisation does not know.
    ``min_volume`` is the volume the law or a convention imposes (0 for optional activities).
    """

    __tablename__ = "activities"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        CheckConstraint("unit_cost IS NULL OR unit_cost >= 0", name="unit_cost_non_negative"),
        CheckConstraint("fixed_cost >= 0", name="fixed_cost_non_negative"),
        CheckConstraint("staff_etp >= 0", name="staff_etp_non_negative"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_non_negative"),
        CheckConstraint("volume IS NULL OR volume >= 0", name="volume_non_negative"),
        CheckConstraint("beneficiaries IS NULL OR beneficiaries >= 0", name="beneficiaries_non_negative"),
        CheckConstraint("min_volume >= 0", name="min_volume_non_negative"),
        CheckConstraint("capacity IS NULL OR min_volume <= capacity", name="min_volume_within_capacity"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="RESTRICT"), index=True)
    territory_id: Mapped[int | None] = mapped_column(
        ForeignKey("territories.id", ondelete="SET NULL"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str]
    description: Mapped[str | None] = mapped_column(Text)
    #: The unit of output: ``repas livré``, ``dossier instruit``, ``heure d'aide``…
    output_unit: Mapped[str] = mapped_column(String(64))
    unit_cost: Mapped[Decimal | None]
    fixed_cost: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    capacity: Mapped[float | None]
    #: Current yearly volume of output and number of distinct beneficiaries.
    volume: Mapped[float | None]
    beneficiaries: Mapped[int | None]
    min_volume: Mapped[float] = mapped_column(default=0.0)
    staff_etp: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=Decimal("0"))
    m57_function: Mapped[str | None] = mapped_column(String(10))
    kind: Mapped[ActivityKind] = mapped_column(enum_type(ActivityKind), default=ActivityKind.OPTIONAL)

    service: Mapped[Service] = relationship(back_populates="activities")
    coverages: Mapped[list[ActivityNeedCoverage]] = relationship(
        back_populates="activity", cascade="all, delete-orphan"
    )


class ActivityNeedCoverage(Base):
    """How much of one unit of the activity's output answers one unit of the need.

    A meal delivered covers 1/250 of a person aged 80+ who needs one every weekday:
    ``coefficient = 0.004`` persons per meal.
    """

    __tablename__ = "activity_need_coverages"
    __table_args__ = (CheckConstraint("coefficient >= 0", name="coefficient_non_negative"),)

    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True)
    coefficient: Mapped[float]
    note: Mapped[str | None] = mapped_column(Text)

    activity: Mapped[Activity] = relationship(back_populates="coverages")
    need: Mapped[Need] = relationship()

"""Services (own or partners') and their activities: the offer, with its costs and coverage."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdType, TimestampMixin, VersionedMixin, enum_type
from models.enums import ActivityKind, PartnerType, ServiceKind
from models.need import Need
from models.territory import Territory


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

    #: Set when an activity with history is retired: it leaves the offer, its history stays.
    archived_at: Mapped[datetime | None]

    service: Mapped[Service] = relationship(back_populates="activities")
    coverages: Mapped[list[ActivityNeedCoverage]] = relationship(
        back_populates="activity", cascade="all, delete-orphan"
    )
    volumes: Mapped[list[ActivityVolume]] = relationship(
        back_populates="activity", cascade="all, delete-orphan", order_by="ActivityVolume.year"
    )
    deliveries: Mapped[list[ActivityDelivery]] = relationship(
        back_populates="activity", cascade="all, delete-orphan"
    )


class ActivityVolume(TimestampMixin, VersionedMixin, Base):
    """The planned and actual output of an activity for one calendar year.

    Unit costs of a year divide that year's cost by that year's actual volume (never by one
    fixed volume). ``source`` says where the actual volume comes from: ``saisie``, ``import``,
    or ``indicateur:<code>`` when it is read from the activity's output indicator.
    """

    __tablename__ = "activity_volumes"
    __table_args__ = (
        UniqueConstraint("activity_id", "year"),
        CheckConstraint("year BETWEEN 1990 AND 2200", name="year_plausible"),
        CheckConstraint("planned_volume IS NULL OR planned_volume >= 0", name="planned_non_negative"),
        CheckConstraint("actual_volume IS NULL OR actual_volume >= 0", name="actual_non_negative"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    year: Mapped[int]
    planned_volume: Mapped[float | None]
    actual_volume: Mapped[float | None]
    source: Mapped[str | None] = mapped_column(String(64))

    activity: Mapped[Activity] = relationship(back_populates="volumes")


class ActivityDelivery(Base):
    """Where an activity is delivered: a territory and the share of its output delivered there.

    An activity with no delivery row is delivered across all the organisation's territories
    (the behaviour before located offers). With rows, the shares of one activity add up to 1.
    """

    __tablename__ = "activity_deliveries"
    __table_args__ = (CheckConstraint("share > 0 AND share <= 1", name="share_in_unit_interval"),)

    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    territory_id: Mapped[int] = mapped_column(
        ForeignKey("territories.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    share: Mapped[float] = mapped_column(default=1.0)

    activity: Mapped[Activity] = relationship(back_populates="deliveries")
    territory: Mapped[Territory] = relationship()


class ActivityNeedCoverage(Base):
    """How much of one unit of the activity's output answers one unit of the need.

    A meal delivered covers 1/250 of a person aged 80+ who needs one every weekday:
    ``coefficient = 0.004`` persons per meal.
    """

    __tablename__ = "activity_need_coverages"
    __table_args__ = (
        CheckConstraint("coefficient >= 0", name="coefficient_non_negative"),
        CheckConstraint("share IS NULL OR (share >= 0 AND share <= 1)", name="share_in_unit_interval"),
    )

    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True)
    coefficient: Mapped[float]
    #: Explicit share of the activity's output given to this need (0-1); NULL: the documented
    #: pro rata rule of the coverage model (scorecard/coverage.py) decides.
    share: Mapped[float | None]
    note: Mapped[str | None] = mapped_column(Text)

    activity: Mapped[Activity] = relationship(back_populates="coverages")
    need: Mapped[Need] = relationship()

"""Indicators, their targets per period, the periods, and the measurements of services."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdType, TimestampMixin, VersionedMixin, enum_type
from models.enums import (
    Direction,
    Frequency,
    IndicatorType,
    MeasurementState,
    PeriodKind,
    PeriodState,
    Perspective,
    ThresholdMode,
)


class Period(TimestampMixin, Base):
    """A reporting period of an organisation: ``2025-03``, ``2025-T1`` or ``2025``."""

    __tablename__ = "periods"
    __table_args__ = (
        UniqueConstraint("organisation_id", "key"),
        CheckConstraint("end_date >= start_date", name="end_after_start"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(16))
    kind: Mapped[PeriodKind] = mapped_column(enum_type(PeriodKind))
    start_date: Mapped[date]
    end_date: Mapped[date]
    state: Mapped[PeriodState] = mapped_column(enum_type(PeriodState), default=PeriodState.OPEN)
    closed_at: Mapped[datetime | None]


class Indicator(TimestampMixin, VersionedMixin, Base):
    """What is measured, how, how often, by whom, and what it measures.

    A computed indicator carries a ``formula`` over other indicators' codes
    (``cout_portage / repas_livres``) and has no measurements of its own.
    """

    __tablename__ = "indicators"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        CheckConstraint("weight > 0", name="weight_positive"),
        CheckConstraint("decimals BETWEEN 0 AND 6", name="decimals_range"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[IndicatorType] = mapped_column(enum_type(IndicatorType))
    unit: Mapped[str] = mapped_column(String(32))
    direction: Mapped[Direction] = mapped_column(enum_type(Direction))
    frequency: Mapped[Frequency] = mapped_column(enum_type(Frequency))
    perspective: Mapped[Perspective] = mapped_column(enum_type(Perspective))
    formula: Mapped[str | None] = mapped_column(Text)
    decimals: Mapped[int] = mapped_column(default=0)
    weight: Mapped[float] = mapped_column(default=1.0)
    source: Mapped[str | None] = mapped_column(String(128))
    vintage: Mapped[int | None]
    baseline_value: Mapped[float | None]
    baseline_period_key: Mapped[str | None] = mapped_column(String(16))
    #: The service that feeds it (whose manager enters the values).
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="RESTRICT"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    objective_id: Mapped[int | None] = mapped_column(
        ForeignKey("objectives.id", ondelete="SET NULL"), index=True
    )
    activity_id: Mapped[int | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL"), index=True
    )
    need_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id", ondelete="SET NULL"), index=True)
    #: Fed by the costing of its activity: ``unit_cost``, ``cost_per_beneficiary``, ``full_cost``
    #: or ``net_cost`` (yearly values written by Pilotis, not entered).
    cost_metric: Mapped[str | None] = mapped_column(String(32))
    #: The first day it counts (None: since always, rows made before effective dates): values
    #: are owed, and the indicator counts in scorecards, for the periods ending on or after it.
    effective_from: Mapped[date | None]

    targets: Mapped[list[Target]] = relationship(back_populates="indicator", cascade="all, delete-orphan")


class Target(TimestampMixin, VersionedMixin, Base):
    """The target of an indicator for a period, with its red/amber tolerances.

    For ``within a band`` indicators the band is [``band_low``, ``band_high``]. Tolerances are
    the deviation from target beyond which the status turns amber, then red: a share of the
    target (``relative``) or in the indicator's unit (``absolute``).
    """

    __tablename__ = "targets"
    __table_args__ = (
        UniqueConstraint("indicator_id", "period_id"),
        CheckConstraint("amber_tolerance >= 0", name="amber_tolerance_non_negative"),
        CheckConstraint("red_tolerance >= amber_tolerance", name="red_beyond_amber"),
        CheckConstraint(
            "band_low IS NULL OR band_high IS NULL OR band_low <= band_high", name="band_ordered"
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"), index=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id", ondelete="CASCADE"), index=True)
    value: Mapped[float | None]
    band_low: Mapped[float | None]
    band_high: Mapped[float | None]
    threshold_mode: Mapped[ThresholdMode] = mapped_column(
        enum_type(ThresholdMode), default=ThresholdMode.RELATIVE
    )
    amber_tolerance: Mapped[float] = mapped_column(default=0.05)
    red_tolerance: Mapped[float] = mapped_column(default=0.10)

    indicator: Mapped[Indicator] = relationship(back_populates="targets")
    period: Mapped[Period] = relationship()


class Measurement(TimestampMixin, VersionedMixin, Base):
    """A value of an indicator for a period, on an optional territory, with its workflow state.

    One measurement per indicator, period and territory: a unique key for territorial values
    and a partial unique index for the organisation-wide ones (NULL territory), since NULLs
    are distinct in a unique key on both databases.
    """

    __tablename__ = "measurements"
    __table_args__ = (
        UniqueConstraint("indicator_id", "period_id", "territory_id"),
        Index(
            "uq_measurements_indicator_id_period_id_no_territory",
            "indicator_id",
            "period_id",
            unique=True,
            sqlite_where=text("territory_id IS NULL"),
            postgresql_where=text("territory_id IS NULL"),
        ),
        CheckConstraint("state = 'draft' OR value IS NOT NULL", name="value_required_once_submitted"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"), index=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id", ondelete="CASCADE"), index=True)
    territory_id: Mapped[int | None] = mapped_column(
        ForeignKey("territories.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[float | None]
    #: The service's own comment (why the value, why red); the direction never writes it.
    comment: Mapped[str | None] = mapped_column(Text)
    #: The direction's comment when it last returned the value to the service.
    review_comment: Mapped[str | None] = mapped_column(Text)
    state: Mapped[MeasurementState] = mapped_column(
        enum_type(MeasurementState), default=MeasurementState.DRAFT
    )
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    entered_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    validated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    validated_at: Mapped[datetime | None]

    indicator: Mapped[Indicator] = relationship()
    period: Mapped[Period] = relationship()

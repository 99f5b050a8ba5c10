"""Costs: budget and actual lines by function and nature, and their allocation to activities."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdType, TimestampMixin, VersionedMixin, enum_type
from models.enums import CostKind, Nomenclature


class AccountingFunction(Base):
    """A function code of a public accounting nomenclature (reference data, shared)."""

    __tablename__ = "accounting_functions"

    nomenclature: Mapped[Nomenclature] = mapped_column(enum_type(Nomenclature), primary_key=True)
    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    label: Mapped[str]
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(10))


class CostLine(TimestampMixin, VersionedMixin, Base):
    """A budget or actual amount for a year, by function and nature, optionally for a service.

    Amounts are exact decimals. Only a decision modificative (DM) may carry a negative amount
    (it lowers a credit voted earlier).
    """

    __tablename__ = "cost_lines"
    __table_args__ = (
        CheckConstraint("amount >= 0 OR document_type = 'DM'", name="amount_non_negative"),
        CheckConstraint("year BETWEEN 1990 AND 2200", name="year_plausible"),
        CheckConstraint(
            "document_type IS NULL OR document_type IN ('BP', 'BS', 'DM', 'CA', 'CFU')",
            name="document_type_known",
        ),
        CheckConstraint("section IN ('fonctionnement', 'investissement')", name="section_known"),
        CheckConstraint("flow IN ('depense', 'recette')", name="flow_known"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[CostKind] = mapped_column(enum_type(CostKind))
    #: BP (budget primitif), BS, DM, CA (compte administratif), CFU.
    document_type: Mapped[str | None] = mapped_column(String(8))
    year: Mapped[int]
    nomenclature: Mapped[Nomenclature] = mapped_column(enum_type(Nomenclature), default=Nomenclature.M57)
    function_code: Mapped[str] = mapped_column(String(10))
    nature_code: Mapped[str] = mapped_column(String(10))
    label: Mapped[str]
    section: Mapped[str] = mapped_column(String(16), default="fonctionnement")
    #: ``depense`` (expense) or ``recette`` (revenue).
    flow: Mapped[str] = mapped_column(String(8), default="depense")
    amount: Mapped[Decimal]
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"), index=True)

    allocations: Mapped[list[CostAllocation]] = relationship(
        back_populates="cost_line", cascade="all, delete-orphan"
    )


class CostAllocation(Base):
    """The share of a cost line carried to an activity (the shares of a line sum to at most 1)."""

    __tablename__ = "cost_allocations"
    __table_args__ = (CheckConstraint("share > 0 AND share <= 1", name="share_in_unit_interval"),)

    cost_line_id: Mapped[int] = mapped_column(
        ForeignKey("cost_lines.id", ondelete="CASCADE"), primary_key=True
    )
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    share: Mapped[Decimal] = mapped_column(Numeric(7, 6))

    cost_line: Mapped[CostLine] = relationship(back_populates="allocations")

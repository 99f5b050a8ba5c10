"""Costs: budget and actual lines by function and nature, and their allocation to activities."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdType, TimestampMixin, VersionedMixin, enum_type
from models.enums import CostKind, Nomenclature

#: Document types of the public budget cycle, plus ``EXEC`` for an infra-annual execution export.
DOCUMENT_TYPES = ("BP", "BS", "DM", "CA", "CFU", "EXEC")
#: How a cost centre's cost is carried to activities.
DRIVER_KINDS = ("etp", "time", "files", "area", "direct")
COSTING_METHODS = ("direct", "step-down", "reciprocal")


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
            "document_type IS NULL OR document_type IN ('BP', 'BS', 'DM', 'CA', 'CFU', 'EXEC')",
            name="document_type_known",
        ),
        CheckConstraint("section IN ('fonctionnement', 'investissement')", name="section_known"),
        CheckConstraint("flow IN ('depense', 'recette')", name="flow_known"),
        CheckConstraint("operation IN ('reelle', 'ordre')", name="operation_known"),
        CheckConstraint("month IS NULL OR month BETWEEN 1 AND 12", name="month_range"),
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
    #: The imported document the line comes from (NULL for lines entered or seeded otherwise).
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("budget_documents.id", ondelete="CASCADE"), index=True
    )
    #: ``reelle`` (real operation) or ``ordre`` (order operation: depreciation, transfers).
    operation: Mapped[str] = mapped_column(String(8), default="reelle", server_default="reelle")
    #: M57 function after mapping (equal to ``function_code`` for M57; NULL for M22).
    m57_function_code: Mapped[str | None] = mapped_column(String(10))
    #: For an actual line of a CA: the credits opened for the year (BP + BS + DM).
    planned_amount: Mapped[Decimal | None]
    #: For an infra-annual execution export: the month of the amount (1-12).
    month: Mapped[int | None]

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


class BudgetDocument(TimestampMixin, Base):
    """An imported budget or accounts document (BP, BS, DM, CA…) and the fingerprint of its lines.

    Importing the same content again finds the same fingerprint and changes nothing; a BP, BS,
    CA or execution export replaces the previous one of its year, while DMs accumulate.
    """

    __tablename__ = "budget_documents"
    __table_args__ = (
        UniqueConstraint("organisation_id", "fingerprint"),
        CheckConstraint(
            "document_type IN ('BP', 'BS', 'DM', 'CA', 'CFU', 'EXEC')", name="document_type_known"
        ),
        CheckConstraint("year BETWEEN 1990 AND 2200", name="year_plausible"),
        CheckConstraint("months_elapsed IS NULL OR months_elapsed BETWEEN 1 AND 12", name="months_range"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    document_type: Mapped[str] = mapped_column(String(8))
    year: Mapped[int]
    nomenclature: Mapped[Nomenclature] = mapped_column(enum_type(Nomenclature))
    #: ``principal`` or ``annexe`` (an establishment's annex budget, M22).
    budget_kind: Mapped[str] = mapped_column(String(16), default="principal")
    source_name: Mapped[str] = mapped_column(String(255))
    source_format: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    siret: Mapped[str | None] = mapped_column(String(14))
    line_count: Mapped[int]
    #: For an execution export: the number of months it covers (the projection extrapolates them).
    months_elapsed: Mapped[int | None]
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    imported_at: Mapped[datetime]


class ImportMapping(TimestampMixin, VersionedMixin, Base):
    """A saved column mapping for a finance software's export (target field -> source column)."""

    __tablename__ = "import_mappings"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CostCentre(TimestampMixin, VersionedMixin, Base):
    """A cost centre: a support function or an operational service, with its driver to activities.

    Cost lines reach a centre through their service, or through the M57 function prefixes the
    centre claims (for imported lines without a service). Support centres pass their cost to other
    centres by keys (``CostKey``); operational centres pass theirs to activities by driver
    quantities (``CostDriverQuantity``).
    """

    __tablename__ = "cost_centres"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        CheckConstraint("kind IN ('support', 'operational')", name="kind_known"),
        CheckConstraint("driver IN ('etp', 'time', 'files', 'area', 'direct')", name="driver_known"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str]
    kind: Mapped[str] = mapped_column(String(16))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"), index=True)
    #: M57 function prefixes whose lines without a service come to this centre (``["020", "420"]``).
    function_codes: Mapped[list[str]] = mapped_column(default=list)
    #: Order in which supports are closed by the step-down method.
    step_order: Mapped[int] = mapped_column(default=0)
    driver: Mapped[str] = mapped_column(String(16), default="direct")
    note: Mapped[str | None] = mapped_column(Text)


class CostKey(Base):
    """The share of a support centre's services used by another centre (a provider's keys sum to 1)."""

    __tablename__ = "cost_keys"
    __table_args__ = (
        CheckConstraint("share >= 0 AND share <= 1", name="share_in_unit_interval"),
        CheckConstraint("provider_id <> receiver_id", name="not_itself"),
    )

    provider_id: Mapped[int] = mapped_column(
        ForeignKey("cost_centres.id", ondelete="CASCADE"), primary_key=True
    )
    receiver_id: Mapped[int] = mapped_column(
        ForeignKey("cost_centres.id", ondelete="CASCADE"), primary_key=True
    )
    share: Mapped[Decimal] = mapped_column(Numeric(9, 6))


class CostDriverQuantity(Base):
    """How much of a centre's driver an activity consumes (ETP, hours, files, m², or a direct %)."""

    __tablename__ = "cost_driver_quantities"
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_non_negative"),)

    centre_id: Mapped[int] = mapped_column(
        ForeignKey("cost_centres.id", ondelete="CASCADE"), primary_key=True
    )
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 4))

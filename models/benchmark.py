"""Stored standard comparison indicators: one row per organisation and indicator, computed once when
their inputs change (and by the nightly job), read by the benchmark page and CLI without recomputing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdType, utcnow


class BenchmarkValue(Base):
    """One standard indicator of one organisation (``services.benchmark`` says how it is computed)."""

    __tablename__ = "benchmark_values"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code"),
        Index("ix_benchmark_values_code_value", "code", "value"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    #: the standard code (``depense_hab_total``, ``cout_unite_repas``, ``couverture_<public>``…)
    code: Mapped[str] = mapped_column(String(80))
    #: the vintage: year of the accounts, of the costing, of the needs' statistics or of the delays
    year: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    #: the organisation's own label of a public or a delay indicator (None: the catalogue's)
    label: Mapped[str | None] = mapped_column(String(200))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class BenchmarkRefresh(Base):
    """When an organisation's stored indicators were computed, and whether their inputs changed since."""

    __tablename__ = "benchmark_refreshes"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    computed_at: Mapped[datetime | None]
    #: True once a budget, an adoption or a statistics import changed the inputs
    stale: Mapped[bool] = mapped_column(Boolean, default=True)

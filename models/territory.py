"""Territories (a tree) and the published statistics attached to them."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdType, TimestampMixin, enum_type
from models.enums import TerritoryKind


class Territory(TimestampMixin, Base):
    """An area: the organisation's own, a commune, a quartier, an IRIS, a QPV, or a wider one.

    INSEE codes are strings: IRIS codes have 9 characters, commune codes 5, and a leading zero
    or a Corsican letter must survive.
    """

    __tablename__ = "territories"
    __table_args__ = (
        UniqueConstraint("organisation_id", "kind", "code"),
        CheckConstraint("population IS NULL OR population >= 0", name="population_non_negative"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("territories.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[TerritoryKind] = mapped_column(enum_type(TerritoryKind))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str]
    population: Mapped[int | None]
    population_vintage: Mapped[int | None]

    parent: Mapped[Territory | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Territory]] = relationship(back_populates="parent")

    def __repr__(self) -> str:
        return f"<Territory {self.kind} {self.code}>"


class TerritoryStatistic(TimestampMixin, Base):
    """One published figure: a variable, on a territory, for a vintage, from a source.

    A statistically secret cell is stored as ``is_secret`` with no value, never as 0: the
    database refuses a secret cell with a value and a published cell without one.
    """

    __tablename__ = "territory_statistics"
    __table_args__ = (
        UniqueConstraint("territory_id", "variable", "vintage", "source"),
        CheckConstraint(
            "(is_secret AND value IS NULL) OR (NOT is_secret AND value IS NOT NULL)",
            name="value_or_secret",
        ),
        CheckConstraint("vintage BETWEEN 1900 AND 2200", name="vintage_plausible"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    territory_id: Mapped[int] = mapped_column(ForeignKey("territories.id", ondelete="CASCADE"), index=True)
    #: Short machine name, e.g. ``pop_80p``, ``caf_rsa_socle``, ``filo_taux_pauvrete_60``.
    variable: Mapped[str] = mapped_column(String(64))
    label: Mapped[str]
    unit: Mapped[str] = mapped_column(String(32))
    vintage: Mapped[int]
    #: Producer and product, e.g. ``INSEE Filosofi``, ``CNAF``, ``INSEE RP``.
    source: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None]
    is_secret: Mapped[bool] = mapped_column(default=False)

    territory: Mapped[Territory] = relationship()

    def __repr__(self) -> str:
        shown = "secret" if self.is_secret else self.value
        return f"<TerritoryStatistic {self.variable} {self.vintage} = {shown}>"

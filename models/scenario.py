"""Budget arbitration scenarios and the optimizer's result rows."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IdType, TimestampMixin, VersionedMixin, enum_type
from models.enums import ScenarioState


class Scenario(TimestampMixin, VersionedMixin, Base):
    """A budget arbitration problem (envelope, limits, options) and the state of its solve."""

    __tablename__ = "scenarios"
    __table_args__ = (
        UniqueConstraint("organisation_id", "name"),
        CheckConstraint("envelope >= 0", name="envelope_non_negative"),
        CheckConstraint("staff_limit_etp IS NULL OR staff_limit_etp >= 0", name="staff_limit"),
        CheckConstraint("objective_mode IN ('persons', 'rates')", name="objective_mode_known"),
        CheckConstraint("method IN ('optimise', 'uniform')", name="method_known"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    year: Mapped[int]
    envelope: Mapped[Decimal]
    staff_limit_etp: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    #: ``persons``: priority-weighted persons covered; ``rates``: priority-weighted coverage rates.
    objective_mode: Mapped[str] = mapped_column(String(16), default="persons")
    diminishing_returns: Mapped[bool] = mapped_column(default=False)
    #: The rest of the problem (service bounds, equity floors, options) as a documented JSON.
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[ScenarioState] = mapped_column(enum_type(ScenarioState), default=ScenarioState.DRAFT)
    solver_status: Mapped[str | None] = mapped_column(String(64))
    objective_value: Mapped[float | None]
    explanation: Mapped[str | None] = mapped_column(Text)
    solved_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    adopted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    adopted_at: Mapped[datetime | None]
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    proposed_at: Mapped[datetime | None]
    #: ``optimise`` (the optimizer) or ``uniform`` (the same cut everywhere, for comparison).
    method: Mapped[str] = mapped_column(String(16), default="optimise", server_default="optimise")
    #: What a background solve is doing now (``construction du modèle``, ``résolution``…).
    progress: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None]
    #: The problem as solved (the documented problem file), so that anyone can check the result.
    problem: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    #: The solution and explanation as JSON (binding constraints, ranging, reasons).
    solution: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    #: Shown to the partners (CAF, Département, associations): set by the direction, journaled.
    #: A scenario is internal until then.
    shared_with_partners: Mapped[bool] = mapped_column(default=False, server_default=false())

    activity_results: Mapped[list[ScenarioActivityResult]] = relationship(cascade="all, delete-orphan")
    need_results: Mapped[list[ScenarioNeedResult]] = relationship(cascade="all, delete-orphan")


class ScenarioActivityResult(Base):
    """The proposed volume and budget of an activity in a solved scenario, and why."""

    __tablename__ = "scenario_activity_results"
    __table_args__ = (
        CheckConstraint("volume >= 0", name="volume_non_negative"),
        CheckConstraint("cost >= 0", name="cost_non_negative"),
    )

    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"), primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True
    )
    volume: Mapped[float]
    runs: Mapped[bool] = mapped_column(default=True)
    cost: Mapped[Decimal]
    current_cost: Mapped[Decimal | None]
    reduced_cost: Mapped[float | None]
    explanation: Mapped[str | None] = mapped_column(Text)


class ScenarioNeedResult(Base):
    """The covered part of a need in a solved scenario, and its marginal value."""

    __tablename__ = "scenario_need_results"
    __table_args__ = (CheckConstraint("covered >= 0", name="covered_non_negative"),)

    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"), primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), primary_key=True)
    covered: Mapped[float]
    coverage_rate: Mapped[float | None]
    current_covered: Mapped[float | None]
    shadow_price: Mapped[float | None]
    explanation: Mapped[str | None] = mapped_column(Text)

"""The organisation: the tenant every domain row belongs to."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdType, TimestampMixin, VersionedMixin, enum_type
from models.enums import OrganisationKind


class Organisation(TimestampMixin, VersionedMixin, Base):
    """A CCAS, CIAS, commune, EPCI or département using Pilotis."""

    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint("population IS NULL OR population >= 0", name="population_non_negative"),
        CheckConstraint(
            "insee_code IS NULL OR (kind IN ('ccas', 'commune') AND length(insee_code) = 5) "
            "OR (kind IN ('cias', 'epci') AND length(insee_code) = 9) "
            "OR (kind = 'departement' AND length(insee_code) IN (2, 3))",
            name="insee_code_length",
        ),
        # one organisation of a kind per territory: a second CCAS of Rennes is refused
        UniqueConstraint("kind", "insee_code"),
        CheckConstraint("siren IS NULL OR length(siren) = 9", name="siren_length"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: Stable identifier used by the CLI and the demo (``demo-11069``).
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str]
    kind: Mapped[OrganisationKind] = mapped_column(enum_type(OrganisationKind))
    #: Code of its territory, a string: the commune's INSEE code (5 characters; Corsican codes hold
    #: letters) for a CCAS or a commune, the EPCI's SIREN (9 digits) for a CIAS or an EPCI, the
    #: département's code (2 or 3 characters: 35, 2A, 974) for a département.
    insee_code: Mapped[str | None] = mapped_column(String(9))
    #: SIREN of the legal entity (9 digits), or of the EPCI.
    siren: Mapped[str | None] = mapped_column(String(9))
    population: Mapped[int | None]
    population_vintage: Mapped[int | None]
    #: The mission statement at the top of the public-sector scorecard.
    mission: Mapped[str | None] = mapped_column(Text)
    #: How support functions are allocated: ``direct``, ``step-down`` or ``reciprocal``.
    costing_method: Mapped[str] = mapped_column(String(16), default="reciprocal", server_default="reciprocal")
    #: Agrees to be named in other organisations' benchmarks (anonymous otherwise).
    benchmark_named: Mapped[bool] = mapped_column(default=False, server_default=false())

    def __repr__(self) -> str:
        return f"<Organisation {self.slug}>"

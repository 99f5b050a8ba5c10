"""Build, or refresh in place, the demo organisation of one commune.

Everything is matched on natural keys (codes, period keys, e-mails) and brought to the state
the spec describes: running it twice leaves one demo, and a second run changes no row.
Figures of the territory are the real ones of the embedded INSEE and CNAF files; the activity
of the services is generated, deterministically, at the orders of magnitude of DOMAIN.md.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    AccountingFunction,
    Activity,
    ActivityDelivery,
    ActivityKind,
    ActivityNeedCoverage,
    ActivityVolume,
    BudgetDocument,
    CostAllocation,
    CostCentre,
    CostDriverQuantity,
    CostKey,
    CostKind,
    CostLine,
    Direction,
    Frequency,
    Indicator,
    Measurement,
    MeasurementState,
    Need,
    NeedEvidence,
    Nomenclature,
    Objective,
    ObjectiveLevel,
    ObjectiveLink,
    Organisation,
    OrganisationKind,
    Period,
    PeriodKind,
    PeriodState,
    PopulationGroup,
    Service,
    ServiceKind,
    Target,
    Territory,
    TerritoryKind,
    TerritoryStatistic,
    ThresholdMode,
    User,
)
from scorecard import periods as P
from scorecard.costing import counts_output, per_year
from scorecard.errors import UserError
from scorecard.formula import evaluate, parse_formula
from services import territorial_data as data
from services.accounts import hash_password, new_session_token
from services.costing import publish_cost_indicators
from services.demo import spec
from services.demo.series import SeriesShape, jitter, series_value
from services.demo.surveys import seed_participation
from services.needs import size_note
from services.overview import organisation_counts
from services.statistics_catalog import CAF_IRIS, CENSUS_AGE_GROUPS, FILOSOFI_COMMUNE, FILOSOFI_IRIS, Variable
from services.sync import SyncStats, sync_rows

CENTS = Decimal("0.01")
FREQUENCY_TO_KIND: dict[Frequency, P.PeriodKindName] = {
    Frequency.MONTHLY: "month",
    Frequency.QUARTERLY: "quarter",
    Frequency.YEARLY: "year",
}
#: When the élus set the demo priorities (fixed, so that a refresh changes nothing).
PRIORITIES_SET_AT = datetime(2025, 12, 15, 17, 0, tzinfo=UTC)
#: Cost of each year relative to 2025 (inflation and growth of activity).
YEAR_FACTORS = {2023: 0.93, 2024: 0.965, 2025: 1.0, 2026: 1.025}


class DemoError(UserError):
    """The demo cannot be built as asked (unknown commune…); the message is in French."""


@dataclass
class DemoSummary:
    organisation_id: int
    slug: str
    name: str
    commune_code: str
    commune_name: str
    counts: dict[str, int]
    stats: SyncStats
    accounts: list[tuple[str, str]] = field(default_factory=list)
    password: str = spec.DEMO_PASSWORD
    created: bool = False
    notes: list[str] = field(default_factory=list)


def demo_slug(commune_code: str) -> str:
    return f"demo-{commune_code}"


def available_communes() -> list[tuple[str, str]]:
    """(INSEE code, name) of the communes whose data is embedded."""
    communes = data.read_communes()
    return list(zip(communes["codgeo"], communes["libgeo"], strict=True))


def _slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c if c.isalnum() else "-" for c in ascii_text.lower()).strip("-")


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENTS, rounding=ROUND_HALF_UP)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=UTC)


def _number(value: Any) -> float | None:
    """A published number, or None for a secret (blank) cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def build_demo(session: Session, commune_code: str = "11069", *, as_of: date) -> DemoSummary:
    """Create or refresh the demo organisation of ``commune_code`` as of ``as_of``.

    Measurements cover the 36 months (and 12 quarters) ending with the last complete quarter
    before ``as_of``, and the 3 complete years before it; the current periods are open and
    still to be filled. Flushes; the caller commits.
    """
    communes = data.read_communes()
    if commune_code not in communes.index:
        known = ", ".join(f"{c} ({n})" for c, n in available_communes())
        raise DemoError(f"commune « {commune_code} » absente des données embarquées. Connues : {known}.")
    builder = _Builder(session, cast(pd.Series, communes.loc[commune_code]), as_of)
    return builder.run()


class _Builder:
    def __init__(self, session: Session, commune: pd.Series, as_of: date) -> None:
        self.session = session
        self.commune = commune
        self.code = str(commune["codgeo"])
        self.name = str(commune["libgeo"])
        self.as_of = as_of
        self.scale = float(commune["pop_rp2021"]) / spec.REFERENCE_POPULATION
        self.stats = SyncStats()
        self.notes: list[str] = []

    # -- orchestration -------------------------------------------------------------------
    def run(self) -> DemoSummary:
        self._reference_data()
        created = self._organisation()
        self._territories()
        self._statistics()
        self._population_groups()
        self._users()
        self._needs()
        self._services_and_activities()
        self._objectives()
        self._periods()
        self._yearly_volumes()
        self._indicators()
        self._targets_and_measurements()
        self._costs()
        self._participation()
        self.session.flush()
        return DemoSummary(
            organisation_id=self.org.id,
            slug=self.org.slug,
            name=self.org.name,
            commune_code=self.code,
            commune_name=self.name,
            counts=organisation_counts(self.session, self.org.id),
            stats=self.stats,
            accounts=[(u.email, u.role.value) for u in self.users.values()],
            created=created,
            notes=self.notes,
        )

    def _sync(self, model: Any, rows: Iterable[dict[str, Any]], key: tuple[str, ...], **kw: Any) -> Any:
        result = sync_rows(self.session, model, list(rows), key, **kw)
        self.stats += result.stats
        return result.by_key

    # -- reference data and organisation ------------------------------------------------
    def _reference_data(self) -> None:
        rows = [
            {
                "nomenclature": Nomenclature.M57,
                "code": r.code,
                "label": r.libelle,
                "level": r.niveau,
                "parent_code": r.parent or None,
            }
            for r in data.read_m57_functions().itertuples()
        ]
        self._sync(
            AccountingFunction,
            rows,
            ("nomenclature", "code"),
            scope=[AccountingFunction.nomenclature == Nomenclature.M57],
        )

    def _organisation(self) -> bool:
        slug = demo_slug(self.code)
        org = self.session.scalar(select(Organisation).where(Organisation.slug == slug))
        created = org is None
        values = {
            "slug": slug,
            "name": f"CCAS de {self.name} (démonstration)",
            "kind": OrganisationKind.CCAS,
            "insee_code": self.code,
            "population": int(self.commune["pop_rp2021"]),
            "population_vintage": data.CENSUS_VINTAGE,
            "mission": (
                f"Garantir à chaque habitant de {self.name} l'accès à ses droits et un "
                "accompagnement adapté à sa situation, en coordonnant l'action sociale locale "
                "avec les partenaires du territoire."
            ),
        }
        rows = self._sync(Organisation, [values], ("slug",), scope=[Organisation.slug == slug])
        self.org: Organisation = rows[(slug,)]
        return created

    # -- territory and statistics --------------------------------------------------------
    def _territories(self) -> None:
        epci = data.read_epci_mapping().loc[self.code]
        filo_iris = data.read_filosofi_iris()
        caf_iris = data.read_caf_iris()
        names = dict(zip(filo_iris["IRIS"], filo_iris["LIBIRIS"], strict=True))
        iris_codes = sorted(
            set(caf_iris.loc[caf_iris["COM"] == self.code, "CODGEO"])
            | set(filo_iris.loc[filo_iris["COM"] == self.code, "IRIS"])
        )
        org_id = self.org.id
        scope = [Territory.organisation_id == org_id]
        dep = self._sync(
            Territory,
            [
                {
                    "organisation_id": org_id,
                    "kind": TerritoryKind.DEPARTEMENT,
                    "code": str(epci["DEP"]),
                    "name": str(self.commune["departement"]),
                    "parent_id": None,
                },
            ],
            ("kind", "code"),
            scope=[*scope, Territory.kind == TerritoryKind.DEPARTEMENT],
        )[(TerritoryKind.DEPARTEMENT, str(epci["DEP"]))]
        ep = self._sync(
            Territory,
            [
                {
                    "organisation_id": org_id,
                    "kind": TerritoryKind.EPCI,
                    "code": str(epci["EPCI"]),
                    "name": str(epci["LIBEPCI"]),
                    "parent_id": dep.id,
                }
            ],
            ("kind", "code"),
            scope=[*scope, Territory.kind == TerritoryKind.EPCI],
        )[(TerritoryKind.EPCI, str(epci["EPCI"]))]
        self.commune_territory: Territory = self._sync(
            Territory,
            [
                {
                    "organisation_id": org_id,
                    "kind": TerritoryKind.COMMUNE,
                    "code": self.code,
                    "name": self.name,
                    "parent_id": ep.id,
                    "population": int(self.commune["pop_rp2021"]),
                    "population_vintage": data.CENSUS_VINTAGE,
                }
            ],
            ("kind", "code"),
            scope=[*scope, Territory.kind == TerritoryKind.COMMUNE],
        )[(TerritoryKind.COMMUNE, self.code)]
        iris = self._sync(
            Territory,
            [
                {
                    "organisation_id": org_id,
                    "kind": TerritoryKind.IRIS,
                    "code": code,
                    "name": names.get(code) or f"IRIS {code}",
                    "parent_id": self.commune_territory.id,
                }
                for code in iris_codes
            ],
            ("kind", "code"),
            scope=[*scope, Territory.kind == TerritoryKind.IRIS],
        )
        self.iris: dict[str, Territory] = {key[1]: t for key, t in iris.items()}
        here = filo_iris[(filo_iris["COM"] == self.code) & filo_iris["IRIS"].isin(self.iris)]
        rates = pd.to_numeric(here["DISP_TP6019"], errors="coerce")
        #: IRIS code -> poverty rate (%), published ones only, the poorest first
        self.poverty: dict[str, float] = dict(
            sorted(
                ((str(c), float(r)) for c, r in zip(here["IRIS"], rates, strict=True) if r == r and r > 0),
                key=lambda item: (-item[1], item[0]),
            )
        )

    def _statistics(self) -> None:
        org_id = self.org.id
        commune_id = self.commune_territory.id
        rows: list[dict[str, Any]] = []

        def add(
            territory_id: int,
            variable: str,
            label: str,
            unit: str,
            vintage: int,
            source: str,
            value: float | None,
        ) -> None:
            rows.append(
                {
                    "organisation_id": org_id,
                    "territory_id": territory_id,
                    "variable": variable,
                    "label": label,
                    "unit": unit,
                    "vintage": vintage,
                    "source": source,
                    "value": value,
                    "is_secret": value is None,
                }
            )

        for column, variable, label in CENSUS_VARIABLES:
            add(
                commune_id,
                variable,
                label,
                "personnes",
                data.CENSUS_VINTAGE,
                data.CENSUS_SOURCE,
                _number(self.commune[column]),
            )
        filo_com = data.read_filosofi_communes().loc[self.code]
        for column, variable, label, unit in FILOSOFI_COMMUNE_VARIABLES:
            add(
                commune_id,
                variable,
                label,
                unit,
                data.FILOSOFI_VINTAGE,
                data.FILOSOFI_SOURCE,
                _number(filo_com[column]),
            )
        caf = data.read_caf_iris()
        for record in caf[caf["COM"] == self.code].to_dict("records"):
            territory = self.iris[record["CODGEO"]]
            secret_iris = int(record["NOTE"]) != 0
            for column, variable, label, unit in CAF_VARIABLES:
                value = None if secret_iris else _number(record[column])
                add(territory.id, variable, label, unit, data.CAF_VINTAGE, data.CAF_SOURCE, value)
        filo = data.read_filosofi_iris()
        for record in filo[filo["COM"] == self.code].to_dict("records"):
            territory = self.iris[record["IRIS"]]
            secret_iris = _number(record["DISP_NOTE19"]) not in (0.0,)
            for column, variable, label, unit in FILOSOFI_IRIS_VARIABLES:
                value = None if secret_iris else _number(record[column])
                add(territory.id, variable, label, unit, data.FILOSOFI_VINTAGE, data.FILOSOFI_SOURCE, value)
        by_key = self._sync(
            TerritoryStatistic,
            rows,
            ("territory_id", "variable", "vintage", "source"),
            scope=[TerritoryStatistic.organisation_id == org_id],
        )
        self.statistics: dict[tuple[int, str], TerritoryStatistic] = {
            (k[0], k[1]): s for k, s in by_key.items()
        }

    # -- publics and needs ---------------------------------------------------------------
    def _population_groups(self) -> None:
        org_id = self.org.id
        groups = self._sync(
            PopulationGroup,
            [{"organisation_id": org_id, "code": c, "name": n} for c, n, _ in spec.POPULATION_GROUPS],
            ("code",),
            scope=[PopulationGroup.organisation_id == org_id],
        )
        self.groups: dict[str, PopulationGroup] = {k[0]: g for k, g in groups.items()}
        for code, _, parent in spec.POPULATION_GROUPS:
            parent_id = self.groups[parent].id if parent else None
            if self.groups[code].parent_id != parent_id:
                self.groups[code].parent_id = parent_id
        self.session.flush()

    def _users(self) -> None:
        domain = f"{_slugify(self.name)}.pilotis.example"
        self.users: dict[str, User] = {}
        for user_spec in spec.USERS:
            email = f"{user_spec.login}@{domain}"
            user = self.session.scalar(select(User).where(User.email == email))
            if user is None:
                user = User(
                    organisation_id=self.org.id,
                    email=email,
                    full_name=user_spec.full_name,
                    role=user_spec.role,
                    password_hash=hash_password(spec.DEMO_PASSWORD),
                    session_token=new_session_token(),
                )
                self.session.add(user)
                self.stats.inserted += 1
            elif (user.full_name, user.role, user.organisation_id) != (
                user_spec.full_name,
                user_spec.role,
                self.org.id,
            ):
                user.full_name, user.role = user_spec.full_name, user_spec.role
                user.organisation_id = self.org.id
                self.stats.updated += 1
            else:
                self.stats.unchanged += 1
            self.users[user_spec.login] = user
        self.session.flush()

    def _iris_sum(self, variable: str) -> tuple[float, int, list[TerritoryStatistic]]:
        """Sum of a CAF variable over the published IRIS, the number of secret ones, the rows."""
        total, secret, rows = 0.0, 0, []
        for territory in self.iris.values():
            stat = self.statistics.get((territory.id, variable))
            if stat is None:
                continue
            rows.append(stat)
            if stat.is_secret:
                secret += 1
            else:
                total += float(stat.value or 0)
        return total, secret, rows

    def _needs(self) -> None:
        self.need_codes: dict[str, list[str]] = {}
        org_id = self.org.id
        commune_id = self.commune_territory.id
        elected = self.users["elu"]
        rows: list[dict[str, Any]] = []
        evidence: dict[str, list[tuple[TerritoryStatistic, str]]] = {}

        def need(
            code: str,
            group: str,
            territory_id: int,
            label: str,
            size: float | None,
            unit: str,
            priority: int,
            formula: str | None,
            source: str | None,
            vintage: int | None,
            note: str | None = None,
            weight: float | None = None,
            description: str | None = None,
        ) -> None:
            rows.append(
                {
                    "organisation_id": org_id,
                    "code": code,
                    "description": description,
                    "population_group_id": self.groups[group].id,
                    "territory_id": territory_id,
                    "label": label,
                    "size": size,
                    "unit": unit,
                    "priority": priority,
                    "priority_weight": weight if weight is not None else float(priority),
                    "priority_set_by_id": elected.id,
                    "priority_set_at": PRIORITIES_SET_AT,
                    "sizing_formula": formula,
                    "evidence_note": note,
                    "source": source,
                    "vintage": vintage,
                }
            )

        for code in spec.NEEDS:
            standard = spec.CATALOGUE.needs[code]
            if standard.per == "iris":
                self._needs_by_iris(standard, need, evidence)
                continue
            manual = spec.MANUAL_SIZES.get(code)
            if manual is not None:
                manual_size = round(manual.size * self.scale) if manual.scaled else manual.size
                need(
                    code,
                    standard.public,
                    commune_id,
                    standard.label,
                    float(manual_size),
                    standard.unit,
                    standard.priority,
                    None,
                    manual.source,
                    manual.vintage,
                    manual.note,
                    description=standard.description,
                )
                continue
            if standard.formula is None:
                raise DemoError(f"besoin {code} du catalogue sans formule ni effectif de démonstration")
            size, secret, used = self._size(commune_id, standard.formula)
            first = used[0]
            need(
                code,
                standard.public,
                commune_id,
                standard.label,
                size,
                standard.unit,
                standard.priority,
                standard.formula,
                ", ".join(sorted({f"{u.source} {u.vintage}" for u in used})),
                first.vintage,
                size_note(size, secret),
                description=standard.description,
            )
            evidence[code] = [(u, "size") for u in used]

        needs = self._sync(Need, rows, ("code",), scope=[Need.organisation_id == org_id])
        self.needs: dict[str, Need] = {k[0]: n for k, n in needs.items()}
        evidence_rows = [
            {"need_id": self.needs[code].id, "statistic_id": stat.id, "role": role}
            for code, pairs in evidence.items()
            for stat, role in pairs
        ]
        self._sync(
            NeedEvidence,
            evidence_rows,
            ("need_id", "statistic_id"),
            scope=[NeedEvidence.need_id.in_([n.id for n in self.needs.values()])],
        )

    def _size(self, territory_id: int, formula: str) -> tuple[float | None, int, list[TerritoryStatistic]]:
        """A need's size from the catalogue's formula, as :mod:`services.needs` reads it: each
        variable on the territory when published there, else summed over its IRIS."""
        parsed = parse_formula(formula)
        values: dict[str, float] = {}
        secret, used, missing = 0, [], False
        for variable in sorted(parsed.codes):
            own = self.statistics.get((territory_id, variable))
            if own is not None:
                value, parts, stats = (None if own.is_secret else own.value), int(own.is_secret), [own]
            else:
                total, parts, stats = self._iris_sum(variable)
                value = total if stats else None
            if not stats:
                raise DemoError(f"statistique {variable} absente : le besoin « {formula} » ne se chiffre pas")
            secret += parts
            used += stats
            if value is None:
                missing = True
            else:
                values[variable] = float(value)
        return (None if missing else float(evaluate(parsed, values))), secret, used

    def _needs_by_iris(self, standard: Any, need: Any, evidence: dict[str, list[Any]]) -> None:
        """One need per IRIS holding the statistic, its priority by the catalogue's rule."""
        variable = next(iter(sorted(standard.variables)))
        rule = standard.priority_rule
        caf = f"{data.CAF_SOURCE} {data.CAF_VINTAGE}"
        codes = []
        for iris_code, territory in sorted(self.iris.items()):
            stat = self.statistics.get((territory.id, variable))
            context = self.statistics.get((territory.id, rule.variable)) if rule else None
            if stat is None:
                continue
            rate = None if context is None or context.is_secret else context.value
            priority = rule.priority(rate, standard.priority) if rule else standard.priority
            code = standard.code_for(iris_code)
            codes.append(code)
            note = size_note(None, 1) if stat.is_secret else None
            if stat.is_secret:
                self.notes.append(f"IRIS {iris_code} : effectif RSA secret, besoin non chiffré.")
            need(
                code,
                standard.public,
                territory.id,
                standard.label_for(territory.name),
                None if stat.is_secret else stat.value,
                standard.unit,
                priority,
                standard.formula,
                caf,
                data.CAF_VINTAGE,
                note,
                description=standard.description,
            )
            evidence[code] = [(stat, "size")] + ([(context, "context")] if context else [])
        self.need_codes[standard.code] = codes

    def _need_codes(self, pattern: str) -> list[str]:
        """The demo's needs for a catalogue need (several for a need by IRIS)."""
        return self.need_codes.get(pattern, [pattern])

    # -- offer ---------------------------------------------------------------------------
    def _services_and_activities(self) -> None:
        org_id = self.org.id
        services = self._sync(
            Service,
            [
                {
                    "organisation_id": org_id,
                    "code": s.code,
                    "name": s.name,
                    "kind": ServiceKind.PARTNER if s.partner_type else ServiceKind.OWN,
                    "partner_type": s.partner_type,
                    "is_support": s.is_support,
                    "m57_function": s.m57_function,
                    "description": s.description,
                }
                for s in spec.SERVICES
            ],
            ("code",),
            scope=[Service.organisation_id == org_id],
        )
        self.services: dict[str, Service] = {k[0]: s for k, s in services.items()}
        rows = []
        for a in spec.ACTIVITIES:
            scaled = a.volume * self.scale
            rows.append(
                {
                    "organisation_id": org_id,
                    "service_id": self.services[a.service].id,
                    "territory_id": self.commune_territory.id,
                    "code": a.code,
                    "name": a.name,
                    "output_unit": a.output_unit,
                    "unit_cost": None if a.unit_cost is None else _money(a.unit_cost),
                    "fixed_cost": _money(a.fixed_cost * self.scale),
                    "capacity": None if a.capacity is None else round(a.capacity * self.scale),
                    "volume": float(round(scaled)),
                    "beneficiaries": round(a.beneficiaries * self.scale),
                    "min_volume": float(round(scaled)) if a.mandatory else 0.0,
                    "staff_etp": _money(a.staff_etp * self.scale),
                    "m57_function": a.m57_function,
                    "kind": ActivityKind.MANDATORY if a.mandatory else ActivityKind.OPTIONAL,
                    "description": a.description,
                }
            )
        activities = self._sync(Activity, rows, ("code",), scope=[Activity.organisation_id == org_id])
        self.activities: dict[str, Activity] = {k[0]: a for k, a in activities.items()}
        coverage_rows = [
            {
                "activity_id": self.activities[a.code].id,
                "need_id": self.needs[need_code].id,
                "coefficient": coefficient,
                "note": a.cover_notes.get(pattern),
            }
            for a in spec.ACTIVITIES
            for pattern, coefficient in a.covers
            for need_code in self._need_codes(pattern)
        ]
        self._sync(
            ActivityNeedCoverage,
            coverage_rows,
            ("activity_id", "need_id"),
            scope=[ActivityNeedCoverage.activity_id.in_([a.id for a in self.activities.values()])],
        )
        self._sync(
            ActivityDelivery,
            [row for a in spec.ACTIVITIES for row in self._deliveries(a)],
            ("activity_id", "territory_id"),
            scope=[ActivityDelivery.activity_id.in_([a.id for a in self.activities.values()])],
        )
        for user_spec in spec.USERS:
            wanted = [self.services[c] for c in user_spec.services]
            user = self.users[user_spec.login]
            if {s.id for s in user.services} != {s.id for s in wanted}:
                user.services = wanted

    def _yearly_volumes(self) -> None:
        self._sync(
            ActivityVolume,
            [row for a in spec.ACTIVITIES for row in self._volumes(a)],
            ("activity_id", "year"),
            scope=[ActivityVolume.activity_id.in_([a.id for a in self.activities.values()])],
        )

    def _volumes(self, activity: spec.ActivitySpec) -> list[dict[str, Any]]:
        """The yearly volumes: the plan grows by the activity's ``growth`` from 2024 (when it was
        its reference volume); the actual volume of a year over is its output indicator's twelve
        months when they are all measured (the same figures), else the plan times the activity's
        usual ``realised`` ratio, varied by up to 3 % a year; a year not over has only its plan."""
        output = next(
            (
                ind
                for ind in spec.INDICATORS
                if ind.activity == activity.code
                and ind.shape is not None
                and ind.frequency is Frequency.MONTHLY
                and counts_output(ind.unit, activity.output_unit)
                and not per_year(activity.output_unit)
            ),
            None,
        )
        rows = []
        for year in spec.VOLUME_YEARS:
            planned = activity.volume * self.scale * (1 + activity.growth) ** (year - 2024)
            actual: float | None = None
            source = None
            months = [s for s in self.measured["month"] if s.start.year == year]
            if year >= self.as_of.year:
                actual = None  # the year is not over: only its planned volume is known
            elif output is not None and len(months) == 12:
                shape = self._shape(output)
                actual = sum(
                    series_value(shape, output.code, m.key, m.middle, output.decimals) for m in months
                )
                source = f"indicateur:{output.code}"
            else:
                actual = planned * activity.realised * jitter("volume" + activity.code, str(year), 0.03)
                source = "saisie"
            rows.append(
                {
                    "activity_id": self.activities[activity.code].id,
                    "year": year,
                    "planned_volume": float(round(planned)),
                    "actual_volume": None if actual is None else float(round(actual)),
                    "source": source,
                }
            )
        return rows

    def _deliveries(self, activity: spec.ActivitySpec) -> list[dict[str, Any]]:
        """Where the demo delivers ``activity``: its ``poorest`` IRIS (pro rata of their poverty
        rates) and the rest of the commune; nothing when the commune has too few IRIS with a
        published rate (then the activity is delivered everywhere)."""
        poorest = list(self.poverty)[: activity.poorest]
        if activity.poorest == 0 or len(poorest) < activity.poorest:
            return []
        total = sum(self.poverty[c] for c in poorest)
        shares = [(self.iris[c].id, (1 - activity.elsewhere) * self.poverty[c] / total) for c in poorest]
        if activity.elsewhere > 0:
            shares.append((self.commune_territory.id, activity.elsewhere))
        rounded = [round(share, 6) for _, share in shares]
        rounded[0] = round(1 - sum(rounded[1:]), 6)  # the shares add up to exactly 1
        return [
            {"activity_id": self.activities[activity.code].id, "territory_id": t, "share": share}
            for (t, _), share in zip(shares, rounded, strict=True)
        ]

    def _objectives(self) -> None:
        org_id = self.org.id
        rows = [
            {
                "organisation_id": org_id,
                "code": o.code,
                "title": o.title,
                "level": ObjectiveLevel.OPERATIONAL if o.parent else ObjectiveLevel.STRATEGIC,
                "perspective": o.perspective,
                "service_id": self.services[o.service].id if o.service else None,
                "owner_id": self.users[o.owner].id,
                "deadline": date.fromisoformat(o.deadline) if o.deadline else None,
                "weight": o.weight,
            }
            for o in spec.OBJECTIVES
        ]
        objectives = self._sync(Objective, rows, ("code",), scope=[Objective.organisation_id == org_id])
        self.objectives: dict[str, Objective] = {k[0]: o for k, o in objectives.items()}
        for o in spec.OBJECTIVES:
            obj = self.objectives[o.code]
            parent_id = self.objectives[o.parent].id if o.parent else None
            if obj.parent_id != parent_id:
                obj.parent_id = parent_id
            needs = [self.needs[c] for p in o.needs for c in self._need_codes(p)]
            if {n.id for n in obj.needs} != {n.id for n in needs}:
                obj.needs = needs
            activities = [self.activities[c] for c in o.activities]
            if {a.id for a in obj.activities} != {a.id for a in activities}:
                obj.activities = activities
        self.session.flush()
        self._sync(
            ObjectiveLink,
            [
                {
                    "organisation_id": org_id,
                    "source_id": self.objectives[source].id,
                    "target_id": self.objectives[target].id,
                }
                for source, target in spec.OBJECTIVE_LINKS
            ],
            ("source_id", "target_id"),
            scope=[ObjectiveLink.organisation_id == org_id],
        )

    # -- periods, indicators, targets, measurements --------------------------------------
    def _periods(self) -> None:
        last = P.last_complete_quarter(self.as_of)
        self.window_end = last.end
        window_start = date(last.end.year - 3, last.end.month, 1) + timedelta(days=31)
        window_start = window_start.replace(day=1)
        current_years = [P.year(y) for y in range(self.as_of.year - 3, self.as_of.year)]
        self.measured: dict[P.PeriodKindName, list[P.PeriodSpan]] = {
            "month": P.periods_between("month", window_start, self.window_end),
            "quarter": P.periods_between("quarter", window_start, self.window_end),
            "year": current_years,
        }
        self.open_now = [P.period_containing(k, self.as_of) for k in ("month", "quarter", "year")]
        after_window = P.periods_between("month", self.window_end + timedelta(days=1), self.as_of)
        spans = {s.key: s for kind in self.measured.values() for s in kind}
        spans.update({s.key: s for s in self.open_now + after_window})
        self.awaiting_validation = {self.measured["month"][-1].key, self.measured["quarter"][-1].key}
        rows = []
        for span in spans.values():
            closed = span.end <= self.window_end and span.key not in self.awaiting_validation
            rows.append(
                {
                    "organisation_id": self.org.id,
                    "key": span.key,
                    "kind": PeriodKind(span.kind),
                    "start_date": span.start,
                    "end_date": span.end,
                    "state": PeriodState.CLOSED if closed else PeriodState.OPEN,
                    "closed_at": _at(span.end + timedelta(days=20), 18) if closed else None,
                }
            )
        periods = self._sync(Period, rows, ("key",), scope=[Period.organisation_id == self.org.id])
        self.periods: dict[str, Period] = {k[0]: p for k, p in periods.items()}
        self.spans = spans

    def _indicators(self) -> None:
        org_id = self.org.id
        manager_of = {s: login for u in spec.USERS for s in u.services for login in [u.login]}
        rows = []
        for ind in spec.INDICATORS:
            owner = manager_of.get(ind.service, "direction")
            baseline = None
            if ind.shape is not None:
                first = self.measured[FREQUENCY_TO_KIND[ind.frequency]][0]
                baseline = series_value(self._shape(ind), ind.code, first.key, first.middle, ind.decimals)
            rows.append(
                {
                    "organisation_id": org_id,
                    "code": ind.code,
                    "label": ind.label,
                    "type": ind.type,
                    "unit": ind.unit,
                    "direction": ind.direction,
                    "frequency": ind.frequency,
                    "perspective": ind.perspective,
                    "description": ind.description,
                    "formula": ind.formula,
                    "decimals": ind.decimals,
                    "weight": ind.weight,
                    "source": ind.source,
                    "baseline_value": baseline,
                    "baseline_period_key": (
                        self.measured[FREQUENCY_TO_KIND[ind.frequency]][0].key
                        if baseline is not None
                        else None
                    ),
                    "service_id": self.services[ind.service].id,
                    "owner_id": self.users[owner].id,
                    "objective_id": self.objectives[ind.objective].id,
                    "activity_id": self.activities[ind.activity].id if ind.activity else None,
                    "need_id": self._indicator_need(ind),
                    "cost_metric": ind.cost_metric,
                }
            )
        indicators = self._sync(Indicator, rows, ("code",), scope=[Indicator.organisation_id == org_id])
        self.indicators: dict[str, Indicator] = {k[0]: i for k, i in indicators.items()}

    def _indicator_need(self, ind: spec.IndicatorSpec) -> int | None:
        if ind.need is None:
            return None
        if spec.CATALOGUE.needs[ind.need].per == "iris":
            return None  # measured on all the quartiers: linked through its objective
        return self.needs[ind.need].id

    def _shape(self, ind: spec.IndicatorSpec) -> SeriesShape:
        if ind.shape is None:
            raise ValueError(f"indicateur calculé sans série : {ind.code}")
        if not ind.scaled:
            return ind.shape
        return replace(ind.shape, level=ind.shape.level * self.scale)

    def _target_value(self, ind: spec.IndicatorSpec, span: P.PeriodSpan) -> float | None:
        """A measured indicator's target follows its own trend, stretched by 2 % in the good
        direction (seasons and noise then make some periods amber or red); a computed one's
        comes from the spec."""
        if ind.direction is Direction.WITHIN_BAND or (ind.target is None and ind.shape is None):
            return None
        years = (span.middle.year - 2023) + (span.middle.month - 1) / 12
        if ind.shape is not None:
            stretch = 1.02 if ind.direction is Direction.HIGHER_IS_BETTER else 0.98
            value = self._shape(ind).level * (1 + ind.shape.growth) ** years * stretch
        else:
            assert ind.target is not None  # noqa: S101 - checked above
            value = ind.target * (1 + ind.target_growth) ** years * (self.scale if ind.scaled else 1.0)
        if ind.unit == "%":
            value = min(100.0, value)
        return float(round(value, ind.decimals))

    def _targets_and_measurements(self) -> None:
        org_id = self.org.id
        target_rows: list[dict[str, Any]] = []
        measurement_rows: list[dict[str, Any]] = []
        direction_user = self.users["direction"]
        for ind in spec.INDICATORS:
            indicator = self.indicators[ind.code]
            kind = FREQUENCY_TO_KIND[ind.frequency]
            measured = self.measured[kind]
            later = sorted(s for s in self.spans.values() if s.kind == kind and s.start > measured[-1].end)
            for span in measured + later:
                band = ind.band
                if band is not None and ind.scaled:
                    band = (round(band[0] * self.scale, 1), round(band[1] * self.scale, 1))
                target_rows.append(
                    {
                        "indicator_id": indicator.id,
                        "period_id": self.periods[span.key].id,
                        "value": self._target_value(ind, span),
                        "band_low": band[0] if band else None,
                        "band_high": band[1] if band else None,
                        "threshold_mode": ThresholdMode.RELATIVE,
                        "amber_tolerance": 0.05,
                        "red_tolerance": 0.10,
                    }
                )
            if ind.shape is None:
                continue  # computed indicator: no measurement of its own
            shape = self._shape(ind)
            enterer = self.users[indicator_owner_login(ind)]
            for span in measured:
                value = series_value(shape, ind.code, span.key, span.middle, ind.decimals)
                # the last month and quarter: validated but for the seniors service's, which still
                # wait for the direction (the validation page has values to show, the scorecard counts
                # the rest)
                validated = span.key not in self.awaiting_validation or ind.service != "SENIORS"
                measurement_rows.append(
                    {
                        "organisation_id": org_id,
                        "indicator_id": indicator.id,
                        "period_id": self.periods[span.key].id,
                        "territory_id": None,
                        "value": value,
                        "comment": None,
                        "state": MeasurementState.VALIDATED if validated else MeasurementState.SUBMITTED,
                        "entered_by_id": enterer.id,
                        "entered_at": _at(span.end + timedelta(days=5), 8),
                        "submitted_at": _at(span.end + timedelta(days=5), 10),
                        "validated_by_id": direction_user.id if validated else None,
                        "validated_at": _at(span.end + timedelta(days=15), 9) if validated else None,
                    }
                )
        indicator_ids = [i.id for i in self.indicators.values()]
        self._sync(
            Target,
            target_rows,
            ("indicator_id", "period_id"),
            scope=[Target.indicator_id.in_(indicator_ids)],
        )
        self._sync(
            Measurement,
            measurement_rows,
            ("indicator_id", "period_id", "territory_id"),
            # the values Pilotis computes from the costing are written by ``publish_cost_indicators``
            scope=[
                Measurement.organisation_id == org_id,
                Measurement.indicator_id.not_in(
                    [i.id for i in self.indicators.values() if i.cost_metric is not None]
                    + [self.indicators[i.code].id for i in spec.INDICATORS if i.fed_by_survey]
                ),
            ],
        )

    # -- citizen participation -------------------------------------------------------------
    def _participation(self) -> None:
        done = seed_participation(
            self.session,
            self.org,
            as_of=self.as_of,
            indicators=self.indicators,
            services=self.services,
            groups=self.groups,
            iris=self.iris,
            direction=self.users["direction"],
        )
        self.stats.inserted += done.surveys

    # -- costs ---------------------------------------------------------------------------
    def _activity_cost(self, activity: spec.ActivitySpec) -> float:
        if activity.unit_cost is None:
            return 0.0
        return (activity.unit_cost * activity.volume + activity.fixed_cost) * self.scale

    def _costs(self) -> None:
        org_id = self.org.id
        by_service: dict[str, list[tuple[str, float]]] = {}
        for a in spec.ACTIVITIES:
            cost = self._activity_cost(a)
            if cost > 0:
                by_service.setdefault(a.service, []).append((a.code, cost))
        operational = sum(c for items in by_service.values() for _, c in items)
        admin_total = operational * 0.27 / 0.73
        service_totals = {s: sum(c for _, c in items) for s, items in by_service.items()}
        service_totals["ADMIN"] = admin_total
        lines: list[dict[str, Any]] = []
        allocations: list[tuple[tuple[Any, ...], str, Decimal]] = []
        # expenses reach activities through the cost model (centres, keys, drivers), not line by line
        documents = [(y, CostKind.BUDGET, "BP") for y in (2023, 2024, 2025, 2026)] + [
            (y, CostKind.ACTUAL, "CA") for y in (2023, 2024, 2025)
        ]
        imported = {
            (d.year, d.document_type)
            for d in self.session.scalars(
                select(BudgetDocument).where(BudgetDocument.organisation_id == org_id)
            )
        }
        for year, kind, document in documents:
            if (year, document) in imported:
                continue  # finance imported the real document: the seeded one gives way
            factor = YEAR_FACTORS[year]
            for service_spec in spec.SERVICES:
                if service_spec.code not in service_totals:
                    continue
                service = self.services[service_spec.code]
                total = service_totals[service_spec.code] * factor
                for nature, label, share in service_spec.natures:
                    amount = total * share
                    if kind is CostKind.ACTUAL:
                        amount *= jitter(service_spec.code + nature, f"{year}", 0.04)
                    self._cost_line(lines, kind, document, year, service, nature, label, "depense", amount)
            for service_code, nature, label, ratio, base in REVENUES:
                funded = [(a, c) for a, c in by_service.get(base, []) if a in ratio[0]]
                amount = sum(c for _, c in funded) * ratio[1] * factor
                if kind is CostKind.ACTUAL:
                    amount *= jitter(service_code + nature, f"{year}", 0.05)
                key = self._cost_line(
                    lines, kind, document, year, self.services[service_code], nature, label, "recette", amount
                )
                funded_total = sum(c for _, c in funded)
                for code, cost in funded:  # a revenue is earmarked for the activities it funds
                    allocations.append((key, code, Decimal(str(round(cost / funded_total, 6)))))
        self._execution_to_date(lines, service_totals, imported)
        key_fields = (
            "kind", "document_type", "year", "function_code", "nature_code", "flow", "service_id", "month",
        )  # fmt: skip
        cost_lines = self._sync(
            CostLine,
            lines,
            key_fields,
            scope=[CostLine.organisation_id == org_id, CostLine.document_id.is_(None)],
        )
        allocation_rows = []
        seen: dict[tuple[Any, ...], Decimal] = {}
        for key, activity_code, wanted in allocations:
            # the shares of a line must not exceed 1 after rounding
            used = seen.get(key, Decimal(0))
            granted = min(wanted, Decimal(1) - used)
            if granted <= 0:
                continue
            seen[key] = used + granted
            allocation_rows.append(
                {
                    "cost_line_id": cost_lines[key].id,
                    "activity_id": self.activities[activity_code].id,
                    "share": granted,
                }
            )
        self._sync(
            CostAllocation,
            allocation_rows,
            ("cost_line_id", "activity_id"),
            scope=[CostAllocation.cost_line_id.in_([c.id for c in cost_lines.values()])],
        )
        self._cost_model(by_service)
        publish_cost_indicators(self.session, org_id)

    def _execution_to_date(
        self, lines: list[dict[str, Any]], service_totals: dict[str, float], imported: set[tuple[int, str]]
    ) -> None:
        """The current year's expenses month by month up to the last closed month (an execution export)."""
        year, months = self.as_of.year, self.as_of.month - 1
        if year not in YEAR_FACTORS or months < 1 or (year, "EXEC") in imported:
            return
        for service_spec in spec.SERVICES:
            if service_spec.code not in service_totals:
                continue
            service = self.services[service_spec.code]
            total = service_totals[service_spec.code] * YEAR_FACTORS[year]
            for nature, label, share in service_spec.natures:
                for month in range(1, months + 1):
                    amount = total * share / 12 * jitter(service_spec.code + nature, f"{year}-{month}", 0.06)
                    self._cost_line(
                        lines, CostKind.ACTUAL, "EXEC", year, service, nature, label, "depense", amount, month
                    )

    def _cost_model(self, by_service: dict[str, list[tuple[str, float]]]) -> None:
        """Cost centres: administration (support) and each own operational service, with their keys
        (administration by the services' staff) and drivers (time spent on each activity, in hours)."""
        org_id = self.org.id
        own = [s for s in spec.SERVICES if s.partner_type is None]
        rows = [
            {
                "organisation_id": org_id,
                "code": s.code,
                "name": s.name,
                "kind": "support" if s.is_support else "operational",
                "service_id": self.services[s.code].id,
                "function_codes": ["020", s.m57_function] if s.is_support else [s.m57_function],
                "step_order": 0,
                "driver": "direct" if s.is_support else "time",
            }
            for s in own
        ]
        centres = self._sync(CostCentre, rows, ("code",), scope=[CostCentre.organisation_id == org_id])
        by_code = {k[0]: c for k, c in centres.items()}
        staff = {
            s.code: sum(a.staff_etp for a in spec.ACTIVITIES if a.service == s.code)
            for s in own
            if not s.is_support
        }
        total_staff = sum(staff.values())
        keys: list[dict[str, Any]] = []
        for support in (s for s in own if s.is_support):
            shares = {code: Decimal(str(round(etp / total_staff, 6))) for code, etp in staff.items()}
            first = next(iter(shares))
            shares[first] += Decimal(1) - sum(shares.values())  # the keys sum to exactly 100 %
            keys += [
                {"provider_id": by_code[support.code].id, "receiver_id": by_code[code].id, "share": share}
                for code, share in shares.items()
            ]
        self._sync(
            CostKey, keys, ("provider_id", "receiver_id"),
            scope=[CostKey.provider_id.in_([c.id for c in centres.values()])],
        )  # fmt: skip
        drivers = [
            {
                "centre_id": by_code[service].id,
                "activity_id": self.activities[code].id,
                "quantity": Decimal(str(round(cost / HOURLY_COST))),
            }
            for service, items in by_service.items()
            if service in by_code
            for code, cost in items
        ]
        self._sync(
            CostDriverQuantity, drivers, ("centre_id", "activity_id"),
            scope=[CostDriverQuantity.centre_id.in_([c.id for c in centres.values()])],
        )  # fmt: skip

    def _cost_line(
        self,
        lines: list[dict[str, Any]],
        kind: CostKind,
        document: str,
        year: int,
        service: Service,
        nature: str,
        label: str,
        flow: str,
        amount: float,
        month: int | None = None,
    ) -> tuple[Any, ...]:
        row = {
            "organisation_id": self.org.id,
            "kind": kind,
            "document_type": document,
            "year": year,
            "nomenclature": Nomenclature.M57,
            "function_code": service.m57_function or "42",
            "nature_code": nature,
            "label": f"{label} — {service.name}",
            "section": "fonctionnement",
            "flow": flow,
            "amount": _money(amount),
            "service_id": service.id,
            "month": month,
        }
        lines.append(row)
        return (kind, document, year, row["function_code"], nature, flow, service.id, month)


def indicator_owner_login(ind: spec.IndicatorSpec) -> str:
    for user in spec.USERS:
        if ind.service in user.services:
            return user.login
    return "direction"


#: Census variables of the commune: (column of the joined table, variable, label).
CENSUS_VARIABLES: list[tuple[str, str, str]] = [
    (variable, "population" if variable == "pop_rp2021" else variable, label)
    for variable, label, _, _ in CENSUS_AGE_GROUPS
]


def _columns(catalog: list[Variable], yy: str) -> list[tuple[str, str, str, str]]:
    return [(v.column.replace("{yy}", yy), v.variable, v.label, v.unit) for v in catalog]


FILOSOFI_COMMUNE_VARIABLES = _columns(FILOSOFI_COMMUNE, "19")
CAF_VARIABLES = _columns(CAF_IRIS, "")
FILOSOFI_IRIS_VARIABLES = _columns(FILOSOFI_IRIS, "19")

#: Revenues: (service, nature, label, (activities, share of their cost), service of the activities).
#: Loaded cost of an hour of work, to express the demo's time drivers in hours.
HOURLY_COST = 38.0

REVENUES: list[tuple[str, str, str, tuple[tuple[str, ...], float], str]] = [
    (
        "PETITE_ENFANCE",
        "7478",
        "Prestation de service unique (CAF)",
        (("A_CRECHE", "A_RPE"), 0.45),
        "PETITE_ENFANCE",
    ),
    (
        "SENIORS",
        "7066",
        "Participations des usagers (repas, aide à domicile)",
        (("A_PORTAGE",), 0.6),
        "SENIORS",
    ),
    ("SENIORS", "7473", "Participation du Département (APA)", (("A_SAAD",), 0.55), "SENIORS"),
    ("SOLIDARITE", "7473", "Convention RSA avec le Département", (("A_RSA",), 0.4), "SOLIDARITE"),
    (
        "ADMIN",
        "7474",
        "Subvention de la commune",
        (("A_DOMICILIATION", "A_ASL", "A_AIDES_FAC", "A_EPICERIE"), 1.0),
        "SOLIDARITE",
    ),
]

"""Activity-based costing of an organisation: load the cost model and the lines of a year, run the
pure core (``scorecard.costing.compute_costing``), present, publish and edit.

One computation feeds the chain: the scorecard's efficiency indicators (``publish_cost_indicators``),
the coherence analysis's cost per person covered and the optimizer's current unit costs
(``current_costs``) all read ``compute``.

Which lines: the operating section (``fonctionnement``), real operations only (order operations such
as depreciation are not resources consumed), of the year. ``basis="actual"`` takes the accounts (CA),
``"budget"`` the voted budget (BP + BS + DM), ``"auto"`` the accounts when the year has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from models import (
    COSTING_METHODS,
    DRIVER_KINDS,
    Activity,
    ActivityVolume,
    CostAllocation,
    CostCentre,
    CostDriverQuantity,
    CostKey,
    CostKind,
    CostLine,
    Direction,
    Frequency,
    Indicator,
    IndicatorType,
    Measurement,
    MeasurementState,
    Organisation,
    Period,
    Service,
)
from scorecard import periods as P
from scorecard.costing import (
    Costing,
    CostingError,
    Method,
    compute_costing,
    counts_output,
    per_year,
    yearly_volumes,
)
from scorecard.errors import UserError
from services import cache
from services.editing import lock_version
from services.steering import ensure_periods, write_computed_value

Basis = Literal["auto", "actual", "budget"]
COSTING_SOURCE = "Pilotis, comptabilité analytique"
COST_METRICS: dict[str, str] = {
    "unit_cost": "Coût complet par unité produite",
    "cost_per_beneficiary": "Coût complet par bénéficiaire",
    "full_cost": "Coût complet de l'activité",
    "net_cost": "Coût net après recettes",
}
DRIVER_LABELS: dict[str, str] = {
    "etp": "ETP affectés",
    "time": "Temps passé (heures)",
    "files": "Nombre de dossiers",
    "area": "Surface occupée (m²)",
    "direct": "Affectation directe (%)",
}
METHOD_LABELS: dict[str, str] = {
    "direct": "Directe (les services entre fonctions support sont ignorés)",
    "step-down": "En cascade (les fonctions support sont clôturées l'une après l'autre)",
    "reciprocal": "Réciproque (services mutuels résolus par un système linéaire)",
}
METHOD_SHORT = {"direct": "directe", "step-down": "en cascade", "reciprocal": "réciproque"}
STAGE_LABELS = {
    "ressource": "Ressources vers centres",
    "support": "Fonctions support vers centres",
    "activite": "Centres vers activités",
    "affectation": "Affectation directe",
}


class CostModelError(UserError):
    """A cost model edit or a costing that cannot be done; the message is in French."""


@dataclass(frozen=True)
class CostingReport:
    """A costing with the names the pages, exports and the optimizer need."""

    organisation_id: int
    year: int
    basis: str
    method: str
    costing: Costing
    #: index activity id: code, name, service, output_unit + the core's columns.
    activities: pd.DataFrame
    #: index centre code: name, kind, driver + the core's columns.
    centres: pd.DataFrame
    names: dict[str, str]


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value).replace(",", ".").replace("\u202f", "").replace(" ", ""))
    except InvalidOperation:
        raise CostModelError(f"{what} : « {value} » n'est pas un nombre") from None
    if not number.is_finite():
        raise CostModelError(f"{what} : « {value} » n'est pas un nombre")
    return number


def years_with_costs(session: Session, organisation_id: int) -> list[tuple[int, str]]:
    """The years with operating expenses, newest first, with the basis ``auto`` chooses."""
    rows = session.execute(
        select(CostLine.year, CostLine.kind)
        .where(CostLine.organisation_id == organisation_id, CostLine.flow == "depense")
        .where(func.coalesce(CostLine.document_type, "") != "EXEC")
        .group_by(CostLine.year, CostLine.kind)
    ).all()
    years: dict[int, str] = {}
    for year, kind in rows:
        if kind is CostKind.ACTUAL or years.get(year) is None:
            years[year] = "actual" if kind is CostKind.ACTUAL else "budget"
    return sorted(years.items(), reverse=True)


def resolve_basis(session: Session, organisation_id: int, year: int, basis: Basis) -> str:
    if basis != "auto":
        return basis
    return dict(years_with_costs(session, organisation_id)).get(year, "budget")


def load_model(session: Session, organisation_id: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The centres, keys and driver quantities of an organisation as the core's frames."""
    centres = session.scalars(
        select(CostCentre).where(CostCentre.organisation_id == organisation_id).order_by(CostCentre.code)
    ).all()
    by_id = {c.id: c.code for c in centres}
    centre_frame = pd.DataFrame(
        {
            "name": [c.name for c in centres],
            "kind": [c.kind for c in centres],
            "service": pd.array([c.service_id for c in centres], dtype="Int64"),
            "function_codes": [tuple(c.function_codes or ()) for c in centres],
            "step_order": [c.step_order for c in centres],
            "driver": [c.driver for c in centres],
        },
        index=pd.Index([c.code for c in centres], name="centre"),
    )
    keys = pd.DataFrame(
        [
            (by_id[p], by_id[r], float(s))
            for p, r, s in session.execute(
                select(CostKey.provider_id, CostKey.receiver_id, CostKey.share).where(
                    CostKey.provider_id.in_(list(by_id))
                )
            )
        ],
        columns=["provider", "receiver", "share"],
    )
    drivers = pd.DataFrame(
        [
            (by_id[c], a, float(q))
            for c, a, q in session.execute(
                select(
                    CostDriverQuantity.centre_id, CostDriverQuantity.activity_id, CostDriverQuantity.quantity
                ).where(CostDriverQuantity.centre_id.in_(list(by_id)))
            )
        ],
        columns=["centre", "activity", "quantity"],
    )
    return centre_frame, keys, drivers


def load_lines(
    session: Session, organisation_id: int, year: int, basis: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The operating, real lines of a year on a basis, and their direct assignments to activities."""
    kind = CostKind.ACTUAL if basis == "actual" else CostKind.BUDGET
    query = (
        select(
            CostLine.id,
            CostLine.flow,
            CostLine.amount,
            CostLine.service_id,
            func.coalesce(CostLine.m57_function_code, CostLine.function_code),
            CostLine.nature_code,
        )
        .where(CostLine.organisation_id == organisation_id, CostLine.year == year, CostLine.kind == kind)
        .where(CostLine.section == "fonctionnement", CostLine.operation == "reelle")
        .where(func.coalesce(CostLine.document_type, "") != "EXEC")
    )
    rows = session.execute(query).all()
    lines = pd.DataFrame(rows, columns=["line", "flow", "amount", "service", "function", "nature"])
    lines["amount"] = lines["amount"].astype(float)
    lines["service"] = pd.array(lines["service"].tolist(), dtype="Int64")
    allocations = pd.DataFrame(
        session.execute(
            select(CostAllocation.cost_line_id, CostAllocation.activity_id, CostAllocation.share)
            .join(CostLine, CostLine.id == CostAllocation.cost_line_id)
            .where(CostLine.organisation_id == organisation_id, CostLine.year == year, CostLine.kind == kind)
        ).all(),
        columns=["line", "activity", "share"],
    )
    allocations["share"] = allocations["share"].astype(float)
    return lines, allocations


def output_indicator_values(session: Session, organisation_id: int, year: int) -> pd.DataFrame:
    """The year's value of each activity's output indicator: columns ``activity``, ``code``,
    ``label``, ``value``.

    The output indicator of an activity is an output indicator attached to it, entered (no formula,
    not fed by the costing), whose unit counts the activity's unit of output
    (:func:`scorecard.costing.counts_output`: ``repas`` for ``repas livré``). Its year's value: the
    value given for the year itself, else the sum of its twelve months (or four quarters) when the
    year is complete — a volume of output adds up over the year, except for a unit counted per
    year (``personne accompagnée (an)``), which only a yearly value gives. Values entered and
    submitted or validated only (not drafts).
    """
    rows = session.execute(
        select(
            Indicator.id,
            Indicator.activity_id,
            Indicator.code,
            Indicator.label,
            Indicator.unit,
            Activity.output_unit,
        )
        .join(Activity, Activity.id == Indicator.activity_id)
        .where(Indicator.organisation_id == organisation_id, Indicator.type == IndicatorType.OUTPUT)
        .where(Indicator.formula.is_(None), Indicator.cost_metric.is_(None))
        .order_by(Indicator.code)
    ).all()
    chosen = {r.id: r for r in rows if counts_output(r.unit, r.output_unit)}
    columns = ["activity", "code", "label", "value"]
    if not chosen:
        return pd.DataFrame(columns=columns)
    values = session.execute(
        select(Measurement.indicator_id, Period.kind, Period.key, Measurement.value)
        .join(Period, Period.id == Measurement.period_id)
        .where(Measurement.indicator_id.in_(list(chosen)), Measurement.territory_id.is_(None))
        .where(Measurement.state.in_((MeasurementState.SUBMITTED, MeasurementState.VALIDATED)))
        .where(Measurement.value.is_not(None))
        .where(Period.start_date >= date(year, 1, 1), Period.end_date <= date(year, 12, 31))
    ).all()
    by_indicator: dict[int, dict[str, dict[str, float]]] = {}
    for indicator_id, kind, key, measured in values:
        by_indicator.setdefault(int(indicator_id), {}).setdefault(str(kind), {})[str(key)] = float(
            measured or 0.0
        )
    out = []
    for indicator_id, row in chosen.items():
        found = by_indicator.get(indicator_id, {})
        value: float | None = None
        if str(year) in found.get("year", {}):
            value = found["year"][str(year)]
        elif not per_year(row.output_unit):
            if len(found.get("month", {})) == 12:
                value = sum(found["month"].values())
            elif len(found.get("quarter", {})) == 4:
                value = sum(found["quarter"].values())
        if value is not None:
            out.append((int(row.activity_id), row.code, row.label, value))
    return pd.DataFrame(out, columns=columns)


def load_volumes(session: Session, organisation_id: int, year: int, basis: str) -> pd.DataFrame:
    """Each activity's volume of output for the year and its source (``scorecard.costing.yearly_volumes``):
    the year's row of ``activity_volumes``, else its output indicator, else its reference volume."""
    activities = session.execute(
        select(Activity.id, Activity.volume).where(Activity.organisation_id == organisation_id)
    ).all()
    frame = pd.DataFrame(
        {"volume": [float(v) if v is not None else np.nan for _, v in activities]},
        index=pd.Index([int(i) for i, _ in activities], name="activity"),
    )
    volumes = pd.DataFrame(
        session.execute(
            select(
                ActivityVolume.activity_id,
                ActivityVolume.planned_volume,
                ActivityVolume.actual_volume,
                ActivityVolume.source,
            )
            .join(Activity, Activity.id == ActivityVolume.activity_id)
            .where(Activity.organisation_id == organisation_id, ActivityVolume.year == year)
        ).all(),
        columns=["activity", "planned", "actual", "source"],
    )
    indicators = output_indicator_values(session, organisation_id, year)
    return yearly_volumes(frame, volumes, indicators, year=year, basis=basis)


def compute(session: Session, organisation_id: int, year: int, *, basis: Basis = "auto") -> CostingReport:
    """The costing of a year (raises ``CostModelError`` with the core's French message).

    Computed once per session (a request, a command) and, for a page's read session, kept while
    the database is unchanged (:mod:`services.cache`): the scorecard, the coherence, the budget
    execution and the cost pages all read this one result. Each caller gets its own copy."""
    used = resolve_basis(session, organisation_id, year, basis)  # "auto" and what it means: one costing
    return cache.remember(
        session,
        ("costing", organisation_id, year, used),
        lambda: _compute(session, organisation_id, year, used),
        copy=_copy_report,
    )


def _copy_report(report: CostingReport) -> CostingReport:
    """The report with its own frames (a caller may add columns to them)."""
    costing = replace(
        report.costing,
        activities=report.costing.activities.copy(),
        centres=report.costing.centres.copy(),
        flows=report.costing.flows.copy(),
    )
    return replace(
        report,
        costing=costing,
        activities=report.activities.copy(),
        centres=report.centres.copy(),
        names=dict(report.names),
    )


def _compute(session: Session, organisation_id: int, year: int, used: str) -> CostingReport:
    organisation = session.get(Organisation, organisation_id)
    method = organisation.costing_method if organisation else "reciprocal"
    centres, keys, drivers = load_model(session, organisation_id)
    if centres.empty:
        raise CostModelError("aucun centre de coût : créez le modèle de coûts avant de calculer")
    lines, allocations = load_lines(session, organisation_id, year, used)
    activities = session.execute(
        select(Activity.id, Activity.code, Activity.name, Service.name, Activity.output_unit, Activity.volume,
               Activity.beneficiaries, Activity.unit_cost)
        .join(Service, Service.id == Activity.service_id)
        .where(Activity.organisation_id == organisation_id)
        .order_by(Service.name, Activity.name)
    ).all()  # fmt: skip
    volumes = load_volumes(session, organisation_id, year, used)
    frame = pd.DataFrame(
        {
            "volume": volumes["volume"].reindex([a.id for a in activities]).fillna(0.0).to_numpy(),
            "beneficiaries": [float(a.beneficiaries or 0) for a in activities],
        },
        index=pd.Index([a.id for a in activities], name="activity"),
    )
    try:
        costing = compute_costing(
            centres, keys, drivers, lines, allocations, frame, method=cast(Method, method)
        )
    except CostingError as error:
        raise CostModelError(str(error)) from None
    named = costing.activities.copy()
    named.insert(0, "code", [a.code for a in activities])
    named.insert(1, "name", [a.name for a in activities])
    named.insert(2, "service", [a[3] for a in activities])
    named.insert(3, "output_unit", [a.output_unit for a in activities])
    named["volume_source"] = volumes["volume_source"].reindex(named.index).to_numpy()
    named["volume_label"] = volumes["volume_label"].reindex(named.index).to_numpy()
    named["recorded_unit_cost"] = [
        float(a.unit_cost) if a.unit_cost is not None else np.nan for a in activities
    ]
    centre_frame = costing.centres.join(centres[["name", "driver", "step_order"]])
    names = {str(code): str(name) for code, name in centres["name"].items()}
    names.update({str(a.id): a.name for a in activities})
    return CostingReport(organisation_id, year, used, method, costing, named, centre_frame, names)


def latest_report(session: Session, organisation_id: int) -> CostingReport | None:
    """The costing of the newest year with accounts (else the newest budget), or None without a model."""
    years = years_with_costs(session, organisation_id)
    if (
        not years
        or session.scalar(select(func.count()).where(CostCentre.organisation_id == organisation_id)) == 0
    ):
        return None
    actual = [y for y, b in years if b == "actual"]
    year = actual[0] if actual else years[0][0]
    try:
        return compute(session, organisation_id, year)
    except CostModelError:
        return None


def current_costs(session: Session, organisation_id: int) -> dict[int, dict[str, float]]:
    """Full cost, unit cost and cost per beneficiary of each activity from the latest costing.

    Empty when the organisation has no usable cost model (callers fall back on recorded costs).
    """
    report = latest_report(session, organisation_id)
    if report is None:
        return {}
    columns = ["full_cost", "unit_cost", "cost_per_beneficiary", "net_cost", "volume"]
    rows = report.activities[columns].astype(float).to_dict("index")  # one conversion, no row lookups
    return {
        int(cast(int, activity_id)): {**{c: float(row[c]) for c in columns}, "year": float(report.year)}
        for activity_id, row in rows.items()
    }


def publish_cost_indicators(
    session: Session, organisation_id: int, years: Sequence[int] | None = None
) -> int:
    """Write the yearly values of the indicators fed by the costing (``Indicator.cost_metric``). Flushes."""
    indicators = session.scalars(
        select(Indicator).where(
            Indicator.organisation_id == organisation_id,
            Indicator.cost_metric.is_not(None),
            Indicator.activity_id.is_not(None),
        )
    ).all()
    if not indicators:
        return 0
    wanted = years if years is not None else [y for y, _ in years_with_costs(session, organisation_id)]
    written = 0
    for year in wanted:
        try:
            report = compute(session, organisation_id, year)
        except CostModelError:
            continue
        span = P.year(year)
        period = ensure_periods(session, organisation_id, [span])[span.key]
        label = "compte administratif" if report.basis == "actual" else "budget voté"
        for indicator in indicators:
            if indicator.activity_id is None or indicator.activity_id not in report.activities.index:
                continue
            raw = float(
                cast(float, report.activities.at[int(indicator.activity_id), str(indicator.cost_metric)])
            )
            if np.isnan(raw):
                continue
            value = round(raw, indicator.decimals)
            comment = f"Calculé par Pilotis (comptabilité analytique {year}, {label}, méthode {METHOD_SHORT.get(report.method, report.method)})."
            write_computed_value(
                session, organisation_id=organisation_id, indicator_id=indicator.id, period_id=period.id,
                value=value, comment=comment,
            )  # fmt: skip
            written += 1
    session.flush()
    return written


def cost_indicator_defaults(metric: str) -> dict[str, Any]:
    """Fields of an indicator fed by the costing (efficiency, lower is better, yearly)."""
    return {
        "direction": Direction.LOWER_IS_BETTER,
        "frequency": Frequency.YEARLY,
        "source": COSTING_SOURCE,
        "cost_metric": metric,
    }


# --- Editing the cost model (finance) ---------------------------------------------------------------


def centre_by_code(session: Session, organisation_id: int, code: str) -> CostCentre:
    centre = session.scalar(
        select(CostCentre).where(CostCentre.organisation_id == organisation_id, CostCentre.code == code)
    )
    if centre is None:
        raise CostModelError(f"centre de coût « {code} » inconnu")
    return centre


def set_method(session: Session, organisation_id: int, method: str) -> None:
    if method not in COSTING_METHODS:
        raise CostModelError(f"méthode de répartition « {method} » inconnue (directe, cascade ou réciproque)")
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:  # pragma: no cover - the caller holds the organisation
        raise CostModelError("organisation inconnue")
    organisation.costing_method = method
    session.flush()


def save_keys(
    session: Session,
    organisation_id: int,
    provider_code: str,
    shares: dict[str, Any],
    version: int | None = None,
) -> None:
    """Replace a support centre's keys (percentages by receiving centre code); they must sum to 100 %.

    ``version``: the centre's version the keys were read at; an older one raises ``StaleEdit`` (409).
    """
    provider = centre_by_code(session, organisation_id, provider_code)
    if provider.kind != "support":
        raise CostModelError(f"« {provider.name} » n'est pas une fonction support : elle n'a pas de clés")
    parsed: dict[int, Decimal] = {}
    problems: list[str] = []
    for code, raw in shares.items():
        receiver = centre_by_code(session, organisation_id, code)
        if raw is None or str(raw).strip() == "":
            continue
        try:
            percent = _decimal(raw, f"clé vers « {receiver.name} »")
        except CostModelError as error:
            problems.append(str(error))
            continue
        if percent < 0 or percent > 100:
            problems.append(f"clé vers « {receiver.name} » : {percent} % hors de 0 à 100 %")
        elif receiver.id == provider.id:
            if percent:
                problems.append(f"« {provider.name} » ne peut pas se servir elle-même")
        elif percent > 0:
            parsed[receiver.id] = percent / 100
    total = sum(parsed.values(), Decimal(0))
    if not problems and total > 0 and abs(total - 1) <= Decimal("0.0005"):
        # the page shows keys to the hundredth of a percent: sent back as shown they may miss
        # 100 % by rounding; spread that rounding over them rather than refuse the form
        parsed = {receiver: round(share / total, 6) for receiver, share in parsed.items()}
        largest = max(parsed, key=lambda receiver: parsed[receiver])
        parsed[largest] += Decimal(1) - sum(parsed.values(), Decimal(0))  # stored shares sum to exactly 1
        total = Decimal(1)
    if not problems and abs(total - 1) > Decimal("0.000001"):
        problems.append(
            f"les clés de « {provider.name} » font {str(round(total * 100, 2)).replace('.', ',')} % au lieu de 100 %"
        )
    if problems:
        raise CostModelError(" ; ".join(problems))
    if version is not None:
        lock_version(session, provider, version, ["name"])
    session.execute(delete(CostKey).where(CostKey.provider_id == provider.id))
    for receiver_id, share in parsed.items():
        session.add(CostKey(provider_id=provider.id, receiver_id=receiver_id, share=share))
    session.flush()


def save_drivers(
    session: Session, organisation_id: int, centre_code: str, driver: str, quantities: dict[int, Any]
) -> None:
    """Replace an operational centre's driver and quantities (by activity id); one must be positive."""
    centre = centre_by_code(session, organisation_id, centre_code)
    if centre.kind != "operational":
        raise CostModelError(f"« {centre.name} » est une fonction support : elle se répartit par des clés")
    if driver not in DRIVER_KINDS:
        raise CostModelError(f"inducteur « {driver} » inconnu")
    known = {
        a.id: a.name
        for a in session.scalars(select(Activity).where(Activity.organisation_id == organisation_id))
    }
    parsed: dict[int, Decimal] = {}
    problems: list[str] = []
    for activity_id, raw in quantities.items():
        if activity_id not in known:
            problems.append(f"activité n° {activity_id} inconnue")
            continue
        if raw is None or str(raw).strip() == "":
            continue
        try:
            quantity = _decimal(raw, f"quantité pour « {known[activity_id]} »")
        except CostModelError as error:
            problems.append(str(error))
            continue
        if quantity < 0:
            problems.append(f"quantité pour « {known[activity_id]} » : {quantity} est négative")
        elif quantity > 0:
            parsed[activity_id] = quantity
    if not problems and not parsed:
        problems.append(
            f"« {centre.name} » : aucune quantité d'inducteur ({DRIVER_LABELS[driver].lower()}) ; "
            "ses coûts ne pourraient aller à aucune activité"
        )
    if driver == "direct" and not problems:
        total = sum(parsed.values(), Decimal(0))
        if abs(total - 100) > Decimal("0.0001"):
            problems.append(
                f"« {centre.name} » : l'affectation directe fait {str(total).replace('.', ',')} % au lieu de 100 %"
            )
    if problems:
        raise CostModelError(" ; ".join(problems))
    centre.driver = driver
    session.execute(delete(CostDriverQuantity).where(CostDriverQuantity.centre_id == centre.id))
    for activity_id, quantity in parsed.items():
        session.add(CostDriverQuantity(centre_id=centre.id, activity_id=activity_id, quantity=quantity))
    session.flush()


def set_driver_quantity(
    session: Session, organisation_id: int, centre_code: str, activity_code: str, quantity: Any
) -> None:
    """Change one driver quantity (the command-line and API way to adjust a driver)."""
    centre = centre_by_code(session, organisation_id, centre_code)
    activity = session.scalar(
        select(Activity).where(Activity.organisation_id == organisation_id, Activity.code == activity_code)
    )
    if activity is None:
        raise CostModelError(f"activité « {activity_code} » inconnue")
    current: dict[int, Any] = {
        int(a): q
        for a, q in session.execute(
            select(CostDriverQuantity.activity_id, CostDriverQuantity.quantity).where(
                CostDriverQuantity.centre_id == centre.id
            )
        )
    }
    current[activity.id] = _decimal(quantity, f"quantité pour « {activity.name} »")
    if centre.driver == "direct":
        raise CostModelError(
            f"« {centre.name} » est réparti en affectation directe (%) : modifiez toutes ses parts ensemble"
        )
    save_drivers(session, organisation_id, centre_code, centre.driver, dict(current.items()))


def driver_table(session: Session, organisation_id: int) -> list[dict[str, Any]]:
    """Each centre with its keys or driver quantities, for the cost model page and export."""
    centres, keys, drivers = load_model(session, organisation_id)
    activities = {
        a.id: (a.code, a.name, s)
        for a, s in session.execute(
            select(Activity, Service.name)
            .join(Service, Service.id == Activity.service_id)
            .where(Activity.organisation_id == organisation_id)
            .order_by(Service.name, Activity.name)
        )
    }
    out = []
    for code, row in centres.sort_values(["kind", "step_order"], ascending=[False, True]).iterrows():
        entry: dict[str, Any] = {
            "code": code,
            "name": row["name"],
            "kind": row["kind"],
            "driver": row["driver"],
            "function_codes": ", ".join(row["function_codes"]),
        }
        if row["kind"] == "support":
            mine = keys[keys["provider"] == code]
            entry["keys"] = {
                str(r): float(s) * 100 for r, s in zip(mine["receiver"], mine["share"], strict=True)
            }
            entry["total"] = float(mine["share"].sum()) * 100
        else:
            mine = drivers[drivers["centre"] == code]
            entry["quantities"] = {
                int(a): float(q) for a, q in zip(mine["activity"], mine["quantity"], strict=True)
            }
            entry["total"] = float(mine["quantity"].sum())
        out.append(entry)
    return [{**e, "activities": activities} for e in out]


@dataclass(frozen=True)
class YearUnitCost:
    """An activity's unit cost of a year, with the volume it divides by and where that comes from."""

    unit_cost: float
    volume: float
    volume_label: str


def unit_cost_history(
    session: Session, organisation_id: int, years: int = 4
) -> dict[str, dict[int, YearUnitCost]]:
    """Unit cost of each activity (by code) over the newest ``years`` years with costs, oldest first,
    each with that year's volume and its source (``load_volumes``)."""
    history: dict[str, dict[int, YearUnitCost]] = {}
    for year, _ in sorted(years_with_costs(session, organisation_id))[-years:]:
        try:
            report = compute(session, organisation_id, year)
        except CostModelError:
            continue
        for _, row in report.activities.iterrows():
            value = float(row["unit_cost"])
            if not np.isnan(value):
                history.setdefault(str(row["code"]), {})[year] = YearUnitCost(
                    value, float(row["volume"]), str(row["volume_label"] or "")
                )
    return history


def unit_cost_trend(session: Session, organisation_id: int, years: int = 4) -> dict[str, dict[int, float]]:
    """Unit cost of each activity (by code) over the newest ``years`` years with costs, oldest first."""
    return {
        code: {year: entry.unit_cost for year, entry in by_year.items()}
        for code, by_year in unit_cost_history(session, organisation_id, years).items()
    }

"""Budget and accounts: import a document (SCDL or a mapped finance export) and budget execution.

Import: the file is read and checked whole (``services.budget_files``); nothing is written unless
every line is valid. The same content imported again (same fingerprint) changes nothing. A BP, BS,
CA, CFU or execution export replaces the previous one of its year (and the lines seeded without a
document); decisions modificatives (DM) accumulate beside each other. The costing indicators of the
year are then recomputed (``services.costing.publish_cost_indicators``).

Execution: the voted budget (BP + BS + DM, else the credits opened of the CA) against the actual
(the CA, else the execution export to date), by service, M57 function and activity, with a year-end
projection that extrapolates the months elapsed linearly: ``projection = actual x 12 / months``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from models import (
    BudgetDocument,
    CostAllocation,
    CostKind,
    CostLine,
    ImportMapping,
    Nomenclature,
    Organisation,
    Service,
)
from scorecard.costing import centre_of_lines
from services.budget_files import (
    BUDGET_KINDS,
    CENT,
    BudgetFileError,
    ColumnMapping,
    mapping_from_dict,
    mapping_to_dict,
    parse_budget_file,
)
from services.costing import CostModelError, compute, load_model, publish_cost_indicators
from services.nomenclatures import function_label
from services.numbers import format_euros

#: Documents of which a year holds one: a new one replaces the old. DMs accumulate.
REPLACED = ("BP", "BS", "CA", "CFU", "EXEC")
ACTUAL_DOCUMENTS = ("CA", "CFU", "EXEC")
DOCUMENT_LABELS = {
    "BP": "Budget primitif",
    "BS": "Budget supplémentaire",
    "DM": "Décision modificative",
    "CA": "Compte administratif",
    "CFU": "Compte financier unique",
    "EXEC": "Exécution en cours d'année",
}


@dataclass
class BudgetImportResult:
    document_type: str
    year: int
    lines: int
    unchanged: bool
    replaced: int
    warnings: list[str] = field(default_factory=list)
    expenses: Decimal = Decimal(0)
    revenues: Decimal = Decimal(0)
    indicators: int = 0

    def summary(self) -> str:
        label = DOCUMENT_LABELS.get(self.document_type, self.document_type)
        if self.unchanged:
            return f"{label} {self.year} déjà importé à l'identique : aucune modification."
        replaced = f", remplace {self.replaced} ligne(s) antérieure(s)" if self.replaced else ""
        return (
            f"{label} {self.year} importé : {self.lines} ligne(s){replaced} ; "
            f"dépenses de fonctionnement {money(self.expenses)}, recettes {money(self.revenues)} ; "
            f"{self.indicators} valeur(s) d'indicateurs de coût recalculée(s)."
        )


def money(value: Decimal | float) -> str:
    return format_euros(value, 2)


def mapping_names(session: Session, organisation_id: int) -> list[str]:
    return list(
        session.scalars(
            select(ImportMapping.name)
            .where(ImportMapping.organisation_id == organisation_id)
            .order_by(ImportMapping.name)
        )
    )


def load_mapping(session: Session, organisation_id: int, name: str) -> ColumnMapping:
    row = session.scalar(
        select(ImportMapping).where(
            ImportMapping.organisation_id == organisation_id, ImportMapping.name == name
        )
    )
    if row is None:
        known = ", ".join(mapping_names(session, organisation_id)) or "aucune"
        raise BudgetFileError([f"correspondance de colonnes « {name} » inconnue (enregistrées : {known})"])
    return mapping_from_dict({**row.definition, "name": row.name})


def save_mapping(session: Session, organisation_id: int, definition: dict[str, Any]) -> ImportMapping:
    """Create or replace a saved column mapping (checked by ``mapping_from_dict``). Flushes."""
    mapping = mapping_from_dict(definition)
    row = session.scalar(
        select(ImportMapping).where(
            ImportMapping.organisation_id == organisation_id, ImportMapping.name == mapping.name
        )
    )
    stored = mapping_to_dict(mapping)
    if row is None:
        row = ImportMapping(organisation_id=organisation_id, name=mapping.name, definition=stored)
        session.add(row)
    else:
        row.definition = stored
    session.flush()
    return row


def import_budget(
    session: Session,
    organisation_id: int,
    data: bytes,
    filename: str,
    *,
    mapping_name: str | None = None,
    nomenclature: str | None = None,
    user_id: int | None = None,
    now: datetime,
) -> BudgetImportResult:
    """Import a whole budget document, or nothing (``BudgetFileError`` lists every problem). Flushes."""
    mapping = load_mapping(session, organisation_id, mapping_name) if mapping_name else None
    document = parse_budget_file(data, filename, mapping=mapping, nomenclature=nomenclature)
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:  # pragma: no cover - the caller holds the organisation
        raise BudgetFileError(["organisation inconnue"])
    problems: list[str] = []
    if document.siret and organisation.siren and document.siret[:9] != organisation.siren:
        problems.append(
            f"le fichier est celui du SIRET {document.siret}, qui n'appartient pas à {organisation.name} "
            f"(SIREN {organisation.siren})"
        )
    services = {
        s.code.casefold(): s.id
        for s in session.scalars(select(Service).where(Service.organisation_id == organisation_id))
    }
    for line in document.lines:
        if line.service and line.service.casefold() not in services:
            problems.append(f"ligne {line.line_number} : service « {line.service} » inconnu dans Pilotis")
    if problems:
        raise BudgetFileError(problems)
    existing = session.scalar(
        select(BudgetDocument).where(
            BudgetDocument.organisation_id == organisation_id,
            BudgetDocument.fingerprint == document.fingerprint,
        )
    )
    if existing is not None:
        return BudgetImportResult(document.document_type, document.year, len(document.lines), True, 0)
    actual = document.document_type in ACTUAL_DOCUMENTS
    months = max((line.month for line in document.lines if line.month), default=None)
    written = write_budget_document(
        session,
        organisation_id,
        DocumentToWrite(
            document_type=document.document_type,
            year=document.year,
            nomenclature=Nomenclature(document.nomenclature),
            budget_kind=document.budget_kind,
            source_name=filename,
            source_format=document.source_format,
            fingerprint=document.fingerprint,
            siret=document.siret,
            months_elapsed=months if document.document_type == "EXEC" else None,
        ),
        [
            LineToWrite(
                nomenclature=Nomenclature(line.nomenclature),
                function_code=line.function_code or "",
                m57_function_code=line.m57_function_code,
                nature_code=line.nature_code,
                label=line.label or line.nature_label,
                section=line.section,
                operation=line.operation,
                flow=line.flow,
                amount=(line.actual_amount if actual else line.planned_amount) or Decimal(0),
                planned_amount=line.planned_amount if actual else None,
                service_id=services[line.service.casefold()] if line.service else None,
                month=line.month,
            )
            for line in document.lines
        ],
        user_id=user_id,
        now=now,
    )
    operating = document.total("fonctionnement", "depense")
    income = document.total("fonctionnement", "recette")

    def pick(total: Any) -> Decimal | None:
        return total.actual if actual else total.planned  # type: ignore[no-any-return]

    return BudgetImportResult(
        document.document_type,
        document.year,
        len(document.lines),
        False,
        written.replaced,
        warnings=list(document.warnings),
        expenses=pick(operating) or Decimal(0),
        revenues=pick(income) or Decimal(0),
        indicators=written.indicators,
    )


# --- The one writer of a budget document -------------------------------------------------------------


@dataclass(frozen=True)
class LineToWrite:
    """One line of a budget document to write; the amount is exact to the cent."""

    nomenclature: Nomenclature
    function_code: str
    m57_function_code: str | None
    nature_code: str
    label: str
    amount: Decimal
    section: str = "fonctionnement"
    operation: str = "reelle"
    flow: str = "depense"
    #: For an actual line of a CA: the credits opened for the year.
    planned_amount: Decimal | None = None
    service_id: int | None = None
    month: int | None = None
    #: Direct assignment of the line to activities: (activity id, share), shares summing to at most 1.
    allocations: tuple[tuple[int, Decimal], ...] = ()


@dataclass(frozen=True)
class DocumentToWrite:
    """What a budget document is: type, year, budget (principal or annex) and where it comes from."""

    document_type: str
    year: int
    nomenclature: Nomenclature
    budget_kind: str
    source_name: str
    source_format: str
    #: Identifies the content: the same fingerprint twice is the same document.
    fingerprint: str
    siret: str | None = None
    months_elapsed: int | None = None


@dataclass(frozen=True)
class WrittenDocument:
    document: BudgetDocument
    lines: int
    #: Lines of the earlier document of the same type, year and budget that this one replaced.
    replaced: int
    #: Values of cost indicators recomputed for the year.
    indicators: int


def fingerprint_of(*parts: Any) -> str:
    """SHA-256 of a JSON-ready description of a document (amounts as text, to the cent)."""
    return hashlib.sha256(
        json.dumps(parts, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def write_budget_document(
    session: Session,
    organisation_id: int,
    header: DocumentToWrite,
    lines: Sequence[LineToWrite],
    *,
    user_id: int | None,
    now: datetime,
) -> WrittenDocument:
    """Write a year's budget document: the one way the import and an adopted scenario write a budget.

    A BP, BS, CA, CFU or execution export replaces the earlier document of the same type, year
    and **budget kind** (an annex budget, M22, never touches the principal budget nor the
    reverse; lines seeded without a document belong to the principal budget); DMs accumulate.
    Amounts are ``Decimal`` to the cent (anything else is refused, as a negative amount outside a
    DM), written as given. The cost indicators of the year are recomputed afterwards (not for an
    execution export: no costing of a part of a year). Flushes.
    """
    problems: list[str] = []
    if header.budget_kind not in BUDGET_KINDS:
        problems.append(f"budget « {header.budget_kind} » inconnu (principal ou annexe)")
    for number, line in enumerate(lines, start=1):
        for amount in (line.amount, line.planned_amount):
            if amount is None:
                continue
            if not isinstance(amount, Decimal) or not amount.is_finite() or amount != amount.quantize(CENT):
                problems.append(f"ligne {number} : montant « {amount} » qui n'est pas au centime")
        if line.amount < 0 and header.document_type != "DM":
            problems.append(
                f"ligne {number} : montant négatif {money(line.amount)} (seule une décision modificative "
                "peut réduire un crédit)"
            )
        if sum((share for _, share in line.allocations), Decimal(0)) > 1:
            problems.append(f"ligne {number} : affectée à plus de 100 % aux activités")
    if problems:
        raise BudgetFileError(problems)
    replaced = _remove_previous(session, organisation_id, header) if header.document_type in REPLACED else 0
    actual = header.document_type in ACTUAL_DOCUMENTS
    record = BudgetDocument(
        organisation_id=organisation_id,
        document_type=header.document_type,
        year=header.year,
        nomenclature=header.nomenclature,
        budget_kind=header.budget_kind,
        source_name=header.source_name[:255],
        source_format=header.source_format[:64],
        fingerprint=header.fingerprint[:64],
        siret=header.siret,
        line_count=len(lines),
        months_elapsed=header.months_elapsed,
        imported_by_id=user_id,
        imported_at=now,
    )
    session.add(record)
    session.flush()
    rows = [
        {
            "organisation_id": organisation_id,
            "document_id": record.id,
            "kind": CostKind.ACTUAL if actual else CostKind.BUDGET,
            "document_type": header.document_type,
            "year": header.year,
            "nomenclature": line.nomenclature,
            "function_code": line.function_code,
            "m57_function_code": line.m57_function_code,
            "nature_code": line.nature_code,
            "label": line.label[:255],
            "section": line.section,
            "operation": line.operation,
            "flow": line.flow,
            "amount": line.amount,
            "planned_amount": line.planned_amount,
            "service_id": line.service_id,
            "month": line.month,
            "version": 1,
        }
        for line in lines
    ]
    if rows:
        ids = session.scalars(
            insert(CostLine).returning(CostLine.id, sort_by_parameter_order=True), rows
        ).all()
        allocations = [
            {"cost_line_id": line_id, "activity_id": activity_id, "share": share}
            for line_id, line in zip(ids, lines, strict=True)
            for activity_id, share in line.allocations
        ]
        if allocations:
            session.execute(insert(CostAllocation), allocations)
    session.flush()
    from services.benchmark import mark_stale  # a budget, an account or an adoption: spending per inhabitant

    mark_stale(session, organisation_id)
    indicators = (
        0
        if header.document_type == "EXEC"
        else publish_cost_indicators(session, organisation_id, [header.year])
    )
    return WrittenDocument(record, len(lines), replaced, indicators)


def _remove_previous(session: Session, organisation_id: int, header: DocumentToWrite) -> int:
    """Delete the earlier document of the same type, year and budget (and, for the principal
    budget, the lines of that type and year seeded without a document); the number of lines removed."""
    principal = header.budget_kind == "principal"
    previous = list(
        session.scalars(
            select(BudgetDocument.id).where(
                BudgetDocument.organisation_id == organisation_id,
                BudgetDocument.document_type == header.document_type,
                BudgetDocument.year == header.year,
                BudgetDocument.budget_kind == header.budget_kind,
            )
        )
    )
    same = [
        CostLine.organisation_id == organisation_id,
        CostLine.year == header.year,
        CostLine.document_type == header.document_type,
    ]
    # lines seeded without a document are the principal budget's
    owned = (
        CostLine.document_id.in_(previous) | CostLine.document_id.is_(None)
        if principal
        else CostLine.document_id.in_(previous)
    )
    lines = session.scalar(select(func.count()).select_from(CostLine).where(*same, owned)) or 0
    session.execute(delete(CostLine).where(*same, owned).execution_options(synchronize_session=False))
    if previous:
        session.execute(delete(BudgetDocument).where(BudgetDocument.id.in_(previous)))
    session.flush()
    session.expire_all()
    return int(lines)


#: The documents of the vote: the budget primitif, the budget supplémentaire and the DMs.
VOTED_DOCUMENTS = ("BP", "BS", "DM")


def voted_budgets(session: Session, organisation_id: int) -> dict[int, Decimal]:
    """Each year's voted operating expenses of the principal budget, exactly: BP + BS + DM.

    Real operations of the operating section only (order operations move no money); an annex
    budget (M22) is another budget and is left out.
    """
    rows = session.execute(
        select(CostLine.year, func.sum(CostLine.amount))
        .outerjoin(BudgetDocument, BudgetDocument.id == CostLine.document_id)
        .where(CostLine.organisation_id == organisation_id, CostLine.kind == CostKind.BUDGET)
        .where(CostLine.document_type.in_(VOTED_DOCUMENTS))
        .where(
            CostLine.section == "fonctionnement", CostLine.operation == "reelle", CostLine.flow == "depense"
        )
        .where(CostLine.document_id.is_(None) | (BudgetDocument.budget_kind == "principal"))
        .group_by(CostLine.year)
    ).all()
    return {int(year): Decimal(total).quantize(CENT) for year, total in rows if total is not None}


def current_voted_budget(session: Session, organisation_id: int, before: int) -> tuple[int, Decimal] | None:
    """The voted budget a new budget is measured against: that of the newest year before ``before``
    (the current year while next year's budget is prepared), with its year; None without any."""
    earlier = {y: v for y, v in voted_budgets(session, organisation_id).items() if y < before}
    if not earlier:
        return None
    year = max(earlier)
    return year, earlier[year]


def documents(session: Session, organisation_id: int) -> Sequence[BudgetDocument]:
    return session.scalars(
        select(BudgetDocument)
        .where(BudgetDocument.organisation_id == organisation_id)
        .order_by(BudgetDocument.year.desc(), BudgetDocument.imported_at.desc())
    ).all()


# --- Execution ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Execution:
    year: int
    #: ``final`` (accounts closed), ``to_date`` (execution export of ``months`` months) or ``none``.
    state: str
    months: int | None
    #: By the service of each line (support functions on their own rows).
    by_service: pd.DataFrame
    by_function: pd.DataFrame
    #: Full cost of each activity (support functions allocated), through the costing.
    by_activity: pd.DataFrame
    total: dict[str, float]
    #: Full cost by service: the activities' full costs summed by their service.
    by_service_full: pd.DataFrame = field(default_factory=pd.DataFrame)


def _lines_frame(session: Session, organisation_id: int, year: int) -> pd.DataFrame:
    rows = session.execute(
        select(
            CostLine.id,
            CostLine.kind,
            CostLine.document_type,
            CostLine.amount,
            CostLine.planned_amount,
            CostLine.service_id,
            func.coalesce(CostLine.m57_function_code, CostLine.function_code),
            CostLine.nature_code,
            CostLine.month,
        )
        .where(CostLine.organisation_id == organisation_id, CostLine.year == year)
        .where(
            CostLine.section == "fonctionnement", CostLine.operation == "reelle", CostLine.flow == "depense"
        )
    ).all()
    frame = pd.DataFrame(
        rows,
        columns=["line", "kind", "document", "amount", "planned", "service", "function", "nature", "month"],
    )
    frame["amount"] = frame["amount"].astype(float)
    frame["planned"] = frame["planned"].astype(float)
    frame["service"] = pd.array(frame["service"].tolist(), dtype="Int64")
    frame["flow"] = "depense"
    return frame


def execution(session: Session, organisation_id: int, year: int) -> Execution:
    """Budget against actual of a year's operating expenses, with the execution rate and projection."""
    lines = _lines_frame(session, organisation_id, year)
    budget = lines[lines["kind"] == CostKind.BUDGET].copy()
    final = lines[(lines["kind"] == CostKind.ACTUAL) & (lines["document"] != "EXEC")].copy()
    to_date = lines[lines["document"] == "EXEC"].copy()
    if budget.empty and not final.empty:
        budget = final.assign(amount=final["planned"].fillna(0.0))
    if not final.empty:
        state, months, actual = "final", 12, final
    elif not to_date.empty:
        months = int(to_date["month"].max())
        stored = session.scalar(
            select(BudgetDocument.months_elapsed).where(
                BudgetDocument.organisation_id == organisation_id,
                BudgetDocument.year == year,
                BudgetDocument.document_type == "EXEC",
            )
        )
        months = int(stored or months)
        state, actual = "to_date", to_date
    else:
        state, months, actual = "none", None, lines.iloc[0:0]
    factor = 12 / months if months else 1.0
    centres, _, _ = load_model(session, organisation_id)
    services: dict[int, str] = {
        int(i): str(n)
        for i, n in session.execute(
            select(Service.id, Service.name).where(Service.organisation_id == organisation_id)
        )
    }
    centre_names = centres["name"].to_dict() if not centres.empty else {}

    def service_key(frame: pd.DataFrame) -> pd.Series:
        if frame.empty:
            return pd.Series(dtype=object)
        by_service = pd.Series(
            [services.get(int(s)) if not pd.isna(s) else None for s in frame["service"]],
            index=frame.index,
            dtype=object,
        )
        by_centre = (
            centre_of_lines(frame, centres).map(lambda c: centre_names.get(c) if c is not None else None)
            if not centres.empty
            else pd.Series([None] * len(frame), index=frame.index, dtype=object)
        )
        return by_service.where(by_service.notna(), by_centre).fillna("Non affecté")

    def table(key_budget: pd.Series, key_actual: pd.Series) -> pd.DataFrame:
        b = budget.groupby(key_budget)["amount"].sum() if len(budget) else pd.Series(dtype=float)
        a = actual.groupby(key_actual)["amount"].sum() if len(actual) else pd.Series(dtype=float)
        out = pd.DataFrame({"budget": b, "actual": a}).fillna(0.0)
        return _rates(out, factor, state)

    by_service = table(service_key(budget), service_key(actual))
    labels = {
        code: f"{code} {function_label('M57', str(code)) or ''}".strip()
        for code in set(budget["function"].astype(str)) | set(actual["function"].astype(str))
    }
    by_function = table(
        budget["function"].astype(str).map(labels), actual["function"].astype(str).map(labels)
    )
    by_activity = _activity_execution(session, organisation_id, year, state, factor)
    by_service_full = (
        _rates(
            by_activity.groupby("service")[["budget", "actual"]].sum(),
            factor,
            state,
        )
        if len(by_activity)
        else by_activity.drop(columns=["service"], errors="ignore")
    )
    total_budget = float(budget["amount"].sum())
    total_actual = float(actual["amount"].sum())
    total = {
        "budget": total_budget,
        "actual": total_actual,
        "rate": total_actual / total_budget if total_budget else float("nan"),
        "projection": total_actual * factor if state != "none" else float("nan"),
    }
    total["projected_rate"] = total["projection"] / total_budget if total_budget else float("nan")
    return Execution(
        year,
        state,
        months,
        by_service,
        by_function.sort_index(),
        by_activity.drop(columns=["service"], errors="ignore"),
        total,
        by_service_full,
    )


EXECUTION_COLUMNS = ["budget", "actual", "rate", "projection", "projected_rate", "gap", "service"]


def _rates(frame: pd.DataFrame, factor: float, state: str) -> pd.DataFrame:
    frame = frame.copy()
    budget = frame["budget"].where(frame["budget"] > 0)
    frame["rate"] = frame["actual"] / budget
    frame["projection"] = frame["actual"] * factor if state != "none" else float("nan")
    frame["projected_rate"] = frame["projection"] / budget
    frame["gap"] = frame["projection"] - frame["budget"]
    return frame.sort_values("budget", ascending=False)


def _activity_execution(
    session: Session, organisation_id: int, year: int, state: str, factor: float
) -> pd.DataFrame:
    """Budget and actual by activity, through the same costing as the cost pages."""
    try:
        planned = compute(session, organisation_id, year, basis="budget").activities
    except CostModelError:
        return pd.DataFrame(columns=EXECUTION_COLUMNS)
    frame = pd.DataFrame(
        {"budget": planned["full_cost"].to_numpy(), "service": planned["service"].to_numpy()},
        index=planned["name"].to_numpy(),
    )
    frame["actual"] = 0.0
    if state == "final":
        try:
            actual = compute(session, organisation_id, year, basis="actual").activities
        except CostModelError:  # no costing of the accounts: no table rather than invented zeros
            return pd.DataFrame(columns=EXECUTION_COLUMNS)
        frame["actual"] = actual["full_cost"].to_numpy()
    elif state == "to_date":
        # no costing of a partial year: the activities' share of the budget applied to the actual to date
        lines = _lines_frame(session, organisation_id, year)
        to_date = float(lines.loc[lines["document"] == "EXEC", "amount"].sum())
        total = float(frame["budget"].sum())
        frame["actual"] = frame["budget"] / total * to_date if total else 0.0
    frame = frame[(frame["budget"] > 0) | (frame["actual"] > 0)]
    return _rates(frame, factor, state)

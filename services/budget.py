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
    CostKind,
    CostLine,
    ImportMapping,
    Nomenclature,
    Organisation,
    Service,
)
from scorecard.costing import centre_of_lines
from services.budget_files import (
    BudgetDocumentData,
    BudgetFileError,
    ColumnMapping,
    mapping_from_dict,
    mapping_to_dict,
    parse_budget_file,
)
from services.costing import CostModelError, compute, load_model, publish_cost_indicators
from services.nomenclatures import function_label

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
    text = f"{float(value):,.2f}".replace(",", "\u202f").replace(".", ",")
    return f"{text} €"


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
    replaced = 0
    if document.document_type in REPLACED:
        replaced = _remove_previous(session, organisation_id, document)
    months = max((line.month for line in document.lines if line.month), default=None)
    record = BudgetDocument(
        organisation_id=organisation_id,
        document_type=document.document_type,
        year=document.year,
        nomenclature=Nomenclature(document.nomenclature),
        budget_kind=document.budget_kind,
        source_name=filename[:255],
        source_format=document.source_format[:64],
        fingerprint=document.fingerprint,
        siret=document.siret,
        line_count=len(document.lines),
        months_elapsed=months if document.document_type == "EXEC" else None,
        imported_by_id=user_id,
        imported_at=now,
    )
    session.add(record)
    session.flush()
    actual = document.document_type in ACTUAL_DOCUMENTS
    rows = []
    for line in document.lines:
        amount = line.actual_amount if actual else line.planned_amount
        rows.append(
            {
                "organisation_id": organisation_id,
                "document_id": record.id,
                "kind": CostKind.ACTUAL if actual else CostKind.BUDGET,
                "document_type": document.document_type,
                "year": document.year,
                "nomenclature": Nomenclature(line.nomenclature),
                "function_code": line.function_code or "",
                "m57_function_code": line.m57_function_code,
                "nature_code": line.nature_code,
                "label": (line.label or line.nature_label)[:255],
                "section": line.section,
                "operation": line.operation,
                "flow": line.flow,
                "amount": amount if amount is not None else Decimal(0),
                "planned_amount": line.planned_amount if actual else None,
                "service_id": services[line.service.casefold()] if line.service else None,
                "month": line.month,
                "version": 1,
            }
        )
    session.execute(insert(CostLine), rows)
    session.flush()
    operating = document.total("fonctionnement", "depense")
    income = document.total("fonctionnement", "recette")

    def pick(total: Any) -> Decimal | None:
        return total.actual if actual else total.planned  # type: ignore[no-any-return]

    indicators = (
        0
        if document.document_type == "EXEC"
        else publish_cost_indicators(session, organisation_id, [document.year])
    )
    return BudgetImportResult(
        document.document_type,
        document.year,
        len(document.lines),
        False,
        replaced,
        warnings=list(document.warnings),
        expenses=pick(operating) or Decimal(0),
        revenues=pick(income) or Decimal(0),
        indicators=indicators,
    )


def _remove_previous(session: Session, organisation_id: int, document: BudgetDocumentData) -> int:
    """Delete the earlier document of the same type and year (and the same lines seeded without one)."""
    same = [
        BudgetDocument.organisation_id == organisation_id,
        BudgetDocument.document_type == document.document_type,
        BudgetDocument.year == document.year,
        BudgetDocument.budget_kind == document.budget_kind,
    ]
    previous = list(session.scalars(select(BudgetDocument.id).where(*same)))
    lines = (
        session.scalar(
            select(func.count())
            .select_from(CostLine)
            .where(CostLine.organisation_id == organisation_id, CostLine.year == document.year)
            .where(CostLine.document_type == document.document_type)
            .where(
                CostLine.document_id.in_(previous)
                | (CostLine.document_id.is_(None) & (document.budget_kind == "principal"))
            )
        )
        or 0
    )
    if document.budget_kind == "principal":  # lines seeded without a document are the principal budget's
        session.execute(
            delete(CostLine)
            .where(CostLine.organisation_id == organisation_id, CostLine.year == document.year)
            .where(CostLine.document_type == document.document_type, CostLine.document_id.is_(None))
            .execution_options(synchronize_session=False)
        )
    if previous:
        session.execute(
            delete(CostLine)
            .where(CostLine.document_id.in_(previous))
            .execution_options(synchronize_session=False)
        )
        session.execute(delete(BudgetDocument).where(BudgetDocument.id.in_(previous)))
    session.flush()
    session.expire_all()
    return int(lines)


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
    by_service: pd.DataFrame
    by_function: pd.DataFrame
    by_activity: pd.DataFrame
    total: dict[str, float]


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
    total_budget = float(budget["amount"].sum())
    total_actual = float(actual["amount"].sum())
    total = {
        "budget": total_budget,
        "actual": total_actual,
        "rate": total_actual / total_budget if total_budget else float("nan"),
        "projection": total_actual * factor if state != "none" else float("nan"),
    }
    total["projected_rate"] = total["projection"] / total_budget if total_budget else float("nan")
    return Execution(year, state, months, by_service, by_function.sort_index(), by_activity, total)


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
        return pd.DataFrame(columns=["budget", "actual", "rate", "projection", "projected_rate", "gap"])
    frame = pd.DataFrame({"budget": planned["full_cost"].to_numpy()}, index=planned["name"].to_numpy())
    frame["actual"] = 0.0
    if state == "final":
        try:
            actual = compute(session, organisation_id, year, basis="actual").activities
        except CostModelError:  # no costing of the accounts: no table rather than invented zeros
            return pd.DataFrame(columns=["budget", "actual", "rate", "projection", "projected_rate", "gap"])
        frame["actual"] = actual["full_cost"].to_numpy()
    elif state == "to_date":
        # no costing of a partial year: the activities' share of the budget applied to the actual to date
        lines = _lines_frame(session, organisation_id, year)
        to_date = float(lines.loc[lines["document"] == "EXEC", "amount"].sum())
        total = float(frame["budget"].sum())
        frame["actual"] = frame["budget"] / total * to_date if total else 0.0
    frame = frame[(frame["budget"] > 0) | (frame["actual"] > 0)]
    return _rates(frame, factor, state)

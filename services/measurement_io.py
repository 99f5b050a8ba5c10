"""The Excel template of a service's values for a period, and its import (all-or-nothing).

The template holds one row per expected indicator: code, label, unit, period, target, and two
unlocked columns to fill (value, comment); the headers and the other columns are locked, and a
hidden sheet names the organisation, the service and the period. On import every row is
checked first, and the whole file is refused with located French messages if any row is wrong.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Indicator, Organisation, Service
from scorecard import periods as P
from services.collection import CollectionError, Entry, Grid, collection_grid, save_entries
from services.exports import set_cell, write_header
from services.numbers import NumberError, parse_value
from services.policy import Principal
from services.workbooks import MAX_COLUMNS, MAX_ROWS, Located, WorkbookError, open_workbook

SHEET = "Saisie"
META = "Pilotis"
HEADERS = ["Code", "Indicateur", "Unité", "Période", "Cible", "Valeur", "Commentaire"]
VALUE_COLUMN, COMMENT_COLUMN = 6, 7
FIRST_ROW = 4


def template_workbook(grid: Grid, organisation: Organisation) -> bytes:
    book = Workbook()
    sheet = book.active
    if sheet is None:  # pragma: no cover
        raise RuntimeError("classeur sans feuille")
    sheet.title = SHEET
    set_cell(
        sheet.cell(row=1, column=1), f"{organisation.name} — {grid.service.name} — période {grid.period.key}"
    )
    sheet.cell(row=1, column=1).font = Font(bold=True, size=13)
    set_cell(
        sheet.cell(row=2, column=1),
        "Remplissez les colonnes « Valeur » (nombres au format français : 1 234,56) et « Commentaire » "
        "(obligatoire si la valeur est hors cible). Une valeur laissée vide ne change pas la valeur "
        "enregistrée. Ne modifiez pas les autres colonnes.",
    )
    write_header(sheet, FIRST_ROW - 1, HEADERS)
    for r, row in enumerate(grid.rows, start=FIRST_ROW):
        target = row.target
        if row.band_low is not None or row.band_high is not None:
            target_text: object = f"{row.band_low or ''} – {row.band_high or ''}"
        else:
            target_text = target
        values = [row.indicator.code, row.indicator.label, row.indicator.unit, grid.period.key, target_text,
                  row.measurement.value if row.measurement else None,
                  row.measurement.comment if row.measurement else None]  # fmt: skip
        for c, value in enumerate(values, start=1):
            cell = sheet.cell(row=r, column=c)
            set_cell(cell, value)
            cell.protection = Protection(locked=c not in (VALUE_COLUMN, COMMENT_COLUMN) or not row.editable)
        sheet.cell(row=r, column=VALUE_COLUMN).fill = PatternFill("solid", fgColor="FFF8E1")
        sheet.cell(row=r, column=COMMENT_COLUMN).alignment = Alignment(wrap_text=True)
    if grid.rows:
        last = FIRST_ROW + len(grid.rows) - 1
        check = DataValidation(type="decimal", operator="between", formula1="-1E15", formula2="1E15",
                               allow_blank=True, showErrorMessage=True, errorTitle="Nombre attendu",
                               error="Saisissez un nombre, par exemple 1 234,56.")  # fmt: skip
        check.add(f"{get_column_letter(VALUE_COLUMN)}{FIRST_ROW}:{get_column_letter(VALUE_COLUMN)}{last}")
        sheet.add_data_validation(check)
    for col, width in enumerate([26, 55, 14, 10, 14, 14, 50], start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = f"A{FIRST_ROW}"
    sheet.protection.sheet = True
    sheet.protection.formatColumns = False
    meta = book.create_sheet(META)
    for r, (key, value) in enumerate(
        [("organisation", organisation.slug), ("service", grid.service.code), ("periode", grid.period.key),
         ("version", "1")], start=1,
    ):  # fmt: skip
        set_cell(meta.cell(row=r, column=1), key)
        set_cell(meta.cell(row=r, column=2), value)
    meta.sheet_state = "hidden"
    meta.protection.sheet = True
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@dataclass
class ImportReport:
    errors: list[Located] = field(default_factory=list)
    saved: int = 0
    #: Rows whose value cell was blank: their stored value (and comment) were left alone.
    left_alone: int = 0
    service: str = ""
    period: str = ""

    @property
    def summary(self) -> str:
        """``3 valeur(s) importée(s) pour …, période … ; 2 ligne(s) sans valeur : rien n'y a changé.``"""
        text = f"{self.saved} valeur(s) importée(s) pour {self.service}, période {self.period}"
        if self.left_alone:
            text += f" ; {self.left_alone} ligne(s) sans valeur : valeur enregistrée inchangée"
        return text + "."


def _period_cell(value: object, period: P.PeriodSpan) -> str | None:
    """Why a period cell does not name the period (a key, or a date within it), or None."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return (
            None
            if period.start <= value <= period.end
            else f"date {value:%d/%m/%Y} hors de la période {period.key}"
        )
    text = str(value or "").strip()
    if not text:
        return "période manquante"
    if text == period.key:
        return None
    try:
        day = datetime.strptime(text, "%d/%m/%Y").date()  # noqa: DTZ007 - a calendar date, no time
    except ValueError:
        try:
            other = P.parse_period_key(text)
        except ValueError:
            return f"« {text} » n'est ni une période (AAAA-MM, AAAA-T1…) ni une date (JJ/MM/AAAA)"
        return f"période {other.key} au lieu de {period.key}"
    return None if period.start <= day <= period.end else f"date {text} hors de la période {period.key}"


def import_measurements(
    session: Session,
    principal: Principal,
    content: bytes,
    *,
    expected_service_id: int | None = None,
    expected_period: str | None = None,
    submit: bool = False,
    now: datetime,
) -> ImportReport:
    """Check the whole workbook, then save every value (or nothing). Flushes."""
    report = ImportReport()
    book = open_workbook(content)
    try:
        if SHEET not in book.sheetnames or META not in book.sheetnames:
            raise WorkbookError(
                f"feuilles « {SHEET} » et « {META} » introuvables : "
                "partez du modèle téléchargé depuis Pilotis"
            )
        meta = {
            str(r[0]).strip(): str(r[1]).strip()
            for r in book[META].iter_rows(max_row=10, max_col=2, values_only=True)
            if r[0] and r[1] is not None
        }
        organisation = session.scalar(
            select(Organisation).where(Organisation.id == principal.organisation_id)
        )
        if organisation is None or meta.get("organisation") != organisation.slug:
            raise WorkbookError("ce modèle a été produit pour une autre organisation")
        service = session.scalar(
            select(Service).where(
                Service.organisation_id == organisation.id, Service.code == meta.get("service", "")
            )
        )
        if service is None:
            raise WorkbookError(f"service « {meta.get('service')} » inconnu dans votre organisation")
        if expected_service_id is not None and service.id != expected_service_id:
            raise WorkbookError(f"ce modèle concerne le service « {service.name} », pas celui choisi")
        period_key = meta.get("periode", "")
        if expected_period is not None and period_key != expected_period:
            raise WorkbookError(f"ce modèle concerne la période {period_key}, pas {expected_period}")
        try:
            grid = collection_grid(session, principal, service.id, period_key)
        except CollectionError as exc:
            raise WorkbookError(str(exc)[0].lower() + str(exc)[1:].rstrip(".")) from None
        report.service, report.period = service.name, period_key
        span = P.parse_period_key(period_key)
        sheet = book[SHEET]
        header = [
            str(v).strip() if v is not None else ""
            for v in next(sheet.iter_rows(min_row=FIRST_ROW - 1, max_row=FIRST_ROW - 1, values_only=True), ())
        ]
        if header[: len(HEADERS)] != HEADERS:
            raise WorkbookError(f"en-têtes modifiés en ligne {FIRST_ROW - 1} : attendu {', '.join(HEADERS)}")
        by_code = {row.indicator.code: row for row in grid.rows}
        all_codes: dict[str, int | None] = dict(
            session.execute(
                select(Indicator.code, Indicator.service_id).where(
                    Indicator.organisation_id == organisation.id
                )
            ).all()
        )
        entries: dict[int, Entry] = {}
        seen: dict[str, int] = {}
        for r, cells in enumerate(sheet.iter_rows(min_row=FIRST_ROW, max_col=MAX_COLUMNS), start=FIRST_ROW):
            if r >= FIRST_ROW + MAX_ROWS:
                raise WorkbookError(f"plus de {MAX_ROWS} lignes : refusé")
            values = [c.value for c in cells]
            if not any(v not in (None, "") for v in values):
                continue
            formulas = False
            for index, c in enumerate(cells, start=1):
                if getattr(c, "data_type", None) == "f" or (
                    isinstance(c.value, str) and c.value.startswith("=")
                ):
                    column = HEADERS[index - 1] if index <= len(HEADERS) else get_column_letter(index)
                    report.errors.append(
                        Located(SHEET, r, column, "formule refusée : saisissez la valeur elle-même")
                    )
                    formulas = True
            if formulas:
                continue
            code = str(values[0] or "").strip()
            row = by_code.get(code)
            if not code:
                report.errors.append(Located(SHEET, r, "Code", "code d'indicateur manquant"))
                continue
            if row is None:
                if code not in all_codes:
                    report.errors.append(Located(SHEET, r, "Code", f"code « {code} » inconnu"))
                elif all_codes[code] != service.id:
                    report.errors.append(
                        Located(SHEET, r, "Code", f"« {code} » est un indicateur d'un autre service")
                    )
                else:
                    report.errors.append(
                        Located(
                            SHEET, r, "Code", f"« {code} » n'est pas attendu pour la période {period_key}"
                        )
                    )
                continue
            if code in seen:
                report.errors.append(
                    Located(SHEET, r, "Code", f"« {code} » figure déjà en ligne {seen[code]}")
                )
                continue
            seen[code] = r
            problem = _period_cell(values[3] if len(values) > 3 else None, span)
            if problem:
                report.errors.append(Located(SHEET, r, "Période", problem))
            raw = values[VALUE_COLUMN - 1] if len(values) >= VALUE_COLUMN else None
            comment = values[COMMENT_COLUMN - 1] if len(values) >= COMMENT_COLUMN else None
            number: float | str = ""  # blank: nothing entered for this indicator
            blank = raw is None or (isinstance(raw, str) and not raw.strip())
            if isinstance(raw, (datetime, date)):
                report.errors.append(
                    Located(SHEET, r, "Valeur", "une date n'est pas une valeur d'indicateur")
                )
                continue
            if blank and not submit:
                # A blank cell leaves the stored value alone: the template is often sent back
                # with only some values filled (a value is erased in the entry grid).
                report.left_alone += 1
                continue
            if not blank:
                try:
                    number = parse_value(raw, row.indicator.unit)
                except NumberError as exc:
                    report.errors.append(Located(SHEET, r, "Valeur", str(exc)))
                    continue
            entries[row.indicator.id] = Entry(value=number, comment=str(comment or ""), version=None)
        if report.errors:
            return report
        if not entries:
            raise WorkbookError(
                "aucune valeur à importer : toutes les cases « Valeur » sont vides"
                if report.left_alone
                else "aucune ligne à importer"
            )
        result = save_entries(session, principal, grid, entries, submit=submit, now=now)
        rows_of = {row.indicator.id: seen.get(row.indicator.code, 0) for row in grid.rows}
        for indicator_id, message in result.errors.items():
            report.errors.append(Located(SHEET, rows_of.get(indicator_id, 0), "Valeur", message))
        report.saved = 0 if result.errors else result.saved
        return report
    finally:
        book.close()

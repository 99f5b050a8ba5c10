"""Excel exports that never turn text into formulas (RELIABILITY.md, trap 3).

The one workbook writer: :func:`set_cell` writes a value (text always as text), :func:`write_header`
a styled header row, :func:`write_sheet` a whole table (header, rows, number and date formats,
column widths, frozen panes). Every export writes its cells through them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter


def set_cell(cell: Cell | MergedCell, value: Any) -> None:
    """Write ``value``; strings are always stored as text, even ``=SOMME(A1)``."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)  # Excel has no time zones: values are written in UTC
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"


#: The header row's look in every export.
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E8C")
DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm:ss"


def write_header(sheet: Any, row: int, headers: Sequence[str]) -> None:
    """The styled header cells of a table starting at ``row`` (column A)."""
    for col, header in enumerate(headers, start=1):
        cell = sheet.cell(row=row, column=col)
        set_cell(cell, header)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL


def write_sheet(
    sheet: Any,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    widths: Sequence[int] | None = None,
    formats: dict[int, str] | None = None,
    freeze: str = "A2",
) -> None:
    """A table from row 1: the styled header, then ``rows`` (dates and times in French order;
    ``formats``: the number format of a column, by its 1-based index, for its numbers), each
    column ``widths`` wide (by default from its header, 14 to 48), panes frozen at ``freeze``."""
    write_header(sheet, 1, headers)
    formats = formats or {}
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c)
            set_cell(cell, value)
            if isinstance(value, datetime):
                cell.number_format = DATETIME_FORMAT
            elif isinstance(value, date):
                cell.number_format = DATE_FORMAT
            elif c in formats and isinstance(value, int | float) and not isinstance(value, bool):
                cell.number_format = formats[c]
    if widths is None:
        widths = [max(14, min(48, len(header) + 4)) for header in headers]
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = freeze


def workbook_bytes(
    title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[int]
) -> bytes:
    """One styled sheet with a frozen header row, as the bytes of an .xlsx file."""
    book = Workbook()
    sheet = book.active
    if sheet is None:  # pragma: no cover - a new workbook always has a sheet
        raise RuntimeError("classeur sans feuille")
    sheet.title = title[:31]
    write_sheet(sheet, headers, rows, widths=widths)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


STATUS_FILLS = {
    "green": "C8E6C9",
    "amber": "FFE0B2",
    "red": "FFCDD2",
    "missing": "E0E0E0",
    "untargeted": "F5F5F5",
}


def _number_format(decimals: int) -> str:
    return "#,##0" + ("." + "0" * decimals if decimals else "")


def scorecard_workbook(view: Any, organisation_name: str) -> bytes:
    """The scorecard as a styled workbook: a summary sheet and one row per indicator.

    Numbers stay numbers (French display comes from Excel's locale through ``#,##0.00``);
    statuses are written as text as well as coloured; no user text becomes a formula.
    """
    book = Workbook()
    summary = book.active
    if summary is None:  # pragma: no cover
        raise RuntimeError("classeur sans feuille")
    summary.title = "Synthèse"
    set_cell(
        summary.cell(row=1, column=1), f"Tableau de bord — {organisation_name} — période {view.period.key}"
    )
    summary.cell(row=1, column=1).font = Font(bold=True, size=14)
    set_cell(summary.cell(row=2, column=1), view.rule)
    headers = [
        "Niveau",
        "Code",
        "Intitulé",
        "Score",
        "Statut",
        "Indicateurs renseignés",
        "Indicateurs comptés",
    ]
    write_header(summary, 4, headers)
    rows: list[tuple[str, str, str, float | None, str, str, int, int]] = [
        (
            "Organisation",
            "",
            organisation_name,
            view.score,
            view.status,
            view.status_label,
            view.reported,
            view.counted,
        )
    ]

    def walk(block: Any, depth: int) -> None:
        rows.append(
            (
                "Objectif" if depth else "Objectif stratégique",
                block.code,
                "  " * depth + block.title,
                block.score,
                block.status,
                block.status_label,
                block.reported,
                block.counted,
            )
        )
        for child in block.children:
            walk(child, depth + 1)

    for perspective in view.perspectives:
        rows.append(
            (
                "Perspective",
                "",
                perspective.label,
                perspective.score,
                perspective.status,
                perspective.status_label,
                0,
                0,
            )
        )
        for block in perspective.objectives:
            walk(block, 0)
    for r, (level, code, title, score, status, label, reported, counted) in enumerate(rows, start=5):
        for c, value in enumerate([level, code, title, score, label, reported, counted], start=1):
            set_cell(summary.cell(row=r, column=c), value)
        summary.cell(row=r, column=4).number_format = "0.0%"
        summary.cell(row=r, column=5).fill = PatternFill("solid", fgColor=STATUS_FILLS.get(status, "FFFFFF"))
    for col, width in enumerate([22, 8, 70, 10, 16, 12, 12], start=1):
        summary.column_dimensions[get_column_letter(col)].width = width
    summary.freeze_panes = "A5"

    detail = book.create_sheet("Indicateurs")
    headers = ["Code", "Indicateur", "Service", "Unité", "Période", "Valeur", "Cible", "Bande basse",
               "Bande haute", "Statut", "Réalisation", "Valeur précédente", "Tendance", "Il y a un an",
               "Tendance sur un an", "Commentaire"]  # fmt: skip
    write_header(detail, 1, headers)
    for r, line in enumerate(view.lines(), start=2):
        values = [line.code, line.label, line.service or "", line.unit, line.period_key, line.value,
                  line.target,
                  line.band_low, line.band_high, line.status_label, line.achievement, line.previous_value,
                  _trend(line.trend_previous), line.last_year_value, _trend(line.trend_last_year),
                  line.comment or ""]  # fmt: skip
        for c, value in enumerate(values, start=1):
            set_cell(detail.cell(row=r, column=c), value)
        for c in (6, 7, 8, 9, 12, 14):
            detail.cell(row=r, column=c).number_format = _number_format(line.decimals)
        detail.cell(row=r, column=11).number_format = "0.0%"
        detail.cell(row=r, column=10).fill = PatternFill(
            "solid", fgColor=STATUS_FILLS.get(line.status, "FFFFFF")
        )
    for col, width in enumerate([26, 50, 30, 12, 10, 12, 12, 12, 12, 15, 12, 14, 16, 14, 16, 40], start=1):
        detail.column_dimensions[get_column_letter(col)].width = width
    detail.freeze_panes = "C2"
    detail.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(2, len(view.lines()) + 1)}"
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _trend(value: str | None) -> str:
    return {"improving": "en amélioration", "worsening": "en dégradation", "stable": "stable"}.get(
        value or "", "—"
    )


def coherence_workbook(view: Any, organisation_name: str) -> bytes:
    """The coherence of the offer with the needs: needs, matrix, orphans (masked cells as text)."""
    book = Workbook()
    needs = book.active
    if needs is None:  # pragma: no cover
        raise RuntimeError("classeur sans feuille")
    needs.title = "Besoins"
    headers = ["Code", "Besoin", "Public", "Territoire", "Unité", "Priorité", "Effectif", "Offre", "Couverts",
               "Taux de couverture", "Non couverts", "Offre excédentaire", "Coût par personne couverte (EUR)",
               "Indice d'écart pondéré", "Activités", "Alertes"]  # fmt: skip
    write_header(needs, 1, headers)
    for r, line in enumerate(view.needs, start=2):
        secret = "secret" if line.masked else None
        values = [line.code, line.label, line.group, line.territory, line.unit, line.priority,
                  secret or line.size, secret or line.offered, secret or line.covered, secret or line.coverage_rate,
                  secret or line.unmet, secret or line.over_supply, secret or line.cost_per_person,
                  secret or line.gap_index, line.activities, ", ".join(line.flags)]  # fmt: skip
        for c, value in enumerate(values, start=1):
            set_cell(needs.cell(row=r, column=c), value)
        for c in (7, 8, 9, 11, 12):
            needs.cell(row=r, column=c).number_format = "#,##0"
        needs.cell(row=r, column=10).number_format = "0.0%"
        needs.cell(row=r, column=13).number_format = "#,##0.00"
        needs.cell(row=r, column=14).number_format = "0.00"
    for col, width in enumerate([18, 48, 28, 26, 12, 9, 11, 11, 11, 12, 12, 12, 16, 12, 10, 40], start=1):
        needs.column_dimensions[get_column_letter(col)].width = width
    needs.freeze_panes = "C2"
    matrix = book.create_sheet("Matrice")
    write_header(matrix, 1, ["Public \\ territoire", *view.territories])
    for r, group in enumerate(view.groups, start=2):
        set_cell(matrix.cell(row=r, column=1), group)
        for c, territory in enumerate(view.territories, start=2):
            cell = view.cells.get((group, territory))
            if cell is None:
                continue
            target = matrix.cell(row=r, column=c)
            if cell.masked:
                set_cell(target, "secret")
            else:
                set_cell(target, cell.rate)
                target.number_format = "0%"
    matrix.column_dimensions["A"].width = 32
    orphans = book.create_sheet("Orphelins")
    write_header(orphans, 1, ["Catégorie", "Élément"])
    labels = {"needs_without_activity": "Besoin sans activité", "needs_without_objective": "Besoin sans objectif",
              "activities_without_need": "Activité sans besoin", "objectives_without_indicator": "Objectif sans indicateur"}  # fmt: skip
    r = 2
    for key, items in view.orphans.items():
        for item in items:
            set_cell(orphans.cell(row=r, column=1), labels[key])
            set_cell(orphans.cell(row=r, column=2), item)
            r += 1
    orphans.column_dimensions["A"].width = 26
    orphans.column_dimensions["B"].width = 80
    notes = book.create_sheet("Règles")
    set_cell(notes.cell(row=1, column=1), f"{organisation_name} — cohérence de l'offre et des besoins")
    set_cell(notes.cell(row=2, column=1), view.rule)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()

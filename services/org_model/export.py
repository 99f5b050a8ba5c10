"""Writing the organisation's model workbook: one sheet per object, French headers locked,
lists where the vocabulary is closed, and a hidden sheet with the organisation and each row's
version (an import refuses a row changed in Pilotis since the export instead of overwriting it)."""

from __future__ import annotations

import io
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy.orm import Session

from models import Organisation
from services.exports import HEADER_FILL, HEADER_FONT, set_cell
from services.org_model import sheets as S
from services.org_model.state import current_state, load_lookups

#: Rows below the data open to typing, with the data validation lists.
SPARE_ROWS = 500


def model_workbook(session: Session, organisation: Organisation, *, now: datetime) -> bytes:
    """The organisation's whole model as an .xlsx file."""
    look = load_lookups(session, organisation.id)
    state = current_state(session, look)
    book = Workbook()
    readme = book.active
    if readme is None:  # pragma: no cover
        raise RuntimeError("classeur sans feuille")
    readme.title = S.README_SHEET
    _readme(readme, organisation, now)
    versions: list[tuple[str, str, int]] = []
    for spec in S.SHEETS:
        sheet = book.create_sheet(spec.name)
        rows = state[spec.name]
        for c, col in enumerate(spec.columns, start=1):
            cell = sheet.cell(row=1, column=c)
            set_cell(cell, col.header)
            cell.font = HEADER_FONT
            cell.fill = HEADER_FILL
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cell.protection = Protection(locked=True)
            if col.help:
                cell.comment = Comment(col.help, "Pilotis")
            letter = get_column_letter(c)
            sheet.column_dimensions[letter].width = col.width
            # Cells below the header, typed or not, stay editable (a column style Excel applies).
            sheet.column_dimensions[letter].protection = Protection(locked=False)
            if col.kind == "date":
                sheet.column_dimensions[letter].number_format = "dd/mm/yyyy"
        for r, current in enumerate(rows.values(), start=2):
            for c, col in enumerate(spec.columns, start=1):
                cell = sheet.cell(row=r, column=c)
                value = col.write(current.values.get(col.header))
                set_cell(cell, value)
                cell.protection = Protection(locked=False)
                if isinstance(value, date):
                    cell.number_format = "dd/mm/yyyy"
                elif col.kind == "money":
                    cell.number_format = "#,##0.00"
            version = getattr(current.obj, "version", None)
            if version is not None:
                versions.append((spec.name, _key_text(current.values, spec), version))
        _validations(sheet, spec, last_row=len(rows) + 1 + SPARE_ROWS)
        sheet.freeze_panes = "B2" if len(spec.key) == 1 else "C2"
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(spec.columns))}{max(len(rows) + 1, 2)}"
        protection = sheet.protection
        protection.sheet = True
        for allowed in (
            "formatColumns",
            "formatRows",
            "formatCells",
            "insertRows",
            "deleteRows",
            "sort",
            "autoFilter",
        ):
            setattr(protection, allowed, False)
    meta = book.create_sheet(S.META_SHEET)
    for r, (label, value) in enumerate(
        [("organisation", organisation.slug), ("format", S.FORMAT_VERSION), ("exporté le", now.isoformat())],
        start=1,
    ):
        set_cell(meta.cell(row=r, column=1), label)
        set_cell(meta.cell(row=r, column=2), value)
    set_cell(meta.cell(row=5, column=1), "versions")
    for r, (sheet_name, key, version) in enumerate(versions, start=6):
        set_cell(meta.cell(row=r, column=1), sheet_name)
        set_cell(meta.cell(row=r, column=2), key)
        meta.cell(row=r, column=3).value = version
    meta.sheet_state = "hidden"
    meta.protection.sheet = True
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _key_text(values: dict[str, object], spec: S.Sheet) -> str:
    return " | ".join(str(values.get(h)) for h in spec.key)


def _validations(sheet: object, spec: S.Sheet, *, last_row: int) -> None:
    for c, col in enumerate(spec.columns, start=1):
        letter = get_column_letter(c)
        area = f"{letter}2:{letter}{last_row}"
        check: DataValidation | None = None
        if col.kind == "choice":
            items = ",".join(col.choices.values())
            check = DataValidation(
                type="list",
                formula1=f'"{items}"',
                allow_blank=True,
                showErrorMessage=True,
                errorTitle="Valeur hors liste",
                error=f"Choisissez : {', '.join(col.choices.values())}.",
            )
        elif col.kind == "bool":
            check = DataValidation(
                type="list",
                formula1='"oui,non"',
                allow_blank=True,
                showErrorMessage=True,
                errorTitle="oui ou non",
                error="Répondez « oui » ou « non ».",
            )
        elif col.kind in ("number", "money", "percent"):
            check = DataValidation(
                type="decimal",
                operator="between",
                formula1="-1E15",
                formula2="1E15",
                allow_blank=True,
                showErrorMessage=True,
                errorTitle="Nombre attendu",
                error="Saisissez un nombre, par exemple 1 234,56.",
            )
        elif col.kind == "int":
            check = DataValidation(
                type="whole",
                operator="between",
                formula1="-1000000000",
                formula2="1000000000",
                allow_blank=True,
                showErrorMessage=True,
                errorTitle="Nombre entier attendu",
                error="Saisissez un nombre entier.",
            )
        if check is not None:
            check.add(area)
            sheet.add_data_validation(check)  # type: ignore[attr-defined]


def _readme(sheet: object, organisation: Organisation, now: datetime) -> None:
    lines: list[tuple[str, str]] = [
        (f"Modèle de l'organisation — {organisation.name}", "title"),
        (f"Exporté de Pilotis le {now:%d/%m/%Y à %H:%M} (UTC).", ""),
        ("", ""),
        (
            "Chaque feuille décrit un objet ; une ligne est repérée par son code (ou par la paire de codes "
            "des feuilles de liens). Les lignes font référence aux autres feuilles par leurs codes : "
            "une activité nomme son service par le code du service.",
            "",
        ),
        (
            "Modifier une valeur la modifie dans Pilotis ; une ligne nouvelle est créée. Une ligne retirée du "
            "classeur n'est jamais supprimée de Pilotis : seules les feuilles de détail (volumes annuels, "
            "territoires desservis, couvertures, cibles) ont une colonne « Supprimer » (« oui » retire la "
            "ligne). Une activité se retire de l'offre par « Archivée », un objectif par le statut « Clos ».",
            "",
        ),
        ("Une colonne retirée du classeur laisse le champ tel qu'il est dans Pilotis.", ""),
        (
            "Nombres au format français (1 234,56). Parts et seuils relatifs en pourcentage (60 = 60 %). "
            "Dates JJ/MM/AAAA. Les formules Excel sont refusées : saisissez les valeurs.",
            "",
        ),
        (
            "Le classeur est vérifié en entier au dépôt : au moindre problème, rien n'est enregistré et chaque "
            "erreur est indiquée (feuille, ligne, colonne). Redéposer un classeur inchangé ne change rien.",
            "",
        ),
        (
            "Si une ligne a été modifiée dans Pilotis depuis cet export, elle est refusée : téléchargez un "
            "nouveau modèle et reportez-y vos changements.",
            "",
        ),
        ("", ""),
    ]
    row = 1
    for text, style in lines:
        cell = sheet.cell(row=row, column=1)  # type: ignore[attr-defined]
        set_cell(cell, text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if style == "title":
            cell.font = Font(bold=True, size=14)
        row += 1
    for spec in S.SHEETS:
        set_cell(sheet.cell(row=row, column=1), spec.name)  # type: ignore[attr-defined]
        sheet.cell(row=row, column=1).font = Font(bold=True)  # type: ignore[attr-defined]
        set_cell(sheet.cell(row=row, column=2), spec.purpose)  # type: ignore[attr-defined]
        row += 1
        for col in spec.columns:
            required = " (obligatoire)" if col.required else ""
            set_cell(sheet.cell(row=row, column=2), f"{col.header}{required}")  # type: ignore[attr-defined]
            set_cell(sheet.cell(row=row, column=3), col.help)  # type: ignore[attr-defined]
            row += 1
    sheet.column_dimensions["A"].width = 100  # type: ignore[attr-defined]
    sheet.column_dimensions["B"].width = 30  # type: ignore[attr-defined]
    sheet.column_dimensions["C"].width = 70  # type: ignore[attr-defined]

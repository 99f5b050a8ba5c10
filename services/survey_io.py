"""The Excel workbook of paper questionnaires of a survey, and its import (all or nothing).

The template has one row per paper questionnaire: its number (written on the paper, so that it
is not entered twice), the public and territory when the survey asks them, and one column per
question (one per need for a points or rating question). A second sheet says what each column
accepts. On import every row goes through :func:`services.surveys.parse_answers`, exactly like
the public form; the whole file is refused, with located French messages, if any row is wrong.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Survey, SurveyQuestion, SurveyResponse
from services.exports import HEADER_FILL, HEADER_FONT, set_cell
from services.numbers import format_number
from services.surveys import (
    COUNTABLE,
    MAX_TEXT,
    AnswerErrors,
    ParsedResponse,
    after_entry,
    field_name,
    needs_of,
    options_of,
    parse_answers,
    profile_choices,
    save_response,
    slug,
)
from services.workbooks import MAX_COLUMNS, MAX_ROWS, Located, WorkbookError, open_workbook

SHEET = "Réponses"
VALUES_SHEET = "Valeurs possibles"
REFERENCE = "N° de questionnaire"
GROUP = "Public"
TERRITORY = "Territoire"
#: Separates the answers of a multiple-choice question in one cell.
SEPARATOR = ";"
#: Longest question text (or need label) kept in a column header.
HEADER_TEXT = 80
MAX_REFERENCE = 64
FIRST_ROW = 2
#: Where the lists of the dropdowns start, on the sheet of possible values.
LIST_COLUMN = 6


@dataclass(frozen=True)
class Column:
    """A column of the sheet of answers: its header and the form field it fills."""

    header: str
    field: str
    question: SurveyQuestion | None = None
    number: int = 0
    need_code: str | None = None
    need_label: str = ""
    #: Other headers accepted on import (the untruncated text).
    aliases: tuple[str, ...] = ()


@dataclass
class ImportReport:
    saved: int = 0
    errors: list[Located] = field(default_factory=list)


def _key(header: str) -> str:
    """Headers match trimmed, with spaces collapsed and case ignored."""
    return " ".join(header.split()).casefold()


def _short(text: str, length: int = HEADER_TEXT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def columns(session: Session, survey: Survey) -> list[Column]:
    """The columns of the sheet of answers, in order, with unique headers."""
    out = [Column(REFERENCE, "reference")]
    if survey.ask_group:
        out.append(Column(GROUP, "groupe"))
    if survey.ask_territory:
        out.append(Column(TERRITORY, "territoire"))
    for number, question in enumerate(survey.questions, start=1):
        if question.kind in ("points", "rating"):
            for need in needs_of(session, question):
                label = f"{need.label} ({need.code})"
                out.append(
                    Column(
                        f"{number}. {_short(label)}",
                        field_name(question, need.code),
                        question,
                        number,
                        need.code,
                        need.label,
                        (f"{number}. {label}",),
                    )
                )
        else:
            out.append(
                Column(
                    f"{number}. {_short(question.text)}",
                    field_name(question),
                    question,
                    number,
                    aliases=(f"{number}. {question.text}",),
                )
            )
    seen: set[str] = set()
    unique = []
    for column in out:
        header, n = column.header, 2
        while _key(header) in seen:
            header, n = f"{column.header} ({n})", n + 1
        seen.add(_key(header))
        unique.append(column if header == column.header else replace(column, header=header))
    return unique


# --- The template ----------------------------------------------------------------------------------


def _number(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    if not math.isfinite(number):
        return format_number(number)  # « ∞ », never int() of an infinity
    return str(int(number)) if number == int(number) else str(number).replace(".", ",")


def _labels(question: SurveyQuestion, codes: list[str]) -> str:
    labels = {str(o["code"]): str(o["label"]) for o in options_of(question)}
    return " ou ".join(f"« {labels.get(c, c)} »" for c in codes)


def _expected(column: Column, survey: Survey, numbers: dict[int, int], listed: int) -> tuple[str, str, str]:
    """(what the column accepts, whether it is required, the condition under which it is asked)."""
    question = column.question
    if question is None:
        if column.field == "reference":
            return (
                "le numéro écrit sur le questionnaire papier (texte ou nombre, "
                f"{MAX_REFERENCE} caractères au plus), différent pour chaque questionnaire",
                "oui",
                "",
            )
        what = "public" if column.field == "groupe" else "territoire"
        if not listed:
            return (f"aucun {what} n'est défini dans Pilotis : laissez vide", "non", "")
        return (f"un des {what}s de la liste « {column.header} » ci-contre (ou vide)", "non", "")
    settings = question.settings or {}
    if question.kind in ("single", "multiple"):
        labels = " ; ".join(str(o["label"]) for o in options_of(question))
        if question.kind == "single":
            accepted = f"une seule réponse parmi : {labels}"
        else:
            accepted = (
                f"une ou plusieurs réponses parmi : {labels} — séparez-les par « {SEPARATOR} » "
                "(par exemple : Réponse A ; Réponse B)"
            )
    elif question.kind == "scale":
        bottom, top = int(settings.get("min", 1)), int(settings.get("max", 5))
        ends = []
        if settings.get("min_label"):
            ends.append(f"{bottom} = {settings['min_label']}")
        if settings.get("max_label"):
            ends.append(f"{top} = {settings['max_label']}")
        accepted = f"un nombre entier de {bottom} à {top}" + (f" ({', '.join(ends)})" if ends else "")
    elif question.kind == "number":
        low, high = settings.get("min"), settings.get("max")
        if low is not None and high is not None:
            bounds = f" entre {_number(low)} et {_number(high)}"
        elif low is not None:
            bounds = f" d'au moins {_number(low)}"
        elif high is not None:
            bounds = f" d'au plus {_number(high)}"
        else:
            bounds = ""
        accepted = f"un nombre{bounds} (virgule pour les décimales : 3,5)"
    elif question.kind == "text":
        accepted = f"texte libre ({MAX_TEXT} caractères au plus)"
    elif question.kind == "points":
        total = int(settings.get("total", 10))
        accepted = (
            f"0 à {total} points (nombre entier) pour « {column.need_label} » ; "
            f"{total} points au plus au total pour les besoins de la question {column.number}"
        )
    else:  # rating
        accepted = f"une note entière de 0 (pas prioritaire) à {int(settings.get('total', 10))}"
    if question.required:
        required = (
            "oui (au moins un besoin avec plus de 0)" if question.kind in ("points", "rating") else "oui"
        )
    else:
        required = "non"
    condition = ""
    if question.condition_question_id is not None:
        target = next((q for q in survey.questions if q.id == question.condition_question_id), None)
        if target is not None:
            condition = (
                f"posée seulement si la réponse à la question {numbers.get(target.id, '?')} est "
                f"{_labels(target, [str(v) for v in question.condition_values or []])} ; "
                "sinon la réponse est ignorée"
            )
    return accepted, required, condition


def _header_style(cell: Any) -> None:
    cell.font = HEADER_FONT
    cell.fill = HEADER_FILL
    cell.alignment = Alignment(wrap_text=True, vertical="top")


def _list_range(sheet: Worksheet, col: int, title: str, values: list[Any]) -> str:
    """Write a dropdown list in column ``col`` of the sheet of values; its absolute range."""
    head = sheet.cell(row=1, column=col)
    set_cell(head, title)
    _header_style(head)
    for r, value in enumerate(values, start=2):
        set_cell(sheet.cell(row=r, column=col), value)
    sheet.column_dimensions[get_column_letter(col)].width = 28
    letter = get_column_letter(col)
    return f"{quote_sheetname(sheet.title)}!${letter}$2:${letter}${len(values) + 1}"


def template_workbook(session: Session, survey: Survey) -> bytes:
    """The workbook to type paper questionnaires in: one row per questionnaire."""
    cols = columns(session, survey)
    numbers = {q.id: n for n, q in enumerate(survey.questions, start=1)}
    groups, territories = profile_choices(session, survey)
    book = Workbook()
    sheet = book.active
    if sheet is None:  # pragma: no cover - a new workbook always has a sheet
        raise RuntimeError("classeur sans feuille")
    sheet.title = SHEET
    values = book.create_sheet(VALUES_SHEET)
    for c, title in enumerate(["Colonne", "Réponse attendue", "Obligatoire", "Condition"], start=1):
        set_cell(values.cell(row=1, column=c), title)
        _header_style(values.cell(row=1, column=c))
    for c, width in enumerate([40, 70, 14, 50], start=1):
        values.column_dimensions[get_column_letter(c)].width = width
    last = FIRST_ROW + MAX_ROWS - 1  # the rows that carry the dropdowns
    list_column = LIST_COLUMN
    for c, column in enumerate(cols, start=1):
        letter = get_column_letter(c)
        head = sheet.cell(row=1, column=c)
        set_cell(head, column.header)
        _header_style(head)
        sheet.column_dimensions[letter].width = max(16, min(40, len(column.header) + 2))
        listed = len(groups) if column.field == "groupe" else len(territories)
        accepted, required, condition = _expected(column, survey, numbers, listed)
        for k, value in enumerate([column.header, accepted, required, condition], start=1):
            cell = values.cell(row=c + 1, column=k)
            set_cell(cell, value)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        question = column.question
        target = f"{letter}{FIRST_ROW}:{letter}{last}"
        check: DataValidation | None = None
        choices: list[Any] = []
        if question is None and column.field != "reference":
            choices = [g.name for g in groups] if column.field == "groupe" else [t.name for t in territories]
        elif question is not None and question.kind in ("single", "scale"):
            choices = [
                int(o["code"]) if question.kind == "scale" else str(o["label"]) for o in options_of(question)
            ]
        if choices:
            formula = _list_range(values, list_column, column.header, choices)
            list_column += 1
            check = DataValidation(type="list", formula1=formula, allow_blank=True)
            check.error = "Choisissez une réponse de la liste (voir la feuille « Valeurs possibles »)."
        elif question is not None and question.kind == "number":
            settings = question.settings or {}
            low, high = settings.get("min"), settings.get("max")
            check = DataValidation(
                type="decimal",
                operator="between",
                formula1=repr(float(low)) if low is not None else "-1E15",
                formula2=repr(float(high)) if high is not None else "1E15",
                allow_blank=True,
            )
            check.error = f"Saisissez un nombre : {accepted}."
        elif question is not None and question.kind in ("points", "rating"):
            total = int((question.settings or {}).get("total", 10))
            check = DataValidation(
                type="whole", operator="between", formula1="0", formula2=str(total), allow_blank=True
            )
            check.error = f"Saisissez un nombre entier de 0 à {total}."
        if check is not None:
            check.showErrorMessage = True
            check.errorTitle = "Réponse non prévue"
            check.add(target)
            sheet.add_data_validation(check)
        if column.field == "reference" or (question is not None and question.kind in ("multiple", "text")):
            sheet.column_dimensions[letter].number_format = "@"  # kept as typed (007, 1/2…)
    sheet.freeze_panes = f"B{FIRST_ROW}"
    sheet.row_dimensions[1].height = 60
    note = len(cols) + 3
    set_cell(
        values.cell(row=note, column=1),
        "Une ligne par questionnaire papier sur la feuille « Réponses ». Les réponses peuvent être "
        "saisies par leur libellé ; les nombres s'écrivent à la française (3,5). Laissez vide une "
        "question sans réponse. Le fichier n'est importé que si toutes ses lignes sont correctes.",
    )
    values.cell(row=note, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    values.merge_cells(start_row=note, start_column=1, end_row=note, end_column=4)
    values.row_dimensions[note].height = 48
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- The import --------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A cell as typed text: numbers the French way, dates as JJ/MM/AAAA."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        text = repr(value)
        if "e" in text or "E" in text:
            text = f"{value:.15f}".rstrip("0").rstrip(".")
        return text.replace(".", ",")
    if isinstance(value, datetime):
        return f"{value:%d/%m/%Y}" if value.time() == time(0) else f"{value:%d/%m/%Y %H:%M}"
    if isinstance(value, date):
        return f"{value:%d/%m/%Y}"
    return str(value).strip()


def _split(question: SurveyQuestion, text: str) -> list[str]:
    """The answers of a choice cell: ``A ; B`` -> [A, B] (a whole option label is kept whole)."""
    if SEPARATOR not in text:
        return [text] if text else []
    wanted = slug(text, length=200)
    if any(wanted in (slug(str(o["label"]), length=200), str(o["code"])) for o in options_of(question)):
        return [text]
    return [part.strip() for part in text.split(SEPARATOR) if part.strip()]


def _reference_problem(reference: str, seen: dict[str, int], existing: set[str | None]) -> str | None:
    """Why a questionnaire number cannot be taken, or None."""
    if not reference:
        return "numéro de questionnaire manquant"
    if len(reference) > MAX_REFERENCE:
        return f"{MAX_REFERENCE} caractères au plus ({len(reference)} saisis)"
    if reference in seen:
        return f"le questionnaire n° {reference} figure déjà en ligne {seen[reference]}"
    if reference in existing:
        return f"le questionnaire n° {reference} est déjà saisi"
    return None


def _is_formula(cell: Any) -> bool:
    value = getattr(cell, "value", None)
    return getattr(cell, "data_type", None) == "f" or (isinstance(value, str) and value.startswith("="))


def import_workbook(
    session: Session, survey: Survey, content: bytes, *, user_id: int | None, today: date
) -> ImportReport:
    """Check every row of the filled template, then save them all (or nothing). Flushes.

    Raises :class:`WorkbookError` for a file refused as a whole; row problems come back located
    in :attr:`ImportReport.errors`, and then nothing is saved.
    """
    if survey.state == "draft":
        raise WorkbookError("publiez l'enquête avant d'en importer les réponses")
    book = open_workbook(content)
    try:
        if SHEET not in book.sheetnames:
            raise WorkbookError(
                f"feuille « {SHEET} » introuvable : partez du modèle de saisie téléchargé depuis Pilotis"
            )
        return _read(session, survey, book[SHEET], user_id=user_id, today=today)
    finally:
        book.close()


def _read(session: Session, survey: Survey, sheet: Any, *, user_id: int | None, today: date) -> ImportReport:
    report = ImportReport()
    cols = columns(session, survey)
    by_key: dict[str, Column] = {}
    for known in cols:
        for header in (known.header, *known.aliases):
            by_key.setdefault(_key(header), known)
    width = max(MAX_COLUMNS, len(cols) + 10)
    header_row = next(sheet.iter_rows(min_row=1, max_row=1, max_col=width), ())
    placed: dict[int, Column] = {}
    found: dict[str, int] = {}
    for index, cell in enumerate(header_row, start=1):
        if _is_formula(cell):
            report.errors.append(
                Located(SHEET, 1, get_column_letter(index), "formule refusée dans un en-tête")
            )
            continue
        header = _text(cell.value)
        if not header:
            continue
        column = by_key.get(_key(header))
        if column is None:
            report.errors.append(
                Located(
                    SHEET,
                    1,
                    header,
                    "colonne inconnue : les en-têtes doivent être ceux du modèle de saisie de cette enquête",
                )
            )
            continue
        if column.field in found:
            report.errors.append(
                Located(
                    SHEET,
                    1,
                    header,
                    f"colonne en double (déjà en colonne {get_column_letter(found[column.field])})",
                )
            )
            continue
        found[column.field] = index
        placed[index] = column
    if "reference" not in found:
        report.errors.append(Located(SHEET, 1, REFERENCE, "colonne manquante"))
    if report.errors:
        return report
    labels = {known.field: known.header for known in cols}
    labels.update({"reference": REFERENCE, "groupe": GROUP, "territoire": TERRITORY, "": ""})
    for number, asked in enumerate(survey.questions, start=1):
        labels.setdefault(field_name(asked), f"{number}. {_short(asked.text)}")
    questions = {known.field: known.question for known in cols}
    existing = set(
        session.scalars(
            select(SurveyResponse.reference).where(
                SurveyResponse.survey_id == survey.id, SurveyResponse.reference.is_not(None)
            )
        )
    )
    seen: dict[str, int] = {}
    profile = profile_choices(session, survey)  # once, not per row
    rows: list[tuple[str, ParsedResponse]] = []
    for r, cells in enumerate(sheet.iter_rows(min_row=FIRST_ROW, max_col=width), start=FIRST_ROW):
        if all(c.value is None or (isinstance(c.value, str) and not c.value.strip()) for c in cells):
            continue
        if r >= FIRST_ROW + MAX_ROWS:
            raise WorkbookError(f"plus de {MAX_ROWS} lignes : refusé")
        problems: list[Located] = []
        form: dict[str, list[str]] = {}
        reference = ""
        refused: set[str] = set()  # fields whose cell is refused: no second message for them
        for index, cell in enumerate(cells, start=1):
            column = placed.get(index)
            where = column.header if column else get_column_letter(index)
            if cell.value is None or (isinstance(cell.value, str) and not cell.value.strip()):
                continue
            problem = None
            if _is_formula(cell):
                problem = "formule refusée : saisissez la valeur elle-même"
            elif getattr(cell, "data_type", None) == "e":
                problem = f"valeur d'erreur Excel ({cell.value}) : saisissez la valeur elle-même"
            if problem:
                problems.append(Located(SHEET, r, where, problem))
                if column is not None:
                    refused.add(column.field)
                    if column.question is not None:
                        refused.add(field_name(column.question))
                continue
            if column is None:
                problems.append(Located(SHEET, r, where, "valeur dans une colonne sans en-tête"))
                continue
            text = _text(cell.value)
            if column.field == "reference":
                reference = text
                continue
            question = questions.get(column.field)
            if question is not None and question.kind in COUNTABLE:
                form[column.field] = _split(question, text)
            else:
                form[column.field] = [text]
        if "reference" not in refused:
            problem = _reference_problem(reference, seen, existing)
            if problem:
                problems.append(Located(SHEET, r, REFERENCE, problem))
        if reference and reference not in seen:
            seen[reference] = r
        try:
            parsed = parse_answers(session, survey, form, profile=profile)
        except AnswerErrors as exc:
            problems.extend(
                Located(SHEET, r, labels.get(name, name), message)
                for name, message in exc.errors.items()
                if name not in refused and not (name == "" and refused)
            )
        if problems:
            report.errors.extend(problems)
            continue
        rows.append((reference, parsed))
    if report.errors:
        return report
    if not rows:
        raise WorkbookError("aucune réponse à importer : la feuille « Réponses » est vide")
    for reference, parsed in rows:
        save_response(
            session, survey, parsed, channel="import", today=today, entered_by_id=user_id, reference=reference,
            checked=True,  # every reference was checked against the file and the database above
        )  # fmt: skip
    session.flush()
    after_entry(session, survey)
    report.saved = len(rows)
    return report

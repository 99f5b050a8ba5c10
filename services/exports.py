"""Excel exports that never turn text into formulas (RELIABILITY.md, trap 3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
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


def workbook_bytes(
    title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[int]
) -> bytes:
    """One styled sheet with a frozen header row, as the bytes of an .xlsx file."""
    book = Workbook()
    sheet = book.active
    if sheet is None:  # pragma: no cover - a new workbook always has a sheet
        raise RuntimeError("classeur sans feuille")
    sheet.title = title[:31]
    for col, header in enumerate(headers, start=1):
        cell = sheet.cell(row=1, column=col)
        set_cell(cell, header)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E8C")
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c)
            set_cell(cell, value)
            if isinstance(value, datetime):
                cell.number_format = "dd/mm/yyyy hh:mm:ss"
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = "A2"
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()

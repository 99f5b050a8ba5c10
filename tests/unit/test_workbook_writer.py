"""The one workbook writer: styled header, text never a formula, French dates, number formats."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import BytesIO

from openpyxl import Workbook, load_workbook

from services.exports import HEADER_FILL, HEADER_FONT, workbook_bytes, write_sheet


def test_a_table_has_its_styled_header_its_formats_and_frozen_panes() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    write_sheet(
        sheet,
        ["Libellé", "Montant", "Jour", "Saisi le"],
        [
            ["=SOMME(A1:A9)", 1234.5, date(2026, 3, 1), datetime(2026, 3, 1, 9, 30, tzinfo=UTC)],
            ["b", True, None, None],
        ],
        formats={2: "#,##0.00"},
        freeze="B2",
    )
    header = sheet.cell(row=1, column=1)
    assert header.value == "Libellé" and header.font.b and header.font.color.rgb == HEADER_FONT.color.rgb
    assert header.fill.fgColor.rgb == HEADER_FILL.fgColor.rgb
    formula = sheet.cell(row=2, column=1)
    assert formula.value == "=SOMME(A1:A9)" and formula.data_type == "s"  # text, never a formula
    assert sheet.cell(row=2, column=2).number_format == "#,##0.00"
    assert sheet.cell(row=3, column=2).number_format == "General"  # a boolean is not an amount
    assert sheet.cell(row=2, column=3).number_format == "dd/mm/yyyy"
    assert sheet.cell(row=2, column=4).number_format == "dd/mm/yyyy hh:mm:ss"
    assert sheet.freeze_panes == "B2"
    assert sheet.column_dimensions["A"].width == 14  # from the header, 14 to 48
    assert sheet.column_dimensions["D"].width == 14


def test_one_sheet_files_keep_their_given_widths_and_formulas_as_text() -> None:
    content = workbook_bytes(
        "Journal des modifications de l'année 2026", ["Quand", "Quoi"], [["@x", "+1"]], [22, 60]
    )
    sheet = load_workbook(BytesIO(content)).active
    assert sheet is not None
    assert sheet.title == "Journal des modifications de l'"  # 31 characters at most
    assert [c.value for c in sheet[2]] == ["@x", "+1"]
    assert all(c.data_type == "s" for c in sheet[2])
    assert sheet.column_dimensions["A"].width == 22 and sheet.column_dimensions["B"].width == 60
    assert sheet.freeze_panes == "A2"

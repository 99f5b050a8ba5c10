"""The ABS report as a Word document: it opens with python-docx, holds every section as a real
heading (navigation pane, table of contents), tables whose header row repeats on each page, the
same figures as the HTML document (secrets included), the analysis texts as editable paragraphs,
and a public × territory matrix split into tables of at most WIDE_TABLE_COLUMNS territories, in the
Word file and in the document the PDF is made from. The CLI writes it."""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import replace
from io import BytesIO

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.table import Table
from sqlalchemy import select

from models import User
from services.abs_calendar import abs_calendar
from services.abs_report import ANNEX_TITLE, SECTIONS, build_report, save_text
from services.abs_word import ANALYSIS_STYLE, WIDE_TABLE_COLUMNS, word_document
from services.coherence import MatrixCell
from services.policy import Principal
from tests.conftest import DEMO_AS_OF

SECRET_IRIS = "110690601"  # CNAF NOTE != 0: every CAF figure of this IRIS is secret


def plain(text: str) -> str:
    """Text as read: tags dropped, entities decoded, every kind of space one ordinary space."""
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"[\s\u00a0\u202f]+", " ", text).strip()


def open_docx(content: bytes):  # type: ignore[no-untyped-def]
    assert content[:2] == b"PK"  # a zip (OOXML), not an HTML error page
    return Document(BytesIO(content))


def rows_of(table: Table) -> list[list[str]]:
    return [[plain(cell.text) for cell in row.cells] for row in table.rows]


def headings(document, level: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.text for p in document.paragraphs if p.style.name == f"Heading {level}"]


def html_document(app, report) -> str:  # type: ignore[no-untyped-def]
    from views.report import render_document

    with app.test_request_context("/abs"):
        return render_document(report, calendar=abs_calendar(DEMO_AS_OF))


def html_tables(document: str) -> list[list[list[str]]]:
    """Every <table> of the HTML document as rows of cell texts."""
    tables = []
    for table in re.findall(r"<table.*?</table>", document, re.S):
        table = re.sub(r"<caption.*?</caption>", "", table, flags=re.S)
        rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
        tables.append(
            [[plain(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)] for row in rows]
        )
    return tables


@pytest.fixture
def report(db_session, demo):  # type: ignore[no-untyped-def]
    direction = Principal.of(
        db_session.scalar(select(User).where(User.email == "direction@carcassonne.pilotis.example"))
    )
    save_text(
        db_session,
        direction,
        demo.organisation_id,
        2027,
        "full",
        None,
        "portrait",
        "Un territoire qui vieillit.\n\nLes familles monoparentales\nse concentrent en centre-ville.",
        0,
    )
    return build_report(db_session, demo.organisation_id, year=2027)


def test_every_section_is_a_word_heading_with_a_table_of_contents(report):
    document = open_docx(word_document(report, calendar=abs_calendar(DEMO_AS_OF)))
    assert headings(document, 1) == [f"{i}. {title}" for i, (_, title) in enumerate(SECTIONS, 1)] + [
        ANNEX_TITLE
    ]
    level_2 = headings(document, 2)
    assert {family for family, _ in report.portrait.families()} <= set(level_2)
    assert {"Plus grands écarts pondérés par la priorité", "Manques", "Sources"} <= set(level_2)
    # the built-in heading styles carry the outline level the navigation pane and the TOC read
    for name, level in (("Heading 1", "0"), ("Heading 2", "1")):
        outline = document.styles[name].element.find(f"{qn('w:pPr')}/{qn('w:outlineLvl')}")
        assert outline is not None and outline.get(qn("w:val")) == level
    body = document.element.body.xml
    assert 'TOC \\o "1-2"' in body
    assert document.settings.element.find(qn("w:updateFields")) is not None
    assert document.core_properties.title == report.title
    assert report.title in [p.text for p in document.paragraphs if p.style.name == "Title"]
    assert abs_calendar(DEMO_AS_OF).message() in [p.text for p in document.paragraphs]


def test_the_tables_hold_the_figures_of_the_html_document_and_repeat_their_header(app, report):
    document = open_docx(word_document(report))
    html = html_tables(html_document(app, report))
    word = [rows_of(t) for t in document.tables]
    for table in document.tables:  # every table repeats its header row on each page
        assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    # the portrait: one table per family, the same value in the territory's column as the HTML
    html_portrait = {row[0]: row[1:] for t in html if t[0][0] == "Indicateur" for row in t[1:]}
    word_portrait = {row[0]: row[1:] for t in word if t[0][0] == "Indicateur" for row in t[1:]}
    assert len(word_portrait) == len(report.portrait.figures) > 20
    for label, cells in html_portrait.items():
        assert (
            word_portrait[label][: 1 + len(report.portrait.levels)]
            == cells[: 1 + len(report.portrait.levels)]
        )
    population = word_portrait["Population municipale"]
    assert population[0] == "46 119"
    assert word_portrait["Revenu disponible médian par unité de consommation"][0] == "18 450 €"
    assert word_portrait["Allocataires du RSA socle"][0] == "≥ 2 971"
    # the needs register and the IRIS annex, cell for cell (the HTML's IRIS row name holds its code)
    html_needs = next(t for t in html if t[0][:2] == ["Besoin", "Public"])
    word_needs = next(t for t in word if t[0][:2] == ["Besoin", "Public"])
    assert word_needs == html_needs and len(word_needs) == len(report.needs) + 1
    html_iris = next(t for t in html if t[0][0] == "IRIS")
    word_iris = next(t for t in word if t[0][0] == "IRIS")
    assert word_iris == html_iris and len(word_iris) == len(report.portrait.iris.rows) + 2


def test_a_secret_figure_reads_secret_as_on_the_page(app, report):
    document = open_docx(word_document(report))
    iris = next(t for t in document.tables if plain(t.cell(0, 0).text) == "IRIS")
    row = next(r for r in iris.rows if SECRET_IRIS in r.cells[0].text)
    cells = [plain(c.text) for c in row.cells[1:]]
    assert len(cells) == 7 and set(cells) <= {"secret", "non publié"} and "secret" in cells
    secret_run = next(
        run for c in row.cells[1:] for p in c.paragraphs for run in p.runs if run.text == "secret"
    )
    assert secret_run.italic
    text = "\n".join(plain(c.text) for t in document.tables for r in t.rows for c in r.cells)
    # no figure of the secret IRIS leaks: the page shows none either
    page_row = re.search(rf"\({SECRET_IRIS}\)</span></th>(.*?)</tr>", html_document(app, report), re.S)
    assert page_row is not None and "secret" in page_row.group(1)
    assert "secret" in text


def test_the_analysis_texts_are_editable_paragraphs(report):
    document = open_docx(word_document(report))
    analyses = [p for p in document.paragraphs if p.style.name == ANALYSIS_STYLE]
    texts = [p.text for p in analyses]
    assert "Un territoire qui vieillit." in texts
    assert "Les familles monoparentales\nse concentrent en centre-ville." in texts  # a line break kept
    assert texts.count("Analyse de la direction non encore rédigée.") == len(SECTIONS) - 1
    # the portrait's analysis sits under its heading, before the first table of figures
    names = [(p.style.name, p.text) for p in document.paragraphs]
    start = names.index(("Heading 1", "2. Portrait socio-démographique du territoire"))
    assert names[start + 2] == (ANALYSIS_STYLE, "Un territoire qui vieillit.")


def wide(report, count: int):  # type: ignore[no-untyped-def]
    """The report with a matrix of ``count`` territories (a masked cell in the last one)."""
    territories = [f"Quartier {i:02d}" for i in range(1, count + 1)]
    cells = {}
    for g, group in enumerate(report.coherence.groups):
        for t, territory in enumerate(territories):
            size = 100.0 + 10 * t + g
            cells[(group, territory)] = MatrixCell(size, size / 2, 0.5, t == count - 1, 3)
    return replace(report, coherence=replace(report.coherence, territories=territories, cells=cells))


def test_a_wide_matrix_is_split_never_cut_in_word_and_in_the_pdf_source(app, report):
    report = wide(report, 22)
    groups = report.coherence.groups
    document = open_docx(word_document(report))
    matrix = [
        rows_of(t)
        for t in document.tables
        if plain(t.cell(0, 0).text) == "Public" and plain(t.cell(0, 1).text).startswith("Quartier")
    ]
    assert [len(t[0]) - 1 for t in matrix] == [7, 7, 7, 1]
    assert [name for t in matrix for name in t[0][1:]] == report.coherence.territories
    for table in matrix:
        assert [row[0] for row in table[1:]] == groups
    assert matrix[0][1][1] == "50 % (100)" and matrix[-1][1][1] == "secret"
    captions = [p.text for p in document.paragraphs if p.style.name == "Caption" and "Tableau" in p.text]
    assert captions[0].endswith("Tableau 1 / 4 : territoires 1 à 7 sur 22.")
    # the document the PDF is laid out from: the same split, every column present
    source = html_document(app, report)
    html_matrix = [t for t in html_tables(source) if t[0][0] == "Public" and t[0][1].startswith("Quartier")]
    assert [len(t[0]) - 1 for t in html_matrix] == [7, 7, 7, 1]
    assert [name for t in html_matrix for name in t[0][1:]] == report.coherence.territories
    assert [t[1:] for t in html_matrix] == [t[1:] for t in matrix]
    assert "territoires 22 à 22 sur 22" in plain(source)
    assert WIDE_TABLE_COLUMNS == 7


def test_the_web_page_keeps_one_matrix_table(app, report):
    from views.report import render_page

    report = wide(report, 22)
    with app.test_request_context("/abs"):
        page, _ = render_page(report, editable=False)
    tables = [t for t in html_tables(page) if t[0][0] == "Public" and t[0][1].startswith("Quartier")]
    assert [len(t[0]) - 1 for t in tables] == [22]  # on screen it scrolls


def test_the_cli_writes_the_word_document(app, demo, tmp_path):
    path = tmp_path / "rapport.docx"
    result = app.test_cli_runner().invoke(
        args=[
            "report",
            "abs",
            "--organisation",
            demo.slug,
            "--year",
            "2028",
            "--theme",
            "personnes_agees",
            "--format",
            "docx",
            "-o",
            str(path),
        ]
    )
    assert result.exit_code == 0, result.output
    assert f"écrit dans {path}" in result.output
    document = open_docx(path.read_bytes())
    assert "Analyse thématique 2028 — Personnes âgées" in [p.text for p in document.paragraphs]
    needs = next(t for t in document.tables if plain(t.cell(0, 0).text) == "Besoin" and len(t.columns) == 7)
    assert len(needs.rows) == 2  # PA80 alone

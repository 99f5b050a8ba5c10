"""The ABS report as a Word document (.docx, python-docx), to be finished in a word processor.

It is written from the same :class:`~services.abs_report.AbsReport` as the page, the PDF and the
Excel annex, so its figures are theirs: numbers in the French format of :mod:`services.numbers`,
a figure masked by the organisation's disclosure (:mod:`services.secrecy`) reads « secret », one
Pilotis does not hold « non disponible ». Sections are real Word headings (« Titre 1 » /
« Titre 2 », the built-in *Heading 1* / *Heading 2* styles), so the navigation pane and the table
of contents (a field Word fills on opening) work; every table repeats its header row on each
page; a table wider than :data:`WIDE_TABLE_COLUMNS` territory columns is split into several
tables instead of running off the page. The analysis texts are ordinary paragraphs (style
« Analyse ») that the direction edits in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO
from typing import TypeVar
from zoneinfo import ZoneInfo

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.table import Table
from docx.text.paragraph import Paragraph

from services.abs_calendar import AbsCalendar
from services.abs_report import ANNEX_TITLE, NOT_AVAILABLE, AbsReport, Comparison, Figure, IrisCell
from services.numbers import NBSP, format_number

#: At most this many territory columns in one table (PDF and Word): about what an A4 portrait
#: page holds at the report's type size; a wider table is split, never cut at the margin.
WIDE_TABLE_COLUMNS = 7
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SECRET = "secret"  # noqa: S105 - the word shown for a masked figure
PARIS = ZoneInfo("Europe/Paris")
ANALYSIS_STYLE = "Analyse"
EMPTY_ANALYSIS = "Analyse de la direction non encore rédigée."
BLUE = RGBColor(0x1F, 0x4E, 0x8C)
HEAT = {"heat-0": "F9D5D1", "heat-1": "FDE6C4", "heat-2": "E9EFC9", "heat-3": "CFE8D5", "heat-none": "ECEEF2"}
KEY_FIGURES = ("population", "part_75p", "filo_mediane_uc", "caf_rsa_socle", "caf_aah", "caf_monoparents")
ORPHANS = [
    ("needs_without_activity", "Besoins sans aucune activité"),
    ("needs_without_objective", "Besoins sans objectif"),
    ("activities_without_need", "Activités qui ne répondent à aucun besoin"),
    ("objectives_without_indicator", "Objectifs sans indicateur"),
]

T = TypeVar("T")


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, whether it is a secret (written in italics), its shading."""

    text: str
    secret: bool = False
    fill: str | None = None


CellLike = Cell | str


# -- the figures, written as the page writes them (templates/report/_macros.html) --------------------
def _unit(unit: str) -> str:
    return f"{NBSP}%" if unit == "%" else f"{NBSP}€" if unit == "€" else ""


def figure_text(figure: Figure) -> Cell:
    """The portrait's value of ``figure`` (macro ``value``)."""
    if figure.masked:
        return Cell(SECRET, secret=True)
    if figure.value is None:
        return Cell(NOT_AVAILABLE)
    bound = "≥ " if figure.lower_bound else ""
    return Cell(f"{bound}{format_number(figure.value, figure.decimals)}{_unit(figure.unit)}")


def comparison_text(comparison: Comparison, figure: Figure) -> Cell:
    """A wider territory's value (macro ``compared``)."""
    if comparison.value is None:
        note = comparison.note or NOT_AVAILABLE
        return Cell(note, secret="secret" in note)
    text = f"{format_number(comparison.value, figure.decimals)}{_unit(figure.unit)}"
    if comparison.vintage and comparison.vintage != figure.vintage:
        text += f" ({comparison.vintage})"
    return Cell(text)


def iris_text(cell: IrisCell, unit: str) -> Cell:
    """A cell of the IRIS table (macro ``iris_cell``)."""
    if cell.status == "ok":
        return Cell(format_number(cell.value, 1 if unit == "%" else 0))
    if cell.status in ("secret", "masked"):
        return Cell(SECRET, secret=True)
    return Cell("non publié")


def percent(rate: float | None) -> str:
    """A rate (0.42) as the page writes it (macro ``pct``): ``42 %``, « — » when unknown."""
    return "—" if rate is None else f"{format_number(rate * 100)}{NBSP}%"


def count(value: float | int | None, masked: bool = False, decimals: int = 0) -> Cell:
    """A count (macro ``num``)."""
    if masked:
        return Cell(SECRET, secret=True)
    return Cell("—" if value is None else format_number(value, decimals))


def date_text(value: datetime | date | None) -> str:
    """``26/11/2026``, in Paris time for a timestamp (filter ``date_fr``)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(PARIS) if value.tzinfo else value
    return value.strftime("%d/%m/%Y")


def heat(rate: float | None) -> str:
    if rate is None:
        return "heat-none"
    return "heat-0" if rate < 0.25 else "heat-1" if rate < 0.5 else "heat-2" if rate < 0.75 else "heat-3"


def chunks(items: Sequence[T], size: int = WIDE_TABLE_COLUMNS) -> list[list[T]]:
    """``items`` in consecutive pieces of at most ``size`` (at least one piece, maybe empty)."""
    size = max(1, size)
    return [list(items[i : i + size]) for i in range(0, len(items), size)] or [[]]


# -- Word mechanics ---------------------------------------------------------------------------------
def _set_on(element: object, tag: str, **attributes: str) -> None:
    node = OxmlElement(tag)
    for name, value in attributes.items():
        node.set(qn(f"w:{name}"), value)
    element.append(node)  # type: ignore[attr-defined]


def _prepare(document: DocxDocument) -> None:
    """French language, A4 margins, the report's fonts and the « Analyse » paragraph style."""
    styles = document.styles
    normal = styles["Normal"]
    normal.font.name = "Liberation Sans"
    normal.font.size = Pt(10)
    defaults = document.styles.element.find(qn("w:docDefaults"))
    if defaults is not None:
        run_defaults = defaults.find(qn("w:rPrDefault"))
        if run_defaults is not None:
            properties = run_defaults.find(qn("w:rPr"))
            if properties is not None:
                for old in properties.findall(qn("w:lang")):
                    properties.remove(old)
                _set_on(properties, "w:lang", val="fr-FR", eastAsia="fr-FR", bidi="ar-SA")
    for name in ("Heading 1", "Heading 2", "Title"):
        styles[name].font.color.rgb = BLUE
    analysis = styles.add_style(ANALYSIS_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    analysis.base_style = normal
    analysis.paragraph_format.left_indent = Cm(0.4)
    analysis.paragraph_format.space_after = Pt(6)
    borders = OxmlElement("w:pBdr")
    _set_on(borders, "w:left", val="single", sz="24", space="8", color="1F4E8C")
    analysis.element.get_or_add_pPr().append(borders)
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(1.8)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    # Word offers to update the fields (the table of contents) when the file is opened
    _set_on(document.settings.element, "w:updateFields", val="true")


def _paragraph(
    document: DocxDocument,
    text: str = "",
    *,
    style: str | None = None,
    bold: bool = False,
    italic: bool = False,
) -> Paragraph:
    paragraph = document.add_paragraph(style=style)
    if text:
        run = paragraph.add_run(text)
        run.bold, run.italic = bold or None, italic or None
    return paragraph


def _labelled(document: DocxDocument, label: str, text: str, *, style: str | None = None) -> Paragraph:
    paragraph = document.add_paragraph(style=style)
    paragraph.add_run(label).bold = True
    paragraph.add_run(f" {text}")
    return paragraph


def _caption(document: DocxDocument, text: str) -> None:
    paragraph = document.add_paragraph(text, style="Caption")
    paragraph.paragraph_format.keep_with_next = True


def _table(
    document: DocxDocument,
    headers: Sequence[str],
    rows: Sequence[Sequence[CellLike]],
    *,
    numeric: Sequence[int] = (),
    caption: str | None = None,
    footer: Sequence[CellLike] | None = None,
) -> Table:
    """A table whose header row repeats on every page and whose rows do not break across pages."""
    if caption:
        _caption(document, caption)
    table = document.add_table(rows=1, cols=len(headers))
    table.style = document.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    header = table.rows[0]
    _set_on(header._tr.get_or_add_trPr(), "w:tblHeader", val="true")
    for index, (cell, text) in enumerate(zip(header.cells, headers, strict=True)):
        cell.text = ""
        run = cell.paragraphs[0].add_run(text)
        run.bold = True
        if index in numeric:
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _shade(cell, "E8ECF2")
    for values in [*rows, *([footer] if footer is not None else [])]:
        row = table.add_row()
        _set_on(row._tr.get_or_add_trPr(), "w:cantSplit", val="true")
        for index, (cell, value) in enumerate(zip(row.cells, values, strict=True)):
            shown = value if isinstance(value, Cell) else Cell(value)
            run = cell.paragraphs[0].add_run(shown.text)
            if shown.secret:
                run.italic = True
            if index == 0 or (footer is not None and values is footer):
                run.bold = True
            if index in numeric:
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
            if shown.fill:
                _shade(cell, shown.fill)
    document.add_paragraph()
    return table  # type: ignore[no-any-return]


def _shade(cell: object, fill: str) -> None:
    properties = cell._tc.get_or_add_tcPr()  # type: ignore[attr-defined]
    _set_on(properties, "w:shd", val="clear", color="auto", fill=fill)


def _field(paragraph: Paragraph, kind: str) -> None:
    run = paragraph.add_run()._r
    _set_on(run, "w:fldChar", fldCharType=kind)


def _table_of_contents(document: DocxDocument, report: AbsReport, titles: list[tuple[int, str]]) -> None:
    """A TOC field (headings 1 to 2, with page numbers once Word or LibreOffice updates it) whose
    current result already lists the headings."""
    document.add_paragraph("Sommaire", style="TOC Heading")
    first = document.add_paragraph()
    _field(first, "begin")
    instruction = first.add_run()._r
    text = OxmlElement("w:instrText")
    text.set(qn("xml:space"), "preserve")
    text.text = ' TOC \\o "1-2" \\h \\z \\u '
    instruction.append(text)
    _field(first, "separate")
    first.add_run(
        "Mettez à jour le sommaire (clic droit, « Mettre à jour les champs ») pour ses pages."
    ).italic = True
    last = first
    for level, title in titles:
        last = document.add_paragraph(title)
        last.paragraph_format.left_indent = Cm(0.6 * (level - 1))
    _field(last, "end")


def _page_break(document: DocxDocument) -> None:
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


class _Writer:
    """Writes the report's sections in the order of templates/report/_body.html."""

    def __init__(self, report: AbsReport, calendar: AbsCalendar | None, wide: int) -> None:
        self.report = report
        self.calendar = calendar
        self.wide = wide
        self.document: DocxDocument = Document()
        self.headings: list[tuple[int, str]] = []
        _prepare(self.document)

    def heading(self, text: str, level: int) -> None:
        self.document.add_heading(text, level=level)

    def analysis(self, key: str) -> None:
        block = self.report.text(key)
        if not block.text:
            _paragraph(self.document, EMPTY_ANALYSIS, style=ANALYSIS_STYLE, italic=True)
            return
        for chunk in block.text.split("\n\n"):
            if chunk.strip():
                run = self.document.add_paragraph(style=ANALYSIS_STYLE).add_run()
                for i, line in enumerate(chunk.strip().split("\n")):
                    if i:
                        run.add_break()
                    run.add_text(line)
        if block.updated_by:
            _paragraph(self.document, f"Analyse rédigée par {block.updated_by}.", italic=True)

    # -- the pages ------------------------------------------------------------------------------
    def title_page(self) -> None:
        report, document = self.report, self.document
        core = document.core_properties
        core.title, core.author, core.subject = (
            report.title,
            report.organisation_name,
            "Analyse des besoins sociaux",
        )
        core.language, core.comments = "fr-FR", report.rule
        _paragraph(document, report.organisation_name, bold=True).paragraph_format.space_before = Pt(120)
        document.add_paragraph(report.title, style="Title")
        if report.portrait.territory:
            _paragraph(document, f"Territoire : {report.portrait.territory}")
        if report.kind == "full":
            intro = (
                "Analyse des besoins sociaux (CASF art. R123-1) : diagnostic socio-démographique conduit avec "
                "les partenaires publics et privés, présenté au conseil d'administration."
            )
        else:
            intro = (
                "Analyse thématique (CASF art. R123-1) présentée au débat d'orientation budgétaire ou au vote "
                "du budget."
            )
        _paragraph(document, intro)
        if self.calendar is not None:
            _paragraph(document, self.calendar.message())
        _paragraph(
            document,
            "Chiffres calculés par Pilotis à partir des données de l'organisation et des statistiques publiques "
            f"({' ; '.join(report.sources)}). {report.rule}",
            italic=True,
        )
        _page_break(document)

    def synthese(self, number: int, title: str) -> None:
        report, document = self.report, self.document
        self.heading(f"{number}. {title}", 1)
        figures = {f.code: f for f in report.portrait.figures}
        for code in KEY_FIGURES:
            if code in figures:
                f = figures[code]
                paragraph = document.add_paragraph(style="List Bullet")
                paragraph.add_run(figure_text(f).text).bold = True
                paragraph.add_run(f" {f.label} ({f.source} {f.vintage})")
        priority = sum(1 for n in report.needs if n.line.priority >= 4)
        paragraph = document.add_paragraph(style="List Bullet")
        paragraph.add_run(str(len(report.needs))).bold = True
        paragraph.add_run(f" besoins recensés, dont {priority} prioritaires (priorité 4 ou 5)")
        outlook = report.outlook
        if outlook is not None and outlook.available:
            last = outlook.horizons[-1]
            for n in outlook.needs:
                future = n.future[last]
                if n.masked or n.coverage_rate is None or future.coverage_rate is None or future.size is None:
                    continue
                _labelled(
                    document,
                    "Demain :",
                    f"en {last}, à l'offre d'aujourd'hui, la couverture du besoin « {n.label} » passerait de "
                    f"{percent(n.coverage_rate)} à {percent(future.coverage_rate)} ({format_number(future.size)} "
                    f"{n.unit} au lieu de {format_number(n.size)}).",
                )
                break
        heard = [s for s in report.surveys if not s.masked]
        if heard:
            said = " ; ".join(f"{format_number(s.responses)} répondants à « {s.title} »" for s in heard)
            if report.observations:
                said += f" ; {len(report.observations)} recueil(s) qualitatif(s)"
            _labelled(document, "Paroles d'habitants :", f"{said}.")
        least = report.coherence.least_covered
        if least is not None:
            _labelled(
                document,
                "Besoin prioritaire le moins couvert :",
                f"{least.label} — {percent(least.coverage_rate)} couverts (priorité {least.priority} / 5).",
            )
        self.analysis("synthese")

    def portrait(self, number: int, title: str) -> None:
        report, document = self.report, self.document
        portrait = report.portrait
        self.heading(f"{number}. {title}", 1)
        if portrait.territory:
            compared = " ; ".join(
                f"{level} — {name or 'territoire non tenu par Pilotis'}" for level, name in portrait.levels
            )
            _paragraph(
                document,
                f"Territoire : {portrait.territory} (code INSEE {portrait.territory_code}). Comparaisons : {compared}. "
                "Une comparaison « non disponible » signifie que Pilotis ne détient pas la statistique du territoire "
                "plus large : elle n'est jamais estimée.",
            )
        else:
            _paragraph(
                document, "Aucun territoire n'est défini pour l'organisation : portrait non disponible."
            )
        self.analysis("portrait")
        levels = [level for level, _ in portrait.levels]
        for family, figures in portrait.families():
            self.heading(family, 2)
            rows: list[list[CellLike]] = []
            for f in figures:
                label = f"{f.label} ({f.definition})" if f.definition else f.label
                rows.append(
                    [
                        label,
                        figure_text(f),
                        *[comparison_text(c, f) for c in f.comparisons],
                        f"{f.source or '—'} {f.vintage}".strip(),
                        f.note,
                    ]
                )
            _table(
                document,
                ["Indicateur", portrait.territory or "Territoire", *levels, "Source, millésime", "Note"],
                rows,
                numeric=range(1, 2 + len(levels)),
            )
        if portrait.age_shares:
            _table(
                document,
                ["Âge", "Part de la population"],
                [
                    [label, "non publié" if share is None else f"{format_number(share, 1)}{NBSP}%"]
                    for label, share in portrait.age_shares
                ],
                numeric=[1],
                caption=f"Structure par âge de la population de {portrait.territory} (INSEE, recensement de "
                "la population).",
            )

    def projections(self, number: int, title: str) -> None:
        report, document = self.report, self.document
        self.heading(f"{number}. {title}", 1)
        outlook = report.outlook
        if outlook is None:
            _paragraph(
                document, "Aucun territoire n'est défini pour l'organisation : projection non disponible."
            )
        elif not outlook.available:
            _paragraph(
                document,
                f"Projection non disponible pour {outlook.territory} : elle prolonge la tendance entre deux "
                "recensements, et un seul est détenu ; aucune projection départementale des personnes âgées ne "
                "couvre son département. Importez la base communale « évolution et structure de la "
                "population » de l'INSEE, qui donne les colonnes P21_ et P15_ (deux millésimes).",
            )
        else:
            rows: list[list[CellLike]] = []
            for p in outlook.shown:
                method = "part du département" if p.method == "parts" else "tendance"
                if p.borrowed_from:
                    method += f" {outlook.label(p.borrowed_from)}"
                if p.masked:
                    secret = [Cell(SECRET, secret=True)] * (1 + len(outlook.horizons))
                    rows.append([p.label, method, f"{p.first_year or ''}–{p.base_year}", *secret])
                    continue
                held = f"{format_number(p.base_value)} ({p.base_year})"
                if p.first_value is not None:
                    held = f"{format_number(p.first_value)} ({p.first_year}) → {held}"
                sign = "+" if (p.annual_rate or 0) > 0 else ""
                rate = f"{sign}{format_number((p.annual_rate or 0) * 100, 2)}{NBSP}% par an"
                if p.method == "parts":
                    rate += f" ({outlook.reference or 'département'})"
                rows.append(
                    [
                        p.label,
                        method,
                        held,
                        rate,
                        *[
                            "—"
                            if p.values.get(h) is None
                            else format_number(p.values[h]) + (" (fragile)" if h in p.fragile else "")
                            for h in outlook.horizons
                        ],
                    ]
                )
            _table(
                document,
                [
                    "Tranche d'âge",
                    "Méthode",
                    "Recensements",
                    "Variation annuelle",
                    *[str(h) for h in outlook.horizons],
                ],
                rows,
                numeric=range(2, 4 + len(outlook.horizons)),
                caption=f"Population de {outlook.territory} par tranche d'âge, projetée à "
                f"{' et '.join(str(h) for h in outlook.horizons)} ({' ; '.join(outlook.sources)})",
            )
            if outlook.unprojected:
                _paragraph(
                    document,
                    "Non projetées (un seul recensement détenu, sans projection départementale) : "
                    + ", ".join(p.label.lower() for p in outlook.unprojected)
                    + ".",
                    italic=True,
                )
            if outlook.needs:
                self.heading("Besoins qu'elles impliquent, à offre constante", 2)
                need_rows: list[list[CellLike]] = []
                for n in outlook.needs:
                    if n.masked:
                        need_rows.append(
                            [
                                f"{n.label} ({n.territory})",
                                *[Cell(SECRET, secret=True)] * (1 + len(outlook.horizons)),
                            ]
                        )
                        continue
                    cells: list[CellLike] = [
                        f"{n.label} ({n.territory})",
                        f"{count(n.size).text}, {percent(n.coverage_rate)}",
                    ]
                    for h in outlook.horizons:
                        f = n.future[h]
                        cells.append(
                            "—" if f.size is None else f"{format_number(f.size)}, {percent(f.coverage_rate)}"
                        )
                    need_rows.append(cells)
                _table(
                    document,
                    [
                        "Besoin",
                        "Aujourd'hui : effectif, couverture",
                        *[f"{h} : effectif, couverture" for h in outlook.horizons],
                    ],
                    need_rows,
                    numeric=range(1, 2 + len(outlook.horizons)),
                    caption="Besoins dimensionnés par l'âge, aujourd'hui et aux horizons, à offre constante",
                )
        if outlook is not None:
            _labelled(document, "Méthode.", outlook.method, style=None)
            _labelled(document, "Limites.", outlook.limits, style=None)
        self.analysis("projections")

    def participation(self, number: int, title: str) -> None:
        report, document = self.report, self.document
        self.heading(f"{number}. {title}", 1)
        _paragraph(
            document,
            "Ce que les habitants et les usagers ont dit dans les enquêtes et consultations closes de "
            "l'organisation. Intervalles de confiance à 95 % (Wilson pour les parts, Student pour les moyennes). "
            f"Secret statistique : une enquête de moins de {report.threshold} répondants n'est pas détaillée, et "
            f"une réponse choisie par moins de {report.threshold} personnes est indiquée « secret » ; les réponses "
            "libres sont comptées par thème, jamais citées.",
        )
        if not report.surveys:
            _paragraph(
                document,
                "Aucune enquête ni consultation close : la participation des habitants reste à organiser.",
            )
        for survey in report.surveys:
            self.heading(survey.title, 2)
            period = (
                f" · réponses du {date_text(survey.first_day)} au {date_text(survey.last_day)}"
                if survey.first_day
                else ""
            )
            _paragraph(document, f"{survey.kind}{period}", italic=True)
            if survey.masked:
                _paragraph(
                    document,
                    f"Moins de {survey.threshold} répondants : résultats non diffusés (secret statistique).",
                )
                continue
            free = f", {format_number(survey.free_answers)} réponses libres" if survey.free_answers else ""
            _paragraph(document, f"{format_number(survey.responses)} répondants{free}.")
            for q in survey.questions:
                answered = f" ({format_number(q.answered)} réponses)" if q.answered is not None else ""
                caption = f"Question {q.number} : {q.text}{answered}"
                if q.masked:
                    _caption(document, caption)
                    _paragraph(
                        document, f"Moins de {survey.threshold} réponses : non diffusé (secret statistique)."
                    )
                    continue
                rows: list[list[CellLike]] = [
                    [o.label, *[Cell(SECRET, secret=True)] * 3]
                    if o.masked
                    else [
                        o.label,
                        format_number(o.count),
                        f"{format_number((o.share or 0) * 100, 1)}{NBSP}%",
                        f"{format_number((o.low or 0) * 100, 1)} – {format_number((o.high or 0) * 100, 1)}{NBSP}%",
                    ]
                    for o in q.options
                ]
                if q.mean is not None:
                    rows.append(
                        [
                            "Moyenne",
                            "",
                            format_number(q.mean[0], 2),
                            f"{format_number(q.mean[1], 2)} – {format_number(q.mean[2], 2)}",
                        ]
                    )
                _table(
                    document,
                    ["Réponse", "Effectif", "Part", "Intervalle à 95 %"],
                    rows,
                    numeric=[1, 2, 3],
                    caption=caption,
                )
            if survey.consultation:
                _table(
                    document,
                    ["Besoin", "Participants", "Part moyenne", "Intervalle à 95 %"],
                    [
                        [
                            c.label,
                            format_number(c.respondents),
                            f"{format_number(c.score * 100, 1)}{NBSP}%",
                            f"{format_number(c.low * 100, 1)} – {format_number(c.high * 100, 1)}{NBSP}%",
                        ]
                        for c in survey.consultation
                    ],
                    numeric=[1, 2, 3],
                    caption="Priorités exprimées par les participants : part moyenne des points accordés à chaque besoin",
                )
            if survey.themes:
                themes = " ; ".join(
                    f"{theme} ({'moins de ' + str(survey.threshold) if n is None else format_number(n)})"
                    for theme, n in survey.themes
                )
                _labelled(document, "Thèmes des réponses libres :", f"{themes}.")
        self.analysis("participation")

    def qualitatif(self, number: int, title: str) -> None:
        report, document = self.report, self.document
        self.heading(f"{number}. {title}", 1)
        public = f" du public « {report.theme_label} »" if report.theme_label else ""
        _paragraph(
            document,
            f"Groupes de parole, entretiens, notes des partenaires et observations de terrain enregistrés sur les "
            f"besoins{public} : la date, qui a été entendu (jamais le nom d'un habitant) et ce qui a été dit.",
        )
        if report.observations:
            _table(
                document,
                ["Date", "Recueil", "Participants, auteur", "Besoin", "Synthèse"],
                [
                    [date_text(o.day), o.kind, o.source, f"{o.need} ({o.group})", o.summary]
                    for o in report.observations
                ],
                caption=f"Matériau qualitatif recueilli ({len(report.observations)})",
            )
        else:
            _paragraph(
                document,
                f"Aucun matériau qualitatif enregistré{' pour ce public' if report.theme_label else ''}.",
            )
        self.analysis("qualitatif")

    def partenaires(self, number: int, title: str) -> None:
        report, document = self.report, self.document
        self.heading(f"{number}. {title}", 1)
        _paragraph(
            document,
            "Le diagnostic est conduit avec l'ensemble des partenaires publics et privés du "
            "territoire (CASF art. R123-1).",
        )
        if report.partners:
            public = f" pour le public « {report.theme_label} »" if report.theme_label else ""
            _table(
                document,
                [
                    "Partenaire",
                    "Type",
                    "Activités",
                    "Bénéficiaires",
                    "Besoins couverts",
                    "Contribution au diagnostic",
                ],
                [
                    [
                        p.name,
                        p.partner_type,
                        " ; ".join(p.activities),
                        count(p.beneficiaries),
                        " ; ".join(p.needs) or "—",
                        " ; ".join(p.contributions) or "—",
                    ]
                    for p in report.partners
                ],
                numeric=[3],
                caption=f"Partenaires et leur offre{public}",
            )
        else:
            _paragraph(
                document, f"Aucun partenaire enregistré{' pour ce public' if report.theme_label else ''}."
            )
        self.analysis("partenaires")

    def besoins(self, number: int, title: str) -> None:
        report, document = self.report, self.document
        self.heading(f"{number}. {title}", 1)
        _paragraph(document, f"Priorités fixées par les élus de 1 (faible) à 5 (très forte). {report.rule}")
        self.analysis("besoins")
        rows: list[list[CellLike]] = []
        for n in report.needs:
            line = n.line
            size = count(line.size, line.masked)
            if not line.masked and line.size is not None:
                size = Cell(f"{size.text} {line.unit}")
            setter = (n.priority_set_by or "—") + (
                f" ({date_text(n.priority_set_at)})" if n.priority_set_at else ""
            )
            source = (n.source or "—") + (f" {n.vintage}" if n.vintage else "")
            rows.append([line.label, line.group, line.territory, size, str(line.priority), setter, source])
        theme = f" — {report.theme_label}" if report.theme_label else ""
        _table(
            document,
            ["Besoin", "Public", "Territoire", "Effectif", "Priorité", "Fixée par", "Source"],
            rows,
            numeric=[3, 4],
            caption=f"Registre des besoins{theme}",
        )

    def coherence(self, number: int, title: str) -> None:
        report, document = self.report, self.document
        coherence = report.coherence
        self.heading(f"{number}. {title}", 1)
        _paragraph(
            document,
            "Taux de couverture = personnes couvertes par l'offre (du CCAS et des partenaires) / "
            f"effectif du besoin. {report.rule}",
            italic=True,
        )
        self.analysis("coherence")
        if coherence.group_coverage:
            _table(
                document,
                ["Public", "Effectif", "Couverts", "Taux de couverture", "Note"],
                [
                    [
                        g.group,
                        count(g.size),
                        count(g.covered),
                        percent(g.rate),
                        "cases secrètes exclues" if g.masked else "",
                    ]
                    for g in coherence.group_coverage
                ],
                numeric=[1, 2, 3],
                caption="Taux de couverture par public (cases secrètes exclues).",
            )
        if coherence.groups:
            self.matrix()
        self.heading("Plus grands écarts pondérés par la priorité", 2)
        if coherence.gaps:
            _table(
                document,
                ["Besoin", "Priorité", "Couverture", "Non couverts", "Indice d'écart", "Alertes"],
                [
                    [
                        n.label,
                        str(n.priority),
                        percent(n.coverage_rate),
                        count(n.unmet),
                        format_number(n.gap_index, 2),
                        " ; ".join(n.flags),
                    ]
                    for n in coherence.gaps
                ],
                numeric=[1, 2, 3, 4],
            )
        else:
            _paragraph(document, "Aucun écart calculable.")
        self.heading("Manques", 2)
        for key, label in ORPHANS:
            items = " ; ".join(coherence.orphans.get(key, [])) or "aucun"
            _labelled(document, f"{label} :", items, style="List Bullet")

    def matrix(self) -> None:
        """The public × territory matrix, in tables of at most ``wide`` territory columns."""
        coherence = self.report.coherence
        pieces = chunks(coherence.territories, self.wide)
        start = 1
        for index, territories in enumerate(pieces, start=1):
            caption = "Taux de couverture par public (lignes) et territoire (colonnes) ; effectif entre parenthèses."
            if len(pieces) > 1:
                caption += (
                    f" Tableau {index} / {len(pieces)} : territoires {start} à {start + len(territories) - 1} "
                    f"sur {len(coherence.territories)}."
                )
            rows: list[list[CellLike]] = []
            for group in coherence.groups:
                values: list[CellLike] = [group]
                for territory in territories:
                    cell = coherence.cells.get((group, territory))
                    if cell is None:
                        values.append("—")
                    elif cell.masked:
                        values.append(Cell(SECRET, secret=True, fill=HEAT["heat-none"]))
                    else:
                        values.append(
                            Cell(
                                f"{percent(cell.rate)} ({format_number(cell.size)})",
                                fill=HEAT[heat(cell.rate)],
                            )
                        )
                rows.append(values)
            _table(self.document, ["Public", *territories], rows, caption=caption)
            start += len(territories)

    def objectifs(self, number: int, title: str) -> None:
        report, document = self.report, self.document
        self.heading(f"{number}. {title}", 1)
        self.analysis("objectifs")
        if report.objectives:
            _table(
                document,
                ["Objectif", "Niveau", "Service", "Responsable", "Échéance"],
                [
                    [
                        ("    " * min(o.depth, 3)) + f"{o.code} — {o.title}",
                        o.level,
                        o.service or "—",
                        o.owner or "—",
                        date_text(o.deadline),
                    ]
                    for o in report.objectives
                ],
                caption="Objectifs en cours (stratégiques, puis opérationnels)",
            )
        else:
            _paragraph(document, f"Aucun objectif en cours{' pour ce public' if report.theme_label else ''}.")
        self.heading("Plan d'action (actions ouvertes décidées en revue)", 2)
        if report.actions:
            _table(
                document,
                ["Action", "Objectif", "Responsable", "Échéance", "Revue"],
                [
                    [a.text, a.objective or "—", a.owner or "—", date_text(a.due_date), a.review]
                    for a in report.actions
                ],
            )
        else:
            _paragraph(document, "Aucune action ouverte.")

    def annexes(self) -> None:
        report, document = self.report, self.document
        self.heading(ANNEX_TITLE, 1)
        iris = report.portrait.iris
        if iris is not None:
            rows: list[list[CellLike]] = [
                [
                    f"{row.name} ({row.code})",
                    *[iris_text(c, iris.columns[i][2]) for i, c in enumerate(row.cells)],
                ]
                for row in iris.rows
            ]
            hidden = iris.masked_totals or [False] * len(iris.totals)
            label = "Total des IRIS publiés" + (
                f" (minorant : {iris.secret_iris} IRIS secret)" if iris.secret_iris else ""
            )
            footer: list[CellLike] = [label]
            for total, masked in zip(iris.totals, hidden, strict=True):
                footer.append(
                    Cell(SECRET, secret=True) if masked else format_number(total) if total is not None else ""
                )
            _table(
                document,
                ["IRIS", *[label for _, label, _ in iris.columns]],
                rows,
                numeric=range(1, 1 + len(iris.columns)),
                footer=footer,
                caption=f"Indicateurs par IRIS ({' ; '.join(iris.sources)}). « secret » : IRIS soumis au secret "
                "statistique par le producteur ou effectif inférieur à "
                f"{report.threshold} ; « non publié » : pas de diffusion.",
            )
        self.heading("Sources", 2)
        for source in [
            *report.sources,
            "Besoins, offre, objectifs et plan d'action : Pilotis, saisis par l'organisation.",
        ]:
            document.add_paragraph(source, style="List Bullet")
        _paragraph(
            document,
            f"Données INSEE et CNAF publiées sous Licence Ouverte / Etalab 2.0. {report.rule}",
            italic=True,
        )

    def write(self) -> bytes:
        report = self.report
        self.title_page()
        titles = [(1, f"{i}. {title}") for i, (_, title) in enumerate(report.sections, start=1)]
        _table_of_contents(self.document, report, [*titles, (1, ANNEX_TITLE)])
        _page_break(self.document)
        writers = {
            "synthese": self.synthese,
            "portrait": self.portrait,
            "projections": self.projections,
            "participation": self.participation,
            "qualitatif": self.qualitatif,
            "partenaires": self.partenaires,
            "besoins": self.besoins,
            "coherence": self.coherence,
            "objectifs": self.objectifs,
        }
        for number, (key, title) in enumerate(report.sections, start=1):
            writers[key](number, title)
        self.annexes()
        buffer = BytesIO()
        self.document.save(buffer)
        return buffer.getvalue()


def word_document(
    report: AbsReport, *, calendar: AbsCalendar | None = None, wide: int = WIDE_TABLE_COLUMNS
) -> bytes:
    """The report as a .docx document: title page, table of contents, every section with its
    analysis texts, the annexes; a matrix of more than ``wide`` territories split into tables."""
    return _Writer(report, calendar, wide).write()

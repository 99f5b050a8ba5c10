"""Outputs of the ABS report: the Excel annex (one sheet per table) and the tagged PDF.

Cells are written through :func:`services.exports.set_cell` (text never becomes a formula); a
masked figure is written as the word ``secret``, a figure Pilotis does not hold as
``non disponible``.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from services.abs_report import KINDS, NOT_AVAILABLE, SECTIONS, AbsReport, Figure
from services.exports import set_cell, write_sheet
from services.numbers import format_number, format_percent

PDF_VARIANT = "pdf/ua-1"


def _shown(figure: Figure) -> Any:
    if figure.masked:
        return "secret"
    if figure.value is None:
        return NOT_AVAILABLE
    return round(figure.value, figure.decimals)


def _rate(value: float | None) -> str:
    return "—" if value is None else format_percent(value, 1, trim=False)


def _sheet(
    book: Workbook, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[int]
) -> None:
    write_sheet(book.create_sheet(title[:31]), headers, rows, widths=widths, freeze="B2")


def annex_workbook(report: AbsReport) -> bytes:
    """The figures' annexes of the report as an .xlsx workbook, one sheet per table."""
    book = Workbook()
    summary = book.active
    if summary is None:  # pragma: no cover - a new workbook always has a sheet
        raise RuntimeError("classeur sans feuille")
    summary.title = "Sommaire"
    lines: list[tuple[str, Any]] = [
        ("Organisation", report.organisation_name),
        ("Rapport", report.title),
        ("Type", KINDS[report.kind]),
        ("Année", report.year),
        ("Public (analyse thématique)", report.theme_label or "tous les publics"),
        ("Territoire", report.portrait.territory or NOT_AVAILABLE),
        ("Secret statistique", report.rule),
        ("Sources", " ; ".join(report.sources) or NOT_AVAILABLE),
        ("Mention", "Données INSEE et CNAF publiées sous Licence Ouverte / Etalab 2.0."),
    ]
    for r, (label, value) in enumerate(lines, start=1):
        set_cell(summary.cell(row=r, column=1), label)
        summary.cell(row=r, column=1).font = Font(bold=True)
        set_cell(summary.cell(row=r, column=2), value)
        summary.cell(row=r, column=2).alignment = Alignment(wrap_text=True, vertical="top")
    summary.column_dimensions["A"].width = 30
    summary.column_dimensions["B"].width = 100

    levels = [level for level, _ in report.portrait.levels]
    portrait_rows = []
    for f in report.portrait.figures:
        comparisons = {c.level: c for c in f.comparisons}
        portrait_rows.append(
            [
                f.family,
                f.label,
                _shown(f),
                f.unit,
                "oui" if f.lower_bound else "",
                f.source,
                f.vintage,
                f.note,
                f.definition,
                *[
                    (round(c.value, f.decimals) if c.value is not None else c.note or NOT_AVAILABLE)
                    for c in (comparisons.get(level) for level in levels)
                    if c is not None
                ],
            ]
        )
    _sheet(
        book,
        "Portrait",
        [
            "Thème",
            "Indicateur",
            "Valeur",
            "Unité",
            "Minorant",
            "Source",
            "Millésime",
            "Note",
            "Définition",
            *[f"{level} ({name or NOT_AVAILABLE})" for level, name in report.portrait.levels],
        ],
        portrait_rows,
        [28, 48, 12, 12, 10, 22, 12, 50, 40, 22, 22, 22],
    )

    iris = report.portrait.iris
    if iris is not None:
        rows: list[list[Any]] = []
        for row in iris.rows:
            cells = [
                c.value
                if c.status == "ok"
                else {"secret": "secret", "masked": "secret", "missing": "non publié"}[c.status]
                for c in row.cells
            ]
            rows.append([row.code, row.name, *cells])
        hidden = iris.masked_totals or [False] * len(iris.totals)
        rows.append(
            [
                "Total",
                "IRIS publiés",
                *[
                    "secret" if h else t if t is not None else ""
                    for t, h in zip(iris.totals, hidden, strict=True)
                ],
            ]
        )
        _sheet(
            book,
            "IRIS",
            ["Code IRIS", "IRIS", *[label for _, label, _ in iris.columns]],
            rows,
            [12, 40, *[14] * len(iris.columns)],
        )

    outlook = report.outlook
    if outlook is not None:
        horizons = outlook.horizons
        projection_rows: list[list[Any]] = []
        for p in outlook.projections:
            method = "part du département" if p.method == "parts" else "tendance"
            if p.borrowed_from:
                method += f" {outlook.label(p.borrowed_from)}"
            if p.masked:
                projection_rows.append(
                    [p.label, method, "secret", "", "secret", "", *["secret"] * len(horizons), ""]
                )
                continue
            projection_rows.append(
                [
                    p.label,
                    method if p.projected else "non projetée",
                    p.first_value,
                    p.first_year,
                    p.base_value,
                    p.base_year,
                    *[p.values.get(h) for h in horizons],
                    p.reason or ("fragile : " + ", ".join(map(str, sorted(p.fragile))) if p.fragile else ""),
                ]
            )
        for need in outlook.needs:
            projection_rows.append(
                [
                    f"Besoin : {need.label} ({need.territory})",
                    "effectif à offre constante",
                    None,
                    None,
                    "secret" if need.masked else need.size,
                    "aujourd'hui",
                    *["secret" if need.masked else need.future[h].size for h in horizons],
                    "couverture : "
                    + " ; ".join(
                        f"{h} : {'secret' if need.masked else _rate(need.future[h].coverage_rate)}"
                        for h in horizons
                    ),
                ]
            )
        _sheet(
            book,
            "Projections",
            [
                "Tranche d'âge ou besoin",
                "Méthode",
                "Premier recensement",
                "Année",
                "Dernier recensement",
                "Année",
                *[str(h) for h in horizons],
                "Note",
            ],
            projection_rows,
            [44, 30, 14, 8, 14, 10, *[12] * len(horizons), 60],
        )
        _sheet(
            book,
            "Méthode des projections",
            ["Méthode", "Limites", "Sources"],
            [[outlook.method, outlook.limits, " ; ".join(outlook.sources)]],
            [80, 80, 40],
        )

    survey_rows: list[list[Any]] = []
    for survey in report.surveys:
        if survey.masked:
            survey_rows.append(
                [survey.title, survey.kind, f"moins de {survey.threshold}", "", "", "", "", "", ""]
            )
            continue
        for q in survey.questions:
            for o in q.options:
                survey_rows.append(
                    [
                        survey.title,
                        survey.kind,
                        survey.responses,
                        q.text,
                        "secret" if q.masked else q.answered,
                        o.label,
                        "secret" if o.masked else o.count,
                        "secret" if o.masked else o.share,
                        "secret" if o.masked else f"{_rate(o.low)} – {_rate(o.high)}",
                    ]
                )
            if q.mean is not None:
                survey_rows.append(
                    [
                        survey.title,
                        survey.kind,
                        survey.responses,
                        q.text,
                        q.answered,
                        "moyenne",
                        None,
                        q.mean[0],
                        f"{format_number(q.mean[1], 2)} – {format_number(q.mean[2], 2)}",
                    ]
                )
        for c in survey.consultation:
            survey_rows.append(
                [
                    survey.title,
                    survey.kind,
                    survey.responses,
                    "Priorités (part moyenne des points)",
                    c.respondents,
                    c.label,
                    None,
                    c.score,
                    f"{_rate(c.low)} – {_rate(c.high)}",
                ]
            )
        for theme, tally in survey.themes:
            survey_rows.append(
                [
                    survey.title,
                    survey.kind,
                    survey.responses,
                    "Thèmes des réponses libres",
                    None,
                    theme,
                    f"moins de {survey.threshold}" if tally is None else tally,
                    None,
                    "",
                ]
            )
    _sheet(
        book,
        "Participation",
        [
            "Enquête",
            "Type",
            "Répondants",
            "Question",
            "Réponses",
            "Réponse",
            "Effectif",
            "Part",
            "Intervalle à 95 %",
        ],
        survey_rows,
        [40, 26, 11, 60, 10, 40, 10, 10, 18],
    )
    _sheet(
        book,
        "Qualitatif",
        ["Date", "Recueil", "Participants, auteur", "Besoin", "Public", "Synthèse"],
        [[o.day, o.kind, o.source, o.need, o.group, o.summary] for o in report.observations],
        [12, 24, 40, 40, 24, 100],
    )

    _sheet(
        book,
        "Partenaires",
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
                p.beneficiaries,
                " ; ".join(p.needs),
                " ; ".join(p.contributions),
            ]
            for p in report.partners
        ],
        [40, 28, 60, 14, 60, 80],
    )

    need_rows = []
    for n in report.needs:
        line, secret = n.line, "secret" if n.line.masked else None
        need_rows.append(
            [
                line.code,
                line.label,
                line.group,
                line.territory,
                secret or line.size,
                line.unit,
                line.priority,
                n.priority_set_by or "",
                n.source or "",
                n.vintage or "",
                secret or (round(line.coverage_rate, 4) if line.coverage_rate is not None else NOT_AVAILABLE),
                secret or line.unmet,
                ", ".join(line.flags),
            ]
        )
    _sheet(
        book,
        "Besoins",
        [
            "Code",
            "Besoin",
            "Public",
            "Territoire",
            "Effectif",
            "Unité",
            "Priorité (1-5)",
            "Priorité fixée par",
            "Source",
            "Millésime",
            "Taux de couverture",
            "Non couverts",
            "Alertes",
        ],
        need_rows,
        [18, 48, 28, 26, 11, 12, 10, 22, 18, 10, 12, 12, 40],
    )

    coherence = report.coherence
    matrix_rows = []
    for group in coherence.groups:
        values: list[Any] = [group]
        for territory in coherence.territories:
            cell = coherence.cells.get((group, territory))
            values.append("" if cell is None else "secret" if cell.masked else cell.rate)
        matrix_rows.append(values)
    _sheet(
        book,
        "Matrice",
        ["Public \\ territoire", *coherence.territories],
        matrix_rows,
        [32, *[14] * len(coherence.territories)],
    )
    _sheet(
        book,
        "Couverture par public",
        ["Public", "Effectif", "Couverts", "Taux de couverture", "Note"],
        [
            [g.group, g.size, g.covered, g.rate, "cases secrètes exclues" if g.masked else ""]
            for g in coherence.group_coverage
        ],
        [32, 12, 12, 14, 26],
    )
    _sheet(
        book,
        "Écarts",
        ["Besoin", "Priorité", "Taux de couverture", "Non couverts", "Indice d'écart"],
        [[g.label, g.priority, g.coverage_rate, g.unmet, g.gap_index] for g in coherence.gaps],
        [48, 10, 14, 14, 14],
    )
    _sheet(
        book,
        "Objectifs",
        ["Code", "Objectif", "Niveau", "Service", "Responsable", "Échéance", "Besoins"],
        [
            [
                o.code,
                ("  " * o.depth) + o.title,
                o.level,
                o.service or "",
                o.owner or "",
                o.deadline,
                ", ".join(o.needs),
            ]
            for o in report.objectives
        ],
        [10, 70, 14, 32, 22, 12, 40],
    )
    _sheet(
        book,
        "Plan d'action",
        ["Action", "Objectif", "Responsable", "Échéance", "Décidée à la revue"],
        [[a.text, a.objective or "", a.owner or "", a.due_date, a.review] for a in report.actions],
        [60, 48, 22, 12, 30],
    )
    _sheet(
        book,
        "Analyses",
        ["Section", "Texte d'analyse (direction)", "Rédigé par"],
        [[title, report.text(key).text, report.text(key).updated_by or ""] for key, title in SECTIONS],
        [36, 100, 22],
    )
    for sheet in book.worksheets:
        for sheet_row in sheet.iter_rows(min_row=2):
            for written in sheet_row:
                if isinstance(written.value, float):
                    written.number_format = "#,##0.00" if abs(written.value) < 1000 else "#,##0"
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def render_pdf(html: str, *, base_url: str, stylesheets: Sequence[Path] = ()) -> bytes:
    """A tagged, accessible PDF (PDF/UA-1) of a complete HTML document (``lang`` and ``title`` set)."""
    from weasyprint import CSS, HTML  # type: ignore[import-untyped]  # imported on use: heavy

    document = HTML(string=html, base_url=base_url)
    pdf = document.write_pdf(
        stylesheets=[CSS(filename=str(path)) for path in stylesheets], pdf_variant=PDF_VARIANT
    )
    return bytes(pdf)

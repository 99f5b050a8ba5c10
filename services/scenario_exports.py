"""A scenario and a comparison of scenarios as Excel workbooks (one sheet per table)."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from openpyxl import Workbook

from models import Scenario
from services.cost_exports import EURO, PERCENT, add_sheet
from services.exports import set_cell
from services.scenarios import STATE_LABELS, ComparedScenario


def _save(book: Workbook) -> bytes:
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _new() -> Workbook:
    book = Workbook()
    default = book.active
    if default is not None:
        book.remove(default)
    return book


def scenario_workbook(
    scenario: Scenario,
    services: list[dict[str, Any]],
    activities: list[dict[str, Any]],
    needs: list[dict[str, Any]],
    organisation: str,
) -> bytes:
    """Sheets: summary and explanation, budget by service, by activity, coverage by need."""
    book = _new()
    summary = book.create_sheet("Scénario")
    rows: list[tuple[str, Any]] = [
        ("Organisation", organisation),
        ("Scénario", scenario.name),
        ("Année", scenario.year),
        ("État", STATE_LABELS[scenario.state]),
        ("Méthode", "Même effort partout" if scenario.method == "uniform" else "Répartition optimisée"),
        ("Enveloppe", float(scenario.envelope)),
        ("Valeur (besoins pondérés couverts)", scenario.objective_value),
        ("Statut du solveur", scenario.solver_status),
        ("", ""),
        ("Pourquoi", ""),
        *[("", sentence) for sentence in (scenario.explanation or "").splitlines()],
    ]
    for r, (key, value) in enumerate(rows, start=1):
        set_cell(summary.cell(row=r, column=1), key)
        set_cell(summary.cell(row=r, column=2), value)
    summary.cell(row=6, column=2).number_format = EURO
    summary.column_dimensions["A"].width = 40
    summary.column_dimensions["B"].width = 120
    add_sheet(
        book,
        "Budget par service",
        ["Service", "Budget actuel", "Budget proposé", "Écart", "Écart (%)", "Plancher légal"],
        [[s["name"], s["current"], s["proposed"], s["change"], s["rate"], s["floor"]] for s in services],
        {2: EURO, 3: EURO, 4: EURO, 5: PERCENT, 6: EURO},
    )
    add_sheet(
        book,
        "Budget par activité",
        ["Activité", "Service", "Unité", "Volume actuel", "Volume proposé", "Coût unitaire", "Coût actuel",
         "Coût proposé", "Écart", "Pourquoi"],
        [[a["name"], a["service"], a["unit"], a["current_volume"], a["volume"], a["unit_cost"], a["current_cost"],
          a["cost"], a["change"], a["reason"]] for a in activities],
        {6: EURO, 7: EURO, 8: EURO, 9: EURO},
    )  # fmt: skip
    add_sheet(
        book,
        "Couverture des besoins",
        ["Besoin", "Priorité (poids)", "Effectif", "Couverts aujourd'hui", "Taux aujourd'hui", "Couverts",
         "Taux", "Personnes perdues (+) ou gagnées (-)", "Pourquoi"],
        [[n["label"], n["priority"], n["size"], n["covered_before"], n["rate_before"], n["covered"], n["rate"],
          n["given_up"], n["reason"]] for n in needs],
        {5: PERCENT, 7: PERCENT},
    )  # fmt: skip
    return _save(book)


def comparison_workbook(rows: list[ComparedScenario], services: list[str], needs: list[str]) -> bytes:
    """Scenarios side by side: envelope and value, budget by service, coverage rate by need."""
    book = _new()
    names = [r.scenario.name for r in rows]
    add_sheet(
        book,
        "Synthèse",
        ["", *names],
        [
            ["Année", *[r.scenario.year for r in rows]],
            ["État", *[STATE_LABELS[r.scenario.state] for r in rows]],
            ["Enveloppe", *[float(r.scenario.envelope) for r in rows]],
            ["Budget réparti", *[r.total for r in rows]],
            ["Personnes pondérées couvertes", *[r.scenario.objective_value for r in rows]],
            ["Contraintes limitantes", *["\n".join(r.binding) for r in rows]],
        ],
        dict.fromkeys(range(2, 2 + len(rows)), EURO),
    )
    add_sheet(
        book,
        "Budget par service",
        ["Service", *names],
        [[s, *[r.by_service.get(s) for r in rows]] for s in services],
        dict.fromkeys(range(2, 2 + len(rows)), EURO),
    )
    add_sheet(
        book,
        "Couverture par besoin",
        ["Besoin", *names],
        [[n, *[r.coverage.get(n) for r in rows]] for n in needs],
        dict.fromkeys(range(2, 2 + len(rows)), PERCENT),
    )
    return _save(book)

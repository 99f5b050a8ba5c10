"""Costs as JSON and as an Excel workbook (one sheet per table), from one costing and one execution."""

from __future__ import annotations

import math
from io import BytesIO
from typing import Any, cast

import pandas as pd
from openpyxl import Workbook

from scorecard.costing import cents
from services.budget import Execution
from services.costing import DRIVER_LABELS, METHOD_LABELS, STAGE_LABELS, CostingReport, YearUnitCost
from services.exports import set_cell, write_sheet

EURO = '#,##0.00\\ "€"'
PERCENT = "0.0%"


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def costs_json(
    report: CostingReport,
    execution: Execution | None,
    trend: dict[str, dict[int, float]],
    *,
    history: dict[str, dict[int, YearUnitCost]] | None = None,
) -> dict[str, Any]:
    """The costing of a year, its flows and its execution as a JSON-ready dict (amounts to the cent).

    Every unit cost comes with the volume it divides by and that volume's source (``volume``,
    ``volume_source``; in the trend, ``unit_cost_volumes`` when ``history`` is given)."""
    activities = report.activities
    full = cents(activities["full_cost"])
    return {
        "year": report.year,
        "basis": report.basis,
        "method": report.method,
        "total_in": round(report.costing.total_in, 2),
        "total_out": round(float(full.sum()), 2),
        "unassigned": round(report.costing.unassigned, 2),
        "activities": [
            {
                "code": row["code"],
                "name": row["name"],
                "service": row["service"],
                "output_unit": row["output_unit"],
                "volume": _num(row["volume"]),
                "volume_source": row["volume_label"] if isinstance(row["volume_label"], str) else None,
                "beneficiaries": _num(row["beneficiaries"]),
                "direct_cost": round(float(row["direct_cost"]), 2),
                "support_cost": round(float(row["support_cost"]), 2),
                "full_cost": float(full.loc[cast(int, activity_id)]),
                "revenues": round(float(row["revenues"]), 2),
                "net_cost": round(float(row["net_cost"]), 2),
                "unit_cost": None if (u := _num(row["unit_cost"])) is None else round(u, 2),
                "cost_per_beneficiary": None
                if (b := _num(row["cost_per_beneficiary"])) is None
                else round(b, 2),
                "unit_cost_trend": {str(y): round(v, 2) for y, v in trend.get(str(row["code"]), {}).items()},
                "unit_cost_volumes": {
                    str(y): {"volume": e.volume, "source": e.volume_label}
                    for y, e in (history or {}).get(str(row["code"]), {}).items()
                },
            }
            for activity_id, row in activities.iterrows()
        ],
        "centres": [
            {
                "code": code,
                "name": row["name"],
                "kind": row["kind"],
                "driver": row["driver"],
                "direct": round(float(row["direct"]), 2),
                "support_received": round(float(row["support_received"]), 2),
                "full": round(float(row["full"]), 2),
            }
            for code, row in report.centres.iterrows()
        ],
        "flows": [
            {
                "stage": row["stage"],
                "source": report.names.get(str(row["source"]), str(row["source"])),
                "target": report.names.get(str(row["target"]), str(row["target"])),
                "amount": round(float(row["amount"]), 2),
            }
            for _, row in report.costing.flows.iterrows()
        ],
        "execution": None
        if execution is None
        else {
            "state": execution.state,
            "months": execution.months,
            "total": {k: _num(v) for k, v in execution.total.items()},
            "by_service": _execution_rows(execution.by_service),
            "by_function": _execution_rows(execution.by_function),
            "by_activity": _execution_rows(execution.by_activity),
        },
    }


def _execution_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"label": str(label), **{str(k): _num(v) for k, v in row.items()}} for label, row in frame.iterrows()
    ]


def add_sheet(
    book: Workbook, title: str, headers: list[str], rows: list[list[Any]], formats: dict[int, str]
) -> None:
    write_sheet(book.create_sheet(title[:31]), headers, rows, formats=formats)


def costs_workbook(
    report: CostingReport,
    execution: Execution | None,
    trend: dict[str, dict[int, float]],
    organisation: str,
    *,
    history: dict[str, dict[int, YearUnitCost]] | None = None,
) -> bytes:
    """Sheets: activities (costs, unit costs with their volume and its source, trend), centres, flows,
    execution by service/function/activity."""
    data = costs_json(report, execution, trend, history=history)
    book = Workbook()
    default = book.active
    if default is not None:
        book.remove(default)
    years = sorted({int(y) for a in data["activities"] for y in a["unit_cost_trend"]})
    add_sheet(
        book,
        "Coûts par activité",
        ["Activité", "Service", "Unité", "Volume", "Source du volume", "Bénéficiaires", "Coût direct",
         "Coût support", "Coût complet", "Recettes", "Coût net", "Coût unitaire", "Coût par bénéficiaire",
         *[h for y in years for h in (f"Coût unitaire {y}", f"Volume {y}", f"Source du volume {y}")]],
        [
            [a["name"], a["service"], a["output_unit"], a["volume"], a["volume_source"], a["beneficiaries"],
             a["direct_cost"], a["support_cost"], a["full_cost"], a["revenues"], a["net_cost"], a["unit_cost"],
             a["cost_per_beneficiary"],
             *[v for y in years for v in (a["unit_cost_trend"].get(str(y)),
                                          a["unit_cost_volumes"].get(str(y), {}).get("volume"),
                                          a["unit_cost_volumes"].get(str(y), {}).get("source"))]]
            for a in data["activities"]
        ],
        {**dict.fromkeys(range(7, 14), EURO), **{14 + 3 * i: EURO for i in range(len(years))}},
    )  # fmt: skip
    add_sheet(
        book,
        "Centres de coût",
        ["Centre", "Type", "Inducteur", "Charges directes", "Reçu des fonctions support", "Coût complet"],
        [
            [c["name"], "Fonction support" if c["kind"] == "support" else "Opérationnel",
             DRIVER_LABELS.get(c["driver"], c["driver"]), c["direct"], c["support_received"], c["full"]]
            for c in data["centres"]
        ],
        {4: EURO, 5: EURO, 6: EURO},
    )  # fmt: skip
    add_sheet(
        book,
        "Flux",
        ["Étape", "De", "Vers", "Montant"],
        [
            [STAGE_LABELS.get(f["stage"], f["stage"]), f["source"], f["target"], f["amount"]]
            for f in data["flows"]
        ],
        {4: EURO},
    )
    if execution is not None:
        for title, frame in (
            ("Exécution par service", execution.by_service),
            ("Exécution par fonction", execution.by_function),
            ("Exécution par activité", execution.by_activity),
        ):
            add_sheet(
                book,
                title,
                ["Poste", "Budget voté", "Réalisé", "Taux d'exécution", "Projection fin d'année", "Taux projeté"],
                [
                    [str(label), _num(r["budget"]), _num(r["actual"]), _num(r["rate"]), _num(r["projection"]),
                     _num(r["projected_rate"])]
                    for label, r in frame.iterrows()
                ],
                {2: EURO, 3: EURO, 4: PERCENT, 5: EURO, 6: PERCENT},
            )  # fmt: skip
    about = book.create_sheet("À propos")
    for r, (key, value) in enumerate(
        [
            ("Organisation", organisation),
            ("Année", report.year),
            ("Base", "Compte administratif" if report.basis == "actual" else "Budget voté"),
            ("Méthode de répartition des fonctions support", METHOD_LABELS.get(report.method, report.method)),
            ("Charges de l'année", round(report.costing.total_in, 2)),
            ("Charges réparties sur les activités", data["total_out"]),
            ("Charges non affectées (sans centre)", data["unassigned"]),
        ],
        start=1,
    ):
        set_cell(about.cell(row=r, column=1), key)
        set_cell(about.cell(row=r, column=2), value)
    about.column_dimensions["A"].width = 48
    about.column_dimensions["B"].width = 60
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()

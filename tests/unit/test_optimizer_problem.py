"""The problem's dict and table forms: round trips, the JSON Schema, located French errors."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from optimizer import (
    PROBLEM_SCHEMA,
    TABLE_COLUMNS,
    EquityFloor,
    ProblemError,
    check_problem,
    generate_problem,
    problem_from_dict,
    problem_from_tables,
    problem_to_dict,
    problem_to_tables,
)
from optimizer.problem import COLLECTIONS, Delivery, TerritorySpec

ROOT = Path(__file__).resolve().parents[2]


def rich_problem():
    problem = generate_problem(4, 6, 2, seed=11, fixed_costs=True, equity=True)
    needs = list(problem.needs)
    needs[0] = dataclasses.replace(
        needs[0], min_coverage_rate=0.2, min_coverage_soft=True, shortfall_penalty=3.0
    )
    needs[1] = dataclasses.replace(needs[1], min_coverage_rate=0.1)
    coverages = list(problem.coverages)
    coverages[0] = dataclasses.replace(coverages[0], share=0.4)
    located = problem.activities[1].code
    return dataclasses.replace(
        problem,
        needs=tuple(needs),
        diminishing_returns=((0.5, 1.0), (0.8, 0.6), (1.0, 0.3)),
        integer_posts=True,
        objective="rates",
        year=2027,
        equity_floors=(*problem.equity_floors, EquityFloor("territory", "T01", 0.1, soft=False)),
        coverages=tuple(coverages),
        territories=(
            TerritorySpec("C", None, "Commune"),
            TerritorySpec("T01", "C"),
            TerritorySpec("T02", "C"),
        ),
        deliveries=(Delivery(located, "T01", 0.6), Delivery(located, "C", 0.4)),
    )


def errors_of(data) -> list[str]:
    with pytest.raises(ProblemError) as caught:
        problem_from_dict(data)
    return caught.value.messages


def test_dict_round_trip():
    problem = rich_problem()
    data = problem_to_dict(problem)
    assert json.loads(json.dumps(data)) == data
    assert problem_from_dict(json.loads(json.dumps(data))) == problem
    check_problem(problem)


def test_table_round_trip():
    problem = rich_problem()
    tables = problem_to_tables(problem)
    assert list(tables) == [
        "parametres",
        "services",
        "activites",
        "besoins",
        "couverture",
        "equite",
        "livraisons",
        "territoires",
    ]
    for sheet, frame in tables.items():
        assert list(frame.columns) == TABLE_COLUMNS[sheet]
    assert problem_from_tables(tables) == problem


def test_schema_file_is_the_schema_and_matches_the_fields():
    on_disk = json.loads((ROOT / "docs" / "problem.schema.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(PROBLEM_SCHEMA))
    assert PROBLEM_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    data = problem_to_dict(rich_problem())
    assert set(data) <= set(PROBLEM_SCHEMA["properties"])
    defs = {
        "services": "service",
        "activities": "activity",
        "needs": "need",
        "coverages": "coverage",
        "equity_floors": "equity_floor",
        "deliveries": "delivery",
        "territories": "territory",
    }
    for collection, definition in defs.items():
        schema = PROBLEM_SCHEMA["$defs"][definition]
        assert set(schema["properties"]) == {f.name for f in COLLECTIONS[collection]}
        for record in data[collection]:
            assert set(record) == set(schema["properties"])
            assert set(schema["required"]) <= {k for k, v in record.items() if v is not None}


def test_located_errors_for_fields():
    data = problem_to_dict(rich_problem())
    bad = copy.deepcopy(data)
    bad["activities"][3]["unit_cost"] = -5
    bad["activities"][2]["capacity"] = "beaucoup"
    bad["needs"][0]["priority"] = 0
    bad["needs"][1]["min_coverage_rate"] = 1.5
    bad["services"][0]["min_change"] = 0.2
    bad["services"][0]["max_change"] = 0.1
    bad["envelope"] = -1
    messages = errors_of(bad)
    assert "activités[3].unit_cost : doit être un nombre positif" in messages
    assert "activités[2].capacity : doit être un nombre" in messages
    assert "besoins[0].priority : doit être un nombre strictement positif" in messages
    assert "besoins[1].min_coverage_rate : doit être un taux entre 0 et 1" in messages
    assert "services[0].min_change : la variation minimale (0.2) dépasse la maximale (0.1)" in messages
    assert "envelope : doit être un nombre positif (l'enveloppe en euros)" in messages


def test_located_errors_for_references_and_duplicates():
    data = problem_to_dict(rich_problem())
    bad = copy.deepcopy(data)
    bad["activities"][1]["code"] = bad["activities"][0]["code"]
    bad["activities"][4]["service"] = "INCONNU"
    bad["activities"][5]["min_volume"] = 500
    bad["activities"][5]["capacity"] = 100
    bad["coverages"][0]["need"] = "N9999"
    bad["coverages"].append(dict(bad["coverages"][1]))
    bad["equity_floors"][0]["target"] = "martiens"
    bad["unexpected"] = 1
    bad["needs"][2]["colour"] = "bleu"
    first = bad["activities"][0]["code"]
    messages = errors_of(bad)
    assert f"activités[1].code : code « {first} » en double (déjà utilisé en activités[0])" in messages
    assert "activités[4].service : service « INCONNU » inconnu" in messages
    assert "activités[5].min_volume : le volume obligatoire (500) dépasse la capacité (100)" in messages
    assert "couvertures[0].need : besoin « N9999 » inconnu" in messages
    assert any(
        m.startswith(f"couvertures[{len(bad['coverages']) - 1}] : couverture") and "en double" in m
        for m in messages
    )
    assert "équité[0].target : groupe de population « martiens » porté par aucun besoin" in messages
    assert "unexpected : champ inconnu" in messages
    assert "besoins[2].colour : champ inconnu" in messages


def test_errors_for_steps_and_structure():
    data = problem_to_dict(rich_problem())
    assert (
        "diminishing_returns : les poids des paliers ne peuvent pas croître (rendements décroissants : modèle concave)"
        in errors_of({**data, "diminishing_returns": [[0.5, 0.5], [1.0, 1.0]]})
    )
    assert "diminishing_returns : le dernier palier doit aller jusqu'à un taux de 1 (100 %)" in errors_of(
        {**data, "diminishing_returns": [[0.5, 1.0], [0.9, 0.5]]}
    )
    assert errors_of([]) == ["problème : un objet JSON est attendu"]
    messages = errors_of({"envelope": 10, "activities": [], "needs": [5]})
    assert "services : champ obligatoire manquant" in messages
    assert "besoins[0] : objet attendu" in messages
    assert "activités : aucune activité" in messages
    assert "objective : doit valoir « persons » (personnes) ou « rates » (taux)" in errors_of(
        {**data, "objective": "joie"}
    )


def test_table_errors_are_located_by_sheet_row_and_column():
    tables = problem_to_tables(rich_problem())
    tables["activites"].loc[2, "cout_unitaire"] = -3.0
    tables["activites"].loc[3, "service"] = "S999"
    tables["besoins"].loc[0, "taux_min_souple"] = "peut-être"
    tables["equite"].loc[0, "portee"] = "région"
    tables["parametres"].loc[len(tables["parametres"])] = ["couleur", "bleu"]
    del tables["couverture"]
    with pytest.raises(ProblemError) as caught:
        problem_from_tables(tables)
    messages = caught.value.messages
    assert "feuille « couverture » absente" in messages
    assert (
        "feuille « activites », ligne 4, colonne « cout_unitaire » : doit être un nombre positif" in messages
    )
    assert "feuille « activites », ligne 5, colonne « service » : service « S999 » inconnu" in messages
    assert (
        "feuille « besoins », ligne 2, colonne « taux_min_souple » : doit être vrai ou faux (oui / non)"
        in messages
    )
    assert (
        "feuille « equite », ligne 2, colonne « portee » : doit valoir « group » (groupe) ou « territory » (territoire)"
        in messages
    )
    assert any(
        m.startswith("feuille « parametres », ligne") and "paramètre inconnu « couleur »" in m
        for m in messages
    )


def test_tables_accept_what_excel_gives():
    tables = problem_to_tables(rich_problem())
    tables["besoins"]["taux_min_souple"] = tables["besoins"]["taux_min_souple"].map(
        {"oui": True, "non": "NON"}
    )
    tables["equite"]["souple"] = 1  # a checkbox typed 1
    services = tables["services"].copy()
    services.loc[len(services)] = [None] * len(services.columns)  # a blank row is skipped
    tables["services"] = services
    tables["activites"]["Unnamed: 10"] = None  # an empty extra column pandas names itself
    problem = problem_from_tables(tables)
    assert problem.needs[0].min_coverage_soft and not problem.needs[1].min_coverage_soft
    assert all(f.soft for f in problem.equity_floors)
    numbered = problem_to_tables(rich_problem())
    numbered["services"].loc[0, "code"] = 101  # a code typed as a number in Excel
    numbered["activites"]["service"] = numbered["activites"]["service"].replace({"S001": 101.0})
    assert problem_from_tables(numbered).services[0].code == "101"

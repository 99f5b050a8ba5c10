"""Problem files (JSON, Excel) and the printed solution of ``pilotis optimize``."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from optimizer import ServiceSpec, explain, generate_problem, solve
from services.problem_files import (
    ProblemFileError,
    format_solution_text,
    problem_xlsx_bytes,
    read_problem_file,
    read_problem_json,
    read_problem_xlsx,
    solution_to_dict,
    write_problem_json,
    write_problem_xlsx,
)
from tests.unit.test_optimizer_explain import plain
from tests.unit.test_optimizer_problem import rich_problem


def test_json_and_excel_round_trip(tmp_path):
    problem = rich_problem()
    write_problem_json(problem, tmp_path / "scenario.json")
    write_problem_xlsx(problem, tmp_path / "scenario.xlsx")
    assert read_problem_file(tmp_path / "scenario.json") == problem
    assert read_problem_file(tmp_path / "scenario.xlsx") == problem
    text = (tmp_path / "scenario.json").read_text(encoding="utf-8")
    assert '"format": "pilotis.probleme"' in text and "Activité 1" in text  # accents kept


def test_written_workbook_keeps_text_as_text_and_rates_as_percents():
    problem = rich_problem()
    services = list(problem.services)
    services[0] = dataclasses.replace(services[0], name='=HYPERLINK("http://x")')
    book = load_workbook(
        io.BytesIO(problem_xlsx_bytes(dataclasses.replace(problem, services=tuple(services))))
    )
    assert book.sheetnames == [
        "parametres",
        "services",
        "activites",
        "besoins",
        "couverture",
        "equite",
        "livraisons",
        "territoires",
    ]
    sheet = book["services"]
    assert sheet["B2"].value == '=HYPERLINK("http://x")' and sheet["B2"].data_type == "s"
    assert sheet["D2"].value == pytest.approx(-0.1) and sheet["D2"].number_format == "0.0%"


def workbook_with(edit) -> bytes:
    book = load_workbook(io.BytesIO(problem_xlsx_bytes(rich_problem())))
    edit(book)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_french_numbers_typed_as_text_are_read():
    def edit(book):
        book["services"]["D2"].value = "-10 %"
        book["services"]["D2"].data_type = "s"
        book["activites"]["D2"].value = "1 234,5"
        book["activites"]["D2"].data_type = "s"
        book["parametres"]["B4"].value = "2 500 000"
        book["parametres"]["B4"].data_type = "s"

    problem = read_problem_xlsx(workbook_with(edit))
    assert problem.services[0].min_change == pytest.approx(-0.10)
    assert problem.activities[0].unit_cost == pytest.approx(1234.5)
    assert problem.envelope == 2_500_000


def test_workbook_errors_are_located_and_complete():
    def edit(book):
        book["activites"]["D3"] = "=B2*2"  # a formula
        book["activites"]["F4"].value = "1.234,5"
        book["activites"]["F4"].data_type = "s"
        book["besoins"]["C2"] = -4
        del book["couverture"]

    with pytest.raises(ProblemFileError) as caught:
        read_problem_xlsx(workbook_with(edit), name="arbitrage.xlsx")
    messages = [plain(m) for m in caught.value.messages]
    assert (
        "arbitrage.xlsx : feuille « activites », ligne 3, colonne « cout_unitaire » : formule refusée, saisissez la valeur"
        in messages
    )
    assert any(
        m.startswith(
            "arbitrage.xlsx : feuille « activites », ligne 4, colonne « volume_actuel » : « 1.234,5 » mélange"
        )
        for m in messages
    )
    assert (
        "arbitrage.xlsx : feuille « besoins », ligne 2, colonne « taille » : doit être un nombre strictement positif"
        in messages
    )
    assert "arbitrage.xlsx : feuille « couverture » absente" in messages
    assert len(messages) == 4 and str(caught.value).startswith("fichier de problème refusé (4 erreur(s))")


def test_files_that_are_not_problems(tmp_path):
    (tmp_path / "faux.xlsx").write_bytes(b"ceci n'est pas un classeur")
    with pytest.raises(ProblemFileError, match="n'est pas un classeur Excel"):
        read_problem_file(tmp_path / "faux.xlsx")
    (tmp_path / "casse.json").write_text('{"envelope": 10,\n  "services": [}', encoding="utf-8")
    with pytest.raises(ProblemFileError, match=r"casse\.json, ligne 2, colonne 16 : JSON invalide"):
        read_problem_file(tmp_path / "casse.json")
    with pytest.raises(ProblemFileError, match="format non reconnu"):
        read_problem_file(tmp_path / "probleme.csv")
    with pytest.raises(ProblemFileError, match="lecture impossible"):
        read_problem_file(tmp_path / "absent.json")
    with pytest.raises(ProblemFileError) as caught:
        read_problem_json(
            json.dumps(
                {"envelope": 5, "services": [], "activities": [], "needs": [], "coverages": []}
            ).encode()
        )
    assert caught.value.messages == [
        "problème : activités : aucune activité",
        "problème : besoins : aucun besoin",
    ]


def test_zip_bomb_and_macros_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/vbaProject.bin", b"macro")
    with pytest.raises(ProblemFileError, match="macros"):
        read_problem_xlsx(buffer.getvalue())
    empty = Workbook()
    out = io.BytesIO()
    empty.save(out)
    with pytest.raises(ProblemFileError) as caught:
        read_problem_xlsx(out.getvalue())
    assert "classeur : feuille « parametres » absente" in caught.value.messages


def test_solution_as_json_and_text():
    problem = generate_problem(5, 8, 2, seed=2, fixed_costs=True)
    solution = solve(problem)
    explanation = explain(problem, solution)
    data = solution_to_dict(problem, solution, explanation)
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["status"] == "optimal" and data["explanation"] == explanation.sentences
    assert {a["code"] for a in data["activities"]} == {a.code for a in problem.activities}
    assert data["binding"][0]["name"] == "envelope" and data["binding"][0]["range_high"] is not None
    text = format_solution_text(problem, solution, explanation)
    assert "Statut : solution optimale" in text and "Services" in text
    assert plain(explanation.sentences[0]) in plain(text)


def test_infeasible_solution_output():
    problem = generate_problem(3, 4, 1, seed=1)
    problem = dataclasses.replace(
        problem,
        services=tuple(ServiceSpec(s.code, s.name, legal_floor=problem.envelope) for s in problem.services),
    )
    solution = solve(problem)
    explanation = explain(problem, solution)
    data = solution_to_dict(problem, solution, explanation)
    assert data["status"] == "infeasible" and data["objective"] is None
    assert data["diagnosis"] and data["diagnosis"][0].startswith("Les planchers légaux")
    text = format_solution_text(problem, solution, explanation)
    assert "infaisable" in text and "Les planchers légaux" in text


def _located(problem):
    """``problem`` with a territory tree and deliveries (a share of some activities' output in
    one quarter, some in the whole commune), the computed shares and today's coverage written in."""
    from optimizer.problem import Delivery, TerritorySpec, with_computed_coverage

    quarters = sorted({n.territory for n in problem.needs if n.territory})
    territories = (
        TerritorySpec("COM", None, "Commune"),
        *(TerritorySpec(q, "COM", f"Quartier {q}") for q in quarters),
    )
    deliveries = tuple(
        Delivery(a.code, quarters[i % len(quarters)], 0.6) for i, a in enumerate(problem.activities[::3])
    ) + tuple(Delivery(a.code, "COM", 0.3) for a in problem.activities[::7])
    return with_computed_coverage(
        dataclasses.replace(problem, territories=territories, deliveries=deliveries)
    )


@pytest.mark.parametrize("options", [{}, {"fixed_costs": True}, {"equity": True}])
def test_json_file_read_as_it_is_released_gives_the_problem_written(tmp_path, options):
    """The reader releases the file's rows as it converts them (a 145,000-activity file held its
    dicts and its records together: 855 MB): the problem read is still the one written, field by
    field, and the one the dict reader gives when nothing is released."""
    from optimizer import problem_from_dict, problem_to_dict

    for problem in (
        generate_problem(15, 25, 3, seed=4, **options),
        _located(generate_problem(15, 25, 3, seed=5, **options)),
    ):
        write_problem_json(problem, tmp_path / "p.json")
        read = read_problem_file(tmp_path / "p.json")
        assert read == problem
        assert problem_to_dict(read) == problem_to_dict(problem)
        data = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
        kept = problem_from_dict(json.loads(json.dumps(data)))
        assert problem_from_dict(data, consume=True) == kept == problem
        assert not {"activities", "coverages", "needs", "services"} & set(data)  # released
        # a reference is the very string of the code it names (one string, not one per coverage)
        codes = {a.code: a.code for a in read.activities}
        assert all(c.activity is codes[c.activity] for c in read.coverages)


def test_broken_file_gets_the_same_messages_when_its_rows_are_released():
    """Every error is still reported, located, when the rows are converted and released one by
    one: a bad number, an unknown reference, a duplicate, a loop, a computed value that no longer
    follows, an invalid row seen again by the checks across records."""
    from optimizer import ProblemError, problem_from_dict, problem_to_dict

    data = problem_to_dict(_located(generate_problem(8, 10, 2, seed=5, equity=True)))
    first = data["activities"][0]["code"]
    data["activities"][3].update(unit_cost="x", service="NOPE")
    data["activities"][4].update(min_volume=5.0, capacity=2.0)
    data["activities"][5]["code"] = first
    data["coverages"].append(dict(data["coverages"][0]))
    data["coverages"][5]["counted_share"] = 0.123
    data["territories"] += [{"code": "Y1", "parent": "Y2"}, {"code": "Y2", "parent": "Y1"}]
    data["deliveries"].append({"activity": "QQ", "territory": "ZZ", "share": 0.5})
    data["needs"].insert(0, 5)
    messages = []
    for consume in (False, True):
        with pytest.raises(ProblemError) as refused:
            problem_from_dict(json.loads(json.dumps(data)), consume=consume)
        messages.append(refused.value.messages)
    assert messages[0] == messages[1]
    expected = [
        "besoins[0] : objet attendu",
        "activités[3].unit_cost : doit être un nombre",
        f"activités[5].code : code « {first} » en double (déjà utilisé en activités[0])",
        "activités[3].service : service « NOPE » inconnu",
        "activités[4].min_volume : le volume obligatoire (5) dépasse la capacité (2)",
        "territoires[3].parent : boucle dans l'arborescence des territoires",
        "livraisons[",
    ]
    for text in expected:
        assert any(m.startswith(text) for m in messages[1]), (text, messages[1])
    assert any("couvertures[" in m and "en double (déjà en couvertures[0])" in m for m in messages[1])


def test_numbers_out_of_bounds_are_located_deep_in_the_file():
    """The bound check writes a value's path only for a value it refuses, and still locates it."""
    from optimizer import problem_to_dict

    data = problem_to_dict(generate_problem(4, 5, 1, seed=2))
    data["activities"][2]["unit_cost"] = 1e13
    data["coverages"][1]["coefficient"] = 10**400
    data["diminishing_returns"] = [[0.5, float("inf")], [1.0, 1.0]]
    with pytest.raises(ProblemFileError) as refused:
        read_problem_json(json.dumps(data).encode(), name="p.json")
    assert [m.split(" : ")[1] for m in refused.value.messages] == [  # in the file's order
        "diminishing_returns[0][1]",
        "activities[2].unit_cost",
        "coverages[1].coefficient",
    ]

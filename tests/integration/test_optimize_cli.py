"""``pilotis optimize FILE``: anyone can re-solve a scenario's problem file (JSON or Excel) without a
database, read the solution explained in French or as JSON, and a wrong or impossible file is
refused with located messages or a diagnosis."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from optimizer import Problem
from pilotis.cli import main
from services.problem_files import write_problem_json, write_problem_xlsx
from services.scenarios import current_problem


def plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


@pytest.fixture
def optimize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``optimize(*args)``: run ``pilotis optimize`` as a person would, with no database around."""
    absent = tmp_path / "absent.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{absent}")
    monkeypatch.setenv("PILOTIS_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("PILOTIS_SECRET_KEY", "tests-only-" + "x" * 32)

    def run(*args: str):
        result = CliRunner().invoke(main, ["optimize", *args], catch_exceptions=False)
        assert not absent.exists()  # the command never opens a database
        return result

    return run


@pytest.fixture
def cut(db_session, demo) -> Problem:
    """The demo's situation today with its envelope cut by 5 %."""
    today = current_problem(db_session, demo.organisation_id)
    return dataclasses.replace(
        today, envelope=round(today.envelope * 0.95, 2), name="Coupe de 5 %", year=2027
    )


def test_a_json_problem_is_solved_and_explained(optimize, cut, tmp_path):
    path = tmp_path / "probleme.json"
    write_problem_json(cut, path)
    result = optimize(str(path))
    assert result.exit_code == 0, result.output
    output = plain(result.stdout)
    assert output.startswith("Coupe de 5 % (2027) — arbitrage budgétaire")
    assert "Statut : solution optimale" in output
    assert "1 € de plus couvrirait" in output
    assert "Pôle solidarité et insertion" in output and "A_CRECHE" in output
    assert result.stderr == ""


def test_the_json_output_has_the_volumes(optimize, cut, tmp_path):
    path = tmp_path / "probleme.json"
    write_problem_json(cut, path)
    result = optimize("--json", "--time-limit", "10", str(path))
    assert result.exit_code == 0, result.output
    solution = json.loads(result.stdout)
    assert solution["status"] == "optimal" and solution["solver"] == "highs"
    assert solution["total_cost"] <= cut.envelope + 0.01
    volumes = {a["code"]: a["volume"] for a in solution["activities"]}
    assert set(volumes) == {a.code for a in cut.activities}
    for activity in cut.activities:
        assert activity.min_volume - 1e-6 <= volumes[activity.code]
        assert activity.capacity is None or volumes[activity.code] <= activity.capacity + 1e-6
    assert volumes["P_DEP_APA"] == pytest.approx(900)  # a partner's volume is given
    assert any("1 € de plus couvrirait" in plain(s) for s in solution["explanation"])
    # printed in pieces, the text is json.dumps's with indent=2 (accents kept), newline-terminated
    assert result.stdout == json.dumps(solution, ensure_ascii=False, indent=2) + "\n"


def test_the_json_printed_in_pieces_is_the_whole_document(capsys):
    """The solution of a large problem is printed in batches of encoder pieces: a document of
    many batches comes out exactly as json.dumps writes it."""
    from pilotis.cli_optimize import _echo_json

    document = {
        "explanation": ["Aujourd'hui, 1 250 000 € couvrent 12,5 % des besoins"],
        "activities": [
            {
                "code": f"A{i}",
                "volume": i / 7,
                "reason": None if i % 3 else "à sa capacité",
                "runs": i % 2 == 0,
            }
            for i in range(3_000)
        ],
        "empty": {},
        "nothing": [],
    }
    _echo_json(document)
    assert capsys.readouterr().out == json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def test_an_excel_problem_gives_the_same_solution(optimize, cut, tmp_path):
    write_problem_json(cut, tmp_path / "probleme.json")
    write_problem_xlsx(cut, tmp_path / "probleme.xlsx")
    from_json = json.loads(optimize("--json", str(tmp_path / "probleme.json")).stdout)
    result = optimize("--json", str(tmp_path / "probleme.xlsx"))
    assert result.exit_code == 0, result.output
    from_excel = json.loads(result.stdout)
    assert from_excel["status"] == "optimal"
    assert from_excel["objective"] == pytest.approx(from_json["objective"], rel=1e-6)
    assert from_excel["total_cost"] == pytest.approx(from_json["total_cost"], abs=1.0)


def test_cbc_solves_the_same_problem(optimize, cut, tmp_path):
    path = tmp_path / "probleme.json"
    write_problem_json(cut, path)
    highs = json.loads(optimize("--json", str(path)).stdout)
    result = optimize("--json", "--solver", "cbc", str(path))
    assert result.exit_code == 0, result.output
    cbc = json.loads(result.stdout)
    assert cbc["solver"] == "cbc" and cbc["status"] == "optimal"
    assert cbc["objective"] == pytest.approx(highs["objective"], rel=1e-4)


def test_an_invalid_json_file_is_refused_with_located_messages(optimize, cut, tmp_path):
    path = tmp_path / "abime.json"
    write_problem_json(cut, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["activities"][2]["unit_cost"] = -3
    data["needs"][0]["size"] = "beaucoup"
    del data["envelope"]
    path.write_text(json.dumps(data), encoding="utf-8")
    result = optimize(str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    errors = result.stderr
    assert "abime.json : activités[2].unit_cost : doit être un nombre positif" in errors
    assert "abime.json : besoins[0].size : doit être un nombre" in errors
    assert "abime.json : envelope : doit être un nombre positif" in errors
    assert f"Erreur : 3 erreur(s) dans {path} : rien n'a été résolu." in errors


def test_a_broken_json_file_says_where(optimize, tmp_path):
    path = tmp_path / "coupe.json"
    path.write_text('{"envelope": 100,\n "activities": [}', encoding="utf-8")
    result = optimize(str(path))
    assert result.exit_code == 1
    assert "coupe.json, ligne 2, colonne" in result.stderr and "JSON invalide" in result.stderr
    assert "Erreur :" in result.stderr


def test_an_invalid_excel_cell_is_located(optimize, cut, tmp_path):
    path = tmp_path / "probleme.xlsx"
    write_problem_xlsx(cut, path)
    book = load_workbook(path)
    sheet = book["activites"]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=3, column=header.index("cout_unitaire") + 1, value="douze")
    book.save(path)
    result = optimize(str(path))
    assert result.exit_code == 1
    assert "feuille « activites », ligne 3, colonne « cout_unitaire »" in result.stderr
    assert "Erreur : 1 erreur(s) dans" in result.stderr


def test_another_format_is_refused(optimize, tmp_path):
    path = tmp_path / "probleme.csv"
    path.write_text("code;cout\n", encoding="utf-8")
    result = optimize(str(path))
    assert result.exit_code == 1
    assert "probleme.csv : format non reconnu (attendu : .json ou .xlsx)" in result.stderr


def test_an_impossible_problem_exits_2_with_the_diagnosis(optimize, cut, tmp_path):
    path = tmp_path / "impossible.json"
    write_problem_json(dataclasses.replace(cut, envelope=round(cut.envelope * 0.4, 2)), path)
    result = optimize(str(path))
    assert result.exit_code == 2
    output = plain(result.stdout)
    assert "Statut : scénario infaisable" in output
    assert "Les baisses maximales autorisées ne permettent pas de descendre jusqu'à l'enveloppe" in output
    assert "Les baisses maximales des services ne permettent pas d'atteindre l'enveloppe" in output
    assert "« Pôle petite enfance » -" in output
    assert "infeasible" not in output.lower()
    assert "Services" not in output.splitlines()  # no budget table for a problem without a solution
    as_json = json.loads(optimize("--json", str(path)).stdout)
    assert as_json["status"] == "infeasible" and as_json["diagnosis"]
    assert all(a["volume"] is None for a in as_json["activities"])

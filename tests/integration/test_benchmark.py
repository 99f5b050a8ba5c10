"""Benchmarking on the database: the figures against the data, the anonymity and the k >= 3 rule,
the reference files (all or nothing) and the CLI."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models import CostKind, CostLine, Organisation, OrganisationKind
from services.benchmark import (
    SAMPLE_REFERENCE,
    BenchmarkError,
    benchmark_json,
    build_benchmark,
    import_reference,
    parse_reference,
    values_page,
)
from services.costing import latest_report

GOOD = (
    "# un commentaire\n"
    "organisation;strate;indicateur;valeur;annee\n"
    "R01;20-50k;depense_hab_total;70,5;2024\n"
    "R02;5-20k;depense_hab_total;90;2024\n"
    "R02;5-20k;delai_instruction_asl;25,0;2024\n"
)


def items(view):
    return {i.info.code: i for family in view.families.values() for i in family}


def actual_spending(session, organisation_id: int) -> tuple[int, dict[str, Decimal]]:
    """Independent of the service: the CA's real operating expenses of the newest year, by function."""
    where = [
        CostLine.organisation_id == organisation_id,
        CostLine.kind == CostKind.ACTUAL,
        CostLine.document_type == "CA",
        CostLine.section == "fonctionnement",
        CostLine.operation == "reelle",
        CostLine.flow == "depense",
    ]
    year = session.scalar(select(func.max(CostLine.year)).where(*where))
    rows = session.execute(
        select(CostLine.function_code, func.sum(CostLine.amount))
        .where(*where, CostLine.year == year)
        .group_by(CostLine.function_code)
    ).all()
    out: dict[str, Decimal] = {}
    for code, total in rows:
        out[code[:3]] = out.get(code[:3], Decimal(0)) + Decimal(total)
    return year, out


def test_spending_per_inhabitant_is_the_accounts_over_the_population(db_session, demo, other_demo):
    for summary in (demo, other_demo):
        organisation = db_session.get(Organisation, summary.organisation_id)
        view = build_benchmark(db_session, organisation.id)
        found = items(view)
        year, by_function = actual_spending(db_session, organisation.id)
        assert year == 2025
        assert set(by_function) == {"420", "422", "423", "424", "425"}
        for function, total in by_function.items():
            item = found[f"depense_hab_{function}"]
            assert item.own_year == year
            assert item.comparison.own_value == pytest.approx(
                float(total / organisation.population), abs=1e-9
            )
        grand = sum(by_function.values(), Decimal(0))
        assert found["depense_hab_total"].comparison.own_value == pytest.approx(
            float(grand / organisation.population), abs=1e-9
        )
        # within DOMAIN.md's order of magnitude for a CCAS (tens of euros per inhabitant)
        assert 20 < found["depense_hab_total"].comparison.own_value < 200


def test_cost_per_unit_comes_from_the_costing(db_session, demo):
    report = latest_report(db_session, demo.organisation_id)
    meals = report.activities[report.activities["code"] == "A_PORTAGE"].iloc[0]
    found = items(build_benchmark(db_session, demo.organisation_id))
    assert found["cout_unite_repas"].comparison.own_value == pytest.approx(
        meals["full_cost"] / meals["volume"]
    )
    assert found["cout_benef_repas"].comparison.own_value == pytest.approx(
        meals["full_cost"] / meals["beneficiaries"]
    )
    assert found["cout_unite_repas"].own_year == report.year
    assert "delai_instruction_asl" in found and "couverture_personnes_agees" in found


def page_labels(session, organisation_id, code, instance_path=None):
    page = values_page(session, organisation_id, code, per_page=10_000, instance_path=instance_path)
    assert page is not None
    return {r.contributor: r.label for r in page.rows}


def test_the_demo_is_compared_with_rodez_and_the_illustrative_reference(db_session, demo, other_demo):
    view = build_benchmark(db_session, demo.organisation_id)
    assert view.reference_sources == [SAMPLE_REFERENCE.name]
    total = items(view)["depense_hab_total"].comparison
    assert total.comparable and total.n >= 3 + 1  # Carcassonne, Rodez and the 12 fictitious CCAS
    labels = page_labels(db_session, demo.organisation_id, "depense_hab_total")
    assert len(labels) == total.n
    assert "CCAS de Carcassonne (démonstration) (vous)" in labels.values()
    # Rodez has not agreed to be named: it is a letter, and its name appears nowhere
    assert not any("Rodez" in label for label in labels.values())
    assert "Rodez" not in json.dumps(benchmark_json(view), ensure_ascii=False)
    assert labels[("base", other_demo.organisation_id)].startswith("Organisation ")
    # the same letter from one computation to the next
    assert page_labels(db_session, demo.organisation_id, "depense_hab_total") == labels
    assert total.stratum == "20-50k" and total.stratum_comparable


def test_an_organisation_that_agreed_is_named(db_session, demo, other_demo):
    db_session.get(Organisation, other_demo.organisation_id).benchmark_named = True
    db_session.flush()
    labels = page_labels(db_session, demo.organisation_id, "depense_hab_total")
    assert labels[("base", other_demo.organisation_id)] == "CCAS de Rodez (démonstration)"


def test_a_real_organisation_never_sees_the_illustrative_reference(db_session, demo, other_demo, tmp_path):
    real = Organisation(
        slug="ccas-test-bench", name="CCAS de Test", kind=OrganisationKind.CCAS, population=30_000
    )
    db_session.add(real)
    db_session.flush()
    view = build_benchmark(db_session, real.id, instance_path=tmp_path)
    assert view.reference_sources == []
    assert not view.families.get("depense")  # no accounts: no spending of its own
    for family in view.families.values():
        for item in family:
            assert item.comparison.comparable and item.comparison.n >= 3
            page = values_page(db_session, real.id, item.info.code, instance_path=tmp_path)
            assert all(row.contributor[0] == "base" for row in page.rows)


def test_fewer_than_three_contributors_show_nothing_of_the_others(db_session, demo, other_demo, tmp_path):
    """Only the two demo organisations hold values of a delay here: no comparison, and the other's
    value stays hidden; once an imported reference brings a third value, the comparison appears."""
    view = build_benchmark(db_session, demo.organisation_id, instance_path=tmp_path)
    assert view.reference_sources == [SAMPLE_REFERENCE.name]
    hidden = items(view)["delai_premier_rdv_rsa"]  # not in the sample: Carcassonne and Rodez only
    assert not hidden.comparison.comparable
    assert hidden.note == "comparaison impossible : moins de 3 organisations"
    assert list(hidden.comparison.rows["contributor"]) == [("base", demo.organisation_id)]
    entry = next(
        i
        for f in benchmark_json(view)["families"]
        for i in f["indicators"]
        if i["code"] == "delai_premier_rdv_rsa"
    )
    assert entry["histogram"] is None and entry["quartiles"] is None and entry["contributors"] is None
    assert (
        values_page(db_session, demo.organisation_id, "delai_premier_rdv_rsa", instance_path=tmp_path) is None
    )
    import_reference(
        tmp_path,
        b"organisation;strate;indicateur;valeur;annee\nX1;20-50k;delai_premier_rdv_rsa;12;2025\n",
        "autre.csv",
    )
    shown = items(build_benchmark(db_session, demo.organisation_id, instance_path=tmp_path))
    assert shown["delai_premier_rdv_rsa"].comparison.comparable
    assert shown["delai_premier_rdv_rsa"].comparison.n >= 3


def test_a_good_reference_file_is_read_and_stored(tmp_path):
    contributions = parse_reference(GOOD.encode(), "ref.csv")
    assert {c.key[2]: c.values for c in contributions} == {
        "R01": {"depense_hab_total": (70.5, 2024)},
        "R02": {"depense_hab_total": (90.0, 2024), "delai_instruction_asl": (25.0, 2024)},
    }
    result = import_reference(tmp_path, GOOD.encode(), "Mon référentiel.csv")
    assert result.path == tmp_path / "benchmark" / "Mon_r_f_rentiel.csv"
    assert (result.organisations, result.values, result.replaced, result.unchanged) == (2, 3, False, False)
    assert import_reference(tmp_path, GOOD.encode(), "Mon référentiel.csv").unchanged
    assert parse_reference(SAMPLE_REFERENCE.read_bytes(), SAMPLE_REFERENCE.name)  # the sample is valid


def test_a_bad_reference_file_is_refused_whole_with_located_errors(tmp_path):
    bad = (
        "organisation;strate;indicateur;valeur;annee\n"
        "R01;20-50k;depense_hab_total;70,5;2024\n"
        "Rodez;20-50k;depense_hab_total;70;2024\n"
        "R03;30-60k;depense_hab_total;70;2024\n"
        "R04;20-50k;depense_par_chat;1;2024\n"
        "R05;20-50k;depense_hab_total;beaucoup;2024\n"
        "R06;20-50k;couverture_jeunes;120;2024\n"
        "R07;20-50k;depense_hab_total;-3;24\n"
        "R01;5-20k;delai_domiciliation;4;2024\n"
        "R01;20-50k;depense_hab_total;71;2024\n"
        "R08;20-50k;depense_hab_total\n"
    )
    with pytest.raises(BenchmarkError) as caught:
        import_reference(tmp_path, bad.encode(), "bad.csv")
    problems = caught.value.messages
    assert problems == [
        "ligne 3, colonne « organisation » : « Rodez » n'est pas un code anonyme (1 à 12 lettres, chiffres ou tirets, dont au moins un chiffre ; jamais un nom)",
        "ligne 4, colonne « strate » : « 30-60k » inconnue (attendu : 0-5k, 5-20k, 20-50k, 50-100k, 100k+)",
        "ligne 5, colonne « indicateur » : « depense_par_chat » n'est pas un indicateur standard",
        "ligne 6, colonne « valeur » : « beaucoup » n'est pas un nombre",
        "ligne 7, colonne « valeur » : un taux de couverture ne dépasse pas 100 %",
        "ligne 8, colonne « valeur » : -3 est négatif",
        "ligne 8, colonne « annee » : « 24 » n'est pas une année (1990 à 2200)",
        "ligne 9, colonne « strate » : l'organisation R01 est déjà dans la strate 20-50k",
        "ligne 10 : l'organisation R01 a déjà une valeur de « depense_hab_total » (ligne 2)",
        "ligne 11 : 3 colonnes au lieu de 5",
    ]
    assert not (tmp_path / "benchmark").exists() or not any((tmp_path / "benchmark").iterdir())
    with pytest.raises(BenchmarkError, match="en-tête attendu"):
        parse_reference(b"strate;valeur\n20-50k;3\n")
    with pytest.raises(BenchmarkError, match="UTF-8"):
        parse_reference("organisation;strate\né".encode("latin-1"))


# -- CLI ------------------------------------------------------------------------------------------------------


def test_cli_show_json_and_xlsx(runner, demo, other_demo, tmp_path):
    result = runner.invoke(args=["benchmark", "show", "--organisation", demo.slug])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["organisation"] == demo.name
    assert data["stratum"] == "20-50k"
    assert "moins de 3 organisations" in data["rule"]
    total = data["families"][0]["indicators"][0]
    assert total["code"] == "depense_hab_total" and total["comparable"]
    assert 1 <= total["rank"] <= total["contributors"]
    path = tmp_path / "comparaison.xlsx"
    result = runner.invoke(
        args=["benchmark", "show", "--organisation", demo.slug, "--format", "xlsx", "-o", str(path)]
    )
    assert result.exit_code == 0, result.output
    book = load_workbook(path)
    assert book.sheetnames == ["Synthèse", "Détail", "Règles"]
    summary = book["Synthèse"]
    headers = [c.value for c in summary[5]]
    row = next(r for r in summary.iter_rows(min_row=6, values_only=True) if r[1] == "depense_hab_total")
    assert row[headers.index("Votre valeur")] == total["value"]
    assert row[headers.index("Rang (croissant)")] == total["rank"]


def test_cli_show_needs_an_organisation_when_there_are_several(runner, demo, other_demo):
    result = runner.invoke(args=["benchmark", "show"])
    assert result.exit_code == 1
    assert "précisez --organisation" in result.output


def test_cli_import(runner, app, tmp_path):
    good = tmp_path / "ref.csv"
    good.write_text(GOOD, encoding="utf-8")
    result = runner.invoke(args=["benchmark", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "2 organisation(s) anonyme(s), 3 valeur(s)" in result.output
    stored = Path(app.instance_path) / "benchmark" / "ref.csv"
    assert stored.read_text(encoding="utf-8") == GOOD
    bad = tmp_path / "bad.csv"
    shutil.copy(good, bad)
    bad.write_text(GOOD + "R09;énorme;depense_hab_total;1;2024\n", encoding="utf-8")
    result = runner.invoke(args=["benchmark", "import", str(bad)])
    assert result.exit_code == 1
    assert "ligne 6, colonne « strate » : « énorme » inconnue" in result.output
    assert "1 erreur(s) dans bad.csv : rien n'a été importé" in result.output
    assert not (Path(app.instance_path) / "benchmark" / "bad.csv").exists()


def test_cli_mapping_import_through_it_and_a_page_of_values(runner, app, demo, other_demo, tmp_path):
    source = tmp_path / "comptes.csv"
    source.write_text(
        "SIREN;Pop;Annee;Delai RSA\n261199001;12000;2025;12\n261199002;3000;2025;30\n", encoding="utf-8"
    )
    result = runner.invoke(
        args=[
            "benchmark",
            "mapping",
            "Comptes CLI",
            "--organisation",
            "SIREN",
            "--population",
            "Pop",
            "--annee",
            "Annee",
            "--indicateur",
            "delai_premier_rdv_rsa=Delai RSA",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Correspondance « Comptes CLI » enregistrée (1 indicateur(s))" in result.output
    stored = Path(app.instance_path) / "benchmark" / "comptes.csv"
    try:
        result = runner.invoke(args=["benchmark", "import", str(source), "--correspondance", "Comptes CLI"])
        assert result.exit_code == 0, result.output
        assert "2 organisation(s) anonyme(s), 2 valeur(s)" in result.output
        result = runner.invoke(
            args=[
                "benchmark",
                "show",
                "--organisation",
                demo.slug,
                "--indicateur",
                "delai_premier_rdv_rsa",
                "--page",
                "1",
            ]
        )
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["organisations_total"] >= 4  # Carcassonne, Rodez and the two of the file
        assert [o["value"] for o in data["organisations"]] == sorted(
            o["value"] for o in data["organisations"]
        )
        assert not any("Rodez" in o["label"] for o in data["organisations"])
        result = runner.invoke(args=["benchmark", "import", str(source), "--correspondance", "Inconnue"])
        assert result.exit_code == 1 and "correspondance « Inconnue » inconnue" in result.output
    finally:
        stored.unlink(missing_ok=True)
        for path in (Path(app.instance_path) / "benchmark" / "mappings").glob("Comptes_CLI.json"):
            path.unlink()

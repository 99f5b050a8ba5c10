"""The comparison page: every signed-in role reads it and exports it; only the administrator
changes the consent to be named; the other organisations stay anonymous unless they agreed."""

from __future__ import annotations

import html
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from models import Organisation, Role, User
from pilotis.database import write_session
from tests.conftest import csrf_token

SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True)).translate(SPACES)


def summary_row(page: str, code: str) -> str:
    match = re.search(rf'<tr data-indicator="{code}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {code}"
    return match.group(1)


@pytest.fixture
def named_reset(engine, demo, other_demo):
    """Whatever a test commits, both demo organisations are anonymous again afterwards."""
    yield
    with write_session(engine) as session:
        session.execute(
            update(Organisation)
            .where(Organisation.id.in_([demo.organisation_id, other_demo.organisation_id]))
            .values(benchmark_named=False)
        )


@pytest.mark.parametrize("login", ["direction", "partenaire", "elu", "responsable.seniors"])
def test_every_role_sees_the_comparison(login_as, other_demo, login):
    response = login_as(login).get("/comparaison")
    assert response.status_code == 200
    page = text(response)
    assert "Comparaison entre organisations" in page
    assert "moins de 3 organisations (la vôtre comprise)" in page  # the k >= 3 rule is stated
    assert "illustratif" in page
    row = summary_row(page, "depense_hab_total")
    assert re.search(r'class="num rank">\d+ / \d+<', row)
    assert '<svg class="chart benchmark"' in page
    assert '<table class="histogram" data-histogram="depense_hab_total">' in page
    assert '<th scope="row">Organisation ' not in page  # a summary: no row per organisation
    values = text(login_as(login).get("/comparaison/indicateurs/depense_hab_total"))
    assert "Rodez" not in values  # anonymous: Rodez has not agreed to be named
    assert "Organisation A" in values and "(vous)" in values


def test_figures_on_the_page_are_the_services(login_as, db_session, demo, other_demo, app):
    from pathlib import Path

    from services.benchmark import build_benchmark

    page = text(login_as("direction").get("/comparaison"))  # first: the view stores what it computes
    view = build_benchmark(db_session, demo.organisation_id, instance_path=Path(app.instance_path))
    item = next(i for i in view.families["depense"] if i.info.code == "depense_hab_total")
    row = summary_row(page, "depense_hab_total")
    shown = f"{item.comparison.own_value:,.2f}".replace(",", " ").replace(".", ",")
    assert f'<td class="num own-value">{shown}</td>' in row
    assert f">{item.comparison.rank} / {item.comparison.n}<" in row


def test_not_comparable_indicators_say_so(login_as, other_demo):
    page = text(login_as("direction").get("/comparaison"))
    row = summary_row(page, "delai_premier_rdv_rsa")  # Carcassonne and Rodez only
    assert "comparaison impossible : moins de 3 organisations" in row
    assert 'id="indicateur-delai_premier_rdv_rsa"' not in page  # no chart, no table of others
    assert login_as("direction").get("/comparaison/indicateurs/delai_premier_rdv_rsa").status_code == 404
    assert login_as("direction").get("/comparaison/indicateurs/inconnu").status_code == 404


def test_export_workbook(login_as, other_demo):
    response = login_as("partenaire").get("/comparaison/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["Synthèse", "Détail", "Règles"]
    codes = [r[1] for r in book["Synthèse"].iter_rows(min_row=6, values_only=True)]
    assert "depense_hab_total" in codes and "cout_unite_repas" in codes
    detail = [r[3] for r in book["Détail"].iter_rows(min_row=2, values_only=True)]
    assert not any("Rodez" in str(label) for label in detail)


def test_admin_consents_and_the_others_then_see_the_name(app, login_as, named_reset, engine, other_demo):
    admin = login_as("admin")
    page = admin.get("/comparaison").get_data(as_text=True)
    assert 'action="/comparaison/consentement"' in page
    response = admin.post("/comparaison/consentement", data={"csrf_token": csrf_token(page), "named": "y"})
    assert response.status_code == 303
    page = text(admin.get("/comparaison"))
    assert "Votre organisation sera nommée" in page
    assert '<strong id="etat-consentement">sous son nom</strong>' in page
    # Rodez's direction now sees Carcassonne by name
    rodez = app.test_client()
    token = csrf_token(rodez.get("/connexion").get_data(as_text=True))
    with write_session(engine) as session:
        email = session.scalar(
            select(User.email).where(
                User.organisation_id == other_demo.organisation_id, User.role == Role.DIRECTION
            )
        )
    response = rodez.post(
        "/connexion", data={"csrf_token": token, "email": email, "password": "demo-pilotis-2026"}
    )
    assert response.status_code == 302
    assert "CCAS de Carcassonne (démonstration)" in text(
        rodez.get("/comparaison/indicateurs/depense_hab_total")
    )
    # and withdraws it: anonymous again
    page = admin.get("/comparaison").get_data(as_text=True)
    response = admin.post("/comparaison/consentement", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    assert "CCAS de Carcassonne (démonstration)" not in text(
        rodez.get("/comparaison/indicateurs/depense_hab_total")
    )


def test_only_the_admin_changes_the_consent(login_as, named_reset, engine, demo):
    client = login_as("direction")
    page = client.get("/comparaison").get_data(as_text=True)
    assert 'action="/comparaison/consentement"' not in page
    assert "Seul l'administrateur" in html.unescape(page)
    response = client.post("/comparaison/consentement", data={"csrf_token": csrf_token(page), "named": "y"})
    assert response.status_code == 403
    with write_session(engine) as session:
        assert session.get(Organisation, demo.organisation_id).benchmark_named is False


def test_the_histogram_counts_every_contributor_and_its_table_says_so(
    login_as, db_session, demo, other_demo, app
):
    from pathlib import Path

    from services.benchmark import build_benchmark

    page = text(login_as("elu").get("/comparaison"))  # first: the view stores what it computes
    view = build_benchmark(db_session, demo.organisation_id, instance_path=Path(app.instance_path))
    item = next(i for i in view.families["depense"] if i.info.code == "depense_hab_total")
    assert sum(item.histogram.counts) == item.comparison.n == sum(item.strata.values())
    table = re.search(
        r'<table class="histogram" data-histogram="depense_hab_total">(.*?)</table>', page, re.S
    )
    rows = re.findall(
        r"<tr[^>]*><th scope=\"row\">de .*?</th>\s*<td class=\"num\">(\d+)</td>", table.group(1), re.S
    )
    assert [int(n) for n in rows] == item.histogram.counts
    assert "(votre valeur)" in table.group(1)


def test_the_values_are_paginated(login_as, other_demo):
    client = login_as("direction")
    first = text(client.get("/comparaison/indicateurs/depense_hab_total"))
    assert "page 1 sur 1" in first and 'rel="next"' not in first
    assert "page 1 sur 1" in text(client.get("/comparaison/indicateurs/depense_hab_total?page=9"))


def test_signed_out_visitors_are_sent_to_sign_in(client):
    assert client.get("/comparaison").status_code == 302
    assert client.get("/comparaison/indicateurs/depense_hab_total").status_code == 302
    assert client.get("/comparaison/referentiels").status_code == 302
    assert client.get("/comparaison/export.xlsx").status_code == 302


NATIONAL = (
    "SIREN;Population;Exercice;DRF par habitant\n"
    "261100011;12 000;2024;55,5\n261100012;3 500;2024;41\n261100013;64000;2024;70,25\n"
)


def test_the_administrator_imports_a_national_file_through_a_column_mapping(make_app, database_url, demo):
    from pathlib import Path

    from tests.conftest import sign_in

    app = make_app(database_url)  # an instance folder of its own: the imported file touches no other test
    admin = sign_in(app.test_client(), "admin")
    page = admin.get("/comparaison/referentiels").get_data(as_text=True)
    assert "Aucune." in html.unescape(page)
    form = {
        "csrf_token": csrf_token(page),
        "mapping": "__nouvelle__",
        "name": "Comptes CCAS",
        "organisation": "SIREN",
        "population": "Population",
        "year": "Exercice",
        "indicators": "depense_hab_total = DRF par habitant",
    }
    response = admin.post(
        "/comparaison/referentiels",
        data={**form, "file": (io.BytesIO(NATIONAL.encode()), "comptes.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, text(response)[:2000]
    listing = text(admin.get("/comparaison/referentiels"))
    assert "3 organisation(s) anonyme(s), 3 valeur(s)" in listing and "<code>comptes.csv</code>" in listing
    assert "Correspondance enregistrée : Comptes CCAS" in listing
    stored = Path(app.instance_path) / "benchmark" / "comptes.csv"
    assert "261100013;50-100k;depense_hab_total;70,25;2024" in stored.read_text(encoding="utf-8")
    # the saved mapping again, on a file whose column is missing: refused whole, nothing changed
    wrong = NATIONAL.replace("DRF par habitant", "DRF")
    response = admin.post(
        "/comparaison/referentiels",
        data={
            "csrf_token": form["csrf_token"],
            "mapping": "Comptes CCAS",
            "file": (io.BytesIO(wrong.encode()), "comptes.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    refused = text(response)
    assert "colonne « DRF par habitant » (indicateur depense_hab_total) absente du fichier" in refused
    assert "Rien n'a été importé." in refused
    assert "261100013" in stored.read_text(encoding="utf-8")
    # the comparison of every organisation of this server counts them
    assert (
        "15 organisation(s) anonyme(s) des référentiels (comptes.csv, reference_ccas_occitanie.csv)"
        in text(admin.get("/comparaison"))
    )  # 3 + the 12 of the illustrative sample of the demo

"""The cost pages: everyone signed in reads the costs, the execution, the model and the imported
documents; only the finance team edits the model and imports budgets, and a refused edit or file
changes nothing."""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select

from models import BudgetDocument, CostCentre, CostDriverQuantity, CostKey, CostLine, Organisation
from pilotis.database import write_session
from services.costing import compute, publish_cost_indicators, save_drivers, years_with_costs
from tests.conftest import csrf_token

DATA = Path(__file__).resolve().parents[1] / "data" / "budget"
DEMO_CA = Path(__file__).resolve().parents[2] / "services" / "data" / "demo" / "ca_2025_ccas_carcassonne.csv"
SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


def text(response) -> str:
    """The page as a person reads it: entities decoded, French number spaces as plain spaces."""
    return html.unescape(response.get_data(as_text=True)).translate(SPACES)


def french(value: float, decimals: int = 2) -> str:
    return f"{value:,.{decimals}f}".replace(",", " ").replace(".", ",")


def flashes(response) -> list[str]:
    """The messages shown at the top of a page."""
    return [
        re.sub(r"<[^>]+>", "", m)
        for m in re.findall(r'<p class="flash flash-\w+">(.*?)</p>', text(response), re.S)
    ]


def unit_cost_shown(page: str, code: str) -> str:
    row = re.search(rf'<tr data-activity="{code}">.*?<td class="num unit-cost">([^<]*)</td>', page, re.S)
    assert row, f"no row for {code}"
    return row.group(1)


def centre_form(page: str, code: str) -> dict[str, str]:
    """The fields of a centre's form on the model page, as the browser would send them (with the
    version of the keys read)."""
    section = re.search(rf'<section class="centre" id="centre-{code}">(.*?)</section>', page, re.S)
    assert section, f"no section for {code}"
    fields = dict(
        re.findall(r'<input[^>]* name="((?:qte|cle)-[^"]+|version)"[^>]* value="([^"]*)"', section.group(1))
    )
    return {name: html.unescape(value) for name, value in fields.items()}


def model_state(engine, organisation_id: int):
    with write_session(engine) as session:
        ids = select(CostCentre.id).where(CostCentre.organisation_id == organisation_id)
        keys = sorted(session.execute(select(CostKey.provider_id, CostKey.receiver_id, CostKey.share)
                                      .where(CostKey.provider_id.in_(ids))).all())  # fmt: skip
        drivers = sorted(
            session.execute(
                select(
                    CostDriverQuantity.centre_id, CostDriverQuantity.activity_id, CostDriverQuantity.quantity
                ).where(CostDriverQuantity.centre_id.in_(ids))
            ).all()
        )
        centres = sorted(
            session.execute(select(CostCentre.code, CostCentre.driver).where(CostCentre.id.in_(ids))).all()
        )
        method = session.get(Organisation, organisation_id).costing_method
    return keys, drivers, centres, method


def cost_values(engine, demo) -> int:
    """How many indicator values a model edit recomputes: two indicators fed by the costing, every year."""
    with write_session(engine) as session:
        return 2 * len(years_with_costs(session, demo.organisation_id))


def documents(engine) -> tuple[int, int]:
    with write_session(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(CostLine)),
            session.scalar(select(func.count()).select_from(BudgetDocument)),
        )


def dm_file() -> bytes:
    """A decision modificative 2026 of the CCAS de Carcassonne in the SCDL format of the demo CA."""
    header = DEMO_CA.read_text(encoding="utf-8").splitlines()[0].split(",")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for nature, function, amount in [("6042", "423", "15 000,00"), ("6411", "424", "4 500,00")]:
        writer.writerow({
            "BGT_NATDEC": "décision modificative", "BGT_ANNEE": "2026", "BGT_SIRET": "26110026500018",
            "BGT_NOM": "CCAS DE CARCASSONNE", "BGT_NATURE": nature, "BGT_FONCTION": function,
            "BGT_SECTION": "fonctionnement", "BGT_OPBUDG": "réel", "BGT_CODRD": "dépense", "BGT_MTPROPNOUV": amount,
        })  # fmt: skip
    return out.getvalue().encode("utf-8")


@pytest.fixture
def seniors_drivers(engine, demo):
    """The seniors' centre driver quantities, restored (and the indicators recomputed) after the test."""
    org = demo.organisation_id
    with write_session(engine) as session:
        centre = session.scalar(
            select(CostCentre).where(CostCentre.organisation_id == org, CostCentre.code == "SENIORS")
        )
        saved = (centre.driver, dict(session.execute(
            select(CostDriverQuantity.activity_id, CostDriverQuantity.quantity)
            .where(CostDriverQuantity.centre_id == centre.id)).all()))  # fmt: skip
    yield saved
    with write_session(engine) as session:
        save_drivers(session, org, "SENIORS", saved[0], saved[1])
        publish_cost_indicators(session, org)


# --- reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["finances", "elu", "direction"])
def test_the_costs_page_shows_full_costs_and_their_flows(login_as, engine, demo, login):
    response = login_as(login).get("/couts")
    assert response.status_code == 200
    page = text(response)
    assert "<h1>Coûts des activités — 2025</h1>" in page and "Compte administratif" in page
    assert "Coût complet" in page and "Coût par activité et par bénéficiaire" in page
    assert '<svg class="chart sankey"' in response.get_data(as_text=True)
    assert "Des ressources aux activités" in page and "Fonctions support" in page
    with write_session(engine) as session:
        report = compute(session, demo.organisation_id, 2025)
    meals = report.activities[report.activities["code"] == "A_PORTAGE"].iloc[0]
    assert unit_cost_shown(page, "A_PORTAGE") == f"{french(meals['unit_cost'])} €"
    assert f"<strong>{french(report.costing.total_in, 0)} €</strong><br>charges de l'année" in page
    assert 'data-activity="P_CAF_FAMILLES"' not in page  # partners' activities cost the CCAS nothing
    assert "Exporter en Excel" in page


def test_the_costs_of_a_budget_year_and_an_unknown_year(login_as):
    client = login_as("elu")
    page = text(client.get("/couts?annee=2026"))
    assert "<h1>Coûts des activités — 2026</h1>" in page and "Budget voté (BP + BS + DM)" in page
    assert client.get("/couts?annee=1999").status_code == 404
    assert client.get("/couts/execution?annee=1999").status_code == 404


@pytest.mark.parametrize("login", ["finances", "elu"])
def test_the_execution_page_projects_the_year(login_as, login):
    client = login_as(login)
    closed = text(client.get("/couts/execution"))
    assert "<h1>Exécution budgétaire — 2025</h1>" in closed
    assert "Compte administratif : exécution définitive." in closed and "Projection fin d'année" not in closed
    assert "Par service" in closed and "Pôle seniors et maintien à domicile" in closed
    current = client.get("/couts/execution?annee=2026")
    assert current.status_code == 200
    page = text(current)
    assert "Réalisé sur 10 mois" in page and "réalisé × 12 / 10" in page
    assert "Projection fin d'année" in page and "Par fonction M57" in page and "Par activité" in page


def test_the_model_page_is_read_only_for_an_elected_official(login_as):
    elected = text(login_as("elu").get("/couts/modele"))
    assert (
        "<h1>Modèle de coûts</h1>" in elected and "Seule l'équipe des finances modifie ce modèle." in elected
    )
    assert "Pôle seniors et maintien à domicile" in elected and "Inducteur : Temps passé (heures)" in elected
    assert 'name="qte-' not in elected and "Enregistrer" not in elected
    finance = text(login_as("finances").get("/couts/modele"))
    assert "Enregistrer les clés" in finance and "Enregistrer les inducteurs" in finance
    assert 'name="cle-SENIORS"' in finance


def test_the_import_page_lists_documents_and_offers_the_form_to_finance_only(login_as):
    finance = text(login_as("finances").get("/couts/import"))
    assert "<h1>Budgets et comptes importés</h1>" in finance and "Importer un document" in finance
    assert 'type="file"' in finance
    elected = text(login_as("elu").get("/couts/import"))
    assert "Importer un document" not in elected and 'type="file"' not in elected
    assert "Documents importés" in elected


def test_the_costs_workbook(login_as):
    response = login_as("finances").get("/couts/export.xlsx?annee=2026")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="couts-2026.xlsx"' in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames[:3] == ["Coûts par activité", "Centres de coût", "Flux"]
    assert "Exécution par service" in book.sheetnames and book.sheetnames[-1] == "À propos"
    about = {row[0].value: row[1].value for row in book["À propos"].iter_rows()}
    assert about["Année"] == 2026 and about["Base"] == "Budget voté"
    assert login_as("elu").get("/couts/export.xlsx").status_code == 200


# --- editing the model (finance only) -----------------------------------------------------------


def test_only_the_finance_team_edits_the_model(login_as, engine, demo):
    before = model_state(engine, demo.organisation_id)
    for login in ("elu", "direction", "responsable.seniors", "partenaire"):
        client = login_as(login)
        token = csrf_token(client.get("/couts/modele").get_data(as_text=True))
        for data in ({"what": "method", "method": "direct"},
                     {"what": "keys", "centre": "ADMIN", "cle-SENIORS": "100"}):  # fmt: skip
            response = client.post("/couts/modele", data={"csrf_token": token, **data})
            assert response.status_code == 403, login
    assert model_state(engine, demo.organisation_id) == before


def test_keys_not_summing_to_100_are_refused_and_nothing_is_saved(login_as, engine, demo):
    before = model_state(engine, demo.organisation_id)
    client = login_as("finances")
    page = client.get("/couts/modele").get_data(as_text=True)
    shown = centre_form(page, "ADMIN")
    assert set(shown) == {"cle-SENIORS", "cle-SOLIDARITE", "cle-PETITE_ENFANCE", "cle-AUTONOMIE", "version"}
    response = client.post("/couts/modele", data={
        "csrf_token": csrf_token(page), "what": "keys", "centre": "ADMIN", "version": shown["version"],
        "cle-SENIORS": "40", "cle-SOLIDARITE": "25", "cle-PETITE_ENFANCE": "20", "cle-AUTONOMIE": "10",
    })  # fmt: skip
    assert response.status_code == 400
    assert (
        "Rien n'a été enregistré : les clés de « Direction et administration générale » font 95,00 % au lieu de 100 %."
        in text(response)
    )
    assert model_state(engine, demo.organisation_id) == before


def test_the_key_form_sent_back_as_shown_is_accepted(login_as, engine, demo):
    """A finance officer who saves the keys as the page shows them keeps the model as it was."""
    before = model_state(engine, demo.organisation_id)
    client = login_as("finances")
    page = client.get("/couts/modele").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "what": "keys", "centre": "ADMIN", **centre_form(page, "ADMIN")}
    try:
        response = client.post("/couts/modele", data=data)
        assert response.status_code == 303, flashes(response)
        saved = model_state(engine, demo.organisation_id)[0]
        assert [(p, r) for p, r, _ in saved] == [(p, r) for p, r, _ in before[0]]
        assert [float(s) for _, _, s in saved] == pytest.approx([float(s) for _, _, s in before[0]], abs=1e-4)
        assert float(sum(s for _, _, s in saved)) == pytest.approx(1.0, abs=1e-6)
    finally:
        with write_session(engine) as session:  # put the exact keys back
            session.execute(delete(CostKey).where(CostKey.provider_id.in_({k[0] for k in before[0]})))
            session.add_all(CostKey(provider_id=p, receiver_id=r, share=s) for p, r, s in before[0])
            publish_cost_indicators(session, demo.organisation_id)
    assert model_state(engine, demo.organisation_id) == before


def test_more_hours_on_meals_raise_the_cost_per_meal_shown(login_as, engine, demo, seniors_drivers):
    client = login_as("finances")
    costs_before = text(client.get("/couts"))
    page = client.get("/couts/modele").get_data(as_text=True)
    fields = centre_form(page, "SENIORS")
    _, hours = seniors_drivers
    with write_session(engine) as session:
        report = compute(session, demo.organisation_id, 2025)
        portage = int(report.activities.index[report.activities["code"] == "A_PORTAGE"][0])
    assert set(fields) == {f"qte-{a}" for a in hours}
    fields[f"qte-{portage}"] = str(hours[portage] * 2)
    response = client.post("/couts/modele", data={
        "csrf_token": csrf_token(page), "what": "drivers", "centre": "SENIORS", "driver": "time", **fields,
    })  # fmt: skip
    assert response.status_code == 303, flashes(response)
    assert response.headers["Location"].endswith("/couts/modele")
    assert (
        f"Inducteurs enregistrés. {cost_values(engine, demo)} valeur(s) d'indicateurs de coût recalculée(s)."
        in text(client.get("/couts/modele"))
    )
    costs_after = text(client.get("/couts"))
    before = float(
        unit_cost_shown(costs_before, "A_PORTAGE").removesuffix(" €").replace(" ", "").replace(",", ".")
    )
    after = float(
        unit_cost_shown(costs_after, "A_PORTAGE").removesuffix(" €").replace(" ", "").replace(",", ".")
    )
    assert after > before
    with write_session(engine) as session:
        meals = compute(session, demo.organisation_id, 2025).activities.loc[portage]
    assert unit_cost_shown(costs_after, "A_PORTAGE") == f"{french(meals['unit_cost'])} €"


def test_the_finance_team_switches_the_allocation_method(login_as, engine, demo):
    client = login_as("finances")
    page = client.get("/couts/modele").get_data(as_text=True)
    try:
        response = client.post("/couts/modele", data={"csrf_token": csrf_token(page), "what": "method",
                                                      "method": "step-down"})  # fmt: skip
        assert response.status_code == 303, flashes(response)
        model = text(client.get("/couts/modele"))
        assert (
            f"Méthode de répartition enregistrée. {cost_values(engine, demo)} valeur(s) d'indicateurs de coût "
            "recalculée(s)." in model
        )
        assert 'value="step-down" checked' in model
        assert "méthode en cascade" in text(client.get("/couts"))
        refused = client.post("/couts/modele", data={"csrf_token": csrf_token(page), "what": "method",
                                                     "method": "au hasard"})  # fmt: skip
        assert refused.status_code == 400
        assert "Rien n'a été enregistré : méthode de répartition « au hasard » inconnue" in text(refused)
    finally:
        with write_session(engine) as session:
            session.get(Organisation, demo.organisation_id).costing_method = "reciprocal"
            publish_cost_indicators(session, demo.organisation_id)
    assert model_state(engine, demo.organisation_id)[3] == "reciprocal"


def test_a_driver_form_without_any_hours_is_refused(login_as, engine, demo):
    before = model_state(engine, demo.organisation_id)
    client = login_as("finances")
    page = client.get("/couts/modele").get_data(as_text=True)
    fields = dict.fromkeys(centre_form(page, "SENIORS"), "0")
    response = client.post("/couts/modele", data={
        "csrf_token": csrf_token(page), "what": "drivers", "centre": "SENIORS", "driver": "time", **fields,
    })  # fmt: skip
    assert response.status_code == 400
    assert (
        "Rien n'a été enregistré : « Pôle seniors et maintien à domicile » : aucune quantité d'inducteur"
        in text(response)
    )
    assert model_state(engine, demo.organisation_id) == before


# --- importing budgets (finance only) -----------------------------------------------------------


def upload(client, data: bytes, filename: str, **fields: str):
    token = csrf_token(client.get("/couts/import").get_data(as_text=True))
    form = {
        "csrf_token": token,
        "mapping": "",
        "nomenclature": "",
        **fields,
        "file": (io.BytesIO(data), filename),
    }
    return client.post("/couts/import", data=form, content_type="multipart/form-data")


def test_only_the_finance_team_imports(login_as, engine):
    before = documents(engine)
    client = login_as("elu")
    token = csrf_token(client.get("/couts/modele").get_data(as_text=True))
    response = client.post("/couts/import", data={"csrf_token": token, "file": (io.BytesIO(dm_file()), "dm.csv")},
                           content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 403
    assert documents(engine) == before


def test_a_bad_file_is_refused_with_its_located_errors(login_as, engine):
    before = documents(engine)
    client = login_as("finances")
    response = upload(client, (DATA / "bad_unknown_codes.csv").read_bytes(), "bad_unknown_codes.csv")
    assert response.status_code == 400
    page = text(response)
    assert "Rien n'a été enregistré. 2 problème(s) :" in page.replace("</strong>", "").replace("<strong>", "")
    assert "<li>ligne 5, colonne BGT_FONCTION : fonction M57 « 4299 » inconnue" in page
    assert "<li>ligne 6, colonne BGT_NATURE : nature M57 « 6999 » inconnue" in page
    assert documents(engine) == before
    missing = client.post("/couts/import", data={"csrf_token": csrf_token(page), "mapping": "", "nomenclature": ""},
                          content_type="multipart/form-data")  # fmt: skip
    assert missing.status_code == 400 and "Choisissez un fichier." in text(missing)


def test_a_decision_modificative_is_imported_with_its_summary(login_as, engine, demo):
    org = demo.organisation_id
    lines_before, documents_before = documents(engine)
    with write_session(engine) as session:
        budget_2026 = compute(session, org, 2026).costing.total_in
    client = login_as("finances")
    try:
        response = upload(client, dm_file(), "dm1_2026.csv")
        assert response.status_code == 303, flashes(response)
        page = text(client.get(response.headers["Location"]))
        assert (
            "Décision modificative 2026 importé : 2 ligne(s) ; dépenses de fonctionnement 19 500,00 €, "
            "recettes 0,00 € ; 2 valeur(s) d'indicateurs de coût recalculée(s)." in page
        )
        assert "<td>Décision modificative</td>" in page and "dm1_2026.csv" in page
        assert documents(engine) == (lines_before + 2, documents_before + 1)
        with write_session(engine) as session:
            assert round(compute(session, org, 2026).costing.total_in - budget_2026, 2) == 19500.0
        again = upload(client, dm_file(), "dm1_2026_copie.csv")
        assert again.status_code == 303
        assert "déjà importé à l'identique : aucune modification." in text(client.get("/couts/import"))
        assert documents(engine) == (lines_before + 2, documents_before + 1)
    finally:
        with write_session(engine) as session:
            created = list(session.scalars(select(BudgetDocument.id).where(
                BudgetDocument.organisation_id == org, BudgetDocument.document_type == "DM",
                BudgetDocument.year == 2026, BudgetDocument.source_name == "dm1_2026.csv",
            )))  # fmt: skip
            session.execute(delete(CostLine).where(CostLine.document_id.in_(created)))
            session.execute(delete(BudgetDocument).where(BudgetDocument.id.in_(created)))
            publish_cost_indicators(session, org)
    assert documents(engine) == (lines_before, documents_before)
    with write_session(engine) as session:
        assert compute(session, org, 2026).costing.total_in == pytest.approx(budget_2026)

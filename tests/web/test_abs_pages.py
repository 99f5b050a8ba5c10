"""The ABS report pages: the report with its calendar, the direction's analysis texts (conflicts
refused with 409, other roles refused with 403), the PDF and the Excel annex."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import BytesIO

import pytest
from markupsafe import escape
from openpyxl import load_workbook
from sqlalchemy import delete

from models import ReportText
from pilotis.database import write_session
from services.abs_calendar import abs_calendar
from services.abs_report import SECTIONS
from tests.conftest import csrf_token


def plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\u00a0", " ")


@pytest.fixture
def texts(engine, demo):
    """Remove the analysis texts the test saved through the application."""
    yield
    with write_session(engine) as session:
        session.execute(delete(ReportText).where(ReportText.organisation_id == demo.organisation_id))


def save(client, page: str, **fields: object):
    data = {
        "csrf_token": csrf_token(page),
        "annee": "2027",
        "theme": "",
        "section": "synthese",
        "version": "0",
    }
    data.update({k: str(v) for k, v in fields.items()})
    return client.post("/abs/texte", data=data)


def test_the_report_page_shows_the_figures_the_calendar_and_the_secrets(login_as):
    response = login_as("direction").get("/abs?annee=2027")
    assert response.status_code == 200
    page = plain(response.get_data(as_text=True))
    assert "Analyse des besoins sociaux 2027 — diagnostic complet" in page
    assert escape(abs_calendar(datetime.now(UTC).date()).message()) in page
    assert "46 119" in page and "18 450 €" in page and "INSEE RP 2021" in page
    assert "≥ 2 971" in page  # RSA: the sum of the published IRIS, a lower bound
    assert "non disponible" in page
    row = re.search(r"IRIS 110690601 <span class=\"meta\">\(110690601\)</span></th>(.*?)</tr>", page, re.S)
    assert row is not None
    cells = re.findall(r"<td class=\"num\">(.*?)</td>", row.group(1))
    assert len(cells) == 7 and all("secret" in c or "non publié" in c for c in cells)
    assert page.count("Enregistrer l'analyse") == len(SECTIONS) == 9  # one form per section for the direction
    assert 'href="/abs/rapport.pdf?annee=2027"' in page and 'href="/abs/annexe.xlsx?annee=2027"' in page
    assert "<svg" in page and 'aria-labelledby="graphique-ages-title"' in page


@pytest.mark.parametrize("login", ["elu", "partenaire", "responsable.seniors", "finances"])
def test_other_roles_read_the_report_without_editing_it(login_as, login):
    page = login_as(login).get("/abs?annee=2027").get_data(as_text=True)
    assert "Analyse des besoins sociaux 2027" in page and "<textarea" not in page


def test_the_direction_writes_an_analysis_and_a_stale_edit_gets_409(login_as, texts):
    direction = login_as("direction")
    page = direction.get("/abs?annee=2027").get_data(as_text=True)
    other = login_as("direction")  # a second session of the direction, reading the page now
    other_page = other.get("/abs?annee=2027").get_data(as_text=True)
    response = save(direction, page, text="Le vieillissement s'accélère.\n\nLa pauvreté se concentre.")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/abs?annee=2027#section-synthese")
    shown = direction.get("/abs?annee=2027").get_data(as_text=True)
    assert "Le vieillissement s&#39;accélère." in shown and "(version 1)" in shown
    # the other session's page, read before the save, still says version 0
    stale = save(other, other_page, text="Une autre analyse")
    assert stale.status_code == 409
    body = stale.get_data(as_text=True)
    assert "modifiée entre-temps" in body and "Une autre analyse" in body  # their text is kept in the form
    again = save(direction, page, text="Version 2", version=1)
    assert again.status_code == 303
    elected = login_as("elu").get("/abs?annee=2027").get_data(as_text=True)
    assert "Version 2" in elected


def test_an_elected_member_cannot_save_an_analysis(login_as, texts):
    elected = login_as("elu")
    page = elected.get("/abs?annee=2027").get_data(as_text=True)
    assert save(elected, page, text="Texte").status_code == 403
    reader = login_as("partenaire")
    assert save(reader, reader.get("/abs").get_data(as_text=True), text="Texte").status_code == 403


def test_invalid_requests_are_refused(login_as, texts):
    direction = login_as("direction")
    page = direction.get("/abs?annee=2027").get_data(as_text=True)
    assert direction.get("/abs?theme=inconnu").status_code == 404
    assert direction.get("/abs?annee=abc").status_code == 400
    assert direction.get("/abs/annexe.xlsx?annee=1850").status_code == 400
    assert save(direction, page, section="inconnue", text="x").status_code == 400
    assert save(direction, page, text="x" * 20_001).status_code == 400
    no_token = direction.post("/abs/texte", data={"annee": "2027", "section": "synthese", "version": "0"})
    assert no_token.status_code == 400


def test_the_thematic_annex_and_the_pdf(login_as, demo):
    reader = login_as("partenaire")
    annex = reader.get("/abs/annexe.xlsx?annee=2028&theme=personnes_agees")
    assert annex.status_code == 200
    assert 'filename="analyse-thematique-2028-personnes_agees.xlsx"' in annex.headers["Content-Disposition"]
    book = load_workbook(BytesIO(annex.data))
    assert [row[0].value for row in book["Besoins"].iter_rows(min_row=2)] == ["PA80"]
    # the PDF is prepared by a worker and downloaded from its task's page (tests/web/test_job_progress.py)
    assert login_as("direction").get("/abs/rapport.pdf?annee=2027").status_code == 200

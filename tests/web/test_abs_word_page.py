"""The ABS report's Word version from the report page: the link beside the PDF, the download with
its name and type, the direction's analysis in it, the partners' copy without the draft analysis
(the policy of the PDF), a thematic analysis and bad requests."""

from __future__ import annotations

from io import BytesIO

import pytest
from docx import Document
from sqlalchemy import delete

from models import ReportText
from pilotis.database import write_session
from services.abs_word import ANALYSIS_STYLE, DOCX_MIME
from tests.conftest import csrf_token
from tests.web.test_job_progress import prepared


@pytest.fixture
def texts(engine, demo):  # type: ignore[no-untyped-def]
    """Remove the analysis texts the test saved through the application."""
    yield
    with write_session(engine) as session:
        session.execute(delete(ReportText).where(ReportText.organisation_id == demo.organisation_id))


def analyses(content: bytes) -> list[str]:
    document = Document(BytesIO(content))
    return [p.text for p in document.paragraphs if p.style.name == ANALYSIS_STYLE]


def test_the_word_file_is_linked_and_holds_the_directions_analysis(login_as, texts):
    direction = login_as("direction")
    page = direction.get("/abs?annee=2027").get_data(as_text=True)
    assert 'href="/abs/rapport.docx?annee=2027"' in page and "Rapport à compléter (Word)" in page
    saved = direction.post(
        "/abs/texte",
        data={
            "csrf_token": csrf_token(page),
            "annee": "2027",
            "theme": "",
            "section": "synthese",
            "version": "0",
            "text": "Priorité : les familles monoparentales.",
        },
    )
    assert saved.status_code == 303
    response = prepared(direction, "/abs/rapport.docx?annee=2027")
    assert response.status_code == 200 and response.mimetype == DOCX_MIME
    assert 'filename="abs-2027-diagnostic.docx"' in response.headers["Content-Disposition"]
    assert "Priorité : les familles monoparentales." in analyses(response.data)
    # a partner downloads the shared diagnostic, not the direction's draft analysis (as the PDF)
    partner = prepared(login_as("partenaire"), "/abs/rapport.docx?annee=2027")
    assert partner.status_code == 200
    assert "Priorité : les familles monoparentales." not in analyses(partner.data)
    assert "Analyse de la direction non encore rédigée." in analyses(partner.data)


def test_a_thematic_word_file_and_bad_requests(login_as):
    direction = login_as("direction")
    page = direction.get("/abs?annee=2028&theme=personnes_agees").get_data(as_text=True)
    assert 'href="/abs/rapport.docx?annee=2028&amp;theme=personnes_agees"' in page
    response = prepared(direction, "/abs/rapport.docx?annee=2028&theme=personnes_agees")
    assert response.status_code == 200
    assert (
        'filename="analyse-thematique-2028-personnes_agees.docx"' in response.headers["Content-Disposition"]
    )
    titles = [p.text for p in Document(BytesIO(response.data)).paragraphs if p.style.name == "Title"]
    assert titles == ["Analyse thématique 2028 — Personnes âgées"]
    assert direction.get("/abs/rapport.docx?theme=inconnu").status_code == 404
    assert direction.get("/abs/rapport.docx?annee=1850").status_code == 400
    assert direction.get("/abs/rapport.docx?annee=abc").status_code == 400

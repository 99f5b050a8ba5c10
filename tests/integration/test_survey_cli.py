"""``pilotis survey``: list the surveys of an organisation, import paper questionnaires from the
Excel template (all or nothing), export the results and close a survey; a wrong request gets one
French line and a non-zero exit status."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select

from models import Survey, SurveyAnswer, SurveyQuestion, SurveyResponse
from models.base import utcnow
from pilotis.database import write_session
from services.survey_io import template_workbook
from services.surveys import QuestionInput, SurveyInput, add_question, create_survey, publish

PREFIX = "Test CLI "  # every survey of this module starts with it and is deleted after each test
ORGANISATION = "demo-11069"
DEMO_SURVEYS = {
    "Satisfaction du portage de repas 2025": ("satisfaction", "closed", 138),
    "Satisfaction du portage de repas 2026": ("satisfaction", "draft", 0),
    "Baromètre des besoins sociaux 2026": ("needs", "closed", 312),
    "Consultation sur les priorités de l'action sociale 2027": ("consultation", "closed", 426),
}


def invoke(runner, *args: str):
    return runner.invoke(args=["survey", *args])


def demo_survey_id(engine, demo, title: str) -> int:
    with write_session(engine) as session:
        found = session.scalar(
            select(Survey.id).where(Survey.organisation_id == demo.organisation_id, Survey.title == title)
        )
    assert found is not None
    return found


@pytest.fixture
def cleanup(engine, demo) -> Iterator[None]:
    yield
    with write_session(engine) as session:
        ids = list(session.scalars(select(Survey.id).where(Survey.title.startswith(PREFIX))))
        responses = select(SurveyResponse.id).where(SurveyResponse.survey_id.in_(ids))
        session.execute(delete(SurveyAnswer).where(SurveyAnswer.response_id.in_(responses)))
        session.execute(delete(SurveyResponse).where(SurveyResponse.survey_id.in_(ids)))
        session.execute(delete(SurveyQuestion).where(SurveyQuestion.survey_id.in_(ids)))
        session.execute(delete(Survey).where(Survey.id.in_(ids)))


@pytest.fixture
def ongoing(engine, demo, cleanup) -> tuple[int, bytes]:
    """A published survey of this module, and its Excel template."""
    with write_session(engine) as session:
        survey = create_survey(
            session,
            demo.organisation_id,
            demo.name,
            SurveyInput(title=PREFIX + "Accueil", kind="satisfaction"),
            user_id=None,
        )
        add_question(session, survey, QuestionInput("Avez-vous été bien accueilli(e) ?", "single",
                                                    required=True, options="+ Oui\nNon"))  # fmt: skip
        add_question(session, survey, QuestionInput("Combien de temps avez-vous attendu ?", "number",
                                                    number_min=0, number_max=240))  # fmt: skip
        publish(session, survey, now=utcnow())
        return survey.id, template_workbook(session, survey)


def filled(template: bytes, rows: list[list[object]], path: Path) -> Path:
    book = load_workbook(io.BytesIO(template))
    for row in rows:
        book["Réponses"].append(row)
    book.save(path)
    return path


def test_the_list_shows_the_demo_surveys(runner, engine, demo):
    result = invoke(runner, "list", "--organisation", ORGANISATION)
    assert result.exit_code == 0, result.output
    for title in DEMO_SURVEYS:
        assert title in result.output
    closed = demo_survey_id(engine, demo, "Satisfaction du portage de repas 2025")
    assert (
        f"{closed:>4}  Satisfaction du portage de repas 2025 — Enquête de satisfaction, close, 138 réponse(s), "
        "/participer/"
    ) in result.output
    as_json = invoke(runner, "list", "--organisation", ORGANISATION, "--json")
    assert as_json.exit_code == 0, as_json.output
    rows = {row["titre"]: row for row in json.loads(as_json.output)}
    assert {t: (rows[t]["type"], rows[t]["etat"], rows[t]["reponses"]) for t in DEMO_SURVEYS} == DEMO_SURVEYS
    assert all(row["lien"].startswith("/participer/") for row in rows.values())


def test_an_unknown_organisation_is_refused_in_french(runner, demo):
    result = invoke(runner, "list", "--organisation", "nulle-part")
    assert result.exit_code == 1
    assert "Erreur : organisation « nulle-part » inconnue." in result.output


def test_the_export_writes_a_workbook(runner, engine, demo, tmp_path):
    survey_id = demo_survey_id(engine, demo, "Baromètre des besoins sociaux 2026")
    target = tmp_path / "barometre.xlsx"
    result = invoke(runner, "export", str(survey_id), "-o", str(target), "--organisation", ORGANISATION)
    assert result.exit_code == 0, result.output
    assert f"Résultats de « Baromètre des besoins sociaux 2026 » écrits dans {target}." in result.output
    book = load_workbook(target)
    assert book.sheetnames == [
        "Synthèse", "Questions", "Par public", "Par territoire", "Réponses libres", "Réponses",
    ]  # fmt: skip
    unwritable = invoke(
        runner,
        "export",
        str(survey_id),
        "-o",
        str(tmp_path / "absent" / "x.xlsx"),
        "--organisation",
        ORGANISATION,
    )
    assert unwritable.exit_code == 1 and "Erreur : impossible d'écrire" in unwritable.output


def test_closing_a_closed_or_unknown_survey_is_refused(runner, engine, demo):
    closed = demo_survey_id(engine, demo, "Satisfaction du portage de repas 2025")
    result = invoke(runner, "close", str(closed), "--organisation", ORGANISATION)
    assert result.exit_code == 1
    assert "Erreur : seule une enquête ouverte peut être close." in result.output
    with write_session(engine) as session:
        assert session.get(Survey, closed).state == "closed"
    unknown = invoke(runner, "close", "999999", "--organisation", ORGANISATION)
    assert unknown.exit_code == 1
    assert f"Erreur : enquête n° 999999 inconnue pour {demo.name}." in unknown.output


def test_another_organisations_survey_is_unknown(runner, engine, demo, other_demo):
    with write_session(engine) as session:
        foreign = session.scalar(
            select(Survey.id).where(Survey.organisation_id == other_demo.organisation_id)
        )
    result = invoke(runner, "export", str(foreign), "--organisation", ORGANISATION)
    assert result.exit_code == 1 and f"enquête n° {foreign} inconnue" in result.output


def test_paper_questionnaires_import_all_or_nothing_then_the_survey_closes(runner, engine, ongoing, tmp_path):
    survey_id, template = ongoing
    bad = filled(template, [["Q1", "Oui", "12"], ["Q2", "Peut-être", "plus de 300"]], tmp_path / "bad.xlsx")
    refused = invoke(runner, "import", str(survey_id), str(bad), "--organisation", ORGANISATION)
    assert refused.exit_code == 1
    assert "Erreur : rien n'a été importé, 2 erreur(s) :" in refused.output
    assert "feuille « Réponses », ligne 3, colonne « 1. Avez-vous été bien accueilli(e) ? »" in refused.output
    assert "« plus de 300 » n'est pas un nombre" in refused.output

    def count() -> int:
        with write_session(engine) as session:
            return session.scalar(select(func.count()).where(SurveyResponse.survey_id == survey_id)) or 0

    assert count() == 0
    good = filled(template, [["Q1", "Oui", "12"], ["Q2", "Non", "7,5"]], tmp_path / "good.xlsx")
    result = invoke(runner, "import", str(survey_id), str(good), "--organisation", ORGANISATION)
    assert result.exit_code == 0, result.output
    assert f"2 questionnaire(s) importé(s) dans « {PREFIX}Accueil »." in result.output
    with write_session(engine) as session:
        stored = session.execute(
            select(SurveyResponse.reference, SurveyResponse.channel)
            .where(SurveyResponse.survey_id == survey_id)
            .order_by(SurveyResponse.reference)
        ).all()
        waited = sorted(
            session.scalars(
                select(SurveyAnswer.number)
                .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
                .where(SurveyResponse.survey_id == survey_id, SurveyAnswer.number.is_not(None))
            )
        )
    assert [tuple(r) for r in stored] == [("Q1", "import"), ("Q2", "import")]
    assert waited == [7.5, 12.0]
    again = invoke(runner, "import", str(survey_id), str(good), "--organisation", ORGANISATION)
    assert again.exit_code == 1 and "le questionnaire n° Q1 est déjà saisi" in again.output
    assert count() == 2

    closed = invoke(runner, "close", str(survey_id), "--organisation", ORGANISATION)
    assert closed.exit_code == 0, closed.output
    assert f"Enquête « {PREFIX}Accueil » close ; 0 valeur(s) d'indicateur écrite(s)." in closed.output
    with write_session(engine) as session:
        assert session.get(Survey, survey_id).state == "closed"

"""The survey pages: the direction builds a questionnaire and publishes it; residents answer it at its
public link without an account (checked like every channel, once per browser or once per invitation
code, nothing identifying kept); staff enter paper questionnaires and import them from Excel; results
hide small groups; free-text answers are tagged; the élus adopt a consultation's weights; and a
budget scenario can use them."""

from __future__ import annotations

import html
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import Date, DateTime, delete, func, inspect, select, update
from sqlalchemy.orm import selectinload

from models import (
    AuditEntry,
    Indicator,
    Need,
    Scenario,
    Service,
    Survey,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
    Territory,
    User,
)
from models.base import utcnow
from pilotis.database import write_session
from services.survey_results import consultation_weights
from services.surveys import QuestionInput, SurveyInput, add_question, create_survey, publish
from tests.conftest import csrf_token, demo_email

PREFIX = "Test web "  # every survey and scenario of this module starts with it and is deleted after each test
SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SATISFACTION_2025 = "Satisfaction du portage de repas 2025"
SATISFACTION_2026 = "Satisfaction du portage de repas 2026"
BAROMETER = "Baromètre des besoins sociaux 2026"
CONSULTATION = "Consultation sur les priorités de l'action sociale 2027"
PUNCTUAL = "Le livreur est-il passé à l'heure ?"
WHAT_WENT_WRONG = "Qu'est-ce qui n'allait pas ?"


# --- helpers -------------------------------------------------------------------------------------------


def text(response) -> str:
    """The page as a person reads it: entities decoded, French number spaces as plain spaces."""
    return html.unescape(response.get_data(as_text=True)).translate(SPACES)


def flashes(response) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", m).strip()
        for m in re.findall(r'<p class="flash flash-\w+">(.*?)</p>', text(response), re.S)
    ]


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no field {name} in the page"
    return match.group(1)


def post(client, url: str, page_url: str, **fields: Any):
    """Press a button: the form's fields with the CSRF token of a page of the same session."""
    token = csrf_token(client.get(page_url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **fields})


def follow(client, response) -> list[str]:
    """The messages of the page a 303 leads to."""
    assert response.status_code == 303, text(response)[:2000]
    return flashes(client.get(response.headers["Location"]))


@dataclass(frozen=True)
class Built:
    id: int
    token: str
    title: str
    questions: tuple[int, ...]


def survey_named(engine, demo, title: str) -> Built:
    with write_session(engine) as session:
        survey = session.scalar(
            select(Survey).where(Survey.organisation_id == demo.organisation_id, Survey.title == title)
        )
        assert survey is not None, title
        return Built(survey.id, survey.token, survey.title, tuple(q.id for q in survey.questions))


def question_texts(engine, survey_id: int) -> list[str]:
    with write_session(engine) as session:
        return [q.text for q in session.get(Survey, survey_id).questions]


def responses_of(engine, survey_id: int) -> list[SurveyResponse]:
    with write_session(engine) as session:
        rows = list(
            session.scalars(
                select(SurveyResponse)
                .where(SurveyResponse.survey_id == survey_id)
                .options(selectinload(SurveyResponse.answers))
                .order_by(SurveyResponse.id)
            )
        )
        session.expunge_all()
        return rows


def count_of(engine, survey_id: int) -> int:
    with write_session(engine) as session:
        return session.scalar(select(func.count()).where(SurveyResponse.survey_id == survey_id)) or 0


def user_id(engine, login: str) -> int:
    with write_session(engine) as session:
        found = session.scalar(select(User.id).where(User.email == demo_email(login)))
        assert found is not None
        return found


def territory(engine, demo) -> tuple[str, str, int]:
    """A neighbourhood a respondent may choose: (code, name, id)."""
    with write_session(engine) as session:
        place = session.scalar(
            select(Territory).where(
                Territory.organisation_id == demo.organisation_id, Territory.name == "Ozanam-Vignes Rouges"
            )
        )
        assert place is not None
        return place.code, place.name, place.id


def opened(client, token: str) -> dict[str, str]:
    """Open the questionnaire as a resident: what the form carries besides the answers."""
    response = client.get(f"/participer/{token}")
    assert response.status_code == 200, text(response)[:500]
    page = response.get_data(as_text=True)
    return {"csrf_token": csrf_token(page), "debut": hidden(page, "debut"), "site_web": ""}


def answer(client, token: str, form: dict[str, str] | None = None, **fields: Any):
    data = {**(form or opened(client, token)), **fields}
    return client.post(f"/participer/{token}", data=data)


def build(
    engine,
    demo,
    title: str,
    questions: list[QuestionInput],
    *,
    published: bool = True,
    conditional: bool = False,
    **settings: Any,
) -> Built:
    """A survey of this module, committed; ``conditional``: the second question depends on the first
    having been answered « Non »."""
    with write_session(engine) as session:
        survey = create_survey(
            session,
            demo.organisation_id,
            demo.name,
            SurveyInput(title=PREFIX + title, kind=settings.pop("kind", "satisfaction"), **settings),
            user_id=None,
        )
        made = []
        for n, data in enumerate(questions):
            if conditional and n == 1:
                data = QuestionInput(
                    text=data.text, kind=data.kind, condition_question_id=made[0], condition_values=["Non"]
                )
            made.append(add_question(session, survey, data).id)
        if published:
            publish(session, survey, now=utcnow())
        return Built(survey.id, survey.token, survey.title, tuple(made))


def delivery(engine, demo, title: str = "Portage", **settings: Any) -> Built:
    """Published, about the seniors' service: a required yes/no question, then a free-text one
    asked after « Non »."""
    settings.setdefault("ask_territory", True)
    if "service_id" not in settings:
        with write_session(engine) as session:
            settings["service_id"] = session.scalar(
                select(Service.id).where(
                    Service.organisation_id == demo.organisation_id, Service.code == "SENIORS"
                )
            )
    return build(
        engine,
        demo,
        title,
        [
            QuestionInput(PUNCTUAL, "single", required=True, options="+ Oui\nNon"),
            QuestionInput(WHAT_WENT_WRONG, "text"),
        ],
        conditional=True,
        **settings,
    )


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture
def app(make_app, database_url, engine):
    """The application, answering without the minimum time (the rule has its own test)."""
    return make_app(database_url, PILOTIS_SURVEY_MIN_SECONDS=0)


@pytest.fixture
def cleanup(engine, demo) -> Iterator[None]:
    """Delete this module's surveys (their questions, answers and codes go with them) and scenarios."""
    yield
    with write_session(engine) as session:
        ids = list(session.scalars(select(Survey.id).where(Survey.title.startswith(PREFIX))))
        responses = select(SurveyResponse.id).where(SurveyResponse.survey_id.in_(ids))
        session.execute(delete(SurveyAnswer).where(SurveyAnswer.response_id.in_(responses)))
        session.execute(delete(SurveyResponse).where(SurveyResponse.survey_id.in_(ids)))
        session.execute(delete(SurveyInvitation).where(SurveyInvitation.survey_id.in_(ids)))
        session.execute(
            update(SurveyQuestion).where(SurveyQuestion.survey_id.in_(ids)).values(condition_question_id=None)
        )
        session.execute(delete(SurveyQuestion).where(SurveyQuestion.survey_id.in_(ids)))
        session.execute(delete(Survey).where(Survey.id.in_(ids)))
        session.execute(delete(Scenario).where(Scenario.name.startswith(PREFIX)))


@pytest.fixture
def portage(engine, demo, cleanup) -> Built:
    return delivery(engine, demo)


@pytest.fixture
def needs_kept(engine, demo) -> Iterator[dict[int, dict[str, Any]]]:
    """The demo's priority weights, put back as they were after the test."""
    columns = ("priority_weight", "priority_set_by_id", "priority_set_at", "version", "updated_at")

    def snapshot() -> dict[int, dict[str, Any]]:
        with write_session(engine) as session:
            rows = session.execute(
                select(Need.id, *(getattr(Need, c) for c in columns)).where(
                    Need.organisation_id == demo.organisation_id
                )
            ).all()
        return {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows}

    before = snapshot()
    yield before
    with write_session(engine) as session:
        for need_id, values in before.items():
            session.execute(update(Need).where(Need.id == need_id).values(**values))
    assert snapshot() == before


@pytest.fixture
def barometer_themes_kept(engine, demo) -> Iterator[Built]:
    """The barometer's themes and its answers' themes, put back as they were after the test."""
    barometer = survey_named(engine, demo, BAROMETER)
    with write_session(engine) as session:
        survey_before = session.execute(
            select(Survey.themes, Survey.version, Survey.updated_at).where(Survey.id == barometer.id)
        ).one()
        answers_before = dict(
            session.execute(
                select(SurveyAnswer.id, SurveyAnswer.themes)
                .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
                .where(SurveyResponse.survey_id == barometer.id)
            ).all()
        )
    yield barometer
    with write_session(engine) as session:
        themes, version, updated_at = survey_before
        session.execute(
            update(Survey)
            .where(Survey.id == barometer.id)
            .values(themes=list(themes), version=version, updated_at=updated_at)
        )
        for answer_id, answer_themes in answers_before.items():
            session.execute(
                update(SurveyAnswer).where(SurveyAnswer.id == answer_id).values(themes=list(answer_themes))
            )


# --- building and publishing ---------------------------------------------------------------------------


def test_the_direction_builds_a_survey_publishes_it_and_residents_see_the_questionnaire(
    login_as, app, engine, demo, cleanup
):
    direction = login_as("direction")
    listing = text(direction.get("/enquetes"))
    assert "Nouvelle enquête" in listing and "Créer l'enquête" in listing
    for title in (SATISFACTION_2025, SATISFACTION_2026, BAROMETER, CONSULTATION):
        assert title in listing
    response = direction.post(
        "/enquetes",
        data={
            "csrf_token": csrf_token(listing),
            "title": PREFIX + "Ponctualité du portage",
            "kind": "satisfaction",
            "introduction": "Dites-nous si les repas arrivent à l'heure.",
            "purpose": "",
            "access": "open",
            "service": "",
            "ask_territory": "y",
            "threshold": "11",
            "closes_on": "",
        },
    )
    assert response.status_code == 303
    survey_id = int(re.fullmatch(r"/enquetes/(\d+)", response.headers["Location"]).group(1))
    page = text(direction.get(f"/enquetes/{survey_id}"))
    assert "Enquête créée : ajoutez ses questions." in page
    assert "en préparation" in page and "Aucune question pour l'instant." in page
    assert 'id="lien-public"' not in page  # a draft has no public link yet
    direction_id = user_id(engine, "direction")
    with write_session(engine) as session:
        survey = session.get(Survey, survey_id)
        token = survey.token
        assert survey.created_by_id == direction_id
        assert "adresse IP" in survey.purpose  # the default privacy statement
        indicator = session.scalar(
            select(Indicator.id).where(
                Indicator.organisation_id == demo.organisation_id, Indicator.code == "satisfaction_portage"
            )
        )
    assert app.test_client().get(f"/participer/{token}").status_code == 404  # not public before publishing

    question = {"csrf_token": csrf_token(page), "help": "", "options": "", "service": "", "need": ""}
    added = direction.post(
        f"/enquetes/{survey_id}/questions",
        data={**question, "text": PUNCTUAL, "kind": "single", "required": "y",
              "options": "+ Oui\nNon", "indicator": str(indicator), "condition_question": ""},
    )  # fmt: skip
    assert follow(direction, added) == ["Question ajoutée."]
    page = direction.get(f"/enquetes/{survey_id}").get_data(as_text=True)
    first = int(re.findall(rf'/enquetes/{survey_id}/questions/(\d+)"', page)[0])
    added = direction.post(
        f"/enquetes/{survey_id}/questions",
        data={**question, "text": WHAT_WENT_WRONG, "kind": "text", "indicator": "",
              "condition_question": str(first), "condition_values": "Non"},
    )  # fmt: skip
    assert follow(direction, added) == ["Question ajoutée."]
    page = text(direction.get(f"/enquetes/{survey_id}"))
    assert "Oui (+) · Non" in page and "alimente un indicateur" in page and "conditionnelle" in page

    published = post(direction, f"/enquetes/{survey_id}/publier", f"/enquetes/{survey_id}")
    assert follow(direction, published) == [
        "Enquête ouverte : son lien public reçoit maintenant des réponses."
    ]
    page = text(direction.get(f"/enquetes/{survey_id}"))
    assert "ouverte" in page and f'id="lien-public">http://localhost/participer/{token}</a>' in page
    assert "Ajouter la question" not in page  # the questions of a published survey do not change

    resident = app.test_client()  # no account, no sign-in
    response = resident.get(f"/participer/{token}")
    assert response.status_code == 200
    public = text(response)
    assert (
        PREFIX + "Ponctualité du portage" in public
        and "Dites-nous si les repas arrivent à l'heure." in public
    )
    assert "Ce que nous recueillons et pourquoi" in public
    assert "ni votre adresse IP" in public and "au moins 11 personnes" in public
    assert public.count("<fieldset") == 1 and public.count("<legend") == 1  # one per choice question
    assert f'<legend id="q{first}"><span class="qnum">1.</span> {PUNCTUAL} ' in public
    assert '<span class="required">(obligatoire)</span>' in public
    assert 'type="radio" name="q' in public and "> Oui</label>" in public and "> Non</label>" in public
    assert "Répondez si vous avez répondu « Non » à la question 1." in public
    assert '<select id="territoire" name="territoire">' in public and "Ozanam-Vignes Rouges" in public
    assert 'name="site_web"' in public and 'name="debut"' in public
    assert "Enquêtes et consultations" not in public  # none of the staff's pages


def test_a_published_survey_keeps_its_questions(login_as, engine, demo, portage):
    direction = login_as("direction")
    response = post(
        direction, f"/enquetes/{portage.id}/questions", f"/enquetes/{portage.id}",
        text="Une question de plus ?", kind="single", options="Oui\nNon",
    )  # fmt: skip
    assert follow(direction, response) == [
        "Erreur : Question non ajoutée : les questions d'une enquête publiée ne changent plus (les "
        "réponses reçues en dépendent) : copiez l'enquête pour en préparer une nouvelle version."
    ]
    with write_session(engine) as session:
        assert len(session.get(Survey, portage.id).questions) == 2


def test_the_direction_arranges_the_questions_of_a_draft(login_as, engine, demo, cleanup):
    draft = build(
        engine,
        demo,
        "Brouillon",
        [
            QuestionInput("Êtes-vous satisfait(e) ?", "single", options="+ Oui\nNon"),
            QuestionInput("Pourquoi ?", "text"),
            QuestionInput("Quelle note donnez-vous ?", "scale", scale_min=1, scale_max=5),
        ],
        published=False,
        conditional=True,
    )
    first, why, note = draft.questions
    direction = login_as("direction")
    url = f"/enquetes/{draft.id}"

    def order() -> list[int]:
        with write_session(engine) as session:
            return [q.id for q in session.get(Survey, draft.id).questions]

    edit = text(direction.get(f"{url}/questions/{why}"))
    assert 'value="Non"' in edit  # its condition, by the answer's label
    refused = post(direction, f"{url}/questions/{why}/deplacer", url, sens="haut")
    assert follow(direction, refused) == [
        "Erreur : Question non déplacée : « Pourquoi ? » dépend de « Êtes-vous satisfait(e) ? » : elle doit "
        "rester après."
    ]
    assert follow(direction, post(direction, f"{url}/questions/{note}/deplacer", url, sens="haut")) == []
    assert order() == [first, note, why]
    refused = post(direction, f"{url}/questions/{first}/supprimer", url)
    assert follow(direction, refused) == [
        "Erreur : Question non supprimée : d'autres questions dépendent de celle-ci : retirez d'abord leur "
        "condition."
    ]
    changed = post(
        direction, f"{url}/questions/{first}", f"{url}/questions/{first}",
        text="Êtes-vous satisfait(e) ?", kind="single", options="+ Oui\nPeut-être", service="", need="",
        indicator="", condition_question="",
    )  # fmt: skip
    assert changed.status_code == 400
    assert "d'autres questions dépendent de celle-ci" in text(changed)
    assert follow(direction, post(direction, f"{url}/questions/{why}/supprimer", url)) == [
        "Question supprimée."
    ]
    assert order() == [first, note]
    renamed = post(
        direction, f"{url}/questions/{note}", f"{url}/questions/{note}",
        text="Quelle note donnez-vous au service ?", kind="scale", scale_min="0", scale_max="10",
        positive_from="7", service="", need="", indicator="", condition_question="",
    )  # fmt: skip
    assert follow(direction, renamed) == ["Question enregistrée."]
    with write_session(engine) as session:
        question = session.get(SurveyQuestion, note)
        assert question.text == "Quelle note donnez-vous au service ?"
        assert question.settings["min"] == 0 and question.settings["positive_from"] == 7


def test_a_survey_refused_says_why(login_as, engine, demo, cleanup):
    direction = login_as("direction")
    page = direction.get("/enquetes").get_data(as_text=True)
    base = {
        "csrf_token": csrf_token(page),
        "kind": "needs",
        "access": "open",
        "threshold": "11",
        "service": "",
    }
    empty = direction.post("/enquetes", data={**base, "title": ""})
    assert empty.status_code == 400 and "Donnez un titre." in text(empty)
    twice = direction.post("/enquetes", data={**base, "title": BAROMETER})
    assert twice.status_code == 400
    assert f"Enquête non créée : une enquête « {BAROMETER} » existe déjà." in flashes(twice)[0]
    empty_survey = build(engine, demo, "Vide", [], published=False)
    response = post(direction, f"/enquetes/{empty_survey.id}/publier", f"/enquetes/{empty_survey.id}")
    assert follow(direction, response) == ["Erreur : Enquête non publiée : ajoutez au moins une question."]
    with write_session(engine) as session:
        assert session.get(Survey, empty_survey.id).state == "draft"


# --- answering at the public link ----------------------------------------------------------------------


def test_an_answer_is_checked_then_stored_without_anything_identifying(app, engine, demo, portage):
    first, why = portage.questions
    resident = app.test_client()
    form = opened(resident, portage.token)

    missing = answer(resident, portage.token, form, **{f"q{why}": "Il arrive trop tard."})
    assert missing.status_code == 400
    page = text(missing)
    assert "Votre questionnaire n'est pas encore envoyé" in page and "Corrigez ce qui suit :" in page
    message = f"question 1 (« {PUNCTUAL} ») : réponse obligatoire"
    assert f'<li><a href="#q{first}">{message}</a></li>' in page
    assert f'<p class="field-error" id="q{first}-err">{message}</p>' in page
    assert ">Il arrive trop tard.</textarea>" in page  # what was typed is kept
    wrong = answer(resident, portage.token, form, **{f"q{first}": "peut-être"})
    assert wrong.status_code == 400 and "« peut-être » n'est pas une réponse possible" in text(wrong)
    assert count_of(engine, portage.id) == 0

    code, _, place_id = territory(engine, demo)
    sent = resident.post(
        f"/participer/{portage.token}",
        data={**form, f"q{first}": "non", f"q{why}": "Le livreur arrive après midi.", "territoire": code},
        environ_base={"REMOTE_ADDR": "203.0.113.77", "HTTP_USER_AGENT": "Navigateur-Essai/4.2"},
    )
    assert sent.status_code == 303
    assert sent.headers["Location"] == f"/participer/{portage.token}/merci"
    thanks = text(resident.get(sent.headers["Location"]))
    assert "Merci pour votre participation" in thanks
    assert f"Vos réponses à « {portage.title} » sont enregistrées." in thanks

    [stored] = responses_of(engine, portage.id)
    assert stored.channel == "web" and stored.reference is None and stored.entered_by_id is None
    assert type(stored.submitted_on) is date  # the day only, no time
    assert stored.territory_id == place_id and stored.population_group_id is None
    by_question = {a.question_id: a for a in stored.answers}
    assert by_question[first].choices == ["non"]
    assert by_question[why].text == "Le livreur arrive après midi."
    # nothing identifying: no column for it, and the address and browser are nowhere in the rows
    columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("survey_responses")}
    assert set(columns) == {
        "id", "survey_id", "submitted_on", "channel", "reference",
        "population_group_id", "territory_id", "entered_by_id",
    }  # fmt: skip
    assert isinstance(columns["submitted_on"], Date) and not isinstance(columns["submitted_on"], DateTime)
    for table in ("survey_responses", "survey_answers", "survey_invitations"):
        names = [c["name"] for c in inspect(engine).get_columns(table)]
        assert not [n for n in names if re.search(r"(^|_)(ip|addr|address|agent|user_agent|host)($|_)", n)]
    with write_session(engine) as session:
        rows = [
            *session.execute(select(SurveyResponse.__table__).where(SurveyResponse.id == stored.id)).all(),
            *session.execute(
                select(SurveyAnswer.__table__).where(SurveyAnswer.response_id == stored.id)
            ).all(),
        ]
        audited = session.scalar(
            select(func.count()).where(
                AuditEntry.table_name.in_(["survey_responses", "survey_answers", "survey_invitations"])
            )
        )
    values = " ".join(str(v) for row in rows for v in row)
    assert "203.0.113.77" not in values and "Navigateur-Essai" not in values
    assert audited == 0  # answers are respondents' data, not management acts: never in the journal


def test_a_browser_answers_an_open_survey_once(app, engine, portage):
    first, why = portage.questions
    resident = app.test_client()
    form = opened(resident, portage.token)
    assert answer(resident, portage.token, form, **{f"q{first}": "oui"}).status_code == 303
    again = text(resident.get(f"/participer/{portage.token}"))
    assert "Vous avez déjà répondu à « " + portage.title + " » depuis ce navigateur." in again
    assert "<form" not in again.split("<main", 1)[-1]
    second = answer(resident, portage.token, form, **{f"q{first}": "non"})
    assert second.status_code == 400
    assert "Vous avez déjà répondu à cette enquête depuis ce navigateur. Merci !" in text(second)
    assert count_of(engine, portage.id) == 1

    # another browser may answer; its answer to a question it was not asked is dropped
    neighbour = app.test_client()
    sent = answer(neighbour, portage.token, **{f"q{first}": "Oui", f"q{why}": "Rien à signaler"})
    assert sent.status_code == 303
    latest = responses_of(engine, portage.id)[-1]
    assert [(a.question_id, a.choices, a.text) for a in latest.answers] == [(first, ["oui"], None)]


def test_a_robot_filling_the_hidden_field_is_thanked_but_not_counted(app, engine, portage):
    first, _ = portage.questions
    robot = app.test_client()
    sent = answer(robot, portage.token, **{f"q{first}": "oui", "site_web": "https://promo.example"})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/merci")
    assert count_of(engine, portage.id) == 0
    assert 'class="trap" hidden' in robot.get(f"/participer/{portage.token}").get_data(as_text=True)


def test_an_answer_sent_faster_than_a_person_reads_is_asked_again(make_app, database_url, engine, portage):
    first, _ = portage.questions
    default = make_app(database_url).test_client()  # 3 seconds unless configured
    quick = answer(default, portage.token, **{f"q{first}": "oui"})
    assert quick.status_code == 400
    assert "Vos réponses sont arrivées très vite : relisez-les puis envoyez-les de nouveau." in text(quick)
    assert 'value="oui" checked' in quick.get_data(as_text=True)  # the answer is kept for the second try
    assert count_of(engine, portage.id) == 0

    resident = make_app(database_url, PILOTIS_SURVEY_MIN_SECONDS=1).test_client()
    form = opened(resident, portage.token)
    assert answer(resident, portage.token, form, **{f"q{first}": "oui"}).status_code == 400
    time.sleep(1.1)
    assert answer(resident, portage.token, form, **{f"q{first}": "oui"}).status_code == 303
    assert count_of(engine, portage.id) == 1


def test_an_answer_without_a_genuine_start_mark_is_asked_again(make_app, database_url, engine, portage):
    """A robot that drops or forges the signed ``debut`` field must not skip the minimum time."""
    first, _ = portage.questions
    default = make_app(database_url)  # 3 seconds
    statuses = {}
    for start in (None, "", "1700000000", "pas-une-signature"):
        robot = default.test_client()  # a new browser each time (an open survey is answered once per browser)
        form = opened(robot, portage.token)
        sent = (
            {**form, "debut": start} if start is not None else {k: v for k, v in form.items() if k != "debut"}
        )
        statuses[start] = answer(robot, portage.token, sent, **{f"q{first}": "oui"}).status_code
    assert count_of(engine, portage.id) == 0, f"answers stored without a genuine start mark: {statuses}"
    assert set(statuses.values()) == {400}


def test_a_draft_is_not_public_and_a_closed_survey_says_so(app, engine, demo):
    resident = app.test_client()
    draft = survey_named(engine, demo, SATISFACTION_2026)
    assert resident.get(f"/participer/{draft.token}").status_code == 404
    assert resident.get("/participer/inconnu-0000000000").status_code == 404
    assert resident.get("/participer/x").status_code == 404
    closed = survey_named(engine, demo, SATISFACTION_2025)
    response = resident.get(f"/participer/{closed.token}")
    assert response.status_code == 200
    page = text(response)
    assert "Cette enquête est close : elle ne reçoit plus de réponses." in page and "<textarea" not in page
    token = csrf_token(resident.get("/connexion").get_data(as_text=True))
    late = resident.post(
        f"/participer/{closed.token}", data={"csrf_token": token, f"q{closed.questions[0]}": "5"}
    )
    assert late.status_code == 200 and "Cette enquête est close" in text(late)
    assert count_of(engine, closed.id) == 138
    staff_page = resident.get("/enquetes")
    assert staff_page.status_code == 302 and "/connexion" in staff_page.headers["Location"]


# --- invitation codes ----------------------------------------------------------------------------------


def test_invitation_codes_download_and_each_lets_one_answer_in(login_as, app, engine, demo, cleanup):
    coded = build(
        engine, demo, "Sur invitation", [QuestionInput(PUNCTUAL, "single", required=True, options="+ Oui\nNon")],
        access="codes",
    )  # fmt: skip
    [first] = coded.questions
    direction = login_as("direction")
    page = text(direction.get(f"/enquetes/{coded.id}"))
    assert "0 code(s) créé(s), 0 utilisé(s)" in page
    response = post(direction, f"/enquetes/{coded.id}/codes", f"/enquetes/{coded.id}", count="3")
    assert response.status_code == 200 and response.mimetype == XLSX
    assert f'attachment; filename="codes-enquete-{coded.id}.xlsx"' == response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data))["Codes d'invitation"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    # no link carrying the code: it would reach access logs beside an address and a time
    assert rows[0] == ["Code", "Lien"] and len(rows) == 4
    codes = [row[0] for row in rows[1:]]
    assert all(re.fullmatch(r"[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}", c) for c in codes)
    assert len(set(codes)) == 3
    link = f"http://localhost/participer/{coded.token}"
    assert all(row[1] == link for row in rows[1:])
    with write_session(engine) as session:
        kept = session.scalars(
            select(SurveyInvitation.code_hash).where(SurveyInvitation.survey_id == coded.id)
        )
        assert not set(codes) & set(kept)  # only their fingerprint is kept

    resident = app.test_client()
    direct = resident.get(f"/participer/{coded.token}?code={codes[0]}").get_data(as_text=True)
    # typed by the resident, never filled in from a URL
    assert f'name="code" value="{codes[0]}"' not in direct and "Votre code d'invitation" in html.unescape(
        direct
    )
    form = opened(resident, coded.token)
    incomplete = answer(
        resident, coded.token, form, code=codes[0]
    )  # a refused answer does not spend the code
    assert incomplete.status_code == 400 and "réponse obligatoire" in text(incomplete)
    typed = codes[0].lower().replace("-", " ")  # as a person may type it
    assert answer(resident, coded.token, form, code=typed, **{f"q{first}": "oui"}).status_code == 303
    # one page, one answer: the same page sent again is refused, whatever the code
    replayed = answer(resident, coded.token, form, code=codes[1], **{f"q{first}": "non"})
    assert replayed.status_code == 400 and "déjà été envoyé depuis cette page" in text(replayed)
    # with codes, the limit is the code, not the browser: a second code from the same browser counts
    form = opened(resident, coded.token)
    assert answer(resident, coded.token, form, code=codes[1], **{f"q{first}": "non"}).status_code == 303

    other = app.test_client()
    form = opened(other, coded.token)
    reused = answer(other, coded.token, form, code=codes[0], **{f"q{first}": "oui"})
    assert reused.status_code == 400
    assert "Ce code d'invitation a déjà servi : une seule réponse par code." in text(reused)
    wrong = answer(other, coded.token, form, code="ZZZZ-ZZZZ", **{f"q{first}": "oui"})
    assert wrong.status_code == 400
    assert "Ce code d'invitation n'est pas reconnu : vérifiez-le (8 caractères)." in text(wrong)
    assert 'aria-invalid="true"' in wrong.get_data(as_text=True)
    none = answer(other, coded.token, form, **{f"q{first}": "oui"})
    assert none.status_code == 400 and "n'est pas reconnu" in text(none)
    assert count_of(engine, coded.id) == 2
    assert "3 code(s) créé(s), 2 utilisé(s)" in text(direction.get(f"/enquetes/{coded.id}"))


def test_codes_are_refused_for_an_open_survey_and_to_other_roles(login_as, engine, portage):
    direction = login_as("direction")
    url = f"/enquetes/{portage.id}"
    response = post(direction, f"{url}/codes", url, count="10")
    assert follow(direction, response) == [
        "Erreur : Codes non créés : cette enquête est ouverte à tous par son lien : elle n'utilise pas de codes."
    ]
    response = post(direction, f"{url}/codes", url, count="0")
    assert follow(direction, response) == ["Erreur : Codes non créés : indiquez un nombre entre 1 et 5 000."]
    manager = login_as("responsable.seniors")
    assert post(manager, f"{url}/codes", url, count="10").status_code == 403
    with write_session(engine) as session:
        assert not session.scalar(select(func.count()).where(SurveyInvitation.survey_id == portage.id))


# --- paper questionnaires and Excel ------------------------------------------------------------------


def test_a_service_manager_enters_a_paper_questionnaire_once(login_as, engine, portage):
    first, why = portage.questions
    manager = login_as("responsable.seniors")
    url = f"/enquetes/{portage.id}/saisie"
    page = text(manager.get(url))
    assert "Saisie d'un questionnaire papier" in page and 'id="reference"' in page
    assert f'<legend id="q{first}">' in page  # the same questionnaire as online
    saved = post(manager, url, url, reference="P-001", **{f"q{first}": "non", f"q{why}": "Repas froid."})
    assert follow(manager, saved) == ["Questionnaire papier enregistré. Vous pouvez saisir le suivant."]
    [stored] = responses_of(engine, portage.id)
    assert stored.channel == "paper" and stored.reference == "P-001"
    assert stored.entered_by_id == user_id(engine, "responsable.seniors")
    assert type(stored.submitted_on) is date

    twice = post(manager, url, url, reference="P-001", **{f"q{first}": "oui"})
    assert twice.status_code == 400
    page = text(twice)
    assert "le questionnaire n° P-001 est déjà saisi" in page
    assert 'aria-invalid="true" aria-describedby="reference-err"' in page
    missing = post(manager, url, url, reference="P-002")
    assert missing.status_code == 400 and "réponse obligatoire" in text(missing)
    assert count_of(engine, portage.id) == 1
    for login in ("partenaire", "elu", "finances"):
        assert login_as(login).get(url).status_code == 403


def test_paper_answers_wait_for_the_survey_to_be_published(login_as, engine, demo):
    draft = survey_named(engine, demo, SATISFACTION_2026)
    direction = login_as("direction")
    url = f"/enquetes/{draft.id}/saisie"
    response = post(direction, url, url, reference="P-900", **{f"q{draft.questions[0]}": "4"})
    assert response.status_code == 400
    assert "publiez l'enquête avant d'en saisir les réponses" in text(response)
    assert count_of(engine, draft.id) == 0


def filled(template: bytes, rows: list[list[Any]]) -> bytes:
    book = load_workbook(io.BytesIO(template))
    sheet = book["Réponses"]
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, survey_id: int, content: bytes, name: str = "saisie.xlsx"):
    url = f"/enquetes/{survey_id}/import"
    token = csrf_token(client.get(url).get_data(as_text=True))
    return client.post(
        url,
        data={"csrf_token": token, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_paper_questionnaires_import_from_the_template_all_or_nothing(login_as, engine, demo, portage):
    _, why = portage.questions
    manager = login_as("responsable.seniors")
    page = text(manager.get(f"/enquetes/{portage.id}/import"))
    assert "Importer des questionnaires papier" in page
    assert f'href="/enquetes/{portage.id}/modele.xlsx"' in page
    template = manager.get(f"/enquetes/{portage.id}/modele.xlsx")
    assert template.status_code == 200 and template.mimetype == XLSX
    assert f'filename="saisie-enquete-{portage.id}.xlsx"' in template.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(template.data))
    assert book.sheetnames == ["Réponses", "Valeurs possibles"]
    headers = [c.value for c in book["Réponses"][1]]
    assert headers == ["N° de questionnaire", "Territoire", f"1. {PUNCTUAL}", f"2. {WHAT_WENT_WRONG}"]

    _, place, place_id = territory(engine, demo)
    good = filled(template.data, [["I-1", place, "Oui", None], ["I-2", None, "Non", "Trop tard"]])
    response = upload(manager, portage.id, good)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/enquetes/{portage.id}/resultats"
    assert flashes(manager.get(response.headers["Location"])) == ["2 questionnaire(s) importé(s)."]
    stored = responses_of(engine, portage.id)
    assert [(r.channel, r.reference, r.territory_id) for r in stored] == [
        ("import", "I-1", place_id),
        ("import", "I-2", None),
    ]
    assert {r.entered_by_id for r in stored} == {user_id(engine, "responsable.seniors")}
    assert [a.text for a in stored[1].answers if a.question_id == why] == ["Trop tard"]

    bad = filled(
        template.data,
        [["I-3", None, "Peut-être", None], [None, None, "Oui", None], ["I-1", None, "Oui", None]],
    )
    refused = upload(manager, portage.id, bad)
    assert refused.status_code == 400
    page = text(refused)
    assert "Rien n'a été importé" in page
    assert (
        f"feuille « Réponses », ligne 2, colonne « 1. {PUNCTUAL} » : question 1 (« {PUNCTUAL} ») : "
        "« Peut-être » n'est pas une réponse possible"
    ) in page
    assert (
        "feuille « Réponses », ligne 3, colonne « N° de questionnaire » : numéro de questionnaire manquant"
        in page
    )
    assert (
        "feuille « Réponses », ligne 4, colonne « N° de questionnaire » : le questionnaire n° I-1 est déjà saisi"
        in page
    )
    not_excel = upload(manager, portage.id, b"ceci n'est pas un classeur", "notes.xlsx")
    assert not_excel.status_code == 400
    assert "Fichier refusé : ce fichier n'est pas un classeur Excel (.xlsx)." in text(not_excel)
    other = Workbook()
    other.active.title = "Feuil1"
    buffer = io.BytesIO()
    other.save(buffer)
    wrong_sheet = upload(manager, portage.id, buffer.getvalue())
    assert wrong_sheet.status_code == 400 and "feuille « Réponses » introuvable" in text(wrong_sheet)
    assert count_of(engine, portage.id) == 2
    reader = login_as("partenaire")
    assert reader.get(f"/enquetes/{portage.id}/import").status_code == 403
    token = csrf_token(reader.get(f"/enquetes/{portage.id}").get_data(as_text=True))
    forbidden = reader.post(
        f"/enquetes/{portage.id}/import",
        data={"csrf_token": token, "file": (io.BytesIO(good), "saisie.xlsx")},
        content_type="multipart/form-data",
    )
    assert forbidden.status_code == 403
    assert count_of(engine, portage.id) == 2


# --- results and exports -------------------------------------------------------------------------------


def test_results_by_territory_hide_small_groups(login_as, engine, demo):
    survey = survey_named(engine, demo, SATISFACTION_2025)
    response = login_as("partenaire").get(f"/enquetes/{survey.id}/resultats?par=territory")
    assert response.status_code == 200
    page = text(response)
    words = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "138 réponse(s) 46 papier (saisi) 92 en ligne" in words
    assert 'aria-current="page">Par territoire</a>' in page
    assert "Réponses positives : 79,0 % (109 sur 138, IC 95 % 71,4 % – 85,0 %)" in words
    assert "Secret statistique : pour un groupe de moins de 11 répondants" in page
    first = page.split('<section aria-labelledby="q', 2)[1]
    rows = {
        label: (int(n), rest)
        for label, n, rest in re.findall(
            r'<tr><th scope="row">([^<]+)</th><td class="num">(\d+)</td>(.*?)</tr>', first, re.S
        )
    }
    assert sum(n for n, _ in rows.values()) == 138
    masked = {label for label, (_, rest) in rows.items() if "masqué" in rest}
    assert "Cavayères Montlegun" in masked and "Non renseigné" not in masked
    for label, (n, rest) in rows.items():
        if label in masked:
            assert "%" not in rest  # how many answered, never what they answered
        else:
            assert n >= 11 and "%" in rest
    assert re.search(r"Ozanam-Vignes Rouges</th><td class=\"num\">13</td>.*?69,2 %</td></tr>", first, re.S)
    overall = text(login_as("partenaire").get(f"/enquetes/{survey.id}/resultats"))
    assert "Répartition des réponses" in overall and "masqué (moins de" not in overall

    # the export hides the same territories
    book = load_workbook(io.BytesIO(login_as("elu").get(f"/enquetes/{survey.id}/export.xlsx").data))
    assert book.sheetnames == [
        "Synthèse", "Questions", "Par public", "Par territoire", "Réponses libres", "Réponses",
    ]  # fmt: skip
    lines = [row for row in book["Par territoire"].iter_rows(min_row=2, values_only=True) if row[0] == 1]
    assert {row[2] for row in lines if row[4] == "masqué (secret statistique)"} == masked
    assert all(row[5] is None for row in lines if row[2] in masked)


def test_the_answers_sheet_does_not_single_out_a_small_territory(login_as, engine, demo):
    """The results hide what fewer than 11 respondents of a territory answered, for every reader
    (partners included); the sheet of raw answers must not give it back with their territory."""
    survey = survey_named(engine, demo, SATISFACTION_2025)
    book = load_workbook(io.BytesIO(login_as("elu").get(f"/enquetes/{survey.id}/export.xlsx").data))
    masked = {
        row[2]
        for row in book["Par territoire"].iter_rows(min_row=2, values_only=True)
        if row[4] == "masqué (secret statistique)"
    }
    assert "Herminis-Grèzes-Villalbe-Bois de Serres" in masked  # a single respondent
    header = [c.value for c in book["Réponses"][1]]
    assert "Territoire" not in header and "Public" not in header
    cells = {v for row in book["Réponses"].iter_rows(min_row=2, values_only=True) for v in row}
    assert not cells & masked


def test_the_consultation_results_by_territory_hide_small_groups(login_as, engine, demo):
    consultation = survey_named(engine, demo, CONSULTATION)
    page = text(login_as("partenaire").get(f"/enquetes/{consultation.id}/resultats?par=territory"))
    assert "Part moyenne des points de chaque besoin, par territoire" in page
    table = page.split("Part moyenne des points de chaque besoin, par territoire", 1)[1].split("</table>", 1)[
        0
    ]
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">(\d+)</td>(.*?)</tr>', table, re.S)
    assert sum(int(n) for _, n, _ in rows) == 426
    masked = [label for label, _, rest in rows if "masqué (moins de 11 participants" in rest]
    assert masked and len(masked) < len(rows)
    for _, n, rest in rows:
        if "masqué" in rest:
            assert "%" not in rest
        else:
            assert int(n) >= 11 and rest.count("%") == 7  # the seven needs


def test_the_results_export_opens_in_excel(login_as, engine, demo):
    barometer = survey_named(engine, demo, BAROMETER)
    # every answer sheet and the free text are in it: not for partners
    assert login_as("partenaire").get(f"/enquetes/{barometer.id}/export.xlsx").status_code == 403
    reader = login_as("elu")
    response = reader.get(f"/enquetes/{barometer.id}/export.xlsx")
    assert response.status_code == 200 and response.mimetype == XLSX
    assert f'filename="resultats-enquete-{barometer.id}.xlsx"' in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == [
        "Synthèse", "Questions", "Par public", "Par territoire", "Réponses libres", "Réponses",
    ]  # fmt: skip
    summary = {row[0]: row[1] for row in book["Synthèse"].iter_rows(min_row=2, values_only=True)}
    assert summary["Enquête"] == BAROMETER and summary["Réponses"] == 312 and summary["État"] == "close"
    free = list(book["Réponses libres"].iter_rows(min_row=2, values_only=True))
    with write_session(engine) as session:
        texts = session.scalar(
            select(func.count())
            .select_from(SurveyAnswer)
            .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
            .where(SurveyResponse.survey_id == barometer.id, SurveyAnswer.text.is_not(None))
        )
    assert len(free) == texts > 0
    by_public = list(book["Par public"].iter_rows(min_row=2, values_only=True))
    assert {row[0] for row in by_public} == {1, 2, 3}  # the choice questions
    for row in by_public:
        if row[4] == "masqué (secret statistique)":
            assert row[5:] == (None, None, None)
        else:
            assert row[3] >= 11 and row[5] is not None
    raw = list(book["Réponses"].iter_rows(values_only=True))
    assert raw[0][0] == "Réponse" and raw[0][1:] == tuple(
        f"{n}. {question}" for n, question in enumerate(question_texts(engine, barometer.id), start=1)
    )  # one row per answer sheet, one column per question
    assert len(raw) - 1 == len({row[0] for row in raw[1:]}) == 312
    consultation = survey_named(engine, demo, CONSULTATION)
    book = load_workbook(io.BytesIO(reader.get(f"/enquetes/{consultation.id}/export.xlsx").data))
    assert book.sheetnames == [
        "Synthèse", "Questions", "Par public", "Par territoire", "Réponses libres",
        "Consultation", "Règle d'agrégation", "Réponses",
    ]  # fmt: skip
    weights = list(book["Consultation"].iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in weights] == ["PA80", "SDF", "JEUNES", "MONOPARENTS", "AIDE_LOGEMENT",
                                          "PETITE_ENFANCE", "AAH"]  # fmt: skip


# --- free-text answers ---------------------------------------------------------------------------------


def test_the_direction_tags_a_free_text_answer(login_as, engine, demo, barometer_themes_kept):
    barometer = barometer_themes_kept
    url = f"/enquetes/{barometer.id}/verbatims"
    # the barometer is about no service: its answers are the direction's, not a service manager's
    assert post(login_as("responsable.seniors"), url, url, answer="0").status_code == 403
    manager = login_as("direction")
    page = text(manager.get(url))
    total, untagged = map(
        int, re.search(r"(\d+) réponse\(s\) libre\(s\), dont (\d+) sans thème", page).groups()
    )
    assert total > 0 and "Enregistrer les thèmes" in page
    answer_id = int(re.search(r'<li id="r(\d+)" class="card">', page).group(1))
    saved = post(manager, url, url, answer=str(answer_id), nouveau="  Test web   démarches  ")
    assert saved.status_code == 303
    assert saved.headers["Location"] == f"{url}#r{answer_id}"
    assert flashes(manager.get(saved.headers["Location"])) == ["Thèmes enregistrés."]
    page = text(manager.get(url))
    assert f"dont {untagged - 1} sans thème" in page and ">Test web démarches (1)</a>" in page
    filtered = text(manager.get(f"{url}?theme=Test web démarches"))
    assert re.findall(r'<li id="r(\d+)" class="card">', filtered) == [str(answer_id)]
    both = post(
        manager, url, url, answer=str(answer_id), theme="Test web démarches", nouveau="Test web énergie"
    )
    assert both.status_code == 303
    with write_session(engine) as session:
        assert session.get(SurveyAnswer, answer_id).themes == ["Test web démarches", "Test web énergie"]
        assert session.get(Survey, barometer.id).themes[-2:] == ["Test web démarches", "Test web énergie"]

    elected = login_as("elu")  # reads the themes, does not tag
    page = text(elected.get(url))
    assert "Enregistrer les thèmes" not in page and "Thèmes : Test web démarches, Test web énergie" in page
    reader = login_as("partenaire")  # a partner does not read residents' own words
    assert reader.get(url).status_code == 403
    assert post(reader, url, url, answer=str(answer_id), nouveau="Autre").status_code == 403
    assert post(login_as("elu"), url, url, answer=str(answer_id), nouveau="Autre").status_code == 403
    elsewhere = survey_named(engine, demo, SATISFACTION_2025)
    with write_session(engine) as session:
        foreign = session.scalar(
            select(SurveyAnswer.id)
            .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
            .where(SurveyResponse.survey_id == elsewhere.id, SurveyAnswer.text.is_not(None))
            .limit(1)
        )
    assert post(manager, url, url, answer=str(foreign), nouveau="Autre").status_code == 404
    with write_session(engine) as session:
        assert session.get(SurveyAnswer, answer_id).themes == ["Test web démarches", "Test web énergie"]


def test_tagging_an_answer_of_the_second_page_comes_back_to_that_page(
    login_as, engine, demo, barometer_themes_kept
):
    url = f"/enquetes/{barometer_themes_kept.id}/verbatims"
    manager = login_as("direction")
    page = text(manager.get(f"{url}?page=2"))
    assert "Page 2 sur 2" in page and "Page précédente" in page
    answer_id = int(re.search(r'<li id="r(\d+)" class="card">', page).group(1))
    assert f'action="{url}?page=2"' in page
    saved = post(manager, f"{url}?page=2", f"{url}?page=2", answer=str(answer_id), nouveau="Test web page 2")
    assert saved.status_code == 303
    landing = manager.get(saved.headers["Location"].split("#")[0])
    assert f'id="r{answer_id}"' in landing.get_data(as_text=True), (
        f"tagged on page 2, sent back to {saved.headers['Location']} where the answer is not"
    )


def test_the_direction_copies_last_years_survey_into_a_new_draft(login_as, app, engine, demo, cleanup):
    source = survey_named(engine, demo, SATISFACTION_2025)
    direction = login_as("direction")
    url = f"/enquetes/{source.id}"
    page = text(direction.get(url))
    assert "Copier l'enquête" in page and f'value="{SATISFACTION_2025} (copie)"' in page
    response = post(direction, f"{url}/copier", url, title=PREFIX + "Portage 2027")
    assert response.status_code == 303
    copy_id = int(re.fullmatch(r"/enquetes/(\d+)", response.headers["Location"]).group(1))
    assert flashes(direction.get(response.headers["Location"])) == [
        "Copie créée, en préparation : ses questions peuvent être modifiées."
    ]
    with write_session(engine) as session:
        original, copy = session.get(Survey, source.id), session.get(Survey, copy_id)
        assert copy.state == "draft" and copy.token != original.token and copy.themes == []
        assert (copy.kind, copy.access, copy.ask_territory, copy.service_id) == (
            original.kind, original.access, original.ask_territory, original.service_id,
        )  # fmt: skip
        assert [q.text for q in copy.questions] == [q.text for q in original.questions]
        assert {q.id for q in copy.questions}.isdisjoint(q.id for q in original.questions)
        condition = copy.questions[4]  # « Lequel ? », asked after a problem
        assert condition.condition_question_id == copy.questions[3].id and condition.condition_values == [
            "oui"
        ]
        assert copy.questions[0].indicator_id == original.questions[0].indicator_id
        token = copy.token
    assert count_of(engine, copy_id) == 0 and count_of(engine, source.id) == 138
    assert app.test_client().get(f"/participer/{token}").status_code == 404  # a draft
    twice = post(direction, f"{url}/copier", url, title=BAROMETER)
    assert follow(direction, twice) == [
        f"Erreur : Enquête non copiée : une enquête « {BAROMETER} » existe déjà."
    ]
    untitled = post(direction, f"{url}/copier", url, title="")
    assert follow(direction, untitled) == ["Erreur : Enquête non copiée : donnez un titre à la copie."]
    manager = login_as("responsable.seniors")
    assert post(manager, f"{url}/copier", url, title=PREFIX + "Pas le droit").status_code == 403


# --- the priority consultation -------------------------------------------------------------------------


def test_an_elected_member_adopts_one_proposed_weight(login_as, engine, demo, needs_kept):
    consultation = survey_named(engine, demo, CONSULTATION)
    url = f"/enquetes/{consultation.id}/resultats"
    with write_session(engine) as session:
        proposed = {w.code: w for w in consultation_weights(session, session.get(Survey, consultation.id))}
        codes = dict(
            session.execute(
                select(Need.code, Need.id).where(Need.organisation_id == demo.organisation_id)
            ).all()
        )
    elu_id = user_id(engine, "elu")
    elected = login_as("elu")
    page = text(elected.get(url))
    assert "Priorités : la consultation à côté des élus" in page
    assert '<th scope="col" class="num">Poids des élus</th>' in page and "Poids proposé</th>" in page
    assert "426 participant(s) pris en compte" in page
    assert page.count('type="checkbox" name="besoin"') == 7 and "Appliquer les poids cochés" in page
    assert "Rien n'est appliqué sans votre décision" in page

    response = post(elected, f"/enquetes/{consultation.id}/ponderations", url, besoin="PA80")
    assert response.status_code == 303 and response.headers["Location"] == f"{url}#ponderations"
    assert flashes(elected.get(response.headers["Location"])) == [
        "Pondération de la consultation appliquée à 1 besoin(s)."
    ]
    with write_session(engine) as session:
        after = {
            n.id: n for n in session.scalars(select(Need).where(Need.organisation_id == demo.organisation_id))
        }
        pa80 = after[codes["PA80"]]
        assert pa80.priority_weight == pytest.approx(proposed["PA80"].proposed_weight)
        assert pa80.priority_weight != pytest.approx(needs_kept[pa80.id]["priority_weight"])
        assert pa80.priority_set_by_id == elu_id and isinstance(pa80.priority_set_at, datetime)
        unchanged = [n for i, n in after.items() if i != pa80.id]
        assert all(n.priority_weight == needs_kept[n.id]["priority_weight"] for n in unchanged)
        decided = session.scalar(
            select(func.count()).where(
                AuditEntry.table_name == "needs", AuditEntry.row_id == str(pa80.id),
                AuditEntry.field == "priority_weight", AuditEntry.user_id == elu_id,
            )
        )  # fmt: skip
    assert decided == 1  # the decision is in the journal, with who took it


def test_only_the_elected_members_adopt_weights(login_as, engine, demo, needs_kept):
    """The élus set the priority of needs (README's roles), so they alone apply a consultation's."""
    consultation = survey_named(engine, demo, CONSULTATION)
    url = f"/enquetes/{consultation.id}/resultats"
    finance = login_as("finances")
    page = text(finance.get(url))
    assert "Poids des élus" in page and "Poids proposé" in page
    assert 'name="besoin"' not in page and "Ces poids sont une proposition" in page
    for login in ("finances", "partenaire", "responsable.seniors", "direction"):
        client = login_as(login)
        assert (
            post(client, f"/enquetes/{consultation.id}/ponderations", url, besoin="PA80").status_code == 403
        )
    assert 'name="besoin"' not in login_as("direction").get(url).get_data(as_text=True)
    direction = login_as("elu")  # the one who may: the refusals below are about the form
    assert 'name="besoin"' in direction.get(url).get_data(as_text=True)
    unknown = post(direction, f"/enquetes/{consultation.id}/ponderations", url, besoin="INCONNU")
    assert follow(direction, unknown) == [
        "Erreur : Pondérations non appliquées : pas de pondération proposée pour : INCONNU."
    ]
    nothing = post(direction, f"/enquetes/{consultation.id}/ponderations", url)
    assert follow(direction, nothing) == ["Erreur : Pondérations non appliquées : cochez au moins un besoin."]
    with write_session(engine) as session:
        rows = session.execute(
            select(Need.id, Need.priority_weight).where(Need.organisation_id == demo.organisation_id)
        ).all()
    assert dict(rows) == {i: v["priority_weight"] for i, v in needs_kept.items()}


def test_weights_are_adopted_from_a_closed_consultation_only(login_as, engine, demo, needs_kept, cleanup):
    ongoing = build(
        engine, demo, "Consultation en cours",
        [QuestionInput("Répartissez 10 points.", "points", total=10, need_codes=["PA80", "SDF"], required=True)],
        kind="consultation",
    )  # fmt: skip
    draft = survey_named(engine, demo, SATISFACTION_2026)
    elected = login_as("elu")
    for survey_id in (ongoing.id, draft.id):
        url = f"/enquetes/{survey_id}/resultats"
        response = post(elected, f"/enquetes/{survey_id}/ponderations", url, besoin="PA80")
        assert follow(elected, response) == [
            "Erreur : Pondérations non appliquées : seule une consultation close propose des pondérations."
        ]
    page = text(elected.get(f"/enquetes/{ongoing.id}/resultats"))
    assert "Poids des élus" in page and 'name="besoin"' not in page  # shown, but not yet to adopt
    with write_session(engine) as session:
        rows = session.execute(
            select(Need.id, Need.priority_weight).where(Need.organisation_id == demo.organisation_id)
        ).all()
    assert dict(rows) == {i: v["priority_weight"] for i, v in needs_kept.items()}


def test_a_resident_shares_points_between_needs(app, engine, demo, cleanup):
    ongoing = build(
        engine, demo, "Consultation ouverte",
        [QuestionInput("Répartissez 10 points.", "points", total=10, need_codes=["PA80", "SDF"], required=True)],
        kind="consultation",
    )  # fmt: skip
    [question] = ongoing.questions
    resident = app.test_client()
    form = opened(resident, ongoing.token)
    page = text(resident.get(f"/participer/{ongoing.token}"))
    assert "Répartissez jusqu'à 10 points entre ces besoins" in page
    assert "Aider les personnes très âgées à rester chez elles" in page  # the need in plain words
    too_many = answer(resident, ongoing.token, form, **{f"q{question}-PA80": "7", f"q{question}-SDF": "5"})
    assert too_many.status_code == 400 and "12 points répartis pour 10 disponibles" in text(too_many)
    sent = answer(resident, ongoing.token, form, **{f"q{question}-PA80": "7", f"q{question}-SDF": "3"})
    assert sent.status_code == 303
    [stored] = responses_of(engine, ongoing.id)
    assert stored.answers[0].allocation == {"PA80": 7, "SDF": 3}


# --- who may do what -----------------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["partenaire", "elu", "finances", "responsable.seniors"])
def test_only_the_direction_creates_surveys(login_as, engine, demo, cleanup, login):
    client = login_as(login)
    page = client.get("/enquetes")
    assert page.status_code == 200
    assert "Nouvelle enquête" not in text(page) and BAROMETER in text(page)
    response = post(client, "/enquetes", "/enquetes", title=PREFIX + "Interdite", kind="needs", access="open",
                    threshold="11")  # fmt: skip
    assert response.status_code == 403
    with write_session(engine) as session:
        assert session.scalar(select(Survey.id).where(Survey.title == PREFIX + "Interdite")) is None


def test_a_service_manager_neither_edits_nor_publishes(login_as, engine, demo, cleanup):
    draft = build(
        engine, demo, "Brouillon du service", [QuestionInput(PUNCTUAL, "single", options="+ Oui\nNon")],
        published=False,
    )  # fmt: skip
    manager = login_as("responsable.seniors")
    url = f"/enquetes/{draft.id}"
    page = text(manager.get(url))
    assert (
        "Publier" not in page and "Ajouter la question" not in page and "Ce que les répondants lisent" in page
    )
    assert post(manager, f"{url}/publier", url).status_code == 403
    assert post(manager, f"{url}/cloturer", url).status_code == 403
    assert post(manager, f"{url}/questions", url, text="Encore ?", kind="text").status_code == 403
    assert post(manager, f"{url}/questions/{draft.questions[0]}/supprimer", url).status_code == 403
    assert post(manager, url, url, title=PREFIX + "Renommée", kind="needs", access="open",
                threshold="11").status_code == 403  # fmt: skip
    with write_session(engine) as session:
        survey = session.get(Survey, draft.id)
        assert survey.state == "draft" and survey.title == PREFIX + "Brouillon du service"
        assert len(survey.questions) == 1


def test_the_direction_closes_its_survey(login_as, app, engine, portage):
    direction = login_as("direction")
    url = f"/enquetes/{portage.id}"
    closed = post(direction, f"{url}/cloturer", url)
    assert follow(direction, closed) == ["Enquête close : elle ne reçoit plus de réponses en ligne."]
    assert "Cette enquête est close" in text(app.test_client().get(f"/participer/{portage.token}"))
    again = post(direction, f"{url}/cloturer", url)
    assert follow(direction, again) == [
        "Erreur : Enquête non close : seule une enquête ouverte peut être close."
    ]


def test_another_organisations_surveys_are_out_of_reach(login_as, engine, demo, other_demo):
    with write_session(engine) as session:
        foreign = session.scalar(
            select(Survey.id).where(Survey.organisation_id == other_demo.organisation_id).limit(1)
        )
    assert foreign is not None
    direction = login_as("direction")
    for path in ("", "/resultats", "/resultats?par=territory", "/export.xlsx", "/verbatims", "/saisie",
                 "/import", "/modele.xlsx"):  # fmt: skip
        assert direction.get(f"/enquetes/{foreign}{path}").status_code == 404, path
    for path in ("/publier", "/cloturer", "/ponderations", "/codes", "/verbatims"):
        assert post(direction, f"/enquetes/{foreign}{path}", "/enquetes").status_code == 404, path
    assert (
        post(login_as("elu"), f"/enquetes/{foreign}/ponderations", "/enquetes", besoin="PA80").status_code
        == 404
    )
    assert direction.get("/enquetes/999999").status_code == 404


# --- budget scenarios ----------------------------------------------------------------------------------


def scenario_form(page: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": csrf_token(page), "year": "2027", "cut": "-5", "min_change": "-10", "max_change": "15",
        "method": "optimise", "objective": "persons", "staff_limit": "", "weights": "", **fields,
    }  # fmt: skip


def test_a_scenario_may_use_the_weights_of_the_closed_consultation(login_as, engine, demo, cleanup):
    consultation = survey_named(engine, demo, CONSULTATION)
    draft = survey_named(engine, demo, SATISFACTION_2026)
    finance = login_as("finances")
    page = text(finance.get("/scenarios"))
    select_html = re.search(r'<select[^>]*name="weights".*?</select>', page, re.S)
    assert select_html is not None and "Poids de priorité des besoins" in page
    options = re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select_html.group(0))
    assert options == [
        ("", "Ceux fixés par les élus"),
        (str(consultation.id), f"Ceux que propose la consultation « {CONSULTATION} »"),
    ]
    refused = finance.post(
        "/scenarios", data=scenario_form(page, name=PREFIX + "Brouillon", weights=str(draft.id))
    )
    assert refused.status_code == 400
    assert "consultation inconnue ou pas encore close" in text(refused)

    response = finance.post(
        "/scenarios",
        data=scenario_form(page, name=PREFIX + "Poids des habitants", weights=str(consultation.id)),
    )
    assert response.status_code == 303
    scenario_id = int(re.fullmatch(r"/scenarios/(\d+)", response.headers["Location"]).group(1))
    deadline = time.monotonic() + 60
    while True:
        shown = text(finance.get(f"/scenarios/{scenario_id}"))
        if '<meta http-equiv="refresh"' not in shown:
            break
        assert time.monotonic() < deadline, "the background run did not end"
        time.sleep(0.2)
    assert f"Poids de priorité : ceux que propose la consultation « {CONSULTATION} »" in shown
    assert '<th scope="col" class="num">Poids des élus</th>' in shown
    assert '<th scope="col" class="num">Poids de la consultation</th>' in shown
    with write_session(engine) as session:
        scenario = session.get(Scenario, scenario_id)
        weights = scenario.parameters["weights"]
        assert weights["source"] == "consultation" and weights["survey_id"] == consultation.id
        assert set(weights["consultation"]) == {
            "PA80", "SDF", "JEUNES", "MONOPARENTS", "AIDE_LOGEMENT", "PETITE_ENFANCE", "AAH",
        }  # fmt: skip


def test_settings_changed_meanwhile_are_not_overwritten(login_as, engine, portage):
    direction = login_as("direction")
    url = f"/enquetes/{portage.id}"
    page = direction.get(url).get_data(as_text=True)
    read_at = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    with write_session(engine) as session:  # someone else saves the settings in between
        session.get(Survey, portage.id).introduction = "Changée entre-temps"
    stale = post(
        direction, url, url, version=read_at, title=PREFIX + "Portage", kind="satisfaction", access="open",
        threshold="11", introduction="Ma version",
    )  # fmt: skip
    assert stale.status_code == 409
    assert "ses paramètres ont été changés entre-temps" in text(stale)
    assert "Changée entre-temps" in text(stale)  # the current values are shown
    with write_session(engine) as session:
        assert session.get(Survey, portage.id).introduction == "Changée entre-temps"

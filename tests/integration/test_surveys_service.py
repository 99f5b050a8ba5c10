"""Surveys: building (and its French refusals), publishing and closing (the indicators written),
answers checked alike on every channel, invitation codes, results under the confidentiality
threshold, and the priority consultation's proposed weights."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models import (
    Frequency,
    Measurement,
    MeasurementState,
    Need,
    Organisation,
    Period,
    PopulationGroup,
    Survey,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
)
from services import survey_results as R
from services import surveys as S
from services.surveys import AnswerErrors, QuestionInput, SurveyError, SurveyInput
from tests.integration import factories as F

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
TODAY = NOW.date()


def new_survey(session, org: Organisation, *, kind: str = "satisfaction", **settings) -> Survey:
    data = SurveyInput(title=f"Enquête {S.new_token()[:8]}", kind=kind, **settings)
    return S.create_survey(session, org.id, org.name, data, user_id=None)


def satisfied(session, survey: Survey, **overrides) -> SurveyQuestion:
    values = {"options": "+Oui\n+Plutôt oui\nNon", "required": True, **overrides}
    return S.add_question(session, survey, QuestionInput("Êtes-vous satisfait ?", "single", **values))


def answer(
    session, survey: Survey, form: dict[str, list[str]], *, channel: str = "web", **kw
) -> SurveyResponse:
    parsed = S.parse_answers(session, survey, form)
    return S.save_response(session, survey, parsed, channel=channel, today=TODAY, **kw)


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(SurveyError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def errors_of(session, survey: Survey, form: dict[str, list[str]]) -> dict[str, str]:
    with pytest.raises(AnswerErrors) as caught:
        S.parse_answers(session, survey, form)
    return caught.value.errors


@pytest.fixture
def org(db_session) -> Organisation:
    return F.organisation(db_session)


# --- building ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (QuestionInput("Venez-vous souvent ?", "single", options="Oui\n\n  \n+"), "au moins deux réponses possibles"),
        (QuestionInput("", "text"), "écrivez la question"),
        (QuestionInput("Note", "scale", scale_min=3, scale_max=3), "l'échelle va de 0 ou 1 jusqu'à 10"),
        (QuestionInput("Note", "scale", scale_max=5, positive_from=6), "« satisfait à partir de » doit être sur l'échelle"),
        (QuestionInput("Âge", "number", number_min=10, number_max=5), "le minimum doit être inférieur au maximum"),
        (QuestionInput("Priorités", "points", need_codes=["LOG", "NOPE"]), "besoin(s) inconnu(s) : NOPE"),
        (QuestionInput("Priorités", "points", need_codes=["LOG"]), "au moins deux besoins"),
        (QuestionInput("Priorités", "points", need_codes=["LOG", "ALIM"], total=0), "entre 1 et 1 000"),
        (QuestionInput("Notes", "rating", need_codes=["LOG", "ALIM"], total=11), "la note maximale doit être entre 2 et 10"),
        (QuestionInput("Quoi ?", "date"), "type de question « date » inconnu"),
    ],
)  # fmt: skip
def test_a_question_is_refused_with_its_reason(db_session, org, data, message):
    for code in ("LOG", "ALIM"):
        F.need(db_session, org, code=code)
    survey = new_survey(db_session, org)
    assert message in refused(S.add_question, db_session, survey, data)
    assert survey.questions == []


def test_what_feeds_an_indicator_is_checked(db_session, org):
    survey = new_survey(db_session, org)
    indicator = F.indicator(db_session, org, unit="%")
    computed = F.indicator(db_session, org, unit="%", formula="a + b")
    other = F.indicator(db_session, F.organisation(db_session), unit="%")
    meals = F.indicator(db_session, org, unit="repas")
    cases = [
        (QuestionInput("Commentaire", "text", indicator_id=indicator.id), "seule une question à choix ou à échelle"),
        (QuestionInput("Note", "scale", indicator_id=indicator.id), "indiquez à partir de quelle note"),
        (QuestionInput("Satisfait ?", "single", options="Oui\nNon", indicator_id=indicator.id),
         "marquez d'un « + » les réponses positives"),
        (QuestionInput("Satisfait ?", "single", options="+Oui\nNon", indicator_id=computed.id), "calculé par formule"),
        (QuestionInput("Satisfait ?", "single", options="+Oui\nNon", indicator_id=other.id), "indicateur inconnu"),
        (QuestionInput("Satisfait ?", "single", options="+Oui\nNon", indicator_id=meals.id), "doit être en %"),
        (QuestionInput("Satisfait ?", "single", options="+Oui\nNon", need_id=10**9), "besoin inconnu"),
    ]  # fmt: skip
    for data, message in cases:
        assert message in refused(S.add_question, db_session, survey, data)
    question = S.add_question(
        db_session, survey, QuestionInput("Note", "scale", positive_from=4, indicator_id=indicator.id)
    )
    assert question.settings["positive_from"] == 4 and question.indicator_id == indicator.id


def test_options_are_parsed_with_their_positive_mark(db_session, org):
    survey = new_survey(db_session, org)
    question = satisfied(db_session, survey, options="+ Très satisfait(e)\nPas satisfait\n\nPas satisfait")
    assert question.settings["options"] == [
        {"code": "tres-satisfait-e", "label": "Très satisfait(e)", "positive": True},
        {"code": "pas-satisfait", "label": "Pas satisfait", "positive": False},
        {"code": "pas-satisfait-2", "label": "Pas satisfait", "positive": False},
    ]
    assert question.code == "etes-vous-satisfait" and question.position == 1
    again = satisfied(db_session, survey)
    assert again.code == "etes-vous-satisfait-2" and again.position == 2


def test_a_condition_bears_on_an_earlier_choice_question(db_session, org):
    survey = new_survey(db_session, org)
    first = satisfied(db_session, survey)
    text = S.add_question(db_session, survey, QuestionInput("Votre avis", "text"))
    later = S.add_question(db_session, survey, QuestionInput("Pourquoi ?", "text"))
    assert "une question posée avant celle-ci" in refused(
        S.update_question, db_session, first,
        QuestionInput("Êtes-vous satisfait ?", "single", options="+Oui\nNon", condition_question_id=later.id,
                      condition_values=["x"]),
    )  # fmt: skip
    assert "une condition porte sur une question à choix ou à échelle" in refused(
        S.update_question, db_session, later,
        QuestionInput("Pourquoi ?", "text", condition_question_id=text.id, condition_values=["x"]),
    )  # fmt: skip
    assert "« Peut-être » n'est pas une réponse possible" in refused(
        S.update_question, db_session, later,
        QuestionInput("Pourquoi ?", "text", condition_question_id=first.id, condition_values=["Peut-être"]),
    )  # fmt: skip
    assert "indiquez quelle(s) réponse(s) déclenche(nt) la question" in refused(
        S.update_question,
        db_session,
        later,
        QuestionInput("Pourquoi ?", "text", condition_question_id=first.id),
    )
    S.update_question(
        db_session,
        later,
        QuestionInput("Pourquoi ?", "text", condition_question_id=first.id, condition_values=["NON"]),
    )
    assert (later.condition_question_id, later.condition_values) == (first.id, ["non"])


def test_a_question_cannot_move_above_its_condition_nor_its_condition_be_deleted(db_session, org):
    survey = new_survey(db_session, org)
    first = satisfied(db_session, survey)
    why = S.add_question(
        db_session,
        survey,
        QuestionInput("Pourquoi ?", "text", condition_question_id=first.id, condition_values=["Non"]),
    )
    free = S.add_question(db_session, survey, QuestionInput("Autre chose ?", "text"))
    assert "« Pourquoi ? » dépend de « Êtes-vous satisfait ? » : elle doit rester après" in refused(
        S.move_question, db_session, why, -1
    )
    assert "dépend de" in refused(S.move_question, db_session, first, +1)
    assert "d'autres questions dépendent de celle-ci" in refused(S.delete_question, db_session, first)
    assert [q.id for q in survey.questions] == [first.id, why.id, free.id]
    S.move_question(db_session, free, -1)
    S.move_question(db_session, free, -1)  # not past its condition: it has none
    S.move_question(db_session, free, -1)  # already first: nothing happens
    assert [q.id for q in survey.questions] == [free.id, first.id, why.id]


def test_a_question_others_depend_on_keeps_the_answers_they_depend_on(db_session, org):
    """Bug (reported): ``update_question`` does not look at the questions conditioned on this one, so
    changing its kind or dropping the option they wait for leaves them never asked, silently."""
    survey = new_survey(db_session, org)
    first = satisfied(db_session, survey)
    S.add_question(
        db_session,
        survey,
        QuestionInput("Pourquoi ?", "text", condition_question_id=first.id, condition_values=["Non"]),
    )
    for data in (
        QuestionInput("Êtes-vous satisfait ?", "text"),
        QuestionInput("Êtes-vous satisfait ?", "single", options="+Oui\nPas du tout"),
    ):
        assert "dépendent de celle-ci" in refused(S.update_question, db_session, first, data)
    assert first.kind == "single" and [o["code"] for o in first.settings["options"]] == [
        "oui",
        "plutot-oui",
        "non",
    ]


def test_a_published_survey_keeps_its_questions(db_session, org):
    survey = new_survey(db_session, org)
    question = satisfied(db_session, survey)
    S.publish(db_session, survey, now=NOW)
    for message in (
        refused(S.add_question, db_session, survey, QuestionInput("Encore ?", "text")),
        refused(S.update_question, db_session, question, QuestionInput("Autre", "text")),
        refused(S.delete_question, db_session, question),
        refused(S.move_question, db_session, question, 1),
    ):
        assert message.startswith("les questions d'une enquête publiée ne changent plus")
    assert "le type et le mode d'accès d'une enquête publiée ne changent plus" in refused(
        S.update_survey, db_session, survey, SurveyInput(title=survey.title, kind="needs")
    )
    assert question.text == "Êtes-vous satisfait ?" and len(survey.questions) == 1


def test_survey_settings_are_checked(db_session, org):
    first = new_survey(db_session, org)
    message = refused(
        S.create_survey, db_session, org.id, org.name,
        SurveyInput(title=first.title, kind="sondage", access="libre", threshold=0), user_id=None,
    )  # fmt: skip
    for part in (
        "existe déjà",
        "type d'enquête « sondage » inconnu",
        "mode d'accès « libre » inconnu",
        "entre 1 et 100",
    ):
        assert part in message
    assert org.name in first.purpose and "11 personnes" in first.purpose and first.state == "draft"


# --- publishing and closing ----------------------------------------------------------------------------


def test_publishing_needs_questions_and_a_future_closing_day(db_session, org):
    survey = new_survey(db_session, org)
    assert "ajoutez au moins une question" in refused(S.publish, db_session, survey, now=NOW)
    consultation = new_survey(db_session, org, kind="consultation")
    satisfied(db_session, consultation)
    assert "au moins une question de répartition" in refused(S.publish, db_session, consultation, now=NOW)
    satisfied(db_session, survey)
    survey.closes_on = date(2026, 11, 25)
    assert "la date de clôture est passée" in refused(S.publish, db_session, survey, now=NOW)
    assert "seule une enquête ouverte peut être close" in refused(S.close, db_session, survey, now=NOW)
    survey.closes_on = TODAY
    S.publish(db_session, survey, now=NOW)
    assert (survey.state, survey.opened_at, survey.closed_at) == ("open", NOW, None)
    assert "déjà ouverte" in refused(S.publish, db_session, survey, now=NOW)


def test_closing_writes_the_share_of_positive_answers_to_the_indicators(db_session, org):
    yearly = F.indicator(db_session, org, unit="%", frequency=Frequency.YEARLY, decimals=1)
    quarterly = F.indicator(db_session, org, unit="%", frequency=Frequency.QUARTERLY, decimals=0)
    survey = new_survey(db_session, org)
    welcome = satisfied(db_session, survey, indicator_id=yearly.id)
    note = S.add_question(
        db_session, survey, QuestionInput("Note", "scale", positive_from=4, indicator_id=quarterly.id)
    )
    S.publish(db_session, survey, now=NOW)
    for choice, grade in (("Oui", "5"), ("Plutôt oui", "2"), ("Non", "4")):
        answer(db_session, survey, {S.field_name(welcome): [choice], S.field_name(note): [grade]})
    assert S.close(db_session, survey, now=NOW).written == 2
    assert (survey.state, survey.closed_at) == ("closed", NOW)
    written = {
        indicator_id: (value, key, state, comment)
        for indicator_id, value, key, state, comment in db_session.execute(
            select(
                Measurement.indicator_id,
                Measurement.value,
                Period.key,
                Measurement.state,
                Measurement.comment,
            )
            .join(Period, Period.id == Measurement.period_id)
            .where(Measurement.organisation_id == org.id)
        )
    }
    assert written[yearly.id][:3] == (66.7, "2026", MeasurementState.VALIDATED)
    assert written[quarterly.id][:3] == (67.0, "2026-T4", MeasurementState.VALIDATED)
    assert "2 réponses positives sur 3" in written[yearly.id][3]
    assert "intervalle de confiance à 95 %" in written[yearly.id][3]
    # an answer typed from paper after the close updates the value
    answer(db_session, survey, {S.field_name(welcome): ["Non"]}, channel="paper", reference="12")
    S.after_entry(db_session, survey)
    db_session.expire_all()
    value = db_session.scalar(select(Measurement.value).where(Measurement.indicator_id == yearly.id))
    assert value == 50.0
    assert (
        db_session.scalar(
            select(func.count()).select_from(Measurement).where(Measurement.indicator_id == yearly.id)
        )
        == 1
    )


def test_the_surveys_due_for_closing_are_the_open_ones_whose_day_is_past(db_session, org):
    surveys = {}
    for name in ("past", "today", "undated", "draft", "elsewhere"):
        surveys[name] = new_survey(db_session, org if name != "elsewhere" else F.organisation(db_session))
        satisfied(db_session, surveys[name])
        if name != "draft":
            S.publish(db_session, surveys[name], now=NOW)
    surveys["past"].closes_on = date(2026, 11, 25)
    surveys["today"].closes_on = TODAY
    surveys["draft"].closes_on = date(2026, 11, 1)
    surveys["elsewhere"].closes_on = date(2026, 11, 1)
    db_session.flush()
    due = S.due_for_closing(db_session, org.id, TODAY)
    assert due == [surveys["past"]]
    S.close(db_session, due[0], now=NOW)
    assert {name: s.state for name, s in surveys.items()} == {
        "past": "closed", "today": "open", "undated": "open", "draft": "draft", "elsewhere": "open",
    }  # fmt: skip
    assert surveys["past"].closed_at == NOW
    assert S.due_for_closing(db_session, org.id, TODAY) == []


def test_the_public_link_shows_open_and_closed_surveys_only(db_session, org):
    survey = new_survey(db_session, org)
    satisfied(db_session, survey)
    assert len(survey.token) >= 24
    assert S.find_survey_by_token(db_session, survey.token) is None  # a draft is not public
    S.publish(db_session, survey, now=NOW)
    assert S.find_survey_by_token(db_session, survey.token) is survey
    S.close(db_session, survey, now=NOW)
    assert S.find_survey_by_token(db_session, survey.token) is survey
    for token in ("", "short", "x" * 65, survey.token + "'; --", "A" * 24):
        assert S.find_survey_by_token(db_session, token) is None


# --- answering -------------------------------------------------------------------------------------------


@pytest.fixture
def questionnaire(db_session, org):
    survey = new_survey(db_session, org)
    single = satisfied(db_session, survey)
    several = S.add_question(
        db_session,
        survey,
        QuestionInput("Quelles aides ?", "multiple", options="Alimentaire\nLogement\nTransport"),
    )
    why = S.add_question(
        db_session, survey,
        QuestionInput("Pourquoi ?", "text", required=True, condition_question_id=single.id, condition_values=["non"]),
    )  # fmt: skip
    scale = S.add_question(db_session, survey, QuestionInput("Note", "scale", scale_min=0, scale_max=10))
    S.publish(db_session, survey, now=NOW)
    return survey, single, several, why, scale


def test_answers_are_read_by_code_or_label(db_session, questionnaire):
    survey, single, several, why, scale = questionnaire
    name = S.field_name
    parsed = S.parse_answers(
        db_session, survey,
        {name(single): [" plutot OUI "], name(several): ["logement", "Alimentaire", "LOGEMENT", ""],
         name(why): ["ignored: the condition is not met"], name(scale): ["7,0"]},
    )  # fmt: skip
    answers = {a.question_id: a for a in parsed.answers}
    assert answers[single.id].choices == ["plutot-oui"]
    assert answers[several.id].choices == ["logement", "alimentaire"]
    assert why.id not in answers
    assert (answers[scale.id].choices, answers[scale.id].number) == (["7"], 7.0)


def test_answers_are_refused_field_by_field(db_session, questionnaire):
    survey, single, several, why, scale = questionnaire
    name = S.field_name
    errors = errors_of(
        db_session, survey,
        {name(single): ["Oui", "Non"], name(several): ["Logement", "Vacances"], name(scale): ["11"]},
    )  # fmt: skip
    assert errors == {
        name(single): "question 1 (« Êtes-vous satisfait ? ») : une seule réponse attendue",
        name(several): "question 2 (« Quelles aides ? ») : « Vacances » n'est pas une réponse possible",
        name(scale): "question 4 (« Note ») : « 11 » n'est pas une réponse possible",
    }
    assert errors_of(db_session, survey, {name(several): ["Logement"]}) == {
        name(single): "question 1 (« Êtes-vous satisfait ? ») : réponse obligatoire"
    }
    # the condition is met: the follow-up question is asked, and required
    assert errors_of(db_session, survey, {name(single): ["Non"]}) == {
        name(why): "question 3 (« Pourquoi ? ») : réponse obligatoire"
    }
    too_long = "x" * (S.MAX_TEXT + 1)
    assert errors_of(db_session, survey, {name(single): ["Non"], name(why): [too_long]}) == {
        name(why): f"question 3 (« Pourquoi ? ») : {S.MAX_TEXT} caractères au plus ({S.MAX_TEXT + 1} saisis)"
    }
    parsed = S.parse_answers(db_session, survey, {name(single): ["Non"], name(why): ["x" * S.MAX_TEXT]})
    assert len(parsed.answers[1].text) == S.MAX_TEXT


def test_an_empty_questionnaire_is_refused(db_session, org):
    survey = new_survey(db_session, org)
    S.add_question(db_session, survey, QuestionInput("Un mot ?", "text"))
    S.publish(db_session, survey, now=NOW)
    assert errors_of(db_session, survey, {}) == {"": "aucune réponse : le questionnaire est vide"}


def test_numbers_and_allocations_are_checked(db_session, org):
    for code in ("LOG", "ALIM"):
        F.need(db_session, org, code=code)
    survey = new_survey(db_session, org, kind="consultation")
    age = S.add_question(db_session, survey, QuestionInput("Âge", "number", number_min=15))
    points = S.add_question(
        db_session, survey, QuestionInput("Points", "points", need_codes=["LOG", "ALIM"], total=10)
    )
    S.publish(db_session, survey, now=NOW)
    name = S.field_name
    assert errors_of(db_session, survey, {name(age): ["12"], name(points, "LOG"): ["6"], name(points, "ALIM"): ["5"]}) == {
        name(age): "question 1 (« Âge ») : le nombre doit être au moins 15",
        name(points): "question 2 (« Points ») : 11 points répartis pour 10 disponibles",
    }  # fmt: skip
    assert errors_of(db_session, survey, {name(points, "LOG"): ["-1"], name(points, "ALIM"): ["1,5"]}) == {
        name(points, "LOG"): "question 2 (« Points »), besoin « LOG » : un nombre entier de 0 à 10",
        name(points, "ALIM"): "question 2 (« Points »), besoin « ALIM » : un nombre entier de 0 à 10",
    }
    parsed = S.parse_answers(db_session, survey, {name(age): ["1 234,5"], name(points, "LOG"): ["10"]})
    assert [(a.number, a.allocation) for a in parsed.answers] == [(1234.5, {}), (None, {"LOG": 10.0})]


@pytest.mark.parametrize("kind", ["scale", "points"])
def test_a_huge_number_is_refused_not_a_crash(db_session, org, kind):
    """Bug (reported): ``parse_french_number`` turns 400 digits into ``inf``; ``int(inf)`` then raises
    OverflowError in ``_choice_code`` (scale) and in the points check, a 500 on the public form."""
    for code in ("LOG", "ALIM"):
        F.need(db_session, org, code=code)
    survey = new_survey(db_session, org)
    if kind == "scale":
        question = S.add_question(db_session, survey, QuestionInput("Note", "scale"))
        field = S.field_name(question)
    else:
        question = S.add_question(
            db_session, survey, QuestionInput("Points", "points", need_codes=["LOG", "ALIM"])
        )
        field = S.field_name(question, "LOG")
    S.publish(db_session, survey, now=NOW)
    assert field in errors_of(db_session, survey, {field: ["9" * 400]})


def test_save_response_checks_the_channel_and_the_paper_number(db_session, questionnaire):
    survey, single, *_ = questionnaire
    form = {S.field_name(single): ["Oui"]}
    response = answer(db_session, survey, form, channel="paper", reference=" 42 ", entered_by_id=None)
    assert (response.reference, response.channel, response.submitted_on) == ("42", "paper", TODAY)
    with pytest.raises(AnswerErrors, match="le questionnaire n° 42 est déjà saisi"):
        answer(db_session, survey, form, channel="paper", reference="42")
    assert "canal « fax » inconnu" in refused(answer, db_session, survey, form, channel="fax")
    S.close(db_session, survey, now=NOW)
    assert "cette enquête n'est pas ouverte" in refused(answer, db_session, survey, form)
    assert answer(db_session, survey, form, channel="paper", reference="43").survey_id == survey.id


# --- invitation codes --------------------------------------------------------------------------------------


def test_invitation_codes_are_stored_hashed_and_serve_once(db_session, org):
    survey = new_survey(db_session, org, access="codes")
    question = satisfied(db_session, survey)
    codes = S.generate_codes(db_session, survey, 3, now=NOW)
    assert len(set(codes)) == 3
    for code in codes:
        assert len(code) == 9 and code[4] == "-" and set(code.replace("-", "")) <= set(S.CODE_ALPHABET)
    stored = db_session.scalars(select(SurveyInvitation).where(SurveyInvitation.survey_id == survey.id)).all()
    hashes = {i.code_hash for i in stored}
    assert len(hashes) == 3 and not hashes & {*codes, *(c.replace("-", "") for c in codes)}
    expected = hashlib.sha256(f"{survey.token}:{codes[0].replace('-', '')}".encode()).hexdigest()
    assert expected in hashes
    S.publish(db_session, survey, now=NOW)
    invitation = S.check_invitation(db_session, survey, f" {codes[0].lower().replace('-', ' ')} ")
    S.redeem_invitation(db_session, invitation)
    answer(db_session, survey, {S.field_name(question): ["Oui"]})
    assert invitation.used is True
    with pytest.raises(AnswerErrors, match="a déjà servi") as used:
        S.check_invitation(db_session, survey, codes[0])
    assert set(used.value.errors) == {"code"}
    with pytest.raises(AnswerErrors, match="a déjà servi"):
        S.redeem_invitation(db_session, invitation)
    for unknown in ("ZZZZ-ZZZZ", "", "   "):
        with pytest.raises(AnswerErrors, match="n'est pas reconnu"):
            S.check_invitation(db_session, survey, unknown)
    assert S.invitation_counts(db_session, survey) == (3, 1)
    # the answer does not point back to the code
    columns = set(SurveyResponse.__table__.columns.keys())
    assert not {"invitation_id", "code", "code_hash"} & columns


def test_codes_only_for_a_survey_by_invitation_and_within_the_limit(db_session, org):
    open_survey = new_survey(db_session, org)
    assert "n'utilise pas de codes" in refused(S.generate_codes, db_session, open_survey, 1, now=NOW)
    survey = new_survey(db_session, org, access="codes")
    assert f"entre 1 et {S.MAX_CODES} codes" in refused(S.generate_codes, db_session, survey, 0, now=NOW)
    assert "au plus" in refused(S.generate_codes, db_session, survey, S.MAX_CODES + 1, now=NOW)
    other = new_survey(db_session, org, access="codes")
    code = S.generate_codes(db_session, other, 1, now=NOW)[0]
    with pytest.raises(AnswerErrors, match="n'est pas reconnu"):
        S.check_invitation(db_session, survey, code)  # a code of another survey


# --- results -------------------------------------------------------------------------------------------------


def test_results_count_answers_with_wilson_intervals_and_mask_small_publics(db_session, org):
    survey = new_survey(db_session, org, ask_group=True, threshold=3)
    groups = {}
    for code, name in (
        ("familles", "Familles"),
        ("seniors", "Seniors"),
        ("jeunes", "Jeunes"),
        ("autres", "Autres"),
    ):
        group = PopulationGroup(organisation_id=org.id, code=code, name=name)
        db_session.add(group)
        groups[code] = group
    db_session.flush()
    question = satisfied(db_session, survey, required=False)
    grade = S.add_question(db_session, survey, QuestionInput("Note", "scale", scale_min=1, scale_max=5))
    S.publish(db_session, survey, now=NOW)
    # Familles: 5 (4 yes), Seniors: 4 (1 yes), Jeunes: 1 (masked), unknown public: 1 -> 11 answers, 5 yes
    given = (
        [("familles", "Oui")] * 3 + [("familles", "Plutôt oui"), ("familles", "Non")]
        + [("seniors", "Oui")] + [("seniors", "Non")] * 3 + [("jeunes", "Non"), ("", "Non")]
    )  # fmt: skip
    for n, (group, choice) in enumerate(given):
        form = {S.field_name(question): [choice], S.field_name(grade): [str(1 + n % 5)], "groupe": [group]}
        answer(
            db_session, survey, form, channel="paper" if n < 2 else "web", reference=str(n) if n < 2 else None
        )
    overall = R.results(db_session, survey)
    assert (overall.responses, overall.channels, overall.first_day, overall.last_day) == (
        11, {"paper": 2, "web": 9}, TODAY, TODAY,
    )  # fmt: skip
    first = overall.questions[0]
    assert first.answered == 11
    assert [(o.code, o.count, o.positive) for o in first.options] == [
        ("oui", 4, True), ("plutot-oui", 1, True), ("non", 6, False),
    ]  # fmt: skip
    count, rate, low, high = first.positive
    assert (count, rate) == (5, pytest.approx(5 / 11))
    # Wilson score interval of 5/11 at 95 % (not Wald: 0.160 - 0.749)
    assert (low, high) == (pytest.approx(0.21271, abs=1e-5), pytest.approx(0.71991, abs=1e-5))
    assert first.options[2].share == pytest.approx(6 / 11)
    mean, mean_low, mean_high = overall.questions[1].mean
    assert mean == pytest.approx(sum(1 + n % 5 for n in range(11)) / 11) and mean_low < mean < mean_high
    split = R.results(db_session, survey, by="group")
    assert split.by == "group" and split.by_label == "public"
    rows = {g.label: g for g in split.questions[0].groups}
    assert {label: (g.n, g.masked) for label, g in rows.items()} == {
        # Jeunes and the unknown public hold 2 respondents together, under 3: Seniors is masked too
        "Familles": (5, False), "Jeunes": (1, True), "Non renseigné": (1, True), "Seniors": (4, True),
    }  # fmt: skip
    assert rows["Familles"].positive_rate == pytest.approx(0.8)
    assert rows["Familles"].shares == {"oui": 0.6, "plutot-oui": 0.2, "non": 0.2}
    assert rows["Jeunes"].shares == {} and rows["Jeunes"].positive_rate is None
    assert "moins de 3 répondants" in split.rule
    book = load_workbook(io.BytesIO(R.results_workbook(db_session, survey)))
    assert book.sheetnames[:3] == ["Synthèse", "Questions", "Par public"]
    assert "Jeunes" in [c.value for c in book["Par public"]["C"]]


def test_a_single_small_public_masks_the_next_smallest_too(db_session, org):
    survey = new_survey(db_session, org, ask_group=True, threshold=3)
    for code in ("a", "b", "c"):
        db_session.add(PopulationGroup(organisation_id=org.id, code=code, name=code.upper()))
    db_session.flush()
    question = satisfied(db_session, survey)
    S.publish(db_session, survey, now=NOW)
    for group, n in (("a", 5), ("b", 4), ("c", 2)):
        for _ in range(n):
            answer(db_session, survey, {S.field_name(question): ["Oui"], "groupe": [group]})
    rows = {g.label: g.masked for g in R.results(db_session, survey, by="group").questions[0].groups}
    assert rows == {"A": False, "B": True, "C": True}


def test_results_of_a_survey_nobody_answered(db_session, questionnaire):
    survey = questionnaire[0]
    overall = R.results(db_session, survey, by="group")
    assert overall.responses == 0 and overall.first_day is None
    assert all(q.answered == 0 and q.positive is None for q in overall.questions)
    assert R.results_workbook(db_session, survey)[:2] == b"PK"


# --- priority consultation -----------------------------------------------------------------------------


@pytest.fixture
def consultation(db_session, org):
    weights = {"LOG": 1.0, "ALIM": 2.0, "MOB": 3.0}
    needs = {code: F.need(db_session, org, code=code, priority_weight=w) for code, w in weights.items()}
    survey = new_survey(db_session, org, kind="consultation")
    question = S.add_question(
        db_session,
        survey,
        QuestionInput("Répartissez 10 points", "points", need_codes=list(weights), total=10),
    )
    S.publish(db_session, survey, now=NOW)
    return survey, question, needs


def allocate(db_session, survey, question, *allocations: dict[str, int]) -> None:
    for allocation in allocations:
        form = {S.field_name(question, code): [str(points)] for code, points in allocation.items()}
        answer(db_session, survey, form)


def test_consultation_weights_count_each_respondent_once_and_keep_the_elected_mean(db_session, consultation):
    survey, question, _ = consultation
    # shares: (1, 0, 0), (0.5, 0.5, 0), (0, 0.25, 0.75): scores 0.5, 0.25, 0.25
    allocate(db_session, survey, question, {"LOG": 10}, {"LOG": 2, "ALIM": 2}, {"ALIM": 1, "MOB": 3})
    rows = {r.code: r for r in R.consultation_weights(db_session, survey)}
    assert list(rows) == ["LOG", "ALIM", "MOB"]
    assert {c: r.respondents for c, r in rows.items()} == {"LOG": 3, "ALIM": 3, "MOB": 3}
    assert {c: r.score for c, r in rows.items()} == pytest.approx({"LOG": 0.5, "ALIM": 0.25, "MOB": 0.25})
    assert {c: r.elected_weight for c, r in rows.items()} == {"LOG": 1.0, "ALIM": 2.0, "MOB": 3.0}
    # w = score / mean(score) * mean(elected) = score * 3 * 2
    assert {c: r.proposed_weight for c, r in rows.items()} == {"LOG": 3.0, "ALIM": 1.5, "MOB": 1.5}
    assert sum(r.proposed_weight for r in rows.values()) / 3 == pytest.approx(2.0)
    assert rows["LOG"].low < 0.5 < rows["LOG"].high


def test_a_need_the_elected_weighed_zero_keeps_zero(db_session, consultation):
    """Bug (reported): ``priority_weight or 1.0`` turns an elected weight of 0 into 1."""
    survey, question, needs = consultation
    needs["LOG"].priority_weight = 0.0
    needs["MOB"].priority_weight = 4.0
    db_session.flush()
    allocate(db_session, survey, question, {"LOG": 10}, {"LOG": 2, "ALIM": 2}, {"ALIM": 1, "MOB": 3})
    rows = {r.code: r for r in R.consultation_weights(db_session, survey)}
    assert rows["LOG"].elected_weight == 0.0
    # the élus' mean weight is (0 + 2 + 4) / 3 = 2: the proposed weights keep it
    assert sum(r.proposed_weight for r in rows.values()) / 3 == pytest.approx(2.0, abs=1e-3)


def test_adopting_weights_changes_only_the_chosen_needs_of_a_closed_consultation(
    db_session, org, consultation
):
    survey, question, _ = consultation
    allocate(db_session, survey, question, {"LOG": 10}, {"LOG": 2, "ALIM": 2}, {"ALIM": 1, "MOB": 3})
    assert "seule une consultation close" in refused(
        R.adopt_weights, db_session, survey, ["LOG"], user_id=None, now=NOW
    )
    S.close(db_session, survey, now=NOW)
    assert "pas de pondération proposée pour : NOPE" in refused(
        R.adopt_weights, db_session, survey, ["LOG", "NOPE"], user_id=None, now=NOW
    )
    assert "cochez au moins un besoin" in refused(
        R.adopt_weights, db_session, survey, [], user_id=None, now=NOW
    )
    assert R.adopt_weights(db_session, survey, ["LOG", "MOB"], user_id=None, now=NOW) == 2
    db_session.expire_all()
    weights = {
        n.code: (n.priority_weight, n.priority_set_at)
        for n in db_session.scalars(select(Need).where(Need.organisation_id == org.id))
    }
    assert weights == {"LOG": (3.0, NOW), "ALIM": (2.0, None), "MOB": (1.5, NOW)}
    assert R.latest_consultation(db_session, org.id) == survey
    satisfaction = new_survey(db_session, org)
    satisfied(db_session, satisfaction)
    S.publish(db_session, satisfaction, now=NOW)
    S.close(db_session, satisfaction, now=NOW)
    assert "seule une consultation close" in refused(
        R.adopt_weights, db_session, satisfaction, ["LOG"], user_id=None, now=NOW
    )


def test_answers_stay_anonymous(db_session, questionnaire):
    survey, single, *_ = questionnaire
    response = answer(db_session, survey, {S.field_name(single): ["Oui"]})
    assert set(SurveyResponse.__table__.columns.keys()) == {
        "id", "survey_id", "submitted_on", "channel", "reference", "population_group_id", "territory_id",
        "entered_by_id",
    }  # fmt: skip
    assert response.entered_by_id is None and response.reference is None
    assert (
        db_session.scalar(
            select(func.count()).select_from(SurveyAnswer).where(SurveyAnswer.response_id == response.id)
        )
        == 1
    )


def test_a_copy_is_a_draft_with_the_same_questions_and_conditions_and_no_answers(db_session, org):
    survey = new_survey(db_session, org, ask_territory=True)
    first = satisfied(db_session, survey)
    S.add_question(
        db_session,
        survey,
        QuestionInput("Pourquoi ?", "text", condition_question_id=first.id, condition_values=["Non"]),
    )
    S.publish(db_session, survey, now=NOW)
    answer(db_session, survey, {S.field_name(first): ["Oui"]})
    copy = S.copy_survey(db_session, survey, title="Édition suivante", user_id=None)
    assert (copy.state, copy.kind, copy.ask_territory, copy.token != survey.token) == (
        "draft",
        survey.kind,
        True,
        True,
    )
    assert [q.text for q in copy.questions] == ["Êtes-vous satisfait ?", "Pourquoi ?"]
    twin_first, twin_why = copy.questions
    assert twin_why.condition_question_id == twin_first.id != first.id
    assert twin_why.condition_values == ["non"]
    assert S.response_count(db_session, copy.id) == 0
    assert "existe déjà" in refused(S.copy_survey, db_session, survey, title="Édition suivante", user_id=None)


def test_consultation_scores_by_territory_mask_the_small_ones(db_session, org, consultation):
    from models import Territory, TerritoryKind

    survey, question, _ = consultation
    survey.threshold = 2
    places = {}
    for name in ("A", "B", "C"):
        places[name] = Territory(
            organisation_id=org.id, kind=TerritoryKind.IRIS, code=f"IRIS{name}", name=name
        )
        db_session.add(places[name])
    db_session.flush()
    allocate(
        db_session, survey, question,
        {"LOG": 10}, {"LOG": 2, "ALIM": 2}, {"ALIM": 1, "MOB": 3}, {"MOB": 5}, {"LOG": 1},
    )  # fmt: skip
    responses = db_session.scalars(
        select(SurveyResponse).where(SurveyResponse.survey_id == survey.id).order_by(SurveyResponse.id)
    ).all()
    for response, name in zip(responses, "AABBC", strict=True):
        response.territory_id = places[name].id
    db_session.flush()
    result = R.results(db_session, survey, by="territory").questions[0]
    assert [code for code, _ in result.needs] == ["LOG", "ALIM", "MOB"]
    groups = {g.label: g for g in result.groups}
    assert (groups["C"].masked, groups["C"].n) == (True, 1)  # under the threshold
    assert groups["A"].masked  # the smallest other group, or C could be recovered from the total
    assert not groups["B"].masked
    # B: (0, 1/4, 3/4) and (0, 0, 1)
    assert groups["B"].shares == pytest.approx({"LOG": 0.0, "ALIM": 0.125, "MOB": 0.875})

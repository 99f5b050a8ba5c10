"""Paper questionnaires typed in Excel: the template says what each column accepts, and the import
checks every row like the public form, locates every refusal and writes all rows or nothing."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models import (
    Frequency,
    Measurement,
    Organisation,
    Period,
    PopulationGroup,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    SurveyResponse,
    Territory,
    TerritoryKind,
    User,
)
from models.enums import Role
from services import surveys as S
from services.survey_io import (
    GROUP,
    REFERENCE,
    SHEET,
    TERRITORY,
    VALUES_SHEET,
    columns,
    import_workbook,
    template_workbook,
)
from services.workbooks import Located, WorkbookError
from tests.integration import factories as F

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
TODAY = date(2026, 11, 26)


@dataclass
class Setting:
    session: object
    survey: Survey
    questions: list[SurveyQuestion]
    needs: list[str]
    groups: dict[str, int]
    places: dict[str, int]
    user_id: int
    indicator_id: int


def build(session, *, publish: bool = True) -> Setting:
    org = F.organisation(session)
    groups = {}
    for code, name in (("familles", "Familles"), ("seniors", "Personnes âgées")):
        group = PopulationGroup(organisation_id=org.id, code=code, name=name)
        session.add(group)
        session.flush()
        groups[name] = group.id
    places = {}
    for code, name in (("Q1", "La Bastide"), ("Q2", "Trivalle")):
        place = Territory(organisation_id=org.id, kind=TerritoryKind.QUARTIER, code=code, name=name)
        session.add(place)
        session.flush()
        places[name] = place.id
    needs = [
        F.need(session, org, code="LOG", label="Logement").code,
        F.need(session, org, code="ALIM", label="Aide alimentaire").code,
        F.need(session, org, code="MOB", label="Mobilité").code,
    ]
    indicator = F.indicator(session, org, unit="%", frequency=Frequency.YEARLY, decimals=1)
    user = User(
        organisation_id=org.id,
        email=f"agent-{org.slug}@example.org",
        full_name="Agent d'accueil",
        role=Role.DIRECTION,
        session_token=f"tok-{org.slug}",
    )
    session.add(user)
    session.flush()
    survey = S.create_survey(
        session,
        org.id,
        org.name,
        S.SurveyInput(title="Besoins 2026", kind="needs", ask_group=True, ask_territory=True),
        user_id=None,
    )
    Q = S.QuestionInput
    inputs = [
        Q("Êtes-vous satisfait de l'accueil ?", "single", required=True, options="+Oui\nNon\nNe sait pas",
          indicator_id=indicator.id),
        Q("Quelles aides avez-vous demandées ?", "multiple", options="Alimentaire\nLogement\nTransport"),
        Q("Note globale", "scale", scale_min=1, scale_max=5, positive_from=4, min_label="Mauvais",
          max_label="Excellent"),
        Q("Heures d'aide par semaine", "number", number_min=0, number_max=40),
    ]  # fmt: skip
    questions = [S.add_question(session, survey, data) for data in inputs]
    why = Q("Pourquoi n'êtes-vous pas satisfait ?", "text", condition_question_id=questions[0].id,
            condition_values=["Non"])  # fmt: skip
    questions.append(S.add_question(session, survey, why))
    questions.append(S.add_question(session, survey, Q("Répartissez 10 points", "points", need_codes=needs)))
    questions.append(
        S.add_question(session, survey, Q("Notez la priorité", "rating", need_codes=needs[:2], total=5))
    )
    if publish:
        S.publish(session, survey, now=NOW)
    return Setting(session, survey, questions, needs, groups, places, user.id, indicator.id)


@pytest.fixture
def setting(db_session) -> Setting:
    return build(db_session)


def header_of(headers: list[str], prefix: str) -> str:
    found = [h for h in headers if h.startswith(prefix)]
    assert len(found) == 1, (prefix, headers)
    return found[0]


def filled(template: bytes, rows: list[dict[str, object]], edit=None) -> bytes:
    """The template with ``rows`` typed in, each a map of header prefix -> value."""
    book = load_workbook(io.BytesIO(template))
    sheet = book[SHEET]
    headers = [c.value for c in sheet[1]]
    for r, row in enumerate(rows, start=2):
        for prefix, value in row.items():
            sheet.cell(row=r, column=headers.index(header_of(headers, prefix)) + 1, value=value)
    if edit is not None:
        edit(book)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def counts(session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(SurveyResponse)),
        session.scalar(select(func.count()).select_from(SurveyAnswer)),
        session.scalar(select(func.count()).select_from(Measurement)),
    )


def run(setting: Setting, content: bytes):
    return import_workbook(setting.session, setting.survey, content, user_id=setting.user_id, today=TODAY)


GOOD = {
    REFERENCE: "P-001",
    GROUP: "Familles",
    TERRITORY: "trivalle",
    "1.": "Oui",
    "2.": "Alimentaire ; logement",
    "3.": 4,
    "4.": "3,5",
    "6. Logement": 6,
    "6. Aide": 4,
    "7. Logement": 5,
}


# --- the template ------------------------------------------------------------------------------------


def test_the_template_has_one_column_per_question_and_per_need(setting):
    book = load_workbook(io.BytesIO(template_workbook(setting.session, setting.survey)))
    assert book.sheetnames == [SHEET, VALUES_SHEET]
    headers = [c.value for c in book[SHEET][1]]
    assert headers == [
        "N° de questionnaire",
        "Public",
        "Territoire",
        "1. Êtes-vous satisfait de l'accueil ?",
        "2. Quelles aides avez-vous demandées ?",
        "3. Note globale",
        "4. Heures d'aide par semaine",
        "5. Pourquoi n'êtes-vous pas satisfait ?",
        "6. Logement (LOG)",
        "6. Aide alimentaire (ALIM)",
        "6. Mobilité (MOB)",
        "7. Logement (LOG)",
        "7. Aide alimentaire (ALIM)",
    ]
    assert all(c.data_type == "s" for c in book[SHEET][1])
    values = {
        r[0]: r[1:4] for r in book[VALUES_SHEET].iter_rows(min_row=2, max_col=4, values_only=True) if r[0]
    }
    assert values["1. Êtes-vous satisfait de l'accueil ?"] == (
        "une seule réponse parmi : Oui ; Non ; Ne sait pas", "oui", None,
    )  # fmt: skip
    assert "séparez-les par « ; »" in values["2. Quelles aides avez-vous demandées ?"][0]
    assert values["3. Note globale"][0] == "un nombre entier de 1 à 5 (1 = Mauvais, 5 = Excellent)"
    assert values["4. Heures d'aide par semaine"][0].startswith("un nombre entre 0 et 40")
    assert values["5. Pourquoi n'êtes-vous pas satisfait ?"][2] == (
        "posée seulement si la réponse à la question 1 est « Non » ; sinon la réponse est ignorée"
    )
    assert values["6. Logement (LOG)"][0].startswith("0 à 10 points")
    assert values["7. Logement (LOG)"][0] == "une note entière de 0 (pas prioritaire) à 5"
    assert "publics" in values["Public"][0]
    lists = {
        c[0].value: [x.value for x in c[1:] if x.value is not None]
        for c in book[VALUES_SHEET].iter_cols(min_col=6)
        if c[0].value
    }
    assert lists["Public"] == ["Familles", "Personnes âgées"] + ["Public"] * 3  # the needs' own publics
    assert lists["Territoire"] == ["La Bastide", "Trivalle"]
    assert lists["3. Note globale"] == [1, 2, 3, 4, 5]
    checks = {str(v.sqref).split(":")[0]: v for v in book[SHEET].data_validations.dataValidation}
    assert set(checks) == {"B2", "C2", "D2", "F2", "G2", "I2", "J2", "K2", "L2", "M2"}
    assert checks["D2"].type == "list" and "Valeurs possibles" in checks["D2"].formula1
    assert checks["G2"].type == "decimal" and (checks["G2"].formula1, checks["G2"].formula2) == (
        "0.0",
        "40.0",
    )
    assert checks["I2"].type == "whole" and checks["I2"].formula2 == "10"


def test_long_texts_are_shortened_and_headers_stay_unique(db_session):
    setting = build(db_session, publish=False)
    long = "Que pensez-vous " + "vraiment " * 20 + "de nos services ?"
    for _ in range(2):
        S.add_question(db_session, setting.survey, S.QuestionInput(long, "text"))
    org = db_session.get(Organisation, setting.survey.organisation_id)
    twins = [F.need(db_session, org, code=code, label="Garde d'enfants").code for code in ("GE", "ge")]
    S.add_question(db_session, setting.survey, S.QuestionInput("Notez", "rating", need_codes=twins, total=5))
    headers = [c.header for c in columns(db_session, setting.survey)]
    assert len({h.casefold() for h in headers}) == len(headers)
    assert headers[-3].startswith("9. Que pensez-vous vraiment") and headers[-3].endswith("…")
    assert len(headers[-3]) <= len("9. ") + 80
    assert headers[-2:] == ["10. Garde d'enfants (GE)", "10. Garde d'enfants (ge) (2)"]


def test_user_text_is_never_a_formula_in_the_template(db_session):
    setting = build(db_session, publish=False)
    S.add_question(db_session, setting.survey, S.QuestionInput("=1+1", "single", options="=A1\n@B"))
    book = load_workbook(io.BytesIO(template_workbook(db_session, setting.survey)))
    assert book[SHEET]["N1"].value == "8. =1+1"
    lists = next(c for c in book[VALUES_SHEET].iter_cols(min_col=6) if c[0].value == "8. =1+1")
    assert [(c.value, c.data_type) for c in lists[1:3]] == [("=A1", "s"), ("@B", "s")]


# --- the round trip ----------------------------------------------------------------------------------


def test_a_filled_template_is_imported_whole(setting):
    session, survey = setting.session, setting.survey
    q = setting.questions
    before = counts(session)
    content = filled(
        template_workbook(session, survey),
        [
            GOOD,
            {REFERENCE: 2, "1.": "non", "2.": "Transport", "3.": "5 – Excellent", "4.": 3.25,
             "5.": "Trop d'attente", "6. Mobilité": 10},
            {REFERENCE: "P-003", GROUP: "seniors", "1.": "ne-sait-pas", "3.": "2"},
        ],
    )  # fmt: skip
    report = run(setting, content)
    assert report.errors == [] and report.saved == 3
    assert counts(session) == (before[0] + 3, before[1] + 6 + 6 + 2, before[2])
    responses = {
        r.reference: r
        for r in session.scalars(select(SurveyResponse).where(SurveyResponse.survey_id == survey.id))
    }
    assert set(responses) == {"P-001", "2", "P-003"}
    first = responses["P-001"]
    assert (first.channel, first.submitted_on, first.entered_by_id) == ("import", TODAY, setting.user_id)
    assert (first.population_group_id, first.territory_id) == (
        setting.groups["Familles"], setting.places["Trivalle"],
    )  # fmt: skip
    answers = {a.question_id: a for a in first.answers}
    assert answers[q[0].id].choices == ["oui"]
    assert answers[q[1].id].choices == ["alimentaire", "logement"]
    assert (answers[q[2].id].choices, answers[q[2].id].number) == (["4"], 4.0)
    assert answers[q[3].id].number == 3.5
    assert q[4].id not in answers
    assert answers[q[5].id].allocation == {"LOG": 6, "ALIM": 4}
    assert answers[q[6].id].allocation == {"LOG": 5}
    second = {a.question_id: a for a in responses["2"].answers}
    assert second[q[0].id].choices == ["non"] and second[q[4].id].text == "Trop d'attente"
    assert second[q[2].id].number == 5.0 and second[q[3].id].number == 3.25
    assert responses["2"].population_group_id is None and responses["2"].territory_id is None
    assert responses["P-003"].population_group_id == setting.groups["Personnes âgées"]


def test_an_answer_whose_condition_is_not_met_is_dropped_not_refused(setting):
    content = filled(template_workbook(setting.session, setting.survey), [{**GOOD, "5.": "Rien à dire"}])
    report = run(setting, content)
    assert report.errors == [] and report.saved == 1
    response = setting.session.scalar(select(SurveyResponse).where(SurveyResponse.reference == "P-001"))
    assert setting.questions[4].id not in {a.question_id for a in response.answers}


def test_an_option_whose_label_holds_the_separator_is_kept_whole(db_session):
    setting = build(db_session, publish=False)
    question = S.add_question(
        db_session,
        setting.survey,
        S.QuestionInput("Sortez-vous ?", "multiple", options="Oui ; souvent\nRarement\nJamais"),
    )
    S.publish(db_session, setting.survey, now=NOW)
    rows = [{**GOOD, "8.": "oui ; souvent"}, {**GOOD, REFERENCE: "P-2", "8.": "Rarement;Jamais"}]
    assert run(setting, filled(template_workbook(db_session, setting.survey), rows)).saved == 2
    chosen = db_session.scalars(
        select(SurveyAnswer.choices).where(SurveyAnswer.question_id == question.id).order_by(SurveyAnswer.id)
    ).all()
    assert chosen == [["oui-souvent"], ["rarement", "jamais"]]


def test_headers_match_trimmed_and_whatever_the_case(setting):
    def shout(book):
        sheet = book[SHEET]
        for cell in sheet[1]:
            cell.value = f"  {cell.value.upper()}  "

    content = filled(template_workbook(setting.session, setting.survey), [GOOD], shout)
    assert run(setting, content).saved == 1


def test_empty_rows_are_skipped_and_an_empty_sheet_is_refused(setting):
    template = template_workbook(setting.session, setting.survey)
    content = filled(template, [{}, {}, {**GOOD, REFERENCE: "  P-9  "}, {GROUP: "  "}])
    report = run(setting, content)
    assert report.errors == [] and report.saved == 1
    assert setting.session.scalar(select(SurveyResponse.reference).where(SurveyResponse.reference == "P-9"))
    before = counts(setting.session)
    with pytest.raises(WorkbookError, match="aucune réponse à importer"):
        run(setting, template)
    assert counts(setting.session) == before


# --- refusals, each located; nothing written ---------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ({"1.": "Peut-être"}, "1. Êtes-vous", "« Peut-être » n'est pas une réponse possible"),
        ({"1.": "Oui ; Non"}, "1. Êtes-vous", "une seule réponse attendue"),
        ({"2.": "Alimentaire ; Vacances"}, "2. Quelles", "« Vacances » n'est pas une réponse possible"),
        ({"3.": 7}, "3. Note globale", "« 7 » n'est pas une réponse possible"),
        ({"3.": "3,5"}, "3. Note globale", "« 3,5 » n'est pas une réponse possible"),
        ({"4.": "beaucoup"}, "4. Heures", "« beaucoup » n'est pas un nombre"),
        ({"4.": "1.234,5"}, "4. Heures", "n'est pas un nombre"),
        ({"4.": 41}, "4. Heures", "le nombre doit être entre 0 et 40"),
        ({"6. Logement": 7}, "6. Répartissez 10 points", "11 points répartis pour 10 disponibles"),
        ({"6. Logement": "2,5"}, "6. Logement (LOG)", "un nombre entier de 0 à 10"),
        ({"7. Aide": 6}, "7. Aide alimentaire (ALIM)", "un nombre entier de 0 à 5"),
        ({"1.": None}, "1. Êtes-vous", "réponse obligatoire"),
        ({GROUP: "Étudiants"}, "Public", "« Étudiants » n'est pas un des publics proposés"),
        ({TERRITORY: "Paris"}, "Territoire", "« Paris » n'est pas un des quartiers proposés"),
        ({REFERENCE: None}, REFERENCE, "numéro de questionnaire manquant"),
        ({REFERENCE: "x" * 65}, REFERENCE, "64 caractères au plus"),
    ],
)
def test_each_bad_answer_is_located_and_nothing_is_written(setting, row, column, message):
    before = counts(setting.session)
    content = filled(
        template_workbook(setting.session, setting.survey),
        [{**GOOD, REFERENCE: "A"}, {**GOOD, REFERENCE: "B", **row}],
    )
    report = run(setting, content)
    assert report.saved == 0
    assert len(report.errors) == 1, report.errors
    error = report.errors[0]
    assert (error.sheet, error.row) == (SHEET, 3)
    assert error.column.startswith(column), error
    assert message in error.message, error
    assert counts(setting.session) == before


def test_every_bad_row_is_reported_at_once(setting):
    content = filled(
        template_workbook(setting.session, setting.survey),
        [
            {**GOOD, "1.": "Peut-être"},
            {**GOOD, REFERENCE: "P-2", "3.": 0, "4.": "x"},
            {**GOOD, REFERENCE: "P-3"},
        ],
    )
    report = run(setting, content)
    assert report.saved == 0
    assert [(e.row, e.column[:2]) for e in report.errors] == [(2, "1."), (3, "3."), (3, "4.")]
    assert str(report.errors[0]).startswith("feuille « Réponses », ligne 2, colonne « 1. Êtes-vous")


def test_a_reference_repeated_in_the_file_or_already_entered_is_refused(setting):
    template = template_workbook(setting.session, setting.survey)
    before = counts(setting.session)
    report = run(setting, filled(template, [GOOD, {**GOOD, REFERENCE: " P-001 "}]))
    assert report.saved == 0 and report.errors == [
        Located(SHEET, 3, REFERENCE, "le questionnaire n° P-001 figure déjà en ligne 2")
    ]
    assert counts(setting.session) == before
    assert run(setting, filled(template, [GOOD])).saved == 1
    after_first = counts(setting.session)
    report = run(setting, filled(template, [{**GOOD, REFERENCE: "P-002"}, GOOD]))
    assert report.saved == 0 and report.errors == [
        Located(SHEET, 3, REFERENCE, "le questionnaire n° P-001 est déjà saisi")
    ]
    assert counts(setting.session) == after_first


def test_a_reference_of_another_survey_does_not_count(db_session):
    first, second = build(db_session), build(db_session)
    for setting in (first, second):
        content = filled(template_workbook(db_session, setting.survey), [GOOD])
        assert run(setting, content).saved == 1


def test_an_unknown_or_missing_column_is_located(setting):
    template = template_workbook(setting.session, setting.survey)

    def extra(book):
        book[SHEET]["N1"] = "Commentaire"

    report = run(setting, filled(template, [GOOD], extra))
    assert report.saved == 0 and len(report.errors) == 1
    assert (report.errors[0].row, report.errors[0].column) == (1, "Commentaire")
    assert "colonne inconnue" in report.errors[0].message

    def no_reference(book):
        book[SHEET]["A1"] = None

    report = run(setting, filled(template, [GOOD], no_reference))
    assert report.errors == [Located(SHEET, 1, REFERENCE, "colonne manquante")]

    def twice(book):
        book[SHEET]["N1"] = "Public"

    report = run(setting, filled(template, [GOOD], twice))
    assert [(e.row, e.column) for e in report.errors] == [(1, "Public")]
    assert "colonne en double" in report.errors[0].message


def test_a_value_without_header_is_located(setting):
    content = filled(
        template_workbook(setting.session, setting.survey), [GOOD], lambda b: b[SHEET].cell(2, 16, "oubli")
    )
    report = run(setting, content)
    assert report.errors == [Located(SHEET, 2, "P", "valeur dans une colonne sans en-tête")]


def test_a_columns_missing_from_the_file_is_an_empty_answer(setting):
    """Only the reference column is required: a question left out is unanswered (so required ones fail)."""
    template = template_workbook(setting.session, setting.survey)

    def drop_scale(book):
        book[SHEET].delete_cols(6)

    row = {k: v for k, v in GOOD.items() if k != "3."}
    assert run(setting, filled(template, [row], drop_scale)).saved == 1

    def drop_required(book):
        book[SHEET].delete_cols(4)

    report = run(setting, filled(template, [{**row, REFERENCE: "P-2", "1.": None}], drop_required))
    assert [(e.row, e.column, e.message.endswith("réponse obligatoire")) for e in report.errors] == [
        (2, "1. Êtes-vous satisfait de l'accueil ?", True)
    ]


def test_formula_cells_are_refused(setting):
    before = counts(setting.session)
    content = filled(
        template_workbook(setting.session, setting.survey),
        [{**GOOD, "4.": "=2+2"}, {**GOOD, REFERENCE: "=ROW()"}, {**GOOD, REFERENCE: "P-3", "3.": "#N/A"}],
    )
    report = run(setting, content)
    assert report.saved == 0
    assert [(e.row, e.column[:8], e.message) for e in report.errors] == [
        (2, "4. Heure", "formule refusée : saisissez la valeur elle-même"),
        (3, REFERENCE[:8], "formule refusée : saisissez la valeur elle-même"),
        (4, "3. Note ", "valeur d'erreur Excel (#N/A) : saisissez la valeur elle-même"),
    ]
    assert counts(setting.session) == before


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: b"N\xb0;Public\n1;Familles\n", "n'est pas un classeur Excel"),
        (lambda t: _zip({"hello.txt": b"x"}), "n'est pas un classeur Excel"),
        (lambda t: _zip({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<oops"}), "classeur illisible"),
    ],
)
def test_what_is_not_an_xlsx_is_refused(setting, make, message):
    before = counts(setting.session)
    with pytest.raises(WorkbookError, match=message):
        run(setting, make(template_workbook(setting.session, setting.survey)))
    assert counts(setting.session) == before


def test_a_workbook_without_the_answers_sheet_is_refused(setting):
    def rename(book):
        book[SHEET].title = "Feuil1"

    content = filled(template_workbook(setting.session, setting.survey), [GOOD], rename)
    with pytest.raises(WorkbookError, match="feuille « Réponses » introuvable"):
        run(setting, content)


def test_a_draft_survey_takes_no_import(db_session):
    setting = build(db_session, publish=False)
    content = filled(template_workbook(db_session, setting.survey), [GOOD])
    with pytest.raises(WorkbookError, match="publiez l'enquête avant d'en importer les réponses"):
        run(setting, content)


def test_too_many_rows_are_refused(setting, monkeypatch):
    import services.survey_io as io_module

    monkeypatch.setattr(io_module, "MAX_ROWS", 2)
    rows = [{**GOOD, REFERENCE: f"P-{i}"} for i in range(3)]
    before = counts(setting.session)
    with pytest.raises(WorkbookError, match="plus de 2 lignes"):
        run(setting, filled(template_workbook(setting.session, setting.survey), rows))
    assert counts(setting.session) == before


# --- what the import feeds ---------------------------------------------------------------------------


def test_answers_imported_into_a_closed_survey_feed_its_indicator(setting):
    session, survey = setting.session, setting.survey
    assert S.close(session, survey, now=NOW).written == 0  # nobody has answered yet
    rows = [
        {**GOOD, REFERENCE: f"P-{i}", "1.": answer} for i, answer in enumerate(["Oui", "Oui", "Non", "Oui"])
    ]
    report = run(setting, filled(template_workbook(session, survey), rows))
    assert report.errors == [] and report.saved == 4
    value, comment, key = session.execute(
        select(Measurement.value, Measurement.comment, Period.key)
        .join(Period, Period.id == Measurement.period_id)
        .where(Measurement.indicator_id == setting.indicator_id)
    ).one()
    assert (value, key) == (75.0, "2026")
    assert "3 réponses positives sur 4" in comment

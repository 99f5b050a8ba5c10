"""Benchmark of citizen participation: survey results, consultation weights, export and Excel import.

A fresh SQLite file holds one organisation (20 IRIS, 8 publics, 8 needs), a needs survey asking
the public and the territory (single choice with positive answers, multiple choice of 6, scale
1-5 positive from 4, number, free text) and a priority consultation (10 points over the 8 needs),
each with 20,000 responses drawn by a seeded generator and stored as
``services.surveys.save_response`` stores them. Times, each in a new session as a page would
(median and worst of several runs), ``services.survey_results.results`` (overall, by public, by
territory), ``consultation_weights`` and ``results_workbook`` (tens of seconds a run, so
``--export-runs``, default 1), against a reference measured in the same run: the least any
results page must do, reading the answers with one ``pandas.read_sql`` and counting them by
question. Prints the peak memory (tracemalloc) of the results by territory. Then times
``services.survey_io.import_workbook`` of a 5,000-row template filled with openpyxl (``MAX_ROWS``)
into fresh copies of the needs survey, in rows per second, and checks once that a file with a
single bad row writes nothing.

Goal, on this 2-core machine: the results page of a 20,000-response survey under 1 s, the import
of 5,000 rows under 10 s.

    .venv/bin/python bench/surveys.py [--runs N] [--export-runs N] [--responses N]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import load_workbook
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import (
    Need,
    Organisation,
    OrganisationKind,
    PopulationGroup,
    Survey,
    SurveyAnswer,
    SurveyResponse,
    Territory,
    TerritoryKind,
)
from pilotis import schema
from pilotis.database import make_engine, session_factory
from services.survey_io import REFERENCE, import_workbook, template_workbook
from services.survey_results import consultation_weights, results, results_workbook
from services.surveys import QuestionInput, SurveyInput, add_question, copy_survey, create_survey, publish
from services.workbooks import MAX_ROWS

RESPONSES = 20_000
IRIS, GROUPS, NEEDS = 20, 8, 8
BATCH = 5_000
OPENED = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SINGLE = ("Souvent", "Parfois", "Jamais")
TOPICS = ("Logement", "Énergie", "Santé", "Garde d'enfants", "Emploi", "Aides financières")
TEXTS = (
    "Les démarches en ligne sont trop compliquées pour moi.",
    "Il manque des places en crèche dans le quartier.",
    "Plus de permanences le samedi matin.",
    "Un accompagnement pour trouver un logement moins cher.",
)


def n(value: float) -> str:
    """A count the French way: 20 000."""
    return f"{value:,.0f}".replace(",", " ")


def timed(function: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times), result


# --- The data ----------------------------------------------------------------------------------------


def organisation(session: Session) -> tuple[Organisation, list[Territory], list[PopulationGroup], list[Need]]:
    """The organisation and its referentials (the logic of tests/integration/factories.py)."""
    org = Organisation(slug="bench-enquetes", name="CCAS de Banc-d'Essai", kind=OrganisationKind.CCAS)
    session.add(org)
    session.flush()
    iris = [
        Territory(
            organisation_id=org.id, kind=TerritoryKind.IRIS, code=f"11069{i:04d}", name=f"Quartier {i:02d}"
        )
        for i in range(1, IRIS + 1)
    ]
    groups = [
        PopulationGroup(organisation_id=org.id, code=f"public_{i}", name=f"Public {i}")
        for i in range(1, GROUPS + 1)
    ]
    session.add_all([*iris, *groups])
    session.flush()
    needs = [
        Need(
            organisation_id=org.id,
            population_group_id=groups[i].id,
            territory_id=iris[i].id,
            code=f"BESOIN_{i + 1}",
            label=f"Besoin {i + 1}",
            size=100.0 * (i + 1),
            unit="personnes",
            priority=1 + i % 5,
            priority_weight=0.5 + 0.25 * (i % 5),
        )
        for i in range(NEEDS)
    ]
    session.add_all(needs)
    session.flush()
    return org, iris, groups, needs


def needs_survey(session: Session, org: Organisation, title: str) -> Survey:
    survey = create_survey(
        session, org.id, org.name,
        SurveyInput(title=title, kind="needs", ask_group=True, ask_territory=True),
        user_id=None,
    )  # fmt: skip
    add_question(session, survey, QuestionInput(
        text="Au cours des 12 derniers mois, avez-vous eu du mal à payer votre alimentation ?", kind="single",
        required=True, options="+ Souvent\n+ Parfois\nJamais",
    ))  # fmt: skip
    add_question(session, survey, QuestionInput(
        text="Sur quels sujets aimeriez-vous être mieux informé(e) ?", kind="multiple", options="\n".join(TOPICS),
    ))  # fmt: skip
    add_question(session, survey, QuestionInput(
        text="Êtes-vous satisfait(e) de l'accueil du CCAS ?", kind="scale", scale_min=1, scale_max=5,
        min_label="pas du tout", max_label="tout à fait", positive_from=4,
    ))  # fmt: skip
    add_question(session, survey, QuestionInput(
        text="Combien de personnes vivent dans votre foyer ?", kind="number", number_min=1, number_max=15,
    ))  # fmt: skip
    add_question(session, survey, QuestionInput(text="Que devrait faire le CCAS en priorité ?", kind="text"))
    publish(session, survey, now=NOW)
    return survey


def consultation(session: Session, org: Organisation, needs: list[Need]) -> Survey:
    survey = create_survey(
        session, org.id, org.name,
        SurveyInput(title="Consultation sur les priorités", kind="consultation", ask_territory=True),
        user_id=None,
    )  # fmt: skip
    add_question(session, survey, QuestionInput(
        text="Répartissez 10 points entre ces actions.", kind="points", total=10,
        need_codes=[need.code for need in needs], required=True,
    ))  # fmt: skip
    publish(session, survey, now=NOW)
    return survey


def _territory(rng: random.Random, iris: list[Territory]) -> int | None:
    """A few neighbourhoods answer much more than others; the last one almost never (masked)."""
    if rng.random() < 0.1:
        return None
    weights = [1 + (i % 4) * 3 for i in range(len(iris) - 1)] + [0.05]
    return rng.choices(iris, weights)[0].id


def _answer(answers: list[dict[str, Any]], response_id: int, question_id: int, **values: Any) -> None:
    row: dict[str, Any] = {"response_id": response_id, "question_id": question_id, "number": None, "text": None,
           "choices": [], "allocation": {}, "themes": []}  # fmt: skip
    row.update(values)
    answers.append(row)


def answer_needs(
    rng: random.Random,
    survey: Survey,
    iris: list[Territory],
    groups: list[PopulationGroup],
    count: int,
    first: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of survey_responses and survey_answers, as save_response stores them."""
    single, multiple, scale, number, text = survey.questions
    codes = {q.id: [str(o["code"]) for o in q.settings["options"]] for q in (single, multiple)}
    responses: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    for k in range(count):
        rid = first + k
        responses.append({
            "id": rid, "survey_id": survey.id, "submitted_on": OPENED + timedelta(days=rng.randrange(40)),
            "channel": "web", "reference": None,
            "population_group_id": rng.choice(groups).id if rng.random() < 0.8 else None,
            "territory_id": _territory(rng, iris),
        })  # fmt: skip

        add = partial(_answer, answers, rid)
        add(single.id, choices=[rng.choices(codes[single.id], [2, 3, 5])[0]])
        topics = rng.sample(codes[multiple.id], rng.randrange(0, 4))
        if topics:
            add(multiple.id, choices=topics)
        if rng.random() < 0.9:
            value = rng.choices([1, 2, 3, 4, 5], [5, 10, 20, 40, 25])[0]
            add(scale.id, choices=[str(value)], number=float(value))
        if rng.random() < 0.85:
            add(number.id, number=float(rng.choices(range(1, 9), [30, 28, 16, 12, 7, 4, 2, 1])[0]))
        if rng.random() < 0.3:
            add(text.id, text=rng.choice(TEXTS))
    return responses, answers


def answer_consultation(
    rng: random.Random, survey: Survey, iris: list[Territory], count: int, first: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    (question,) = survey.questions
    codes = list(question.settings["needs"])
    preferences = [1.0 + (i % 3) * 0.6 for i in range(len(codes))]
    responses: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    for k in range(count):
        rid = first + k
        responses.append({
            "id": rid, "survey_id": survey.id, "submitted_on": OPENED + timedelta(days=rng.randrange(30)),
            "channel": "web", "reference": None, "population_group_id": None,
            "territory_id": _territory(rng, iris),
        })  # fmt: skip
        points = dict.fromkeys(codes, 0)
        for _ in range(10 if rng.random() < 0.85 else rng.randrange(4, 10)):
            points[rng.choices(codes, [p * rng.uniform(0.3, 1.7) for p in preferences])[0]] += 1
        answers.append({
            "response_id": rid, "question_id": question.id, "number": None, "text": None, "choices": [],
            "allocation": {c: float(v) for c, v in points.items() if v}, "themes": [],
        })  # fmt: skip
    return responses, answers


def bulk(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        session.execute(insert(model), rows[start : start + BATCH])


def build(factory: sessionmaker[Session], responses: int) -> dict[str, Any]:
    rng = random.Random(20260302)  # noqa: S311 - benchmark data, not secrets
    with factory() as session:
        org, iris, groups, needs = organisation(session)
        needs_one = needs_survey(session, org, "Baromètre des besoins sociaux")
        consult = consultation(session, org, needs)
        r1, a1 = answer_needs(rng, needs_one, iris, groups, responses, first=1)
        r2, a2 = answer_consultation(rng, consult, iris, responses, first=responses + 1)
        bulk(session, SurveyResponse, r1 + r2)
        bulk(session, SurveyAnswer, a1 + a2)
        session.commit()
        return {
            "org": org.id, "needs": needs_one.id, "consultation": consult.id,
            "answers": (len(a1), len(a2)), "iris": [t.name for t in iris], "groups": [g.name for g in groups],
        }  # fmt: skip


# --- The workbook to import --------------------------------------------------------------------------


def filled_workbook(
    template: bytes, rows: int, iris: list[str], groups: list[str], bad_row: int | None = None
) -> bytes:
    """The template filled with ``rows`` questionnaires, answers given by their labels."""
    rng = random.Random(5000)  # noqa: S311 - benchmark data, not secrets
    book = load_workbook(io.BytesIO(template))
    sheet = book["Réponses"]
    headers = [c.value for c in sheet[1]]
    assert headers[:3] == [REFERENCE, "Public", "Territoire"], headers
    for r in range(2, rows + 2):
        single = rng.choices(SINGLE, [2, 3, 5])[0]
        if r == bad_row:
            single = "Peut-être"  # not an answer of the question
        values: list[Any] = [
            f"Q{r - 1:05d}",
            rng.choice(groups) if rng.random() < 0.8 else None,
            rng.choice(iris[:-1]) if rng.random() < 0.9 else None,
            single,
            " ; ".join(rng.sample(TOPICS, rng.randrange(0, 4))) or None,
            rng.choices([1, 2, 3, 4, 5], [5, 10, 20, 40, 25])[0] if rng.random() < 0.9 else None,
            rng.choices(range(1, 9), [30, 28, 16, 12, 7, 4, 2, 1])[0] if rng.random() < 0.85 else None,
            rng.choice(TEXTS) if rng.random() < 0.3 else None,
        ]
        for c, value in enumerate(values, start=1):
            if value is not None:
                sheet.cell(row=r, column=c, value=value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def fresh_copy(factory: sessionmaker[Session], survey_id: int, title: str) -> int:
    with factory() as session:
        source = session.get(Survey, survey_id)
        assert source is not None
        copy = copy_survey(session, source, title=title, user_id=None)
        publish(session, copy, now=NOW)
        session.commit()
        return copy.id


def count_responses(factory: sessionmaker[Session], survey_id: int) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).where(SurveyResponse.survey_id == survey_id)) or 0


# --- The run -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--responses", type=int, default=RESPONSES, help="responses of each survey")
    parser.add_argument(
        "--export-runs", type=int, default=1, help="runs of results_workbook (tens of seconds each)"
    )
    args = parser.parse_args()
    runs = args.runs
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        schema.upgrade(engine, "head")
        reader, writer = session_factory(engine), session_factory(engine, write=True)
        start = time.perf_counter()
        data = build(writer, args.responses)
        a1, a2 = data["answers"]
        print(
            f"{n(args.responses)} réponses à l'enquête sur les besoins ({n(a1)} réponses aux questions), "
            f"{n(args.responses)} à la consultation ({n(a2)}), {IRIS} IRIS, {GROUPS} publics, {NEEDS} besoins ; "
            f"base construite en {time.perf_counter() - start:.1f} s ; charge de la machine "
            f"{os.getloadavg()[0]:.1f} sur {os.cpu_count()} cœurs"
        )

        def reference() -> pd.Series:
            with engine.connect() as conn:
                frame = pd.read_sql("SELECT response_id, question_id, number FROM survey_answers", conn)
            return frame.groupby("question_id").size()

        ref_median, ref_worst, counted = timed(reference, runs)
        print(
            f"référence (read_sql de {n(counted.sum())} réponses aux questions, groupby question) : "
            f"médiane {ref_median * 1000:.1f} ms, pire {ref_worst * 1000:.1f} ms"
        )

        def page(survey_id: int, call: Callable[[Session, Survey], Any]) -> Callable[[], Any]:
            def run() -> Any:
                with reader() as session:
                    survey = session.get(Survey, survey_id)
                    assert survey is not None
                    return call(session, survey)

            return run

        cases: list[tuple[str, int, Callable[[Session, Survey], Any], float | None, int]] = [
            ("results, besoins", data["needs"], lambda s, v: results(s, v), 1.0, runs),
            ("results par public, besoins", data["needs"], lambda s, v: results(s, v, by="group"), 1.0, runs),
            (
                "results par territoire, besoins",
                data["needs"],
                lambda s, v: results(s, v, by="territory"),
                1.0,
                runs,
            ),
            ("results, consultation", data["consultation"], lambda s, v: results(s, v), None, runs),
            ("consultation_weights", data["consultation"], consultation_weights, None, runs),
            (
                "page consultation (results + weights)",
                data["consultation"],
                lambda s, v: (results(s, v), consultation_weights(s, v)),
                1.0,
                runs,
            ),
            ("results_workbook, besoins", data["needs"], results_workbook, None, args.export_runs),
            (
                "results_workbook, consultation",
                data["consultation"],
                results_workbook,
                None,
                args.export_runs,
            ),
        ]
        counts = {s: count_responses(reader, s) for s in (data["needs"], data["consultation"])}
        for label, survey_id, call, goal, tries in cases:
            median, worst, out = timed(page(survey_id, call), tries)
            size = f", classeur de {n(len(out) / 1024)} Kio" if isinstance(out, bytes) else ""
            verdict = f" — objectif < 1 s : {'tenu' if worst < goal else 'MANQUÉ'}" if goal else ""
            print(
                f"{label:<38}: médiane {median * 1000:7.1f} ms, pire {worst * 1000:7.1f} ms "
                f"({median / ref_median:5.1f} × la référence), {n(counts[survey_id])} réponses, {tries} essai(s)"
                f"{size}{verdict}"
            )
        tracemalloc.start()
        page(data["needs"], lambda s, v: results(s, v, by="territory"))()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"mémoire de pointe de results par territoire : {peak / 2**20:.0f} Mio")

        # the import of a full template into fresh copies of the needs survey
        copies = [fresh_copy(writer, data["needs"], f"Saisie papier {k}") for k in range(runs + 1)]
        with reader() as session:
            survey = session.get(Survey, copies[0])
            assert survey is not None
            template = template_workbook(session, survey)
        start = time.perf_counter()
        content = filled_workbook(template, MAX_ROWS, data["iris"], data["groups"])
        print(
            f"classeur de {n(MAX_ROWS)} lignes rempli avec openpyxl en {time.perf_counter() - start:.1f} s "
            f"({n(len(content) / 1024)} Kio)"
        )
        times: list[float] = []
        saved = 0
        for survey_id in copies[:runs]:
            with writer() as session:
                survey = session.get(Survey, survey_id)
                assert survey is not None
                begin = time.perf_counter()
                report = import_workbook(session, survey, content, user_id=None, today=OPENED)
                session.commit()
                times.append(time.perf_counter() - begin)
            assert not report.errors, report.errors[:3]
            saved = report.saved
        median, worst = statistics.median(times), max(times)
        print(
            f"{'import_workbook':<38}: médiane {median:7.2f} s, pire {worst:7.2f} s, {n(saved)} lignes "
            f"({n(saved / median)} lignes/s, {n(median / ref_median)} × la référence) — "
            f"objectif < 10 s : {'tenu' if worst < 10 else 'MANQUÉ'}"
        )
        bad = filled_workbook(template, MAX_ROWS, data["iris"], data["groups"], bad_row=MAX_ROWS // 2)
        with writer() as session:
            survey = session.get(Survey, copies[-1])
            assert survey is not None
            begin = time.perf_counter()
            report = import_workbook(session, survey, bad, user_id=None, today=OPENED)
            elapsed = time.perf_counter() - begin
            session.commit()
        left = count_responses(writer, copies[-1])
        print(
            f"une ligne fausse sur {n(MAX_ROWS)} : refusé en {elapsed:.2f} s, {len(report.errors)} erreur(s) "
            f"({report.errors[0] if report.errors else '-'}), {report.saved} enregistrée(s), {left} réponse(s) "
            f"en base — {'rien écrit' if left == 0 and report.saved == 0 else 'ÉCRIT'}"
        )
        engine.dispose()


if __name__ == "__main__":
    main()

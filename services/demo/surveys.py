"""The demo's citizen participation: a closed satisfaction survey of the meal delivery (with its
answers, feeding the satisfaction indicator of last year), the same survey for this year ready to
publish, a closed needs barometer and a closed priority consultation.

Answers are drawn by a seeded generator: the same organisation gets the same answers at every run.
A survey already present (same title) is left as it is, answers included.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Indicator, Need, Organisation, PopulationGroup, Service, Survey, Territory, User
from services.surveys import (
    QuestionInput,
    SurveyInput,
    add_question,
    close,
    create_survey,
    parse_answers,
    profile_choices,
    publish,
    save_response,
    set_themes,
)

#: Plain-language descriptions of the demo's needs, for the residents of a consultation.
PUBLIC_DESCRIPTIONS = {
    "PA80": "Aider les personnes très âgées à rester chez elles : repas livrés, aide à domicile, visites contre l'isolement.",
    "PETITE_ENFANCE": "Trouver une place en crèche ou chez une assistante maternelle pour les tout-petits.",
    "AAH": "Accompagner les adultes en situation de handicap dans leurs démarches et leur vie quotidienne.",
    "MONOPARENTS": "Soutenir les parents qui élèvent seuls leurs enfants : garde, budget, démarches.",
    "PRIME_ACTIVITE": "Aider les personnes qui travaillent mais gagnent peu à boucler leurs fins de mois.",
    "AIDE_LOGEMENT": "Aider à payer le loyer et à garder son logement.",
    "JEUNES": "Accompagner les jeunes de moins de 25 ans sans emploi ni études vers l'autonomie.",
    "FAMILLES_NOMBREUSES": "Soutenir les familles de trois enfants ou plus.",
    "SDF": "Offrir une adresse, un accueil et un toit aux personnes sans domicile.",
}
RSA_DESCRIPTION = (
    "Accompagner vers l'emploi et les droits les habitants qui vivent du RSA dans le quartier {name}."
)

SATISFACTION_TITLE = "Satisfaction du portage de repas {year}"
BAROMETER_TITLE = "Baromètre des besoins sociaux {year}"
CONSULTATION_TITLE = "Consultation sur les priorités de l'action sociale {year}"
CONSULTATION_NEEDS = ("PA80", "SDF", "JEUNES", "MONOPARENTS", "AIDE_LOGEMENT", "PETITE_ENFANCE", "AAH")
#: How much residents care for each need in the demo's consultation (drawn around these).
RESIDENT_PREFERENCES = {
    "PA80": 2.2, "SDF": 2.6, "JEUNES": 2.0, "MONOPARENTS": 1.6,
    "AIDE_LOGEMENT": 1.8, "PETITE_ENFANCE": 1.0, "AAH": 1.2,
}  # fmt: skip

IMPROVEMENTS = [
    ("Les repas sont parfois froids à l'arrivée.", "Qualité des repas"),
    ("Plus de choix dans les menus, surtout pour les régimes sans sel.", "Qualité des repas"),
    ("Le livreur est toujours aimable, merci à lui.", "Relation avec les agents"),
    ("L'heure de livraison change trop souvent.", "Horaires"),
    ("Il faudrait pouvoir commander le week-end.", "Horaires"),
    ("Le prix a augmenté, c'est difficile avec ma petite retraite.", "Tarif"),
    ("Rien, tout va bien.", None),
    ("Les barquettes sont difficiles à ouvrir.", "Conditionnement"),
    ("J'aimerais que le livreur ait un peu plus de temps pour discuter.", "Relation avec les agents"),
    ("Des portions plus petites, je jette beaucoup.", "Qualité des repas"),
]
PROBLEMS = [
    "Un repas oublié en août.",
    "Livraison à la mauvaise adresse une fois.",
    "Un plat qui ne respectait pas mon régime.",
    "Le livreur n'a pas sonné.",
]
BAROMETER_TEXTS = [
    "Les démarches en ligne sont trop compliquées pour moi.",
    "Il manque des places en crèche dans le quartier.",
    "Je ne savais pas que le CCAS pouvait m'aider pour les factures d'énergie.",
    "Plus de permanences le samedi matin.",
    "Un accompagnement pour trouver un logement moins cher.",
]


@dataclass
class DemoParticipation:
    surveys: int
    responses: int


def describe_needs(session: Session, organisation_id: int, iris_names: dict[str, str]) -> None:
    """Give the demo's needs their plain-language description (kept if someone changed it)."""
    for need in session.scalars(select(Need).where(Need.organisation_id == organisation_id)):
        if need.public_description:
            continue
        if need.code in PUBLIC_DESCRIPTIONS:
            need.public_description = PUBLIC_DESCRIPTIONS[need.code]
        elif need.code.startswith("RSA_"):
            need.public_description = RSA_DESCRIPTION.format(
                name=iris_names.get(need.code[4:], need.code[4:])
            )
    session.flush()


def _rng(org: Organisation, title: str) -> random.Random:
    """The same answers for the same organisation and survey at every run."""
    return random.Random(f"{org.slug}:{title}")  # noqa: S311 - demo answers, not secrets


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)


def _satisfaction_questions(
    session: Session, survey: Survey, indicator_id: int | None, service_id: int
) -> None:
    add_question(session, survey, QuestionInput(
        text="Globalement, êtes-vous satisfait(e) du portage de repas ?", kind="scale", required=True,
        scale_min=1, scale_max=5, min_label="pas du tout satisfait(e)", max_label="tout à fait satisfait(e)",
        positive_from=4, indicator_id=indicator_id, service_id=service_id,
    ))  # fmt: skip
    add_question(session, survey, QuestionInput(
        text="Les repas arrivent-ils à l'heure prévue ?", kind="single",
        options="+ Toujours\n+ Le plus souvent\nRarement\nJamais", service_id=service_id,
    ))  # fmt: skip
    add_question(session, survey, QuestionInput(
        text="Recommanderiez-vous ce service à un proche ?", kind="single", options="+ Oui\nNon",
        service_id=service_id,
    ))  # fmt: skip
    problem = add_question(session, survey, QuestionInput(
        text="Avez-vous eu un problème avec une livraison cette année ?", kind="single", options="Oui\n+ Non",
    ))  # fmt: skip
    add_question(session, survey, QuestionInput(
        text="Lequel ?", kind="text", condition_question_id=problem.id, condition_values=["Oui"],
    ))  # fmt: skip
    add_question(session, survey, QuestionInput(text="Que faudrait-il améliorer ?", kind="text"))


def seed_participation(
    session: Session,
    org: Organisation,
    *,
    as_of: date,
    indicators: dict[str, Indicator],
    services: dict[str, Service],
    groups: dict[str, PopulationGroup],
    iris: dict[str, Territory],
    direction: User,
) -> DemoParticipation:
    """Create the demo's surveys that do not exist yet, with their answers. Flushes."""
    describe_needs(session, org.id, {code: t.name for code, t in iris.items()})
    existing = set(session.scalars(select(Survey.title).where(Survey.organisation_id == org.id)))
    made, answered = 0, 0
    seniors = services["SENIORS"].id
    satisfaction = indicators.get("satisfaction_portage")
    hardship = indicators.get("difficulte_alimentation")
    last_year = as_of.year - 1

    def new(title: str, data: SurveyInput) -> Survey | None:
        nonlocal made
        if title in existing:
            return None
        made += 1
        return create_survey(session, org.id, org.name, data, user_id=direction.id)

    # 1. last year's satisfaction survey, closed: it feeds last year's satisfaction rate
    title = SATISFACTION_TITLE.format(year=last_year)
    survey = new(title, SurveyInput(
        title=title, kind="satisfaction", service_id=seniors, ask_territory=True,
        introduction="Vous recevez les repas du CCAS : dites-nous ce que vous en pensez. Cinq minutes suffisent.",
    ))  # fmt: skip
    if survey is not None:
        _satisfaction_questions(session, survey, satisfaction.id if satisfaction else None, seniors)
        opened = date(last_year, 11, 3)
        publish(session, survey, now=_at(opened))
        answered += _answer_satisfaction(session, survey, _rng(org, title), opened, iris)
        close(session, survey, history=True, now=_at(date(last_year, 12, 15)))

    # 2. this year's, ready to publish
    title = SATISFACTION_TITLE.format(year=as_of.year)
    survey = new(title, SurveyInput(
        title=title, kind="satisfaction", service_id=seniors, ask_territory=True,
        introduction="Vous recevez les repas du CCAS : dites-nous ce que vous en pensez. Cinq minutes suffisent.",
    ))  # fmt: skip
    if survey is not None:
        _satisfaction_questions(session, survey, satisfaction.id if satisfaction else None, seniors)

    # 3. a needs barometer of residents, closed
    title = BAROMETER_TITLE.format(year=as_of.year)
    survey = new(title, SurveyInput(
        title=title, kind="needs", ask_group=True, ask_territory=True, access="open",
        introduction="Aidez le CCAS à connaître les besoins des habitants pour son analyse des besoins sociaux.",
    ))  # fmt: skip
    if survey is not None:
        add_question(session, survey, QuestionInput(
            text="Au cours des 12 derniers mois, avez-vous eu du mal à payer votre alimentation ?", kind="single",
            required=True, options="+ Souvent\n+ Parfois\nJamais", indicator_id=hardship.id if hardship else None,
        ))  # fmt: skip
        add_question(session, survey, QuestionInput(
            text="Savez-vous que le CCAS peut vous aider dans vos démarches ?", kind="single", options="+ Oui\nNon",
        ))  # fmt: skip
        add_question(session, survey, QuestionInput(
            text="Sur quels sujets aimeriez-vous être mieux informé(e) ?", kind="multiple",
            options="Logement\nÉnergie\nSanté\nGarde d'enfants\nEmploi\nAides financières",
        ))  # fmt: skip
        add_question(session, survey, QuestionInput(
            text="Combien de personnes vivent dans votre foyer ?", kind="number", number_min=1, number_max=15,
        ))  # fmt: skip
        add_question(
            session, survey, QuestionInput(text="Que devrait faire le CCAS en priorité ?", kind="text")
        )
        opened = as_of - timedelta(days=80)
        publish(session, survey, now=_at(opened))
        answered += _answer_barometer(session, survey, _rng(org, title), opened, groups, iris)
        close(session, survey, history=True, now=_at(as_of - timedelta(days=40)))

    # 4. the priority consultation, closed: its weights are proposed to the élus
    title = CONSULTATION_TITLE.format(year=as_of.year + 1)
    survey = new(title, SurveyInput(
        title=title, kind="consultation", ask_territory=True,
        introduction="Le CCAS prépare son budget : quelles actions comptent le plus pour vous ?",
    ))  # fmt: skip
    if survey is not None:
        codes = [c for c in CONSULTATION_NEEDS if session.scalar(
            select(Need.id).where(Need.organisation_id == org.id, Need.code == c))]  # fmt: skip
        add_question(session, survey, QuestionInput(
            text="Répartissez 10 points entre ces actions selon l'importance que vous leur donnez.",
            kind="points", total=10, need_codes=codes, required=True,
        ))  # fmt: skip
        opened = as_of - timedelta(days=45)
        publish(session, survey, now=_at(opened))
        answered += _answer_consultation(session, survey, _rng(org, title), opened, codes, iris)
        close(session, survey, history=True, now=_at(as_of - timedelta(days=16)))
    session.flush()
    return DemoParticipation(surveys=made, responses=answered)


def _day(rng: random.Random, start: date, days: int) -> date:
    return start + timedelta(days=rng.randrange(days))


def _place(rng: random.Random, iris: dict[str, Territory]) -> str:
    codes = sorted(iris)
    if not codes or rng.random() < 0.25:
        return ""
    # a few neighbourhoods answer much more than others (some fall below the threshold)
    weights = [1 + (i % 4) * 3 for i in range(len(codes))]
    return iris[rng.choices(codes, weights)[0]].code


def _answer_satisfaction(
    session: Session, survey: Survey, rng: random.Random, opened: date, iris: dict[str, Territory]
) -> int:
    profile = profile_choices(session, survey)  # read once, not per answer sheet
    q = {question.position: question for question in survey.questions}
    count = 0
    for n in range(138):
        score = rng.choices([1, 2, 3, 4, 5], [3, 6, 14, 45, 32])[0]
        form: dict[str, list[str]] = {
            f"q{q[1].id}": [str(score)],
            f"q{q[2].id}": [
                rng.choices(["toujours", "le-plus-souvent", "rarement", "jamais"], [50, 38, 10, 2])[0]
            ],
            f"q{q[3].id}": ["oui" if score >= 3 or rng.random() < 0.3 else "non"],
            "territoire": [_place(rng, iris)],
        }
        problem = rng.random() < 0.18
        form[f"q{q[4].id}"] = ["oui" if problem else "non"]
        if problem:
            form[f"q{q[5].id}"] = [rng.choice(PROBLEMS)]
        improvement = rng.choice(IMPROVEMENTS) if rng.random() < 0.45 else None
        if improvement:
            form[f"q{q[6].id}"] = [improvement[0]]
        parsed = parse_answers(session, survey, form, profile=profile)
        paper = n % 3 == 0
        response = save_response(
            session, survey, parsed, channel="paper" if paper else "web", today=_day(rng, opened, 40),
            reference=f"P{n + 1:03d}" if paper else None, checked=True,  # a new survey: numbers unique
        )  # fmt: skip
        if improvement and improvement[1] and n % 2 == 0:
            answer = next(a for a in response.answers if a.question_id == q[6].id)
            set_themes(session, survey, answer, [], improvement[1])
        count += 1
    return count


def _answer_barometer(
    session: Session,
    survey: Survey,
    rng: random.Random,
    opened: date,
    groups: dict[str, PopulationGroup],
    iris: dict[str, Territory],
) -> int:
    profile = profile_choices(session, survey)  # read once, not per answer sheet
    q = {question.position: question for question in survey.questions}
    group_codes = sorted(groups)
    topics = ["logement", "energie", "sante", "garde-d-enfants", "emploi", "aides-financieres"]
    count = 0
    for _ in range(312):
        group = rng.choice(group_codes) if rng.random() < 0.8 else ""
        hardship_odds = 0.45 if group in ("minima_sociaux", "familles_monoparentales", "bas_revenus") else 0.2
        form: dict[str, list[str]] = {
            f"q{q[1].id}": [rng.choice(["souvent", "parfois"]) if rng.random() < hardship_odds else "jamais"],
            f"q{q[2].id}": ["oui" if rng.random() < 0.55 else "non"],
            f"q{q[3].id}": rng.sample(topics, rng.randrange(0, 3)),
            f"q{q[4].id}": [str(rng.choices([1, 2, 3, 4, 5, 6], [30, 28, 16, 14, 8, 4])[0])],
            "groupe": [group],
            "territoire": [_place(rng, iris)],
        }
        if rng.random() < 0.3:
            form[f"q{q[5].id}"] = [rng.choice(BAROMETER_TEXTS)]
        save_response(
            session,
            survey,
            parse_answers(session, survey, form, profile=profile),
            channel="web",
            today=_day(rng, opened, 40),
            checked=True,
        )
        count += 1
    return count


def _answer_consultation(
    session: Session,
    survey: Survey,
    rng: random.Random,
    opened: date,
    codes: list[str],
    iris: dict[str, Territory],
) -> int:
    profile = profile_choices(session, survey)  # read once, not per answer sheet
    question = survey.questions[0]
    count = 0
    for _ in range(426):
        form: dict[str, list[str]] = {"territoire": [_place(rng, iris)]}
        points = dict.fromkeys(codes, 0)
        for _ in range(10 if rng.random() < 0.85 else rng.randrange(4, 10)):
            chosen = rng.choices(
                codes, [RESIDENT_PREFERENCES.get(c, 1.0) * rng.uniform(0.3, 1.7) for c in codes]
            )[0]
            points[chosen] += 1
        for code, value in points.items():
            if value:
                form[f"q{question.id}-{code}"] = [str(value)]
        save_response(
            session,
            survey,
            parse_answers(session, survey, form, profile=profile),
            channel="web",
            today=_day(rng, opened, 29),
            checked=True,
        )
        count += 1
    return count

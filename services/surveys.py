"""Surveys and priority consultations: build, publish, answer (web, paper, Excel), close.

The direction builds a questionnaire tied to needs, services or indicators, publishes it at a
public link and closes it. Every answer, whatever its channel, goes through :func:`parse_answers`,
so a paper questionnaire or an Excel row is checked exactly like the public form. Answers are
anonymous (see :mod:`models.survey`). Results and the indicators they feed are in
:mod:`services.survey_results`.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    Indicator,
    Need,
    Organisation,
    PopulationGroup,
    Service,
    Survey,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
    SurveyStart,
    Territory,
    TerritoryKind,
)
from scorecard.errors import UserError
from services.numbers import NumberError, check_value, format_number, parse_french_number

if TYPE_CHECKING:  # survey_results imports this module
    from services.survey_results import Fed

KIND_LABELS = {
    "satisfaction": "Enquête de satisfaction",
    "needs": "Enquête sur les besoins",
    "consultation": "Consultation sur les priorités",
}
STATE_LABELS = {"draft": "en préparation", "open": "ouverte", "closed": "close"}
ACCESS_LABELS = {
    "open": "lien public (une réponse par navigateur)",
    "codes": "code d'invitation (une réponse par code)",
}
QUESTION_KIND_LABELS = {
    "single": "Choix unique",
    "multiple": "Choix multiple",
    "scale": "Échelle",
    "number": "Nombre",
    "text": "Texte libre",
    "points": "Répartition de points entre les besoins",
    "rating": "Note de priorité de chaque besoin",
}
CHANNEL_LABELS = {"web": "en ligne", "paper": "papier (saisi)", "import": "importé d'Excel"}
#: Kinds whose answers can be counted as positive (and so feed an indicator).
COUNTABLE = ("single", "multiple", "scale")
CONSULTATION_KINDS = ("points", "rating")
MAX_TEXT = 2000
MAX_CODES = 5000
#: Letters and digits that cannot be misread on paper (no 0/O, 1/I/L).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
PARIS = ZoneInfo("Europe/Paris")

DEFAULT_PURPOSE = {
    "satisfaction": (
        "Cette enquête mesure la satisfaction des personnes qui utilisent le service, pour l'améliorer. "
        "Elle est anonyme : nous n'enregistrons ni votre nom, ni votre adresse électronique, ni votre "
        "adresse IP. Nous gardons vos réponses, le jour où vous avez répondu et, si vous les indiquez, "
        "votre public et votre quartier. Les résultats ne sont publiés que pour des groupes d'au moins "
        "{threshold} personnes. Responsable : {organisation}. Vous pouvez répondre sans vous identifier ; "
        "vos réponses sont conservées le temps de l'analyse des besoins sociaux (6 ans au plus). Un cookie "
        "technique, sans donnée personnelle, évite les doubles réponses."
    ),
    "needs": (
        "Cette enquête aide {organisation} à connaître les besoins des habitants pour son analyse des "
        "besoins sociaux. Elle est anonyme : nous n'enregistrons ni votre nom, ni votre adresse "
        "électronique, ni votre adresse IP. Nous gardons vos réponses, le jour où vous avez répondu et, "
        "si vous les indiquez, votre public et votre quartier. Les résultats ne sont publiés que pour "
        "des groupes d'au moins {threshold} personnes ; vos réponses sont conservées 6 ans au plus. Un "
        "cookie technique, sans donnée personnelle, évite les doubles réponses."
    ),
    "consultation": (
        "Cette consultation recueille votre avis sur les priorités de l'action sociale de "
        "{organisation}. Les résultats sont présentés aux élus à côté de leurs propres priorités ; "
        "ce sont les élus qui décident. Elle est anonyme : nous n'enregistrons ni votre nom, ni votre "
        "adresse électronique, ni votre adresse IP. Les résultats ne sont publiés que pour des groupes "
        "d'au moins {threshold} personnes ; vos réponses sont conservées 6 ans au plus. Un cookie technique, "
        "sans donnée personnelle, évite les doubles réponses."
    ),
}


class SurveyError(UserError):
    """A survey that cannot be built, published, answered or closed; the message is in French."""


class AnswerErrors(SurveyError):
    """Answers refused, field by field (the field name of the form -> the message)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ; ".join(errors.values()))
        self.errors = errors


# --- Building --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyInput:
    title: str
    kind: str
    introduction: str | None = None
    purpose: str | None = None
    access: str = "open"
    service_id: int | None = None
    ask_group: bool = False
    ask_territory: bool = False
    threshold: int = 11
    closes_on: date | None = None


@dataclass(frozen=True)
class QuestionInput:
    text: str
    kind: str
    help: str | None = None
    required: bool = False
    #: One option per line; a line starting with ``+`` counts as positive (for the indicator).
    options: str = ""
    scale_min: int = 1
    scale_max: int = 5
    min_label: str = ""
    max_label: str = ""
    positive_from: int | None = None
    number_min: float | None = None
    number_max: float | None = None
    #: Points to allocate (``points``) or the top rating (``rating``).
    total: int = 10
    need_codes: Sequence[str] = ()
    condition_question_id: int | None = None
    #: The answers (codes, labels or scale values) of the condition question that make it asked.
    condition_values: Sequence[str] = ()
    service_id: int | None = None
    need_id: int | None = None
    indicator_id: int | None = None


@functools.lru_cache(maxsize=8192)
def slug(text: str, *, length: int = 40) -> str:
    """``Très satisfait(e)`` -> ``tres-satisfait-e``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return out[:length].strip("-") or "x"


def new_token() -> str:
    return secrets.token_urlsafe(18)


def default_purpose(kind: str, organisation: str, threshold: int) -> str:
    return DEFAULT_PURPOSE[kind].format(organisation=organisation, threshold=threshold)


def _check_survey(session: Session, organisation_id: int, data: SurveyInput, survey_id: int | None) -> str:
    problems = []
    title = data.title.strip()
    if not title:
        problems.append("donnez un titre à l'enquête")
    elif session.scalar(
        select(Survey.id).where(
            Survey.organisation_id == organisation_id, Survey.title == title, Survey.id != (survey_id or 0)
        )
    ):
        problems.append(f"une enquête « {title} » existe déjà")
    if data.kind not in KIND_LABELS:
        problems.append(f"type d'enquête « {data.kind} » inconnu")
    if data.access not in ACCESS_LABELS:
        problems.append(f"mode d'accès « {data.access} » inconnu")
    if not 1 <= data.threshold <= 100:
        problems.append("le seuil de confidentialité doit être entre 1 et 100 répondants")
    if data.service_id is not None:
        service = session.get(Service, data.service_id)
        if service is None or service.organisation_id != organisation_id:
            problems.append("service inconnu")
    if problems:
        raise SurveyError(" ; ".join(problems))
    return title


def create_survey(
    session: Session, organisation_id: int, organisation_name: str, data: SurveyInput, *, user_id: int | None
) -> Survey:
    """A draft survey. Flushes."""
    title = _check_survey(session, organisation_id, data, None)
    survey = Survey(
        organisation_id=organisation_id,
        title=title[:200],
        kind=data.kind,
        introduction=(data.introduction or "").strip() or None,
        purpose=(data.purpose or "").strip() or default_purpose(data.kind, organisation_name, data.threshold),
        access=data.access,
        service_id=data.service_id,
        ask_group=data.ask_group,
        ask_territory=data.ask_territory,
        threshold=data.threshold,
        closes_on=data.closes_on,
        token=new_token(),
        state="draft",
        themes=[],
        created_by_id=user_id,
    )
    session.add(survey)
    session.flush()
    return survey


def update_survey(session: Session, survey: Survey, data: SurveyInput) -> None:
    """Change a survey's settings; its kind and access are fixed once it is published. Flushes."""
    title = _check_survey(session, survey.organisation_id, data, survey.id)
    if survey.state != "draft" and (data.kind != survey.kind or data.access != survey.access):
        raise SurveyError("le type et le mode d'accès d'une enquête publiée ne changent plus")
    if survey.state != "draft" and data.threshold < survey.threshold:
        raise SurveyError(
            f"le seuil de confidentialité annoncé aux répondants ({survey.threshold}) ne peut plus baisser"
        )
    purpose = (data.purpose or "").strip() or survey.purpose
    organisation = session.get(Organisation, survey.organisation_id)
    name = organisation.name if organisation is not None else ""
    if survey.kind in DEFAULT_PURPOSE and purpose == default_purpose(survey.kind, name, survey.threshold):
        # the standard text, untouched: it follows the kind and the threshold it states
        purpose = default_purpose(data.kind, name, data.threshold)
    survey.title = title[:200]
    survey.kind = data.kind
    survey.introduction = (data.introduction or "").strip() or None
    survey.purpose = purpose
    survey.access = data.access
    survey.service_id = data.service_id
    survey.threshold = data.threshold
    survey.closes_on = data.closes_on
    if survey.state == "draft":
        survey.ask_group = data.ask_group
        survey.ask_territory = data.ask_territory
    session.flush()


def copy_survey(session: Session, survey: Survey, *, title: str, user_id: int | None) -> Survey:
    """A new draft with the same settings and questions (conditions kept), without answers. Flushes."""
    data = SurveyInput(
        title=title, kind=survey.kind, introduction=survey.introduction, purpose=survey.purpose,
        access=survey.access, service_id=survey.service_id, ask_group=survey.ask_group,
        ask_territory=survey.ask_territory, threshold=survey.threshold,
    )  # fmt: skip
    new_title = _check_survey(session, survey.organisation_id, data, None)
    copy = Survey(
        organisation_id=survey.organisation_id, title=new_title[:200], kind=survey.kind,
        introduction=survey.introduction, purpose=survey.purpose, access=survey.access,
        service_id=survey.service_id, ask_group=survey.ask_group, ask_territory=survey.ask_territory,
        threshold=survey.threshold, token=new_token(), state="draft", themes=[], created_by_id=user_id,
    )  # fmt: skip
    session.add(copy)
    session.flush()
    ids: dict[int, int] = {}
    for question in survey.questions:
        twin = SurveyQuestion(
            survey=copy, position=question.position, code=question.code, text=question.text,
            help=question.help, kind=question.kind, required=question.required,
            settings=dict(question.settings or {}),
            condition_question_id=ids.get(question.condition_question_id or 0),
            condition_values=list(question.condition_values or []), service_id=question.service_id,
            need_id=question.need_id, indicator_id=question.indicator_id,
        )  # fmt: skip
        session.add(twin)
        session.flush()
        ids[question.id] = twin.id
    session.expire(copy, ["questions"])
    return copy


def _editable(survey: Survey) -> None:
    if survey.state != "draft":
        raise SurveyError(
            "les questions d'une enquête publiée ne changent plus (les réponses reçues en dépendent) : "
            "copiez l'enquête pour en préparer une nouvelle version"
        )


def _parse_options(raw: str) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line in raw.splitlines():
        label = line.strip()
        if not label:
            continue
        positive = label.startswith("+")
        label = label.lstrip("+").strip()
        if not label:
            continue
        code = slug(label)
        base, n = code, 2
        while code in seen:
            code, n = f"{base}-{n}", n + 1
        seen.add(code)
        options.append({"code": code, "label": label[:200], "positive": positive})
    return options


def _question_settings(
    session: Session, survey: Survey, data: QuestionInput
) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    settings: dict[str, Any] = {}
    if data.kind in ("single", "multiple"):
        options = _parse_options(data.options)
        if len(options) < 2:
            problems.append("donnez au moins deux réponses possibles, une par ligne")
        settings["options"] = options
    elif data.kind == "scale":
        if not (0 <= data.scale_min < data.scale_max <= 10):
            problems.append("l'échelle va de 0 ou 1 jusqu'à 10 au plus, le bas étant inférieur au haut")
        if data.positive_from is not None and not data.scale_min <= data.positive_from <= data.scale_max:
            problems.append("le seuil « satisfait à partir de » doit être sur l'échelle")
        settings.update(
            min=data.scale_min, max=data.scale_max, min_label=data.min_label.strip()[:80],
            max_label=data.max_label.strip()[:80], positive_from=data.positive_from,
        )  # fmt: skip
    elif data.kind == "number":
        if data.number_min is not None and data.number_max is not None and data.number_min > data.number_max:
            problems.append("le minimum doit être inférieur au maximum")
        settings.update(min=data.number_min, max=data.number_max)
    elif data.kind in CONSULTATION_KINDS:
        codes = list(dict.fromkeys(c for c in data.need_codes if c))
        known = set(
            session.scalars(
                select(Need.code).where(Need.organisation_id == survey.organisation_id, Need.code.in_(codes))
            )
        )
        unknown = [c for c in codes if c not in known]
        if unknown:
            problems.append("besoin(s) inconnu(s) : " + ", ".join(unknown))
        if len(codes) < 2:
            problems.append("choisissez au moins deux besoins du registre")
        if data.kind == "points" and not 1 <= data.total <= 1000:
            problems.append("le nombre de points à répartir doit être entre 1 et 1 000")
        if data.kind == "rating" and not 2 <= data.total <= 10:
            problems.append("la note maximale doit être entre 2 et 10")
        settings.update(needs=codes, total=data.total)
    elif data.kind != "text":
        problems.append(f"type de question « {data.kind} » inconnu")
    if data.indicator_id is not None:
        indicator = session.get(Indicator, data.indicator_id)
        if indicator is None or indicator.organisation_id != survey.organisation_id:
            problems.append("indicateur inconnu")
        elif indicator.formula:
            problems.append("un indicateur calculé par formule ne peut pas être alimenté par une enquête")
        elif indicator.unit != "%":
            problems.append(
                f"l'indicateur alimenté doit être en % (« {indicator.label} » est en {indicator.unit})"
            )
        if data.kind not in COUNTABLE:
            problems.append(
                "seule une question à choix ou à échelle alimente un indicateur (part des réponses positives)"
            )
        elif data.kind == "scale" and data.positive_from is None:
            problems.append("indiquez à partir de quelle note la réponse est positive, pour l'indicateur")
        elif data.kind in ("single", "multiple") and not any(
            o["positive"] for o in settings.get("options", [])
        ):
            problems.append("marquez d'un « + » les réponses positives, pour l'indicateur")
    if data.service_id is not None:
        service = session.get(Service, data.service_id)
        if service is None or service.organisation_id != survey.organisation_id:
            problems.append("service inconnu")
    if data.need_id is not None:
        need = session.get(Need, data.need_id)
        if need is None or need.organisation_id != survey.organisation_id:
            problems.append("besoin inconnu")
    return settings, problems


def _condition(
    survey: Survey, question: SurveyQuestion | None, data: QuestionInput
) -> tuple[int | None, list[str], list[str]]:
    if data.condition_question_id is None:
        return None, [], []
    earlier = [q for q in survey.questions if question is None or q.position < question.position]
    target = next((q for q in earlier if q.id == data.condition_question_id), None)
    if target is None:
        return None, [], ["la condition doit porter sur une question posée avant celle-ci"]
    if target.kind not in COUNTABLE:
        return None, [], ["une condition porte sur une question à choix ou à échelle"]
    values: list[str] = []
    problems: list[str] = []
    for raw in data.condition_values:
        value = _choice_code(target, raw)
        if value is None:
            problems.append(f"« {raw} » n'est pas une réponse possible de la question « {target.text} »")
        else:
            values.append(value)
    if not values and not problems:
        problems.append("indiquez quelle(s) réponse(s) déclenche(nt) la question")
    return target.id, values, problems


def _next_code(survey: Survey, text: str) -> str:
    codes = {q.code for q in survey.questions}
    base = slug(text, length=30)
    code, n = base, 2
    while code in codes:
        code, n = f"{base}-{n}", n + 1
    return code


def add_question(session: Session, survey: Survey, data: QuestionInput) -> SurveyQuestion:
    """Append a question to a draft survey. Flushes."""
    _editable(survey)
    text = data.text.strip()
    settings, problems = _question_settings(session, survey, data)
    condition_id, values, more = _condition(survey, None, data)
    problems = ([] if text else ["écrivez la question"]) + problems + more
    if problems:
        raise SurveyError(" ; ".join(problems))
    question = SurveyQuestion(
        survey=survey,
        position=max((q.position for q in survey.questions), default=0) + 1,
        code=_next_code(survey, text),
        text=text[:500],
        help=(data.help or "").strip() or None,
        kind=data.kind,
        required=data.required,
        settings=settings,
        condition_question_id=condition_id,
        condition_values=values,
        service_id=data.service_id,
        need_id=data.need_id,
        indicator_id=data.indicator_id,
    )
    session.add(question)
    session.flush()
    return question


def update_question(session: Session, question: SurveyQuestion, data: QuestionInput) -> None:
    """Change a question of a draft survey. Flushes."""
    survey = question.survey
    _editable(survey)
    text = data.text.strip()
    settings, problems = _question_settings(session, survey, data)
    condition_id, values, more = _condition(survey, question, data)
    problems = ([] if text else ["écrivez la question"]) + problems + more
    if problems:
        raise SurveyError(" ; ".join(problems))
    dependants = [q for q in survey.questions if q.condition_question_id == question.id]
    if dependants:
        if data.kind not in COUNTABLE:
            codes: set[str] = set()
        elif data.kind == "scale":
            codes = {str(v) for v in range(data.scale_min, data.scale_max + 1)}
        else:
            codes = {str(o["code"]) for o in settings.get("options", [])}
        if any(set(q.condition_values or []) - codes for q in dependants):
            raise SurveyError(
                "d'autres questions dépendent de celle-ci : gardez une question à choix ou à échelle et "
                "les réponses qui les déclenchent"
            )
    question.text = text[:500]
    question.help = (data.help or "").strip() or None
    question.kind = data.kind
    question.required = data.required
    question.settings = settings
    question.condition_question_id = condition_id
    question.condition_values = values
    question.service_id = data.service_id
    question.need_id = data.need_id
    question.indicator_id = data.indicator_id
    session.flush()


def delete_question(session: Session, question: SurveyQuestion) -> None:
    survey = question.survey
    _editable(survey)
    if any(q.condition_question_id == question.id for q in survey.questions):
        raise SurveyError("d'autres questions dépendent de celle-ci : retirez d'abord leur condition")
    survey.questions.remove(question)
    session.flush()


def move_question(session: Session, question: SurveyQuestion, step: int) -> None:
    """Move a question up (-1) or down (+1); a condition must stay after its question. Flushes."""
    survey = question.survey
    _editable(survey)
    ordered = list(survey.questions)
    i = ordered.index(question)
    j = i + step
    if not 0 <= j < len(ordered):
        return
    other = ordered[j]
    first, second = (question, other) if step > 0 else (other, question)
    # after the swap ``second`` comes first: it must not depend on ``first``
    if second.condition_question_id == first.id:
        raise SurveyError(f"« {second.text} » dépend de « {first.text} » : elle doit rester après")
    question.position, other.position = other.position, question.position
    session.flush()
    session.expire(survey, ["questions"])


def options_of(question: SurveyQuestion) -> list[dict[str, Any]]:
    """The answers a choice or scale question offers, as {code, label, positive}."""
    settings = question.settings or {}
    if question.kind in ("single", "multiple"):
        return list(settings.get("options", []))
    if question.kind == "scale":
        low, high = int(settings.get("min", 1)), int(settings.get("max", 5))
        positive_from = settings.get("positive_from")
        out = []
        for value in range(low, high + 1):
            label = str(value)
            if value == low and settings.get("min_label"):
                label = f"{value} – {settings['min_label']}"
            elif value == high and settings.get("max_label"):
                label = f"{value} – {settings['max_label']}"
            out.append(
                {
                    "code": str(value),
                    "label": label,
                    "positive": positive_from is not None and value >= positive_from,
                }
            )
        return out
    return []


def _choice_code(question: SurveyQuestion, raw: str) -> str | None:
    """The option code of ``raw`` (a code or a label, case and accents ignored), or None."""
    value = raw.strip()
    if not value:
        return None
    options = options_of(question)
    if question.kind == "scale":
        try:
            number = parse_french_number(value)
        except ValueError:
            number = float("nan")
        if number == int(number) if number == number else False:
            value = str(int(number))
    for option in options:
        if value == option["code"]:
            return str(option["code"])
    wanted = slug(value, length=200)
    for option in options:
        if wanted in (slug(str(option["label"]), length=200), slug(str(option["code"]), length=200)):
            return str(option["code"])
    return None


def needs_of(session: Session, question: SurveyQuestion) -> list[Need]:
    """The needs a consultation question asks about, in the question's order."""
    codes = list((question.settings or {}).get("needs", []))
    if not codes:
        return []
    survey = question.survey
    found = {
        n.code: n
        for n in session.scalars(
            select(Need).where(Need.organisation_id == survey.organisation_id, Need.code.in_(codes))
        )
    }
    return [found[c] for c in codes if c in found]


def profile_choices(session: Session, survey: Survey) -> tuple[list[PopulationGroup], list[Territory]]:
    """The publics and the territories (quartiers, QPV, IRIS) a respondent may choose."""
    groups = list(
        session.scalars(
            select(PopulationGroup)
            .where(PopulationGroup.organisation_id == survey.organisation_id)
            .order_by(PopulationGroup.name)
        )
    ) if survey.ask_group else []  # fmt: skip
    territories = list(
        session.scalars(
            select(Territory)
            .where(
                Territory.organisation_id == survey.organisation_id,
                Territory.kind.in_([TerritoryKind.QUARTIER, TerritoryKind.QPV, TerritoryKind.IRIS]),
            )
            .order_by(Territory.name)
        )
    ) if survey.ask_territory else []  # fmt: skip
    return groups, territories


# --- Publishing --------------------------------------------------------------------------------------


def local_today(now: datetime) -> date:
    """The day in France (Europe/Paris) at the instant ``now``: closing days are French days."""
    return now.astimezone(PARIS).date()


def publish(session: Session, survey: Survey, *, now: datetime) -> None:
    """Open the survey at its public link. Flushes."""
    if survey.state == "open":
        raise SurveyError("l'enquête est déjà ouverte")
    problems = []
    if not survey.questions:
        problems.append("ajoutez au moins une question")
    if survey.kind == "consultation" and not any(q.kind in CONSULTATION_KINDS for q in survey.questions):
        problems.append(
            "une consultation demande au moins une question de répartition ou de note des besoins"
        )
    if survey.closes_on is not None and survey.closes_on < local_today(now):
        problems.append("la date de clôture est passée : changez-la avant de publier")
    if problems:
        raise SurveyError(" ; ".join(problems))
    survey.state = "open"
    survey.opened_at = survey.opened_at or now
    survey.closed_at = None
    session.flush()


def close(session: Session, survey: Survey, *, now: datetime, history: bool = False) -> Fed:
    """Close the survey and write the indicators it feeds (what was written and left). Flushes."""
    if survey.state != "open":
        raise SurveyError("seule une enquête ouverte peut être close")
    survey.state = "closed"
    survey.closed_at = now
    session.flush()
    from services.survey_results import publish_indicators

    return publish_indicators(session, survey, history=history)


def due_for_closing(session: Session, organisation_id: int, today: date) -> list[Survey]:
    """The open surveys whose closing day is before ``today`` (the scheduled job closes them)."""
    return list(
        session.scalars(
            select(Survey).where(
                Survey.organisation_id == organisation_id,
                Survey.state == "open",
                Survey.closes_on.is_not(None),
                Survey.closes_on < today,
            )
        )
    )


#: How long answer sheets are kept after a survey closes (stated on the public page).
RETENTION_YEARS = 6


def due_for_purge(session: Session, organisation_id: int, today: date) -> list[Survey]:
    """Closed surveys whose answer sheets are older than the retention period and still held."""
    limit = datetime(today.year - RETENTION_YEARS, today.month, min(today.day, 28), tzinfo=PARIS)
    return list(
        session.scalars(
            select(Survey).where(
                Survey.organisation_id == organisation_id,
                Survey.state == "closed",
                Survey.closed_at < limit,
                select(SurveyResponse.id).where(SurveyResponse.survey_id == Survey.id).exists(),
            )
        )
    )


def purge_answers(session: Session, survey: Survey) -> int:
    """Erase a closed survey's answer sheets (its questions and the indicator values it wrote stay)."""
    result = session.execute(delete(SurveyResponse).where(SurveyResponse.survey_id == survey.id))
    session.execute(delete(SurveyInvitation).where(SurveyInvitation.survey_id == survey.id))
    return int(getattr(result, "rowcount", 0) or 0)


def _code_hash(survey: Survey, code: str) -> str:
    normalised = re.sub(r"[\s-]", "", code).upper()
    return hashlib.sha256(f"{survey.token}:{normalised}".encode()).hexdigest()


def generate_codes(session: Session, survey: Survey, count: int, *, now: datetime) -> list[str]:
    """New invitation codes, returned once in clear (only their hash is kept). Flushes."""
    if survey.access != "codes":
        raise SurveyError("cette enquête est ouverte à tous par son lien : elle n'utilise pas de codes")
    if survey.state == "closed":
        raise SurveyError("l'enquête est close")
    existing = session.scalar(select(func.count()).where(SurveyInvitation.survey_id == survey.id)) or 0
    if count < 1 or existing + count > MAX_CODES:
        raise SurveyError(
            f"entre 1 et {MAX_CODES - existing} codes de plus (au plus {MAX_CODES} par enquête)"
        )
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        code = f"{raw[:4]}-{raw[4:]}"
        codes.append(code)
        session.add(SurveyInvitation(survey_id=survey.id, code_hash=_code_hash(survey, code), created_at=now))
    session.flush()
    return codes


def invitation_counts(session: Session, survey: Survey) -> tuple[int, int]:
    """(codes issued, codes used)."""
    issued = session.scalar(select(func.count()).where(SurveyInvitation.survey_id == survey.id)) or 0
    used = (
        session.scalar(
            select(func.count()).where(
                SurveyInvitation.survey_id == survey.id, SurveyInvitation.used.is_(True)
            )
        )
        or 0
    )
    return issued, used


def find_invitation(session: Session, survey: Survey, code: str) -> SurveyInvitation | None:
    return session.scalar(
        select(SurveyInvitation).where(
            SurveyInvitation.survey_id == survey.id, SurveyInvitation.code_hash == _code_hash(survey, code)
        )
    )


def check_invitation(session: Session, survey: Survey, code: str) -> SurveyInvitation:
    """The unused invitation of ``code``; refused in French otherwise."""
    invitation = find_invitation(session, survey, code) if code.strip() else None
    if invitation is None:
        raise AnswerErrors({"code": "Ce code d'invitation n'est pas reconnu : vérifiez-le (8 caractères)."})
    if invitation.used:
        raise AnswerErrors({"code": "Ce code d'invitation a déjà servi : une seule réponse par code."})
    return invitation


def redeem_invitation(session: Session, invitation: SurveyInvitation) -> None:
    """Mark the code used (not when), atomically: of two answers sent with one code at once, one
    is refused."""
    result = session.execute(
        update(SurveyInvitation)
        .where(SurveyInvitation.id == invitation.id, SurveyInvitation.used.is_(False))
        .values(used=True)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise AnswerErrors({"code": "Ce code d'invitation a déjà servi : une seule réponse par code."})
    session.expire(invitation, ["used"])


def consume_start(session: Session, survey: Survey, mark: str, *, today: date) -> None:
    """Record that the questionnaire page of ``mark`` was answered: a page gives one answer.

    Raises :class:`AnswerErrors` if it already did (a replayed form, or two tabs sending the same
    page). The unique key settles two posts at once: one is refused.
    """
    digest = hashlib.sha256(f"{survey.token}:{mark}".encode()).hexdigest()
    refused = AnswerErrors(
        {"": "Ce questionnaire a déjà été envoyé depuis cette page. Merci ! Pour une autre personne, "
             "rouvrez le lien."}
    )  # fmt: skip
    if session.scalar(
        select(SurveyStart.id).where(SurveyStart.survey_id == survey.id, SurveyStart.mark_hash == digest)
    ):
        raise refused
    try:
        with session.begin_nested():
            session.add(SurveyStart(survey_id=survey.id, mark_hash=digest, used_on=today))
    except IntegrityError:
        raise refused from None


def purge_starts(session: Session, before: date) -> int:
    """Forget the page marks older than ``before`` (a mark is only checked within a day)."""
    result = session.execute(delete(SurveyStart).where(SurveyStart.used_on < before))
    return int(getattr(result, "rowcount", 0) or 0)


# --- Answering ---------------------------------------------------------------------------------------


@dataclass
class ParsedAnswer:
    question_id: int
    number: float | None = None
    text: str | None = None
    choices: list[str] = field(default_factory=list)
    allocation: dict[str, float] = field(default_factory=dict)


@dataclass
class ParsedResponse:
    answers: list[ParsedAnswer]
    population_group_id: int | None = None
    territory_id: int | None = None


def field_name(question: SurveyQuestion, need_code: str | None = None) -> str:
    """The form field of a question (or of one need of a consultation question)."""
    return f"q{question.id}" if need_code is None else f"q{question.id}-{need_code}"


def _values(form: Mapping[str, Sequence[str]], name: str) -> list[str]:
    raw = form.get(name, [])
    if isinstance(raw, str):
        raw = [raw]
    return [v for v in (str(x).strip() for x in raw) if v]


def _asked(question: SurveyQuestion, given: dict[int, ParsedAnswer]) -> bool:
    if question.condition_question_id is None:
        return True
    earlier = given.get(question.condition_question_id)
    if earlier is None:
        return False
    chosen = set(earlier.choices)
    return bool(chosen & set(question.condition_values or []))


def parse_answers(
    session: Session,
    survey: Survey,
    form: Mapping[str, Sequence[str]],
    *,
    profile: tuple[list[PopulationGroup], list[Territory]] | None = None,
) -> ParsedResponse:
    """Check a set of answers against the questionnaire (the same rules for every channel).

    ``form`` maps field names (:func:`field_name`, ``groupe``, ``territoire``) to values; a choice
    may be given by its code or its label. A question whose condition is not met is not asked and
    any answer to it is dropped. Raises :class:`AnswerErrors` naming each faulty field.
    """
    errors: dict[str, str] = {}
    given: dict[int, ParsedAnswer] = {}
    out = ParsedResponse(answers=[])
    groups, territories = profile if profile is not None else profile_choices(session, survey)
    if survey.ask_group:
        raw = _values(form, "groupe")
        if raw:
            match = next(
                (g for g in groups if raw[0] in (str(g.id), g.code) or slug(raw[0]) == slug(g.name)), None
            )
            if match is None:
                errors["groupe"] = f"« {raw[0]} » n'est pas un des publics proposés"
            else:
                out.population_group_id = match.id
    if survey.ask_territory:
        raw = _values(form, "territoire")
        if raw:
            place = next(
                (t for t in territories if raw[0] in (str(t.id), t.code) or slug(raw[0]) == slug(t.name)),
                None,
            )
            if place is None:
                errors["territoire"] = f"« {raw[0]} » n'est pas un des quartiers proposés"
            else:
                out.territory_id = place.id
    for number, question in enumerate(survey.questions, start=1):
        name = field_name(question)
        where = f"question {number} (« {question.text[:60]} »)"
        if not _asked(question, given):
            continue
        answer = ParsedAnswer(question_id=question.id)
        settings = question.settings or {}
        present = False
        if question.kind in COUNTABLE:
            raw_values = _values(form, name)
            if question.kind != "multiple" and len(raw_values) > 1:
                errors[name] = f"{where} : une seule réponse attendue"
                continue
            codes = []
            for given_value in raw_values:
                code = _choice_code(question, given_value)
                if code is None:
                    errors[name] = f"{where} : « {given_value} » n'est pas une réponse possible"
                    break
                codes.append(code)
            if name in errors:
                continue
            answer.choices = list(dict.fromkeys(codes))
            if question.kind == "scale" and codes:
                answer.number = float(codes[0])
            present = bool(codes)
        elif question.kind == "number":
            raw_values = _values(form, name)
            if raw_values:
                try:
                    value = parse_french_number(raw_values[0])
                except ValueError:
                    errors[name] = f"{where} : « {raw_values[0]} » n'est pas un nombre"
                    continue
                try:
                    check_value(value, raw=raw_values[0])  # finite, under a thousand billion
                except NumberError as exc:
                    errors[name] = f"{where} : {exc}"
                    continue
                low, high = settings.get("min"), settings.get("max")
                if (low is not None and value < low) or (high is not None and value > high):
                    bounds = (
                        f"entre {_fmt(low)} et {_fmt(high)}"
                        if low is not None and high is not None
                        else (f"au moins {_fmt(low)}" if low is not None else f"au plus {_fmt(high)}")
                    )
                    errors[name] = f"{where} : le nombre doit être {bounds}"
                    continue
                answer.number = value
                present = True
        elif question.kind == "text":
            raw_values = _values(form, name)
            if raw_values:
                text = raw_values[0]
                if len(text) > MAX_TEXT:
                    errors[name] = f"{where} : {MAX_TEXT} caractères au plus ({len(text)} saisis)"
                    continue
                answer.text = text
                present = True
        else:  # points or rating
            total = int(settings.get("total", 10))
            allocation: dict[str, float] = {}
            bad = False
            for code in settings.get("needs", []):
                raw_values = _values(form, field_name(question, code))
                if not raw_values:
                    continue
                try:
                    value = parse_french_number(raw_values[0])
                except ValueError:
                    value = float("nan")
                if not (value == value and value >= 0 and value == int(value) and value <= total):
                    limit = f"un nombre entier de 0 à {total}"
                    errors[field_name(question, code)] = f"{where}, besoin « {code} » : {limit}"
                    bad = True
                    continue
                allocation[code] = value
            if bad:
                continue
            if question.kind == "points" and sum(allocation.values()) > total:
                errors[name] = (
                    f"{where} : {_fmt(sum(allocation.values()))} points répartis pour {total} disponibles"
                )
                continue
            answer.allocation = allocation
            present = any(v > 0 for v in allocation.values())
        if not present:
            if question.required:
                errors[name] = f"{where} : réponse obligatoire"
            continue
        given[question.id] = answer
        out.answers.append(answer)
    if errors:
        raise AnswerErrors(errors)
    if not out.answers:
        raise AnswerErrors({"": "aucune réponse : le questionnaire est vide"})
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    if not math.isfinite(number):
        return format_number(number)  # « ∞ », never int() of an infinity
    return str(int(number)) if number == int(number) else f"{number:.2f}".replace(".", ",")


def save_response(
    session: Session,
    survey: Survey,
    parsed: ParsedResponse,
    *,
    channel: str,
    today: date,
    entered_by_id: int | None = None,
    reference: str | None = None,
    checked: bool = False,
) -> SurveyResponse:
    """Store one answer sheet. Flushes, unless ``checked``: a caller saving many sheets whose
    references it has already checked (the Excel import) flushes once at the end."""
    if channel not in CHANNEL_LABELS:
        raise SurveyError(f"canal « {channel} » inconnu")
    if channel == "web" and survey.state != "open":
        raise SurveyError("cette enquête n'est pas ouverte")
    if channel != "web" and survey.state == "draft":
        raise SurveyError("publiez l'enquête avant d'en saisir les réponses")
    reference = (reference or "").strip() or None
    if reference and len(reference) > 64:
        raise AnswerErrors({"reference": "le numéro du questionnaire a 64 caractères au plus"})
    if (
        reference
        and not checked
        and session.scalar(
            select(SurveyResponse.id).where(
                SurveyResponse.survey_id == survey.id, SurveyResponse.reference == reference
            )
        )
    ):
        raise AnswerErrors({"reference": f"le questionnaire n° {reference} est déjà saisi"})
    response = SurveyResponse(
        survey_id=survey.id,
        submitted_on=today,
        channel=channel,
        reference=reference,
        population_group_id=parsed.population_group_id,
        territory_id=parsed.territory_id,
        entered_by_id=entered_by_id,
    )
    response.answers = [
        SurveyAnswer(
            question_id=a.question_id, number=a.number, text=a.text, choices=a.choices,
            allocation=a.allocation, themes=[],
        )
        for a in parsed.answers
    ]  # fmt: skip
    if checked:
        session.add(response)
        return response
    try:
        with session.begin_nested():  # the same paper number entered at the same time elsewhere
            session.add(response)
    except IntegrityError:
        raise AnswerErrors({"reference": f"le questionnaire n° {reference} est déjà saisi"}) from None
    return response


def after_entry(session: Session, survey: Survey) -> None:
    """Answers entered after closing update the indicators the survey feeds."""
    if survey.state == "closed":
        from services.survey_results import publish_indicators

        publish_indicators(session, survey)


def response_count(session: Session, survey_id: int) -> int:
    return session.scalar(select(func.count()).where(SurveyResponse.survey_id == survey_id)) or 0


def surveys_of(session: Session, organisation_id: int) -> list[tuple[Survey, int]]:
    """The organisation's surveys, newest first, with their number of responses."""
    counts = dict(
        session.execute(
            select(SurveyResponse.survey_id, func.count())
            .join(Survey, Survey.id == SurveyResponse.survey_id)
            .where(Survey.organisation_id == organisation_id)
            .group_by(SurveyResponse.survey_id)
        ).all()
    )
    surveys = session.scalars(
        select(Survey)
        .where(Survey.organisation_id == organisation_id)
        .order_by(Survey.created_at.desc(), Survey.id.desc())
    )
    return [(s, int(counts.get(s.id, 0))) for s in surveys]


def set_themes(
    session: Session, survey: Survey, answer: SurveyAnswer, themes: Sequence[str], new: str = ""
) -> None:
    """Tag a free-text answer with themes (a new theme joins the survey's list). Flushes."""
    vocabulary = list(survey.themes or [])
    chosen = [t for t in themes if t in vocabulary]
    label = " ".join(new.split())[:60]
    if label:
        if label not in vocabulary:
            vocabulary.append(label)
            survey.themes = vocabulary
        chosen.append(label)
    answer.themes = list(dict.fromkeys(chosen))
    session.flush()


def find_survey_by_token(session: Session, token: str) -> Survey | None:
    """The survey of a public link; drafts are not public."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{8,64}", token):
        return None
    survey = session.scalar(select(Survey).where(Survey.token == token))
    if survey is None or survey.state == "draft":
        return None
    return survey

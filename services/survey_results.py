"""Results of surveys: distributions with confidence intervals, results by public and territory under
the confidentiality threshold, free-text answers, the indicators surveys feed, the consultation's
proposed priority weights, and the Excel export.

The statistics are computed by the pure core :mod:`scorecard.surveys`; this module loads the
answers and writes what they feed.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

import pandas as pd
from openpyxl import Workbook
from sqlalchemy import String, func, select
from sqlalchemy import cast as cast_sql
from sqlalchemy.orm import Session

from models import (
    Indicator,
    Need,
    PeriodState,
    PopulationGroup,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    SurveyResponse,
    Territory,
)
from scorecard import periods as P
from scorecard import surveys as stats
from scorecard.engine import FREQUENCY_KIND
from services.cost_exports import add_sheet
from services.numbers import format_percent
from services.steering import ensure_periods, write_computed_value
from services.surveys import (
    CHANNEL_LABELS,
    CONSULTATION_KINDS,
    COUNTABLE,
    KIND_LABELS,
    PARIS,
    QUESTION_KIND_LABELS,
    STATE_LABELS,
    SurveyError,
    needs_of,
    options_of,
)

PERCENT = "0.0 %"
UNKNOWN = "Non renseigné"
SOURCE = "Enquête Pilotis"


@dataclass
class OptionRow:
    code: str
    label: str
    count: int
    share: float
    low: float
    high: float
    positive: bool


@dataclass
class GroupRow:
    """One public or territory of a breakdown: ``shares`` by option code, or masked."""

    label: str
    n: int
    masked: bool
    shares: dict[str, float]
    positive_rate: float | None = None
    low: float | None = None
    high: float | None = None


@dataclass
class QuestionResult:
    question: SurveyQuestion
    number: int
    answered: int
    options: list[OptionRow] = field(default_factory=list)
    #: Scale and number questions: (mean, low, high).
    mean: tuple[float, float, float] | None = None
    #: Questions with positive answers: (count, rate, low, high).
    positive: tuple[int, float, float, float] | None = None
    groups: list[GroupRow] = field(default_factory=list)
    texts: int = 0
    #: A consultation question broken down by public or territory: its needs (code, label); each
    #: group's ``shares`` are then the needs' mean shares of points.
    needs: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SurveyResults:
    survey: Survey
    responses: int
    channels: dict[str, int]
    first_day: date | None
    last_day: date | None
    by: str | None
    by_label: str
    questions: list[QuestionResult]
    rule: str


ANSWER_COLUMNS = ["response", "question", "number", "text", "choices", "allocation", "group", "territory"]


def answers_frame(session: Session, survey: Survey) -> pd.DataFrame:
    """One row per answer: response, question, number, text, choices, allocation, group, territory.

    The JSON columns are read as text and decoded only where they hold something (most answers
    have no choices or no allocation): decoding every one was most of the time of a results page.
    """
    group_name = select(PopulationGroup.id, PopulationGroup.name).subquery()
    territory_name = select(Territory.id, Territory.name).subquery()
    rows = session.execute(
        select(
            SurveyAnswer.response_id,
            SurveyAnswer.question_id,
            SurveyAnswer.number,
            SurveyAnswer.text,
            cast_sql(SurveyAnswer.choices, String),
            cast_sql(SurveyAnswer.allocation, String),
            group_name.c.name,
            territory_name.c.name,
        )
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .outerjoin(group_name, group_name.c.id == SurveyResponse.population_group_id)
        .outerjoin(territory_name, territory_name.c.id == SurveyResponse.territory_id)
        .where(SurveyResponse.survey_id == survey.id)
        .order_by(SurveyAnswer.response_id, SurveyAnswer.question_id)
    ).all()
    if not rows:
        return pd.DataFrame({name: [] for name in ANSWER_COLUMNS})
    columns = list(zip(*rows, strict=True))
    columns[4] = tuple(_decoded(raw, EMPTY_LIST) for raw in columns[4])
    columns[5] = tuple(_decoded(raw, EMPTY_DICT) for raw in columns[5])
    return pd.DataFrame(dict(zip(ANSWER_COLUMNS, columns, strict=True)))


EMPTY_LIST: list[str] = []
EMPTY_DICT: dict[str, Any] = {}


def _decoded(raw: str | None, empty: Any) -> Any:
    """A JSON column read as text; the empty ones share one (read-only) empty value."""
    if raw is None or raw in ("[]", "{}", "null"):
        return empty
    return json.loads(raw)


def _flags(choices: pd.Series, positives: set[str]) -> pd.Series:
    """For each answer, whether it chose a positive option."""
    return choices.map(lambda c: bool(set(c or []) & positives)).astype(bool)


def _positive_codes(question: SurveyQuestion) -> set[str]:
    return {str(o["code"]) for o in options_of(question) if o.get("positive")}


def results(
    session: Session, survey: Survey, *, by: str | None = None, frame: pd.DataFrame | None = None
) -> SurveyResults:
    """The survey's results; ``by`` is ``group`` or ``territory`` for the breakdown, else None.
    ``frame`` is :func:`answers_frame` when the caller already holds it."""
    if frame is None:
        frame = answers_frame(session, survey)
    by_channel = session.execute(
        select(
            SurveyResponse.channel,
            func.count(),
            func.min(SurveyResponse.submitted_on),
            func.max(SurveyResponse.submitted_on),
        )
        .where(SurveyResponse.survey_id == survey.id)
        .group_by(SurveyResponse.channel)
    ).all()
    channels = {str(channel): int(count) for channel, count, _, _ in by_channel}
    firsts = [first for _, _, first, _ in by_channel if first is not None]
    lasts = [last for _, _, _, last in by_channel if last is not None]
    column = {"group": "group", "territory": "territory"}.get(by or "")
    out: list[QuestionResult] = []
    for number, question in enumerate(survey.questions, start=1):
        rows = frame[frame["question"] == question.id]
        result = QuestionResult(question=question, number=number, answered=int(rows["response"].nunique()))
        if question.kind in COUNTABLE:
            options = options_of(question)
            chosen = rows[["response", "choices"]].explode("choices").rename(columns={"choices": "option"})
            chosen = chosen.dropna(subset=["option"])
            table = stats.distribution(chosen, [str(o["code"]) for o in options])
            result.options = [
                OptionRow(
                    code=str(o["code"]),
                    label=str(o["label"]),
                    count=_cell(table, str(o["code"]), "count", int),
                    share=_cell(table, str(o["code"]), "share"),
                    low=_cell(table, str(o["code"]), "low"),
                    high=_cell(table, str(o["code"]), "high"),
                    positive=bool(o.get("positive")),
                )
                for o in options
            ]
            positives = _positive_codes(question)
            flags = _flags(rows["choices"], positives)
            if positives and result.answered:
                count = int(flags.sum())
                low, high = stats.proportion_ci(count, result.answered)
                result.positive = (count, count / result.answered, low, high)
            if column:
                result.groups = _breakdown(rows, column, flags, options, survey.threshold, bool(positives))
        if question.kind in CONSULTATION_KINDS and column:
            result.needs, result.groups = _consultation_breakdown(
                session, question, rows, column, survey.threshold
            )
        if question.kind in ("scale", "number") and result.answered:
            mean, low, high = stats.mean_ci(rows["number"].astype(float).to_numpy())
            result.mean = (mean, low, high)
        if question.kind == "text":
            result.texts = int(rows["text"].notna().sum())
        out.append(result)
    return SurveyResults(
        survey=survey,
        responses=sum(channels.values()),
        channels=channels,
        first_day=min(firsts) if firsts else None,
        last_day=max(lasts) if lasts else None,
        by=column,
        by_label={"group": "public", "territory": "territoire"}.get(column or "", ""),
        questions=out,
        rule=stats.CONFIDENTIALITY_RULE.format(threshold=survey.threshold),
    )


def _breakdown(
    rows: pd.DataFrame,
    column: str,
    flags: pd.Series,
    options: list[dict[str, Any]],
    threshold: int,
    with_rate: bool,
) -> list[GroupRow]:
    labels = rows[column].fillna(UNKNOWN)
    masked = stats.breakdown(pd.DataFrame({"group": labels, "positive": flags}), threshold=threshold)
    # every group's shares at once: respondents choosing each option / respondents of the group
    # (the same as :func:`scorecard.surveys.distribution` group by group, without the loop)
    chosen = pd.DataFrame({"group": labels, "response": rows["response"], "option": rows["choices"]})
    chosen = chosen.explode("option").dropna(subset=["option"])
    counts = chosen.drop_duplicates().groupby(["group", "option"]).size()
    codes = [str(o["code"]) for o in options]
    out = []
    for label, line in masked.iterrows():
        shares: dict[str, float] = {}
        if not bool(line["masked"]):
            size = int(line["n"])
            shares = {code: int(counts.get((label, code), 0)) / size for code in codes}
        out.append(
            GroupRow(
                label=str(label),
                n=int(line["n"]),
                masked=bool(line["masked"]),
                shares=shares,
                positive_rate=None if not with_rate or line["masked"] else float(line["rate"]),
                low=None if not with_rate or line["masked"] else float(line["low"]),
                high=None if not with_rate or line["masked"] else float(line["high"]),
            )
        )
    return out


def _consultation_breakdown(
    session: Session, question: SurveyQuestion, rows: pd.DataFrame, column: str, threshold: int
) -> tuple[list[tuple[str, str]], list[GroupRow]]:
    """The consultation's scores by public or territory, groups under the threshold masked."""
    needs = [(n.code, n.label) for n in needs_of(session, question)]
    codes = [code for code, _ in needs]
    labels = rows[column].fillna(UNKNOWN)
    masked = stats.breakdown(
        pd.DataFrame({"group": labels, "positive": [True] * len(rows)}), threshold=threshold
    )
    out = []
    for label, line in masked.iterrows():
        shares: dict[str, float] = {}
        if not bool(line["masked"]):
            subset = rows[labels == label]
            long = pd.DataFrame(
                [(r, code, float(points)) for r, allocation in zip(subset["response"], subset["allocation"], strict=True)
                 for code, points in (allocation or {}).items()],
                columns=["response", "need", "points"],
            )  # fmt: skip
            scores = stats.consultation_scores(long, codes)
            shares = {code: _cell(scores, code, "score") for code in codes}
        out.append(GroupRow(label=str(label), n=int(line["n"]), masked=bool(line["masked"]), shares=shares))
    return needs, out


@dataclass
class TextAnswer:
    answer: SurveyAnswer
    question: SurveyQuestion
    day: date


def text_answers(session: Session, survey: Survey, *, theme: str | None = None) -> list[TextAnswer]:
    """Free-text answers, newest first; with ``theme``, only those tagged with it (``-``: untagged)."""
    rows = session.execute(
        select(SurveyAnswer, SurveyQuestion, SurveyResponse.submitted_on)
        .join(SurveyQuestion, SurveyQuestion.id == SurveyAnswer.question_id)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(
            SurveyResponse.survey_id == survey.id,
            SurveyQuestion.kind == "text",
            SurveyAnswer.text.is_not(None),
        )
        .order_by(SurveyResponse.submitted_on.desc(), SurveyAnswer.id.desc())
    ).all()
    return with_theme([TextAnswer(answer=a, question=q, day=d) for a, q, d in rows], theme)


def with_theme(items: list[TextAnswer], theme: str | None) -> list[TextAnswer]:
    """The answers tagged with ``theme`` (``-``: untagged; None: all)."""
    if theme == "-":
        return [t for t in items if not t.answer.themes]
    if theme:
        return [t for t in items if theme in (t.answer.themes or [])]
    return items


def theme_counts(items: list[TextAnswer]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        for theme in item.answer.themes or []:
            counts[theme] = counts.get(theme, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# --- Indicators fed by surveys ----------------------------------------------------------------------


@dataclass
class Fed:
    """What closing a survey wrote to the indicators it feeds, and what it left alone (in French)."""

    written: int = 0
    skipped: list[str] = field(default_factory=list)


def reference_day(survey: Survey) -> date | None:
    """The day whose period a closed survey's values belong to: its planned closing day, or the
    day (in France) it was closed, whichever comes first."""
    if survey.closed_at is None:
        return survey.closes_on
    closed = survey.closed_at.astimezone(PARIS).date()
    return min(closed, survey.closes_on) if survey.closes_on is not None else closed


def publish_indicators(session: Session, survey: Survey, *, history: bool = False) -> Fed:
    """Write the share of positive answers of each question tied to an indicator, in percent.

    The value goes to the indicator's period (by its frequency) containing :func:`reference_day`,
    validated, with the count and the 95 % interval in its comment. A period no longer open, or a
    value a person entered, is left alone (and said so), unless ``history`` (the demo writing a
    past survey into periods closed since). Flushes.
    """
    fed = Fed()
    day = reference_day(survey)
    if survey.state != "closed" or day is None:
        return fed
    tied = [q for q in survey.questions if q.indicator_id is not None and q.kind in COUNTABLE]
    if not tied:
        return fed
    frame = answers_frame(session, survey)
    for question in tied:
        indicator = session.get(Indicator, question.indicator_id)
        positives = _positive_codes(question)
        if indicator is None or not positives:
            continue
        rows = frame[frame["question"] == question.id]
        answered = int(rows["response"].nunique())
        if answered == 0:
            continue
        count = int(_flags(rows["choices"], positives).sum())
        low, high = stats.proportion_ci(count, answered)
        value = round(100 * count / answered, indicator.decimals)
        span = P.period_containing(FREQUENCY_KIND[indicator.frequency.value], day)
        period = ensure_periods(session, survey.organisation_id, [span])[span.key]
        if period.state is not PeriodState.OPEN and not history:
            fed.skipped.append(
                f"« {indicator.label} » : la période {period.key} est close, sa valeur ne change plus"
            )
            continue
        comment = (
            f"Calculé par Pilotis : enquête « {survey.title} », {count} réponses positives sur {answered} "
            f"(intervalle de confiance à 95 % : {_pct(low)} – {_pct(high)})."
        )
        if not write_computed_value(
            session, organisation_id=survey.organisation_id, indicator_id=indicator.id, period_id=period.id,
            value=value, comment=comment, keep_entered=True,
        ):  # fmt: skip
            fed.skipped.append(
                f"« {indicator.label} » : une valeur saisie par une personne existe pour {period.key}, "
                "elle est gardée"
            )
            continue
        fed.written += 1
    session.flush()
    return fed


def _pct(value: float) -> str:
    return format_percent(value, 1, trim=False)


# --- Priority consultation -------------------------------------------------------------------------


@dataclass
class WeightRow:
    code: str
    label: str
    public_description: str | None
    priority: int
    elected_weight: float
    respondents: int
    score: float
    low: float
    high: float
    proposed_weight: float | None


def consultation_question(survey: Survey) -> SurveyQuestion | None:
    return next((q for q in survey.questions if q.kind in CONSULTATION_KINDS), None)


def consultation_weights(session: Session, survey: Survey) -> list[WeightRow]:
    """The needs of the consultation, the élus' weights and the weights the residents' answers propose.

    The rule is :data:`scorecard.surveys.CONSULTATION_RULE`: each respondent's points (or ratings)
    become shares of 1, every respondent counts once, a need's score is its mean share, and the
    proposed weights keep the élus' mean weight.
    """
    question = consultation_question(survey)
    if question is None:
        return []
    codes = [str(c) for c in (question.settings or {}).get("needs", [])]
    needs = {
        n.code: n
        for n in session.scalars(
            select(Need).where(Need.organisation_id == survey.organisation_id, Need.code.in_(codes))
        )
    }
    codes = [c for c in codes if c in needs]
    answers = session.execute(
        select(SurveyAnswer.response_id, SurveyAnswer.allocation)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(SurveyResponse.survey_id == survey.id, SurveyAnswer.question_id == question.id)
    ).all()
    long = pd.DataFrame(
        [
            (response, code, float(points))
            for response, allocation in answers
            for code, points in (allocation or {}).items()
        ],
        columns=["response", "need", "points"],
    )
    scores = stats.consultation_scores(long, codes)
    elected = pd.Series({c: float(needs[c].priority_weight) for c in codes}, dtype=float)
    proposed = stats.proposed_weights(scores["score"], elected) if codes else pd.Series(dtype=float)
    out = []
    for code in codes:
        need = needs[code]
        weight = float(proposed.get(code, math.nan)) if len(proposed) else math.nan
        out.append(
            WeightRow(
                code=code,
                label=need.label,
                public_description=need.public_description,
                priority=int(need.priority),
                elected_weight=float(need.priority_weight),
                respondents=_cell(scores, code, "respondents", int),
                score=_cell(scores, code, "score", float),
                # a mean share lies in [0, 1]: so does its interval (a t interval can overshoot)
                low=max(0.0, _cell(scores, code, "low", float)),
                high=min(1.0, _cell(scores, code, "high", float)),
                proposed_weight=None if math.isnan(weight) else round(weight, 3),
            )
        )
    return out


def latest_consultation(session: Session, organisation_id: int) -> Survey | None:
    """The most recently closed consultation of the organisation (the one scenarios may use)."""
    return session.scalar(
        select(Survey)
        .where(
            Survey.organisation_id == organisation_id, Survey.kind == "consultation", Survey.state == "closed"
        )
        .order_by(Survey.closed_at.desc(), Survey.id.desc())
        .limit(1)
    )


def consultations_of(session: Session, organisation_id: int) -> list[Survey]:
    return list(
        session.scalars(
            select(Survey)
            .where(
                Survey.organisation_id == organisation_id,
                Survey.kind == "consultation",
                Survey.state == "closed",
            )
            .order_by(Survey.closed_at.desc(), Survey.id.desc())
        )
    )


def proposed_weights_by_code(session: Session, survey: Survey) -> dict[str, float]:
    return {
        r.code: r.proposed_weight
        for r in consultation_weights(session, survey)
        if r.proposed_weight is not None
    }


def adopt_weights(
    session: Session, survey: Survey, codes: list[str], *, user_id: int | None, now: datetime
) -> int:
    """The élus take the consultation's weight for the chosen needs (an explicit, audited decision)."""
    if survey.kind != "consultation" or survey.state != "closed":
        raise SurveyError("seule une consultation close propose des pondérations")
    proposed = proposed_weights_by_code(session, survey)
    codes = list(dict.fromkeys(codes))
    unknown = [c for c in codes if c not in proposed]
    if unknown:
        raise SurveyError("pas de pondération proposée pour : " + ", ".join(unknown))
    if not codes:
        raise SurveyError("cochez au moins un besoin")
    for need in session.scalars(
        select(Need).where(Need.organisation_id == survey.organisation_id, Need.code.in_(codes))
    ):
        need.priority_weight = max(0.01, proposed[need.code])
        need.priority_set_by_id = user_id
        need.priority_set_at = now
    session.flush()
    return len(codes)


# --- Export ------------------------------------------------------------------------------------------


def results_workbook(session: Session, survey: Survey) -> bytes:
    """Sheets: summary, questions (distributions and intervals), by public, by territory, free text,
    consultation weights (for a consultation) and the anonymous answers."""
    frame = answers_frame(session, survey)  # read once for every sheet
    overall = results(session, survey, frame=frame)
    book = Workbook()
    default = book.active
    if default is not None:
        book.remove(default)
    summary: list[list[Any]] = [
        ["Enquête", survey.title],
        ["Type", KIND_LABELS.get(survey.kind, survey.kind)],
        ["État", STATE_LABELS.get(survey.state, survey.state)],
        ["Réponses", overall.responses],
        *[[f"dont {CHANNEL_LABELS[c]}", n] for c, n in sorted(overall.channels.items())],
        ["Première réponse", overall.first_day.isoformat() if overall.first_day else ""],
        ["Dernière réponse", overall.last_day.isoformat() if overall.last_day else ""],
        ["Confidentialité", overall.rule],
        [
            "Intervalles",
            "Intervalles de confiance à 95 % : Wilson pour les parts, Student pour les moyennes.",
        ],
    ]
    add_sheet(book, "Synthèse", ["Rubrique", "Valeur"], summary, {})
    rows: list[list[Any]] = []
    for q in overall.questions:
        kind = QUESTION_KIND_LABELS.get(q.question.kind, q.question.kind)
        for o in q.options:
            rows.append(
                [
                    q.number,
                    q.question.text,
                    kind,
                    q.answered,
                    o.label,
                    o.count,
                    _num(o.share),
                    _num(o.low),
                    _num(o.high),
                    "oui" if o.positive else "",
                ]
            )
        if q.mean is not None:  # a mean is no percentage: columns of its own
            rows.append(
                [q.number, q.question.text, kind, q.answered, "moyenne", None, None, None, None, "",
                 _num(q.mean[0]), _num(q.mean[1]), _num(q.mean[2])]
            )  # fmt: skip
        if q.question.kind == "text":
            rows.append(
                [
                    q.number,
                    q.question.text,
                    kind,
                    q.answered,
                    "réponses libres",
                    q.texts,
                    None,
                    None,
                    None,
                    "",
                ]
            )
    add_sheet(
        book, "Questions",
        ["N°", "Question", "Type", "Répondants", "Réponse", "Effectif", "Part", "IC 95 % bas", "IC 95 % haut", "Positive",
         "Moyenne", "Moyenne : IC 95 % bas", "Moyenne : IC 95 % haut"],
        rows, {7: PERCENT, 8: PERCENT, 9: PERCENT, 11: "0.00", 12: "0.00", 13: "0.00"},
    )  # fmt: skip
    for by, title in (("group", "Par public"), ("territory", "Par territoire")):
        split = results(session, survey, by=by, frame=frame)
        lines: list[list[Any]] = []
        for q in split.questions:
            for g in q.groups:
                if g.masked:
                    lines.append(
                        [
                            q.number,
                            q.question.text,
                            g.label,
                            g.n,
                            "masqué (secret statistique)",
                            None,
                            None,
                            None,
                        ]
                    )
                    continue
                for o in q.options:
                    lines.append(
                        [
                            q.number,
                            q.question.text,
                            g.label,
                            g.n,
                            o.label,
                            _num(g.shares.get(o.code, math.nan)),
                            _num(g.low),
                            _num(g.high),
                        ]
                    )
                for code, label in q.needs:  # a consultation: the needs' mean shares of points
                    lines.append(
                        [
                            q.number,
                            q.question.text,
                            g.label,
                            g.n,
                            label,
                            _num(g.shares.get(code, math.nan)),
                            None,
                            None,
                        ]
                    )
        add_sheet(
            book, title,
            ["N°", "Question", title.split()[-1].capitalize(), "Répondants", "Réponse", "Part", "Part positive : IC bas", "IC haut"],
            lines, {6: PERCENT, 7: PERCENT, 8: PERCENT},
        )  # fmt: skip
    texts = text_answers(session, survey)
    add_sheet(
        book, "Réponses libres", ["Jour", "Question", "Réponse", "Thèmes"],
        [[t.day.isoformat(), t.question.text, t.answer.text, ", ".join(t.answer.themes or [])] for t in texts], {},
    )  # fmt: skip
    if survey.kind == "consultation":
        weights = consultation_weights(session, survey)
        add_sheet(
            book, "Consultation",
            ["Besoin", "Libellé", "Priorité des élus (1-5)", "Poids des élus", "Répondants", "Part moyenne des points",
             "IC 95 % bas", "IC 95 % haut", "Poids proposé par la consultation"],
            [[w.code, w.label, w.priority, w.elected_weight, w.respondents, _num(w.score), _num(w.low), _num(w.high),
              w.proposed_weight] for w in weights],
            {6: PERCENT, 7: PERCENT, 8: PERCENT},
        )  # fmt: skip
        add_sheet(book, "Règle d'agrégation", ["Règle"], [[stats.CONSULTATION_RULE]], {})
    # one row per answer sheet, one column per question (like the paper-entry workbook); without
    # public or territory, so that nobody in a small group can be singled out (the sheets by
    # public and by territory apply the threshold)
    position = {q.id: i for i, q in enumerate(survey.questions)}
    labels = {q.id: {str(o["code"]): str(o["label"]) for o in options_of(q)} for q in survey.questions}
    kinds = {q.id: q.kind for q in survey.questions}
    sheets: dict[int, list[Any]] = {}
    for response, question_id, number, text, choices, allocation in frame[
        ["response", "question", "number", "text", "choices", "allocation"]
    ].itertuples(index=False, name=None):
        if question_id not in position:
            continue
        kind = kinds[question_id]
        if kind in CONSULTATION_KINDS:
            value: Any = "; ".join(f"{k} : {_int(v)}" for k, v in (allocation or {}).items())
        elif kind in COUNTABLE:
            value = "; ".join(labels[question_id].get(c, c) for c in choices or [])
        elif kind == "number":
            value = None if pd.isna(number) else float(number)
        else:
            value = text
        line = sheets.setdefault(int(response), [int(response)] + [None] * len(position))
        line[1 + position[question_id]] = value
    add_sheet(
        book, "Réponses", ["Réponse"] + [f"{n}. {q.text}"[:120] for n, q in enumerate(survey.questions, start=1)],
        list(sheets.values()), {},
    )  # fmt: skip
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(frame: pd.DataFrame, row: Any, column: str, kind: type[int] | type[float] = float) -> Any:
    """One cell of a statistics table as a plain int or float."""
    return kind(cast(float, frame.at[row, column]))


def _num(value: float | None) -> float | None:
    return None if value is None or value != value else float(value)


def _int(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number == int(number) else str(number)


def _str(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)

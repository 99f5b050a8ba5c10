"""Dashboards: the scorecard's visual summary and each role's home page (what to do first).

The summary of a period reads the scorecard (:func:`services.scorecard.build_scorecard`) and
adds what a chart needs: status counts per perspective and per service, the score of each
perspective over the last periods, and each indicator's validated values over its last 12
periods (sparklines), its target and status. Pages draw them as server-rendered SVG with a
table beside them.

A role's home page (:func:`role_home`) leads with what that person must decide or do: the
direction the red objectives without an open action, the values to validate and the services
behind with their values; a service manager the values owed, the values returned and their late
actions; an élu·e the scenario awaiting adoption, the least-covered priority needs and the
perspectives' scores with their trend; finance the budget execution and the scenarios in
progress; a partner the figures shared with them. Every role sees the next review.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    Indicator,
    Measurement,
    MeasurementState,
    Period,
    Role,
    Scenario,
    ScenarioState,
)
from scorecard import periods as P
from scorecard.engine import FREQUENCY_KIND
from services import action_plans
from services.overview import AttentionItem, attention_items
from services.policy import Principal
from services.scorecard import IndicatorLine, ObjectiveBlock, ScorecardError, ScorecardView, build_scorecard

#: The statuses counted, in the order bars and tables show them, with their French names.
STATUS_ORDER = ("red", "amber", "green", "pending", "returned", "missing", "untargeted")
STATUS_NAMES = {
    "green": "vert",
    "amber": "orange",
    "red": "rouge",
    "pending": "à valider",
    "returned": "renvoyée",
    "missing": "non renseigné",
    "untargeted": "sans cible",
}
#: The same, for more than one: « 3 rouges, 6 orange, 39 verts ».
STATUS_PLURALS = {
    **STATUS_NAMES,
    "green": "verts",
    "red": "rouges",
    "pending": "à valider",
    "returned": "renvoyées",
    "missing": "non renseignés",
}
#: How many periods a sparkline covers, and how many quarters the perspective trend.
SPARK_PERIODS = 12
TREND_PERIODS = 4
#: Days after a quarter's end before its review is frozen (the close-period job's default).
REVIEW_GRACE = timedelta(days=15)


# -- the scorecard summary ----------------------------------------------------------------------
@dataclass(frozen=True)
class StatusCounts:
    """How many indicators of a group are in each status; ``segments`` for a stacked bar."""

    label: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def segments(self, width: float = 100.0) -> list[tuple[str, float, float, int]]:
        """(status, x, width, count) of each non-empty status, left to right, in ``width`` units."""
        out, x = [], 0.0
        total = self.total or 1
        for status in STATUS_ORDER:
            n = self.counts.get(status, 0)
            if n:
                w = width * n / total
                out.append((status, round(x, 2), round(w, 2), n))
                x += w
        return out

    def sentence(self) -> str:
        """« 3 rouges, 2 orange, 10 verts sur 15 » — the bar's text alternative."""
        parts = [
            f"{self.counts[s]} {(STATUS_PLURALS if self.counts[s] > 1 else STATUS_NAMES)[s]}"
            for s in STATUS_ORDER
            if self.counts.get(s)
        ]
        return (", ".join(parts) + f" sur {self.total}") if parts else "aucun indicateur"


@dataclass(frozen=True)
class SparkPoint:
    period_key: str
    value: float


@dataclass(frozen=True)
class Spark:
    """An indicator's recent validated values and where its last one stands."""

    line: IndicatorLine
    perspective: str
    points: list[SparkPoint]

    def path(self, width: float = 120.0, height: float = 28.0, pad: float = 3.0) -> dict[str, Any]:
        """Coordinates of the polyline, the target line and the last point in a ``width`` x ``height`` box."""
        values = [p.value for p in self.points]
        target = self.line.target
        span = values + ([target] if target is not None else [])
        if not values:
            return {"points": "", "target_y": None, "last": None}
        low, high = min(span), max(span)
        if high == low:
            high, low = high + 1, low - 1

        def y(v: float) -> float:
            return round(height - pad - (v - low) / (high - low) * (height - 2 * pad), 2)

        step = (width - 2 * pad) / max(len(values) - 1, 1)
        xy = [(round(pad + i * step, 2), y(v)) for i, v in enumerate(values)]
        return {
            "points": " ".join(f"{a},{b}" for a, b in xy),
            "target_y": y(target) if target is not None else None,
            "last": xy[-1],
        }


@dataclass
class Summary:
    view: ScorecardView
    by_perspective: list[StatusCounts]
    by_service: list[StatusCounts]
    #: (perspective label, [(period key, score or None)] oldest first)
    trends: list[tuple[str, list[tuple[str, float | None]]]]
    sparks: list[Spark]
    overall: StatusCounts

    @property
    def trend_keys(self) -> list[str]:
        return [key for key, _ in self.trends[0][1]] if self.trends else []


def _walk(blocks: Iterable[ObjectiveBlock]) -> Iterable[ObjectiveBlock]:
    for block in blocks:
        yield block
        yield from _walk(block.children)


def _lines_by_perspective(view: ScorecardView) -> list[tuple[str, list[IndicatorLine]]]:
    out = []
    for p in view.perspectives:
        lines = [line for block in _walk(p.objectives) for line in block.indicators] + list(p.loose)
        out.append((p.label, lines))
    return out


def _counts(label: str, lines: Iterable[IndicatorLine]) -> StatusCounts:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.status] = counts.get(line.status, 0) + 1
    return StatusCounts(label, counts)


def _history(
    session: Session, organisation_id: int, lines: list[IndicatorLine], frequencies: dict[int, str]
) -> dict[int, list[SparkPoint]]:
    """Each indicator's validated organisation-wide values of its own frequency, up to the period
    it is read on, the last :data:`SPARK_PERIODS` of them."""
    ids = [line.indicator_id for line in lines]
    if not ids:
        return {}
    reading = {line.indicator_id: P.parse_period_key(line.period_key) for line in lines}
    earliest = min(span.start for span in reading.values()) - timedelta(days=370 * 3)
    rows = session.execute(
        select(Measurement.indicator_id, Period.key, Period.kind, Period.end_date, Measurement.value)
        .join(Period, Period.id == Measurement.period_id)
        .where(
            Measurement.organisation_id == organisation_id,
            Measurement.state == MeasurementState.VALIDATED,
            Measurement.territory_id.is_(None),
            Measurement.value.is_not(None),
            Period.end_date >= earliest,
        )
        .order_by(Period.end_date)
    ).all()
    wanted = set(ids)
    out: dict[int, list[SparkPoint]] = {}
    for indicator_id, key, kind, end, value in rows:
        if indicator_id not in wanted or value is None:
            continue
        span = reading[indicator_id]
        if str(getattr(kind, "value", kind)) != FREQUENCY_KIND[frequencies[indicator_id]] or end > span.end:
            continue
        out.setdefault(indicator_id, []).append(SparkPoint(key, float(value)))
    return {i: points[-SPARK_PERIODS:] for i, points in out.items()}


def scorecard_summary(
    session: Session, principal: Principal, period_key: str, *, service_id: int | None = None
) -> Summary:
    """The visual summary of ``period_key`` within the principal's scope.

    Raises :class:`services.scorecard.ScorecardError` (French) for a period that cannot be read.
    """
    view = build_scorecard(session, principal, period_key, service_id=service_id)
    per_perspective = _lines_by_perspective(view)
    all_lines = [line for _, lines in per_perspective for line in lines]
    by_service: dict[str, list[IndicatorLine]] = {}
    for line in all_lines:
        by_service.setdefault(line.service or "Sans service", []).append(line)
    # the score of each perspective over the last quarters (the current one last)
    spans = [view.period]
    for _ in range(TREND_PERIODS - 1):
        try:
            spans.insert(0, P.previous_period(spans[0]))
        except ValueError:
            break
    scores: dict[str, list[tuple[str, float | None]]] = {p.label: [] for p in view.perspectives}
    for span in spans:
        try:
            past = (
                view
                if span.key == view.period.key
                else build_scorecard(session, principal, span.key, service_id=service_id)
            )
        except ScorecardError:
            past = None
        found = {p.label: p.score for p in past.perspectives} if past else {}
        for label in scores:
            scores[label].append((span.key, found.get(label)))
    frequencies = {
        indicator_id: str(getattr(frequency, "value", frequency))
        for indicator_id, frequency in session.execute(
            select(Indicator.id, Indicator.frequency).where(
                Indicator.organisation_id == principal.organisation_id
            )
        )
    }
    history = _history(session, principal.organisation_id, all_lines, frequencies)
    sparks = [
        Spark(line, label, history.get(line.indicator_id, []))
        for label, lines in per_perspective
        for line in lines
    ]
    # the reds first, then amber, then the others, each group by perspective as the scorecard
    rank = {status: i for i, status in enumerate(STATUS_ORDER)}
    sparks.sort(key=lambda s: rank.get(s.line.status, len(rank)))
    return Summary(
        view=view,
        by_perspective=[_counts(label, lines) for label, lines in per_perspective],
        by_service=sorted(
            (_counts(name, lines) for name, lines in by_service.items()),
            key=lambda c: (-c.counts.get("red", 0), c.label),
        ),
        trends=list(scores.items()),
        sparks=sparks,
        overall=_counts("Ensemble", all_lines),
    )


# -- role home pages ----------------------------------------------------------------------------
@dataclass(frozen=True)
class HomeCard:
    """One thing to see or do, with how many, a few lines, and the page that deals with it."""

    title: str
    count: int | None
    lines: list[str]
    link: str | None = None  # an endpoint
    link_args: dict[str, Any] = field(default_factory=dict)
    link_text: str = "Voir"
    #: ``urgent`` (to do now), ``info``
    tone: str = "info"


@dataclass
class RoleHome:
    role: Role
    headline: str
    cards: list[HomeCard]
    period_key: str
    #: The perspectives' scores with their trend against the previous quarter.
    perspectives: list[tuple[str, str, str, float | None, float | None]]
    next_review: str


HEADLINES = {
    Role.DIRECTION: "À décider ou à relancer",
    Role.SERVICE_MANAGER: "À faire pour vos services",
    Role.ELECTED: "À décider",
    Role.FINANCE: "Budget et arbitrages",
    Role.READER: "Le diagnostic partagé",
    Role.ADMIN: "Administration",
}


def next_review(today: date) -> str:
    """« Revue de 2026-T4 : période close le 31/12/2026, revue figée vers le 15/01/2027 »."""
    quarter = P.period_containing("quarter", today)
    closing = P.previous_period(quarter)
    if closing.end + REVIEW_GRACE >= today:  # the last quarter's review is not frozen yet
        quarter = closing
    frozen = quarter.end + REVIEW_GRACE
    return (
        f"Revue de {quarter.key} : période close le {quarter.end:%d/%m/%Y}, "
        f"revue figée vers le {frozen:%d/%m/%Y}"
    )


def _perspective_trends(
    session: Session, principal: Principal, period_key: str
) -> tuple[
    ScorecardView | None, ScorecardView | None, list[tuple[str, str, str, float | None, float | None]]
]:
    try:
        view = build_scorecard(session, principal, period_key)
    except ScorecardError:
        return None, None, []
    before: ScorecardView | None
    try:
        before = build_scorecard(session, principal, P.previous_period(view.period).key)
        earlier = {p.label: p.score for p in before.perspectives}
    except (ScorecardError, ValueError):
        before, earlier = None, {}
    return (
        view,
        before,
        [(p.label, p.status, p.status_label, p.score, earlier.get(p.label)) for p in view.perspectives],
    )


def _reds_without_action(
    session: Session, principal: Principal, view: ScorecardView, before: ScorecardView | None = None
) -> list[str]:
    """Red objectives (and objectives holding a red indicator) with no action still to carry out;
    those with an indicator red in the period before too come first, said so (the issue's alert:
    red for two periods and nobody acting on it)."""
    open_by_objective = action_plans.open_actions_by_objective(session, principal.organisation_id)
    red_before = {line.indicator_id for line in before.lines() if line.status == "red"} if before else set()
    twice, once = [], []
    for p in view.perspectives:
        for block in _walk(p.objectives):
            reds = [line for line in block.indicators if line.status == "red"]
            if (block.status == "red" or reds) and not open_by_objective.get(block.objective_id):
                what = f"{len(reds)} indicateur(s) rouge(s)" if reds else "objectif insuffisant"
                still = [line.label for line in reds if line.indicator_id in red_before]
                if still:
                    twice.append(
                        f"{block.code} — {block.title} ({what} ; rouge deux périodes de suite : {', '.join(still)})"
                    )
                else:
                    once.append(f"{block.code} — {block.title} ({what})")
    return twice + once


def _returned(session: Session, principal: Principal) -> list[str]:
    rows = session.execute(
        select(Indicator.label, Period.key)
        .select_from(Measurement)
        .join(Indicator, Indicator.id == Measurement.indicator_id)
        .join(Period, Period.id == Measurement.period_id)
        .where(
            Measurement.organisation_id == principal.organisation_id,
            Measurement.state == MeasurementState.RETURNED,
            Indicator.service_id.in_(principal.service_ids),
        )
        .order_by(Period.key, Indicator.label)
    ).all()
    return [f"{label} — {key}" for label, key in rows]


def _scenarios(
    session: Session, organisation_id: int, states: Iterable[ScenarioState]
) -> list[tuple[int, str]]:
    rows = session.execute(
        select(Scenario.id, Scenario.name, Scenario.year, Scenario.state)
        .where(Scenario.organisation_id == organisation_id, Scenario.state.in_(list(states)))
        .order_by(Scenario.year.desc(), Scenario.name)
    ).all()
    return [(i, f"{name} ({year}) — {LABEL_STATE.get(state, str(state))}") for i, name, year, state in rows]


LABEL_STATE = {
    ScenarioState.DRAFT: "brouillon",
    ScenarioState.RUNNING: "calcul en cours",
    ScenarioState.SOLVED: "calculé",
    ScenarioState.INFEASIBLE: "sans solution",
    ScenarioState.FAILED: "échec du calcul",
    ScenarioState.PROPOSED: "proposé à l'adoption",
    ScenarioState.ADOPTED: "adopté",
}


def _from_attention(item: AttentionItem, *, tone: str = "urgent", link: str | None = None) -> HomeCard:
    return HomeCard(
        item.title, item.count, item.lines, link or item.link, tone=tone if item.count else "info"
    )


def _late_actions(lines: list[action_plans.ActionLine]) -> HomeCard:
    flagged = [a for a in lines if a.flagged]
    detail = []
    for a in flagged[:8]:
        why = (
            f"échéance du {a.due_date:%d/%m/%Y} dépassée"
            if a.late and a.due_date
            else f"{len(a.late_milestones)} jalon(s) en retard"
        )
        detail.append(f"{a.code} — {a.title} ({why})")
    return HomeCard(
        "Fiches action en retard",
        len(flagged),
        detail,
        "action_plans.index",
        {"statut": "late"},
        "Voir les actions en retard",
        "urgent" if flagged else "info",
    )


def role_home(
    session: Session,
    principal: Principal,
    *,
    today: date,
    period_key: str,
    attention: list[AttentionItem] | None = None,
) -> RoleHome:
    """What the principal's home page leads with, in the order they should act on it
    (``attention``: :func:`services.overview.attention_items` when the caller has it already)."""
    role = principal.role
    org = principal.organisation_id
    view, before, perspectives = _perspective_trends(session, principal, period_key)
    if attention is None:
        attention = attention_items(session, principal, today=today)
    items = {item.title: item for item in attention}
    cards: list[HomeCard] = []
    actions = action_plans.list_actions(session, principal, today=today)
    if role is Role.DIRECTION:
        reds = _reds_without_action(session, principal, view, before) if view else []
        cards.append(
            HomeCard(
                "Objectifs en rouge sans action en cours",
                len(reds),
                reds[:8],
                "action_plans.new",
                link_text="Créer une fiche action",
                tone="urgent" if reds else "info",
            )
        )
        validate = items.get("Valeurs soumises à valider")
        if validate:
            cards.append(_from_attention(validate, link="collection.validation"))
        owed = items.get("Valeurs d'indicateurs à saisir")
        if owed:
            behind: dict[str, int] = {}
            for line in owed.lines:
                service = line.split(" — ")[1] if " — " in line else line
                behind[service] = behind.get(service, 0) + 1
            cards.append(
                HomeCard(
                    "Services en retard de saisie",
                    owed.count,
                    [
                        f"{name} : {n} valeur(s) manquante(s) parmi les premières"
                        for name, n in behind.items()
                    ],
                    tone="urgent" if owed.count else "info",
                )
            )
        cards.append(_late_actions(actions))
    elif role is Role.SERVICE_MANAGER:
        owed = items.get("Valeurs d'indicateurs à saisir")
        if owed:
            cards.append(_from_attention(owed, link="collection.grid"))
        returned = _returned(session, principal)
        cards.append(
            HomeCard(
                "Valeurs renvoyées par la direction",
                len(returned),
                returned[:8],
                "collection.grid",
                link_text="Reprendre la saisie",
                tone="urgent" if returned else "info",
            )
        )
        off = []
        if view:
            for p in view.perspectives:
                for block in _walk(p.objectives):
                    if block.status in ("red", "amber"):
                        off.append(f"{block.code} — {block.title} : {block.status_label.lower()}")
        cards.append(
            HomeCard(
                "Vos objectifs à redresser",
                len(off),
                off[:8],
                "scorecard.index",
                tone="urgent" if off else "info",
            )
        )
        cards.append(_late_actions(actions))
    elif role is Role.ELECTED:
        proposed = _scenarios(session, org, [ScenarioState.PROPOSED])
        cards.append(
            HomeCard(
                "Scénario budgétaire à adopter",
                len(proposed),
                [name for _, name in proposed],
                "scenarios.show" if len(proposed) == 1 else "scenarios.index",
                {"scenario_id": proposed[0][0]} if len(proposed) == 1 else {},
                "Examiner le scénario" if proposed else "Voir les scénarios",
                "urgent" if proposed else "info",
            )
        )
        cards.append(_least_covered(session, org))
        unsized = items.get("Besoins sans effectif connu (secret statistique)")
        if unsized and unsized.count:
            cards.append(_from_attention(unsized, tone="info", link="needs.register"))
    elif role is Role.FINANCE:
        execution = next(
            (item for title, item in items.items() if title.startswith("Exécution du budget")), None
        )
        if execution:
            cards.append(_from_attention(execution, tone="info"))
        running = _scenarios(
            session,
            org,
            [ScenarioState.DRAFT, ScenarioState.RUNNING, ScenarioState.SOLVED, ScenarioState.PROPOSED],
        )
        cards.append(
            HomeCard("Scénarios en cours", len(running), [name for _, name in running[:8]], "scenarios.index")
        )
    elif role is Role.READER:
        shared = session.execute(
            select(Scenario.id, Scenario.name, Scenario.year).where(
                Scenario.organisation_id == org, Scenario.shared_with_partners.is_(True)
            )
        ).all()
        cards.append(
            HomeCard(
                "Scénarios partagés avec les partenaires",
                len(shared),
                [f"{name} ({year})" for _, name, year in shared],
                "scenarios.index",
            )
        )
        cards.append(_least_covered(session, org))
    else:
        for item in items.values():
            cards.append(_from_attention(item))
    return RoleHome(
        role=role,
        headline=HEADLINES.get(role, "Ce qui demande votre attention"),
        cards=cards,
        period_key=view.period.key if view else period_key,
        perspectives=perspectives,
        next_review=next_review(today),
    )


def _least_covered(session: Session, organisation_id: int, *, shown: int = 5) -> HomeCard:
    """The priority needs (4 or 5 out of 5) least covered by the offer, as the coherence shows them."""
    from services.coherence import build_coherence

    try:
        coherence = build_coherence(session, organisation_id)
    except ScorecardError:
        return HomeCard("Besoins prioritaires les moins couverts", None, [], "needs.coherence")
    candidates = sorted(
        (n for n in coherence.needs if n.priority >= 4 and n.coverage_rate is not None and not n.masked),
        key=lambda n: (n.coverage_rate or 0.0, -n.priority),
    )
    lines = [
        f"{n.label} ({n.territory}) : couverture {_percent(n.coverage_rate)}, priorité {n.priority}/5"
        for n in candidates[:shown]
    ]
    return HomeCard(
        "Besoins prioritaires les moins couverts",
        len(candidates),
        lines,
        "needs.coherence",
        link_text="Voir la cohérence",
    )


def _percent(rate: float | None) -> str:
    from services.numbers import format_percent

    return format_percent(rate, 0) if rate is not None else "—"

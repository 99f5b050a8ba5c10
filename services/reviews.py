"""The rhythm of steering: close a period into a frozen review, remind, alert, pack, freshness.

Each function does one job for one organisation and one period; the scheduler (``jobs/``) makes
them idempotent per period with guard rows. A review, once frozen, is never recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models import (
    Indicator,
    Measurement,
    MeasurementState,
    Organisation,
    Period,
    PeriodState,
    Review,
    Role,
    Service,
    TerritoryStatistic,
    User,
)
from scorecard import periods as P
from scorecard.engine import FREQUENCY_KIND
from services.coherence import COVERAGE_SOURCE
from services.exports import STATUS_FILLS, set_cell, write_header
from services.notifications import notify
from services.numbers import format_number, format_percent
from services.policy import Action, Principal, can
from services.scorecard import build_scorecard, scorecard_json

KIND_FREQUENCY = {"month": "monthly", "quarter": "quarterly", "year": "yearly"}


def _reader(organisation_id: int) -> Principal:
    """The scorecard as the direction sees it: every service."""
    return Principal(user_id=0, organisation_id=organisation_id, role=Role.DIRECTION, service_ids=frozenset())


def _users(session: Session, organisation_id: int, *roles: Role) -> list[User]:
    return list(session.scalars(select(User).where(User.organisation_id == organisation_id, User.role.in_(roles),
                                                   User.is_active.is_(True))))  # fmt: skip


def period_of(session: Session, organisation_id: int, key: str) -> Period:
    period = session.scalar(
        select(Period).where(Period.organisation_id == organisation_id, Period.key == key)
    )
    if period is None:
        raise ValueError(f"période « {key} » inconnue pour cette organisation")
    return period


# -- period close ------------------------------------------------------------------------------
def close_period(session: Session, organisation: Organisation, period_key: str, *, now: datetime) -> Review:
    """Freeze the scorecard of the period into a review (once), and close the period.

    The review freezes what was validated at the close; the values still submitted (or returned
    to their service) are listed in the snapshot's ``not_validated`` and count as not reported.
    Once the period is closed, none of its values can be entered or validated any more."""
    period = period_of(session, organisation.id, period_key)
    review = session.scalar(
        select(Review).where(Review.organisation_id == organisation.id, Review.period_id == period.id)
    )
    if review is None:
        view = build_scorecard(session, _reader(organisation.id), period_key)
        review = Review(
            organisation_id=organisation.id, period_id=period.id, title=f"Revue de la période {period_key}",
            frozen_at=now, snapshot=scorecard_json(view),
        )  # fmt: skip
        session.add(review)
    if period.state is not PeriodState.CLOSED:
        period.state, period.closed_at = PeriodState.CLOSED, now
    session.flush()
    body = f"Le tableau de bord de la période {period_key} est figé pour la revue."
    unsettled = sum(1 for line in review.snapshot.get("not_validated", []) if line.get("state") != "draft")
    if unsettled:
        body += f" {unsettled} valeur(s) n'étaient pas validées à la clôture : elles ne comptent pas."
    notify(
        session,
        _users(session, organisation.id, Role.DIRECTION, Role.ELECTED),
        kind="review",
        title=f"Revue {period_key} figée",
        body=body,
        link=f"/revues/{review.id}",
        now=now,
    )
    return review


# -- reminders ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Owed:
    user: User
    lines: list[str]


def owed_values(session: Session, organisation_id: int, period_key: str) -> list[Owed]:
    """For each service manager: the values of their services not yet submitted for the period,
    among the indicators that exist by then (effective on or before the period's end)."""
    period = period_of(session, organisation_id, period_key)
    frequency = KIND_FREQUENCY[period.kind.value]
    done = {m for (m,) in session.execute(select(Measurement.indicator_id).where(
        Measurement.period_id == period.id, Measurement.state.in_([MeasurementState.SUBMITTED, MeasurementState.VALIDATED]),
        Measurement.territory_id.is_(None)))}  # fmt: skip
    result = []
    for manager in _users(session, organisation_id, Role.SERVICE_MANAGER):
        service_ids = [s.id for s in manager.services]
        rows = session.execute(
            select(Indicator.id, Indicator.label, Service.name).join(Service, Service.id == Indicator.service_id)
            .where(Indicator.service_id.in_(service_ids), Indicator.frequency == frequency, Indicator.formula.is_(None),
                   or_(Indicator.effective_from.is_(None), Indicator.effective_from <= period.end_date))
            .order_by(Service.name, Indicator.label)
        ).all()  # fmt: skip
        lines = [f"{label} ({service})" for indicator_id, label, service in rows if indicator_id not in done]
        if lines:
            result.append(Owed(manager, lines))
    return result


def send_reminders(session: Session, organisation: Organisation, period_key: str, *, now: datetime) -> int:
    sent = 0
    for owed in owed_values(session, organisation.id, period_key):
        body = f"Valeurs à saisir pour {period_key} :\n" + "\n".join(f"- {line}" for line in owed.lines)
        sent += notify(session, [owed.user], kind="reminder", title=f"{len(owed.lines)} valeur(s) à saisir pour {period_key}",
                       body=body, link=f"/saisie/?periode={period_key}", now=now)  # fmt: skip
    return sent


# -- alerts ------------------------------------------------------------------------------------
def send_alerts(session: Session, organisation: Organisation, period_key: str, *, now: datetime) -> list[str]:
    """Indicators that turned red on this period (not red on the previous one): tell the owner and
    the direction."""
    view = build_scorecard(session, _reader(organisation.id), period_key)
    previous = build_scorecard(
        session, _reader(organisation.id), P.previous_period(P.parse_period_key(period_key)).key
    )
    before = {line.indicator_id: line.status for line in previous.lines()}
    turned = [
        line for line in view.lines() if line.status == "red" and before.get(line.indicator_id) != "red"
    ]
    direction = _users(session, organisation.id, Role.DIRECTION)
    for line in turned:
        indicator = session.get(Indicator, line.indicator_id)
        owner = session.get(User, indicator.owner_id) if indicator and indicator.owner_id else None
        notify(
            session,
            [*direction, *([owner] if owner else [])],
            kind="alert",
            title=f"Au rouge : {line.label} ({line.period_key})",
            body=(
                f"{line.label} : {format_number(line.value, None)} {line.unit} pour une cible de "
                f"{format_number(line.target, None)} ({line.period_key})."
            ),
            link=f"/indicateurs/{line.indicator_id}",
            now=now,
        )
    dropped = coverage_drops(session, organisation.id)
    for label, before_value, after_value in dropped:
        notify(
            session,
            direction,
            kind="alert",
            title=f"Couverture en baisse : {label}",
            body=(
                f"{label} : {format_percent(before_value, 1, points=True, trim=False)} → "
                f"{format_percent(after_value, 1, points=True, trim=False)}."
            ),
            link="/coherence",
            now=now,
        )
    return [line.label for line in turned] + [label for label, _, _ in dropped]


def coverage_drops(session: Session, organisation_id: int) -> list[tuple[str, float, float]]:
    """Coverage rates (published by the coherence) whose last value fell below the one before."""
    drops = []
    for indicator in session.scalars(select(Indicator).where(Indicator.organisation_id == organisation_id,
                                                             Indicator.source == COVERAGE_SOURCE)):  # fmt: skip
        values = session.scalars(select(Measurement.value).join(Period, Period.id == Measurement.period_id)
                                 .where(Measurement.indicator_id == indicator.id, Measurement.value.is_not(None))
                                 .order_by(Period.end_date.desc()).limit(2)).all()  # fmt: skip
        if len(values) == 2 and values[0] is not None and values[1] is not None and values[0] < values[1]:
            drops.append((indicator.label, float(values[1]), float(values[0])))
    return drops


# -- data freshness ----------------------------------------------------------------------------
def stale_data(session: Session, organisation_id: int, *, today: Any, statistics_years: int = 3) -> list[str]:
    """Statistics whose newest vintage is older than ``statistics_years``, and indicators whose last
    value is more than two of their periods old."""
    findings = []
    newest: dict[tuple[str, str], int] = {}
    for source, variable, vintage in session.execute(select(TerritoryStatistic.source, TerritoryStatistic.variable,
                                                            TerritoryStatistic.vintage).where(
                                                     TerritoryStatistic.organisation_id == organisation_id)):  # fmt: skip
        newest[(source, variable)] = max(newest.get((source, variable), 0), vintage)
    by_source: dict[str, int] = {}
    for (source, _), vintage in newest.items():
        by_source[source] = max(by_source.get(source, 0), vintage)
    for source, vintage in sorted(by_source.items()):
        if today.year - vintage > statistics_years:
            findings.append(
                f"Statistiques {source} : dernier millésime {vintage}, plus de {statistics_years} ans."
            )
    for indicator in session.scalars(select(Indicator).where(Indicator.organisation_id == organisation_id,
                                                             Indicator.formula.is_(None))):  # fmt: skip
        last = session.scalar(select(Period.end_date).join(Measurement, Measurement.period_id == Period.id)
                              .where(Measurement.indicator_id == indicator.id).order_by(Period.end_date.desc()).limit(1))  # fmt: skip
        span = P.period_containing(FREQUENCY_KIND[indicator.frequency.value], today)
        limit = P.previous_period(P.previous_period(span)).start
        if last is None or last < limit:
            findings.append(f"Indicateur « {indicator.label} » : dernière valeur {last or 'jamais'}.")
    return findings


def send_freshness(session: Session, organisation: Organisation, *, now: datetime) -> list[str]:
    findings = stale_data(session, organisation.id, today=now.date())
    if findings:
        notify(session, _users(session, organisation.id, Role.DIRECTION, Role.ADMIN), kind="freshness",
               title=f"{len(findings)} donnée(s) à actualiser", body="\n".join(findings), link="/besoins", now=now)  # fmt: skip
    return findings


# -- what a reader may see of a review ----------------------------------------------------------
def snapshot_for(session: Session, principal: Principal, snapshot: dict[str, Any]) -> dict[str, Any]:
    """The frozen scorecard as ``principal`` may read it: the lines of the indicators the policy lets
    them see (a service manager: their services' indicators, as on the live scorecard), objectives
    left without a visible line dropped. The snapshot itself never changes."""
    ids = {line["indicator_id"] for _, line in _all_lines(snapshot)}
    ids |= {line["indicator_id"] for line in snapshot.get("not_validated", [])}
    indicators = session.scalars(select(Indicator).where(Indicator.id.in_(ids))).all() if ids else []
    visible = {i.id for i in indicators if can(principal, Action.VIEW, i)}
    if visible == ids:
        return snapshot

    def block(b: dict[str, Any]) -> dict[str, Any] | None:
        lines = [line for line in b["indicators"] if line["indicator_id"] in visible]
        children = [c for c in (block(child) for child in b["children"]) if c is not None]
        return {**b, "indicators": lines, "children": children} if lines or children else None

    perspectives = []
    for perspective in snapshot.get("perspectives", []):
        blocks = [c for c in (block(b) for b in perspective["objectives"]) if c is not None]
        loose = [
            x for x in perspective.get("indicators_without_objective", []) if x["indicator_id"] in visible
        ]
        perspectives.append({**perspective, "objectives": blocks, "indicators_without_objective": loose})
    return {
        **snapshot,
        "perspectives": perspectives,
        "not_validated": [x for x in snapshot.get("not_validated", []) if x["indicator_id"] in visible],
    }


def _all_lines(snapshot: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [pair for perspective in snapshot.get("perspectives", []) for pair in _walk(perspective)]


# -- review pack ------------------------------------------------------------------------------
def review_pack(review: Review, organisation_name: str, snapshot: dict[str, Any] | None = None) -> bytes:
    """The period's review pack: the frozen scorecard as a workbook (from the snapshot, not live data).

    ``snapshot``: what the reader may see of it (:func:`snapshot_for`); the whole review by default."""
    snapshot = review.snapshot if snapshot is None else snapshot
    book = Workbook()
    sheet = book.active
    if sheet is None:  # pragma: no cover
        raise RuntimeError("classeur sans feuille")
    sheet.title = "Revue"
    set_cell(sheet.cell(row=1, column=1), f"{organisation_name} — {review.title}")
    sheet.cell(row=1, column=1).font = Font(bold=True, size=14)
    set_cell(
        sheet.cell(row=2, column=1),
        f"Figée le {review.frozen_at:%d/%m/%Y %H:%M} (UTC). {snapshot.get('rule', '')}",
    )
    headers = [
        "Perspective",
        "Objectif",
        "Indicateur",
        "Période",
        "Valeur",
        "Cible",
        "Statut",
        "État de la valeur",
        "Tendance",
        "Commentaire",
    ]
    write_header(sheet, 4, headers)
    row = 5
    for perspective in snapshot.get("perspectives", []):
        for objective, line in _walk(perspective):
            values = [
                perspective["label"],
                objective,
                line["label"],
                line["period_key"],
                line["value"],
                line["target"],
                line["status_label"],
                line.get("state_label") or "",
                line["trend_previous"] or "",
                line["comment"] or "",
            ]
            for c, value in enumerate(values, start=1):
                set_cell(sheet.cell(row=row, column=c), value)
            sheet.cell(row=row, column=7).fill = PatternFill(
                "solid", fgColor=STATUS_FILLS.get(line["status"], "FFFFFF")
            )
            row += 1
    for col, width in enumerate([24, 50, 50, 10, 12, 12, 15, 20, 16, 40], start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _walk(perspective: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []

    def block(b: dict[str, Any]) -> None:
        for line in b["indicators"]:
            out.append((f"{b['code']} — {b['title']}", line))
        for child in b["children"]:
            block(child)

    for b in perspective["objectives"]:
        block(b)
    for line in perspective.get("indicators_without_objective", []):
        out.append(("", line))
    return out


def build_pack(
    session: Session, organisation: Organisation, period_key: str, folder: Path, *, now: datetime
) -> Path:
    """Write the review pack of the period under ``folder`` and record it on the review."""
    period = period_of(session, organisation.id, period_key)
    review = session.scalar(
        select(Review).where(Review.organisation_id == organisation.id, Review.period_id == period.id)
    )
    if review is None:
        raise ValueError(f"aucune revue figée pour {period_key} : clôturez d'abord la période")
    target = folder / organisation.slug / f"revue-{period_key}.xlsx"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(review_pack(review, organisation.name))
    review.pack_path, review.pack_built_at = str(target), now
    session.flush()
    return target


def due_closures(
    session: Session, organisation_id: int, *, now: datetime, grace: dict[str, timedelta]
) -> list[str]:
    """Open periods whose end, plus the grace delay of their kind (month, quarter, year), has passed."""
    keys = []
    for period in session.scalars(select(Period).where(Period.organisation_id == organisation_id,
                                                       Period.state == PeriodState.OPEN).order_by(Period.end_date)):  # fmt: skip
        delay = grace.get(period.kind.value)
        if delay is not None and period.end_date < (now - delay).date():
            keys.append(period.key)
    return keys

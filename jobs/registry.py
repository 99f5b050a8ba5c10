"""The scheduled jobs, declared once: name, label, schedule, which periods are due, what to do.

Each job works on one organisation and one period key; the runner guards (job, key) so that it
runs once, whatever the number of schedulers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Organisation, Period, PeriodState, Review, Role, Survey, User
from scorecard import periods as P
from services import abs_calendar, action_plans, benchmark, notifications, reviews, surveys

#: Days after a period's end before it is closed and its review frozen (PILOTIS_CLOSE_GRACE_DAYS_<KIND>).
DEFAULT_CLOSE_GRACE = {"month": timedelta(days=10), "quarter": timedelta(days=15), "year": timedelta(days=30)}


@dataclass(frozen=True)
class Context:
    """What a job may need besides the database: the clock, where to write packs, SMTP."""

    now: datetime
    packs_folder: Path
    smtp: notifications.SmtpSettings | None = None
    close_grace: dict[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_CLOSE_GRACE))


@dataclass(frozen=True)
class JobSpec:
    name: str
    label: str
    cron: dict[str, Any]
    #: the period keys due now for an organisation
    due: Callable[[Session, Organisation, Context], list[str]]
    #: do the work for one organisation and key; returns a one-line summary
    run: Callable[[Session, Organisation, str, Context], str]
    schedule_text: str = ""
    options: dict[str, Any] = field(default_factory=dict)


def _close_due(session: Session, org: Organisation, ctx: Context) -> list[str]:
    return reviews.due_closures(session, org.id, now=ctx.now, grace=ctx.close_grace)


def _close(session: Session, org: Organisation, key: str, ctx: Context) -> str:
    review = reviews.close_period(session, org, key, now=ctx.now)
    return f"revue « {review.title} » figée"


def _reminder_due(session: Session, org: Organisation, ctx: Context) -> list[str]:
    """Open periods ending in 3 days (before the deadline) or ended 7 days ago (after it)."""
    today = ctx.now.date()
    keys = []
    for period in session.scalars(
        select(Period).where(Period.organisation_id == org.id, Period.state == PeriodState.OPEN)
    ):
        if period.end_date - timedelta(days=3) <= today <= period.end_date:
            keys.append(f"{period.key}/avant")
        if period.end_date + timedelta(days=7) <= today <= period.end_date + timedelta(days=30):
            keys.append(f"{period.key}/après")
    return keys


def _remind(session: Session, org: Organisation, key: str, ctx: Context) -> str:
    period_key = key.split("/")[0]
    return f"{reviews.send_reminders(session, org, period_key, now=ctx.now)} rappel(s) envoyé(s)"


def _alert_due(session: Session, org: Organisation, ctx: Context) -> list[str]:
    last_month = P.previous_period(P.period_containing("month", ctx.now.date()))
    return [last_month.key]


def _alert(session: Session, org: Organisation, key: str, ctx: Context) -> str:
    turned = reviews.send_alerts(session, org, key, now=ctx.now)
    return f"{len(turned)} indicateur(s) passé(s) au rouge"


def _pack_due(session: Session, org: Organisation, ctx: Context) -> list[str]:
    rows = session.execute(
        select(Period.key).join(Review, Review.period_id == Period.id)
        .where(Review.organisation_id == org.id, Review.pack_path.is_(None))
    ).all()  # fmt: skip
    return [key for (key,) in rows]


def _pack(session: Session, org: Organisation, key: str, ctx: Context) -> str:
    path = reviews.build_pack(session, org, key, ctx.packs_folder, now=ctx.now)
    return f"dossier de revue écrit ({path.name})"


def _freshness_due(session: Session, org: Organisation, ctx: Context) -> list[str]:
    return [P.period_containing("month", ctx.now.date()).key]


def _freshness(session: Session, org: Organisation, key: str, ctx: Context) -> str:
    return f"{len(reviews.send_freshness(session, org, now=ctx.now))} donnée(s) à actualiser signalée(s)"


def _email_due(session: Session, org: Organisation, ctx: Context) -> list[str]:
    return [ctx.now.strftime("%Y-%m-%dT%H:%M")[:-1] + "0"]  # one run per ten-minute slot


def _email(session: Session, org: Organisation, key: str, ctx: Context) -> str:
    """This organisation's mails only (its guard is this organisation's), each claimed before it is
    sent: two deliveries at once (a slow one and the next slot's) never send a mail twice."""
    counts = notifications.deliver_emails(session, ctx.smtp, now=ctx.now, organisation_id=org.id)
    return f"{counts['sent']} envoyé(s), {counts['outbox']} en boîte d'envoi, {counts['failed']} en échec"


def _surveys_due(session: Session, org: Organisation, ctx: Context) -> list[str]:
    """The open surveys whose closing day (in France) is past, keyed by that day (a survey reopened
    with a new day is closed again), and the old answer sheets to purge."""
    today = surveys.local_today(ctx.now)
    keys = [f"enquete-{s.id}-{s.closes_on}" for s in surveys.due_for_closing(session, org.id, today)]
    return keys + [f"purge-{s.id}" for s in surveys.due_for_purge(session, org.id, today)]


def _close_survey(session: Session, org: Organisation, key: str, ctx: Context) -> str:
    kind, ident = key.split("-")[:2]
    survey = session.get(Survey, int(ident))
    if survey is None or survey.organisation_id != org.id:
        return f"{key} : enquête disparue, rien à faire"
    if kind == "purge":
        removed = surveys.purge_answers(session, survey)
        return f"enquête « {survey.title} » : {removed} questionnaire(s) de plus de 6 ans effacé(s)"
    if survey.state != "open":
        return f"{key} : plus rien à clore"
    fed = surveys.close(session, survey, now=ctx.now)
    surveys.purge_starts(session, surveys.local_today(ctx.now) - timedelta(days=3))
    direction = session.scalars(
        select(User).where(
            User.organisation_id == org.id, User.role == Role.DIRECTION, User.is_active.is_(True)
        )
    ).all()
    skipped = "".join(f" Non mis à jour : {note}." for note in fed.skipped)
    notifications.notify(
        session, direction, kind="reminder", title=f"Enquête close : {survey.title}",
        body=f"L'enquête « {survey.title} » est close à la date prévue ; {fed.written} valeur(s) d'indicateur "
        f"mise(s) à jour.{skipped}",
        link=f"/enquetes/{survey.id}/resultats", now=ctx.now,
    )  # fmt: skip
    return f"enquête « {survey.title} » close, {fed.written} valeur(s) d'indicateur écrite(s)"


def _abs_calendar_due(session: Session, org: Organisation, ctx: Context) -> list[str]:
    """The R123-1 reminders whose window contains today (services.abs_calendar.due_reminders)."""
    return [reminder.key for reminder in abs_calendar.due_reminders(ctx.now.date())]


def _abs_calendar(session: Session, org: Organisation, key: str, ctx: Context) -> str:
    reminder = next((r for r in abs_calendar.due_reminders(ctx.now.date()) if r.key == key), None)
    if reminder is None:
        return f"rappel {key} hors de sa période : rien à envoyer"
    direction = session.scalars(
        select(User).where(
            User.organisation_id == org.id, User.role == Role.DIRECTION, User.is_active.is_(True)
        )
    ).all()
    sent = notifications.notify(session, direction, kind="reminder", title=reminder.title, body=reminder.body,
                                link=reminder.link, now=ctx.now)  # fmt: skip
    return f"{sent} rappel(s) du calendrier de l'ABS envoyé(s) à la direction"


def _actions_due(session: Session, org: Organisation, ctx: Context) -> list[str]:
    return [ctx.now.date().isoformat()]  # one run a day


def _actions(session: Session, org: Organisation, key: str, ctx: Context) -> str:
    """Each action's pilot is told of their milestones due within a week or late, and late actions."""
    return f"{action_plans.milestone_reminders(session, org, now=ctx.now)} pilote(s) prévenu(s)"


def _benchmark_due(session: Session, org: Organisation, ctx: Context) -> list[str]:
    return [ctx.now.date().isoformat()]  # one run a night


def _benchmark(session: Session, org: Organisation, key: str, ctx: Context) -> str:
    """The organisation's standard comparison indicators computed again and stored (with their vintage)."""
    stored = benchmark.refresh_indicators(session, org.id, now=ctx.now)
    return f"{stored} indicateur(s) de comparaison enregistré(s)"


JOBS: list[JobSpec] = [
    JobSpec("close-period", "Clôture des périodes et revue figée", {"hour": 2, "minute": 0}, _close_due, _close,
            "chaque nuit à 2 h (périodes échues depuis 10, 15 ou 30 jours : mois, trimestre, année)"),
    JobSpec("reminders", "Rappels de saisie", {"hour": 8, "minute": 0}, _reminder_due, _remind,
            "chaque jour à 8 h (3 jours avant et 7 jours après la fin d'une période)"),
    JobSpec("alerts", "Alertes : indicateurs passés au rouge", {"hour": 7, "minute": 30}, _alert_due, _alert,
            "chaque jour à 7 h 30 (dernier mois écoulé)"),
    JobSpec("review-pack", "Dossier de revue (Excel)", {"hour": 3, "minute": 0}, _pack_due, _pack,
            "chaque nuit à 3 h (revues sans dossier)"),
    JobSpec("freshness", "Fraîcheur des données", {"day": 1, "hour": 6, "minute": 0}, _freshness_due, _freshness,
            "le 1er de chaque mois à 6 h"),
    JobSpec("abs-calendar", "Calendrier de l'ABS (CASF art. R123-1)", {"hour": 7, "minute": 0}, _abs_calendar_due,
            _abs_calendar, "chaque jour à 7 h (du 1er septembre de l'année qui précède le diagnostic complet, en "
            "janvier à mars de l'année où il est dû, et avant le débat d'orientation budgétaire les autres années)"),
    JobSpec("close-surveys", "Clôture des enquêtes à leur date", {"hour": 0, "minute": 30}, _surveys_due,
            _close_survey, "chaque nuit à 0 h 30 (enquêtes dont la date de clôture est passée ; réponses de plus de 6 ans)"),
    JobSpec("action-reminders", "Fiches action : jalons proches et retards", {"hour": 7, "minute": 45},
            _actions_due, _actions, "chaque jour à 7 h 45 (jalons de la semaine, jalons et actions en retard)"),
    JobSpec("benchmark-indicators", "Indicateurs de comparaison entre organisations", {"hour": 3, "minute": 30},
            _benchmark_due, _benchmark, "chaque nuit à 3 h 30 (indicateurs standard recalculés et enregistrés)"),
    JobSpec("deliver-emails", "Envoi des courriels", {"minute": "*/10"}, _email_due, _email, "toutes les 10 minutes"),
]  # fmt: skip
BY_NAME = {job.name: job for job in JOBS}

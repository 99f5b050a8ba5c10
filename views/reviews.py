"""Reviews (frozen scorecards), notifications, and the administrator's jobs and outbox pages."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select, update

from jobs.registry import BY_NAME, JOBS
from jobs.runner import status_text, tick
from jobs.scheduler import context, next_run
from models import JobRun, Notification, Objective, Organisation, Period, Review, ReviewAction, User
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session, engine, release_session
from services.notifications import KIND_LABELS, preferences, set_preferences
from services.policy import Action, can
from services.reviews import review_pack, snapshot_for
from views.auth import safe_next
from views.forms import ConfirmForm
from views.lookup import get_or_404

bp = Blueprint("reviews", __name__)
ACTION_STATUS = {"open": "ouverte", "done": "faite", "dropped": "abandonnée"}


def _lines(snapshot: dict[str, Any]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}

    def walk(block: dict[str, Any]) -> None:
        for line in block["indicators"]:
            found[line["indicator_id"]] = line
        for child in block["children"]:
            walk(child)

    for perspective in snapshot.get("perspectives", []):
        for block in perspective["objectives"]:
            walk(block)
        for line in perspective.get("indicators_without_objective", []):
            found[line["indicator_id"]] = line
    return found


@bp.get("/revues")
def index() -> ResponseReturnValue:
    who = require(Action.VIEW)
    rows = db_session().execute(
        select(Review, Period.key).join(Period, Period.id == Review.period_id)
        .where(Review.organisation_id == who.organisation_id).order_by(Period.end_date.desc())
    ).all()  # fmt: skip
    return render_template("reviews/index.html", rows=rows)


@bp.get("/revues/<int:review_id>")
def review(review_id: int) -> ResponseReturnValue:
    item = get_or_404(Review, review_id)
    who = require(Action.VIEW, item)
    period = get_or_404(Period, item.period_id)
    previous = db_session().execute(
        select(Review).join(Period, Period.id == Review.period_id)
        .where(Review.organisation_id == item.organisation_id, Period.end_date < period.end_date, Period.kind == period.kind)
        .order_by(Period.end_date.desc()).limit(1)
    ).scalar_one_or_none()  # fmt: skip
    snapshot = snapshot_for(db_session(), who, item.snapshot)  # a manager: their services' lines
    now_lines = _lines(snapshot)
    before = _lines(snapshot_for(db_session(), who, previous.snapshot)) if previous else {}
    actions = (
        db_session()
        .scalars(select(ReviewAction).where(ReviewAction.review_id == item.id).order_by(ReviewAction.id))
        .all()
    )
    follow_up: list[ReviewAction] = []
    if previous is not None:
        follow_up = list(
            db_session().scalars(select(ReviewAction).where(ReviewAction.review_id == previous.id))
        )
    users = (
        db_session()
        .scalars(select(User).where(User.organisation_id == who.organisation_id).order_by(User.full_name))
        .all()
    )
    objectives = (
        db_session()
        .scalars(
            select(Objective).where(Objective.organisation_id == who.organisation_id).order_by(Objective.code)
        )
        .all()
    )
    return render_template(
        "reviews/review.html", review=item, snapshot=snapshot, period=period, previous=previous, now_lines=now_lines, before=before,
        actions=actions, follow_up=follow_up, users={u.id: u for u in users}, objectives={o.id: o for o in objectives},
        editable=can(who, Action.EDIT, item), form=ConfirmForm(), statuses=ACTION_STATUS,
    )  # fmt: skip


@bp.post("/revues/<int:review_id>/actions")
def add_action(review_id: int) -> ResponseReturnValue:
    item = get_or_404(Review, review_id)
    who = require(Action.EDIT, item)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    text = request.form.get("text", "").strip()
    if not text:
        flash("Décrivez la décision ou l'action.", "error")
        return redirect(url_for("reviews.review", review_id=item.id), 303)
    try:
        due = date.fromisoformat(request.form["due_date"]) if request.form.get("due_date") else None
    except ValueError:
        flash("Échéance invalide : attendu AAAA-MM-JJ.", "error")
        return redirect(url_for("reviews.review", review_id=item.id), 303)
    owner = request.form.get("owner_id", type=int)
    objective = request.form.get("objective_id", type=int)
    for model, ident in ((User, owner), (Objective, objective)):
        if ident is not None:
            row: Any = db_session().get(model, ident)
            if row is None or row.organisation_id != who.organisation_id:
                abort(404)
    db_session().add(ReviewAction(review_id=item.id, text=text, owner_id=owner, objective_id=objective, due_date=due,
                                  created_by_id=who.user_id, created_at=utcnow()))  # fmt: skip
    flash("Action enregistrée.", "success")
    return redirect(url_for("reviews.review", review_id=item.id), 303)


@bp.post("/revues/actions/<int:action_id>")
def update_action(action_id: int) -> ResponseReturnValue:
    action = get_or_404(ReviewAction, action_id)
    require(Action.EDIT, get_or_404(Review, action.review_id))
    if not ConfirmForm().validate_on_submit():
        abort(400)
    status = request.form.get("status", "")
    if status not in ACTION_STATUS:
        abort(400)
    action.status = status
    flash(f"Action {ACTION_STATUS[status]}.", "success")
    return redirect(safe_next(request.form.get("back") or url_for("reviews.index")), 303)  # no other site


@bp.get("/revues/<int:review_id>/dossier.xlsx")
def pack(review_id: int) -> ResponseReturnValue:
    item = get_or_404(Review, review_id)
    who = require(Action.EXPORT, item)
    organisation = db_session().get(Organisation, item.organisation_id)
    snapshot = snapshot_for(db_session(), who, item.snapshot)
    content = (
        Path(item.pack_path).read_bytes()  # the stored pack is the whole review
        if snapshot is item.snapshot and item.pack_path and Path(item.pack_path).exists()
        else review_pack(item, organisation.name if organisation else "", snapshot)
    )
    period = db_session().get(Period, item.period_id)
    return Response(content, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="revue-{period.key if period else item.id}.xlsx"'})  # fmt: skip


# -- notifications ------------------------------------------------------------------------------
@bp.get("/notifications")
def notifications() -> ResponseReturnValue:
    who = require(Action.VIEW)
    rows = db_session().scalars(select(Notification).where(Notification.user_id == who.user_id)
                                .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(200)).all()  # fmt: skip
    return render_template("reviews/notifications.html", rows=rows, form=ConfirmForm(), kinds=KIND_LABELS)


@bp.post("/notifications/lues")
def mark_read() -> ResponseReturnValue:
    who = require(Action.VIEW)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    db_session().execute(update(Notification).where(Notification.user_id == who.user_id, Notification.read_at.is_(None))
                         .values(read_at=utcnow()))  # fmt: skip
    return redirect(url_for("reviews.notifications"), 303)


@bp.route("/notifications/preferences", methods=["GET", "POST"])
def notification_preferences() -> ResponseReturnValue:
    who = require(Action.VIEW)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        set_preferences(db_session(), who.user_id, {
            kind: (f"app-{kind}" in request.form, f"mail-{kind}" in request.form) for kind in KIND_LABELS
        })  # fmt: skip
        flash("Préférences enregistrées.", "success")
        return redirect(url_for("reviews.notification_preferences"), 303)
    return render_template(
        "reviews/preferences.html", prefs=preferences(db_session(), who.user_id), kinds=KIND_LABELS, form=form
    )


# -- administration of jobs -----------------------------------------------------------------------
@bp.get("/admin/taches")
def jobs() -> ResponseReturnValue:
    require(Action.ADMINISTER)
    now = utcnow()
    rows = []
    for spec in JOBS:
        last = db_session().scalar(
            select(JobRun).where(JobRun.job_name == spec.name).order_by(JobRun.started_at.desc()).limit(1)
        )
        rows.append((spec, last, next_run(spec.cron, now), status_text(last, now) if last else "—"))
    return render_template("reviews/jobs.html", rows=rows, form=ConfirmForm())


@bp.post("/admin/taches/<name>")
def run_job(name: str) -> ResponseReturnValue:
    require(Action.ADMINISTER)
    if name not in BY_NAME or not ConfirmForm().validate_on_submit():
        abort(404 if name not in BY_NAME else 400)
    from flask import current_app

    release_session()  # the job works in its own transactions
    outcomes = tick(engine(), name, context(current_app.config["PILOTIS_SETTINGS"]))
    if not outcomes:
        flash(f"{BY_NAME[name].label} : rien à faire maintenant.", "success")
    for outcome in outcomes:
        flash(
            f"{outcome.key} : {outcome.status} — {outcome.message}",
            "error" if outcome.status == "failed" else "success",
        )
    return redirect(url_for("reviews.jobs"), 303)


@bp.get("/admin/boite-d-envoi")
def outbox() -> ResponseReturnValue:
    who = require(Action.ADMINISTER)
    rows = db_session().execute(
        select(Notification, User.email).join(User, User.id == Notification.user_id)
        .where(Notification.organisation_id == who.organisation_id, Notification.email_status.in_(["outbox", "pending", "failed"]))
        .order_by(Notification.created_at.desc()).limit(300)
    ).all()  # fmt: skip
    return render_template("reviews/outbox.html", rows=rows)

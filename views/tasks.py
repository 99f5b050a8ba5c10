"""Background tasks seen by the person who asked: progress, result file, cancellation."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from models import Task
from pilotis.auth import require
from pilotis.web import after_commit, db_session, engine
from pilotis.worker import STATE_LABELS, cancel, forget_queue_job, state_text
from services.policy import Action
from views.forms import ConfirmForm
from views.lookup import get_or_404

bp = Blueprint("tasks", __name__, url_prefix="/taches")

#: What each kind of task is, for its page.
KIND_LABELS = {
    "abs-pdf": "Rapport de l'ABS (PDF)",
    "abs-docx": "Rapport de l'ABS à compléter (Word)",
    "scenario": "Calcul d'un scénario",
    "scheduled": "Tâche planifiée",
    "pause": "Tâche d'essai",
}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_filter(state_text, "etat_tache")


@bp.get("/<int:task_id>")
def show(task_id: int) -> ResponseReturnValue:
    task = get_or_404(Task, task_id)
    who = require(Action.VIEW, task)
    return render_template(
        "tasks/show.html",
        task=task,
        label=KIND_LABELS.get(task.kind, task.kind),
        states=STATE_LABELS,
        can_cancel=task.state in ("queued", "running") and task.user_id == who.user_id,
        form=ConfirmForm(),
    )


@bp.get("/<int:task_id>/fichier")
def download(task_id: int) -> ResponseReturnValue:
    task = get_or_404(Task, task_id)
    require(Action.EXPORT, task)
    if task.state != "succeeded" or task.result is None:
        abort(404)
    return Response(
        task.result,
        mimetype=task.result_type or "application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{task.result_name or "fichier"}"'},
    )


@bp.post("/<int:task_id>/annuler")
def cancel_task(task_id: int) -> ResponseReturnValue:
    task = get_or_404(Task, task_id)
    require(Action.EDIT, task)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if cancel(db_session(), task):
        target = engine()
        after_commit(lambda: forget_queue_job(target, task))
        flash("Tâche annulée.", "success")
    else:
        flash("Cette tâche est déjà terminée.", "error")
    return redirect(url_for("tasks.show", task_id=task.id), 303)

"""The public pages of surveys and consultations: answer without an account.

Nothing identifying is kept: no IP address, no name, no time of day, and an invitation code is
only marked used. Light anti-abuse without personal data: an open survey is answered once per
browser (a mark in the signed session cookie), a hidden field catches robots, and an answer sent
faster than a person can read is asked again.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeSerializer

from models import Organisation, Survey
from models.base import utcnow
from pilotis.web import db_session
from services.surveys import (
    AnswerErrors,
    SurveyError,
    check_invitation,
    find_survey_by_token,
    parse_answers,
    redeem_invitation,
    save_response,
)
from views.survey_forms import question_context

bp = Blueprint("participation", __name__, url_prefix="/participer")
#: The hidden field a person never fills (robots fill every field).
HONEYPOT = "site_web"
ANSWERED = "surveys_answered"


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="pilotis-survey-start")


def _survey(token: str) -> tuple[Survey, Organisation]:
    survey = find_survey_by_token(db_session(), token)
    if survey is None:
        abort(404)
    organisation = db_session().get(Organisation, survey.organisation_id)
    if organisation is None:
        abort(404)
    return survey, organisation


@bp.route("/<token>", methods=["GET", "POST"])
def answer(token: str) -> ResponseReturnValue:
    survey, organisation = _survey(token)
    if survey.state == "closed":
        return render_template("participation/closed.html", survey=survey, organisation=organisation)
    already = survey.access == "open" and token in session.get(ANSWERED, [])
    if already and request.method == "GET":
        return render_template(
            "participation/thanks.html", survey=survey, organisation=organisation, again=True
        )
    errors: dict[str, str] = {}
    values: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        values = request.form.to_dict(flat=False)
        if request.form.get(HONEYPOT):
            return redirect(url_for("participation.thanks", token=token), 303)
        try:
            started = float(_signer().loads(request.form.get("debut", "")))
        except (BadSignature, TypeError, ValueError):
            started = time.time()  # no genuine mark (a robot's post): asked again, with one
        minimum = float(current_app.config.get("PILOTIS_SURVEY_MIN_SECONDS", 3))
        try:
            if already:
                raise AnswerErrors(
                    {"": "Vous avez déjà répondu à cette enquête depuis ce navigateur. Merci !"}
                )
            if time.time() - started < minimum:
                raise AnswerErrors(
                    {"": "Vos réponses sont arrivées très vite : relisez-les puis envoyez-les de nouveau."}
                )
            invitation = None
            if survey.access == "codes":
                invitation = check_invitation(db_session(), survey, request.form.get("code", ""))
            parsed = parse_answers(db_session(), survey, values)
            now = utcnow()
            if invitation is not None:
                redeem_invitation(db_session(), invitation, now=now)
            save_response(db_session(), survey, parsed, channel="web", today=now.date())
        except AnswerErrors as exc:
            errors = exc.errors
            status = 400
        except SurveyError as exc:
            errors = {"": str(exc)}
            status = 400
        else:
            if survey.access == "open":
                session[ANSWERED] = [*session.get(ANSWERED, [])[-49:], token]
            return redirect(url_for("participation.thanks", token=token), 303)
    context: dict[str, Any] = question_context(db_session(), survey, values, errors)
    return (
        render_template(
            "participation/answer.html",
            survey=survey,
            organisation=organisation,
            started=_signer().dumps(str(time.time())),
            honeypot=HONEYPOT,
            code=request.form.get("code", request.args.get("code", "")),
            **context,
        ),
        status,
    )


@bp.get("/<token>/merci")
def thanks(token: str) -> ResponseReturnValue:
    survey, organisation = _survey(token)
    return render_template("participation/thanks.html", survey=survey, organisation=organisation, again=False)

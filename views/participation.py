"""The public pages of surveys and consultations: answer without an account.

Nothing identifying is kept: no IP address, no name, no time of day, and an invitation code is
only marked used. Light anti-abuse without personal data:

- each questionnaire page carries a signed, single-use mark: one page shown, one answer at most
  (only the mark's hash is kept, a few days);
- an answer sent faster than a person can read (``PILOTIS_SURVEY_MIN_SECONDS``, 3 s) or from a
  page older than a day is asked again;
- an open survey is answered once per browser (a mark in the signed session cookie);
- a hidden field catches robots;
- at most ``PILOTIS_SURVEY_MAX_PER_HOUR`` answers per hour from one connection, counted in memory
  only (the address is never written anywhere).

None of this stops a determined person from answering an open survey several times: a survey
whose results weigh (a consultation) should use invitation codes.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeSerializer

from models import Organisation, Survey
from models.base import utcnow
from pilotis.web import db_session
from services.surveys import (
    AnswerErrors,
    SurveyError,
    check_invitation,
    consume_start,
    find_survey_by_token,
    local_today,
    parse_answers,
    redeem_invitation,
    save_response,
)
from views.survey_forms import question_context

bp = Blueprint("participation", __name__, url_prefix="/participer")
#: A questionnaire page older than this is asked again (its mark is only remembered a few days).
MAX_PAGE_AGE = 24 * 3600
_ANSWERS: dict[str, list[float]] = {}
_LOCK = threading.Lock()


@bp.after_request
def _no_store(response: Response) -> Response:
    """A shared device (library, reception) must not keep a resident's answers in its cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


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


def _recent(key: str, limit: int) -> bool:
    """Whether ``key`` (a hash of the connection and the survey) sent ``limit`` answers in the last hour."""
    now = time.time()
    with _LOCK:
        times = [t for t in _ANSWERS.get(key, []) if now - t < 3600]
        _ANSWERS[key] = times
        if len(_ANSWERS) > 10_000:  # forget the idle ones
            for idle in [k for k, v in _ANSWERS.items() if not v or now - v[-1] > 3600]:
                del _ANSWERS[idle]
        return len(times) >= limit


def _count(key: str) -> None:
    with _LOCK:
        _ANSWERS.setdefault(key, []).append(time.time())


def _is_closed(survey: Survey) -> bool:
    return survey.state == "closed" or (
        survey.closes_on is not None and survey.closes_on < local_today(utcnow())
    )


@bp.route("/<token>", methods=["GET", "POST"])
def answer(token: str) -> ResponseReturnValue:
    survey, organisation = _survey(token)
    if _is_closed(survey):
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
            mark = _signer().loads(request.form.get("debut", ""))
            started, nonce = float(mark["t"]), str(mark["n"])
            if mark.get("s") != token:
                raise ValueError("another survey's page")
        except (BadSignature, TypeError, ValueError, KeyError):
            started, nonce = time.time(), ""  # no genuine mark (a robot's post): asked again, with one
        minimum = float(current_app.config.get("PILOTIS_SURVEY_MIN_SECONDS", 3))
        per_hour = int(current_app.config.get("PILOTIS_SURVEY_MAX_PER_HOUR", 30))
        address = hashlib.sha256(f"{request.remote_addr}:{token}".encode()).hexdigest()
        age = time.time() - started
        try:
            if already:
                raise AnswerErrors(
                    {"": "Vous avez déjà répondu à cette enquête depuis ce navigateur. Merci !"}
                )
            if not nonce or age < minimum:
                raise AnswerErrors(
                    {"": "Vos réponses sont arrivées très vite : relisez-les puis envoyez-les de nouveau."}
                )
            if age > MAX_PAGE_AGE:
                raise AnswerErrors(
                    {
                        "": "Cette page est ouverte depuis plus d'un jour : relisez vos réponses puis envoyez-les."
                    }
                )
            if _recent(address, per_hour):
                raise AnswerErrors(
                    {
                        "": "Trop de réponses envoyées depuis cette connexion en une heure : réessayez plus tard."
                    }
                )
            invitation = None
            if survey.access == "codes":
                invitation = check_invitation(db_session(), survey, request.form.get("code", ""))
            parsed = parse_answers(db_session(), survey, values)
            now = utcnow()
            consume_start(db_session(), survey, nonce, today=now.date())
            if invitation is not None:
                redeem_invitation(db_session(), invitation)
            save_response(db_session(), survey, parsed, channel="web", today=local_today(now))
        except AnswerErrors as exc:
            errors = exc.errors
            status = 400
        except SurveyError as exc:
            errors = {"": str(exc)}
            status = 400
        else:
            _count(address)
            if survey.access == "open":
                session[ANSWERED] = [*session.get(ANSWERED, [])[-49:], token]
            return redirect(url_for("participation.thanks", token=token), 303)
    context: dict[str, Any] = question_context(db_session(), survey, values, errors)
    fresh = {"s": token, "n": secrets.token_urlsafe(16), "t": time.time()}
    return (
        render_template(
            "participation/answer.html",
            survey=survey,
            organisation=organisation,
            started=_signer().dumps(fresh),
            honeypot=HONEYPOT,
            code=request.form.get("code", ""),
            **context,
        ),
        status,
    )


@bp.get("/<token>/merci")
def thanks(token: str) -> ResponseReturnValue:
    survey, organisation = _survey(token)
    return render_template("participation/thanks.html", survey=survey, organisation=organisation, again=False)

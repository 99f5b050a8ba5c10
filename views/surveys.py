"""Surveys and consultations for staff: build, publish, close; enter and import paper answers; read
results; tag free-text answers; propose the consultation's weights to the élus."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from models import (
    Indicator,
    Need,
    Organisation,
    Service,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    SurveyResponse,
)
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session, public_url
from scorecard.surveys import CONSULTATION_RULE
from services.editing import last_change
from services.exports import workbook_bytes
from services.policy import Action, Principal, can
from services.survey_io import import_workbook, template_workbook
from services.survey_results import (
    adopt_weights,
    consultation_weights,
    results,
    results_workbook,
    text_answers,
    theme_counts,
    with_theme,
)
from services.surveys import (
    ACCESS_LABELS,
    CHANNEL_LABELS,
    KIND_LABELS,
    QUESTION_KIND_LABELS,
    STATE_LABELS,
    AnswerErrors,
    QuestionInput,
    SurveyError,
    SurveyInput,
    add_question,
    after_entry,
    close,
    copy_survey,
    create_survey,
    delete_question,
    generate_codes,
    invitation_counts,
    move_question,
    options_of,
    parse_answers,
    publish,
    response_count,
    save_response,
    set_themes,
    surveys_of,
    update_question,
    update_survey,
)
from services.workbooks import WorkbookError
from views.downloads import xlsx_response
from views.forms import ConfirmForm, FrenchNumberField, choices
from views.lookup import get_or_404
from views.survey_forms import question_context

bp = Blueprint("surveys", __name__, url_prefix="/enquetes")
TEXTS_PER_PAGE = 50


class SurveyForm(ConfirmForm):
    title = StringField("Titre", validators=[DataRequired("Donnez un titre."), Length(max=200)])
    kind = SelectField("Type", choices=choices(list(KIND_LABELS.items())))
    introduction = TextAreaField("Présentation aux répondants", validators=[Optional(), Length(max=4000)])
    purpose = TextAreaField(
        "Ce qui est recueilli et pourquoi (laissez vide pour le texte type)",
        validators=[Optional(), Length(max=4000)],
    )
    access = SelectField("Accès", choices=choices(list(ACCESS_LABELS.items())))
    service = SelectField("Service concerné (facultatif)", choices=[], validate_choice=False)
    ask_group = BooleanField("Demander le public du répondant (résultats par public)")
    ask_territory = BooleanField("Demander le quartier du répondant (résultats par territoire)")
    threshold = IntegerField(
        "Seuil de confidentialité (répondants au moins par public ou territoire)",
        default=11,
        validators=[InputRequired("Indiquez le seuil."), NumberRange(1, 100)],
    )
    closes_on = DateField("Clôture automatique le (facultatif)", validators=[Optional()])
    #: The version the settings were read at: a stale edit is refused (409), never applied silently.
    version = IntegerField(widget=HiddenInput(), validators=[Optional()])


class QuestionForm(ConfirmForm):
    text = StringField("Question", validators=[DataRequired("Écrivez la question."), Length(max=500)])
    kind = SelectField("Type de réponse", choices=choices(list(QUESTION_KIND_LABELS.items())))
    help = TextAreaField("Aide (facultatif)", validators=[Optional(), Length(max=1000)])
    required = BooleanField("Réponse obligatoire")
    options = TextAreaField(
        "Réponses possibles, une par ligne (choix) — précédez d'un « + » celles qui comptent comme positives",
        validators=[Optional(), Length(max=4000)],
    )
    scale_min = IntegerField("Échelle : de", default=1, validators=[Optional(), NumberRange(0, 10)])
    scale_max = IntegerField("à", default=5, validators=[Optional(), NumberRange(1, 10)])
    min_label = StringField("Libellé du bas de l'échelle", validators=[Optional(), Length(max=80)])
    max_label = StringField("Libellé du haut de l'échelle", validators=[Optional(), Length(max=80)])
    positive_from = IntegerField(
        "Réponse positive à partir de la note (pour l'indicateur)",
        validators=[Optional(), NumberRange(0, 10)],
    )
    number_min = FrenchNumberField("Nombre : minimum", validators=[Optional()])
    number_max = FrenchNumberField("Nombre : maximum", validators=[Optional()])
    total = IntegerField(
        "Consultation : points à répartir, ou note maximale",
        default=10,
        validators=[Optional(), NumberRange(1, 1000)],
    )
    needs = SelectMultipleField("Consultation : besoins proposés", choices=[], validate_choice=False)
    condition_question = SelectField("Posée seulement si la question…", choices=[], validate_choice=False)
    condition_values = StringField(
        "… a reçu l'une de ces réponses (séparées par « ; »)", validators=[Optional(), Length(max=500)]
    )
    service = SelectField("Service concerné", choices=[], validate_choice=False)
    need = SelectField("Besoin concerné", choices=[], validate_choice=False)
    indicator = SelectField(
        "Indicateur alimenté (part des réponses positives, en %)", choices=[], validate_choice=False
    )


class UploadForm(ConfirmForm):
    file = FileField("Classeur rempli (.xlsx)", validators=[FileRequired("Choisissez un fichier.")])


class CodesForm(ConfirmForm):
    count = IntegerField(
        "Nombre de codes à créer",
        default=100,
        validators=[InputRequired("Indiquez un nombre."), NumberRange(1, 5000)],
    )


def _ids(form: ConfirmForm, prefix: str) -> ConfirmForm:
    """Give a form's fields ids of their own: a page with several forms has no duplicate ids (the
    field names, which the server reads, stay)."""
    for item in form:
        item.id = f"{prefix}-{item.id}"
        item.label.field_id = item.id
    return form


def _services(organisation_id: int) -> list[tuple[str, str]]:
    rows = db_session().execute(
        select(Service.id, Service.name)
        .where(Service.organisation_id == organisation_id)
        .order_by(Service.name)
    )
    return [("", "—")] + [(str(i), n) for i, n in rows]


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


def _survey_form(organisation_id: int, survey: Survey | None = None, *, reload: bool = False) -> SurveyForm:
    form = SurveyForm(formdata=None) if reload else SurveyForm()
    form.service.choices = choices(_services(organisation_id))
    if survey is not None and (request.method == "GET" or reload):
        form.version.data = survey.version
        form.title.data = survey.title
        form.kind.data = survey.kind
        form.introduction.data = survey.introduction
        form.purpose.data = survey.purpose
        form.access.data = survey.access
        form.service.data = str(survey.service_id or "")
        form.ask_group.data = survey.ask_group
        form.ask_territory.data = survey.ask_territory
        form.threshold.data = survey.threshold
        form.closes_on.data = survey.closes_on
    return form


def _survey_input(form: SurveyForm) -> SurveyInput:
    return SurveyInput(
        title=form.title.data or "",
        kind=form.kind.data or "satisfaction",
        introduction=form.introduction.data,
        purpose=form.purpose.data,
        access=form.access.data or "open",
        service_id=_int(form.service.data),
        ask_group=bool(form.ask_group.data),
        ask_territory=bool(form.ask_territory.data),
        threshold=int(form.threshold.data or 11),
        closes_on=form.closes_on.data,
    )


def _organisation(who: Principal) -> Organisation:
    organisation = db_session().get(Organisation, who.organisation_id)
    if organisation is None:
        abort(404)
    return organisation


@bp.route("", methods=["GET", "POST"])
def index() -> ResponseReturnValue:
    who = require(Action.VIEW)
    session = db_session()
    marker = Survey(organisation_id=who.organisation_id)
    form = _survey_form(who.organisation_id)
    status = 200
    if request.method == "POST":
        require(Action.CREATE, marker)
        if form.validate_on_submit():
            try:
                survey = create_survey(
                    session,
                    who.organisation_id,
                    _organisation(who).name,
                    _survey_input(form),
                    user_id=who.user_id,
                )
            except SurveyError as exc:
                flash(f"Enquête non créée : {exc}.", "error")
                status = 400
            else:
                flash("Enquête créée : ajoutez ses questions.", "success")
                return redirect(url_for("surveys.show", survey_id=survey.id), 303)
        else:
            status = 400
    return (
        render_template(
            "surveys/index.html",
            surveys=surveys_of(session, who.organisation_id),
            form=form,
            editable=can(who, Action.CREATE, marker),
            kinds=KIND_LABELS,
            states=STATE_LABELS,
        ),
        status,
    )


def _question_form(survey: Survey, question: SurveyQuestion | None = None) -> QuestionForm:
    session = db_session()
    form = QuestionForm()
    organisation_id = survey.organisation_id
    form.service.choices = choices(_services(organisation_id))
    needs = session.execute(
        select(Need.id, Need.code, Need.label)
        .where(Need.organisation_id == organisation_id)
        .order_by(Need.label)
    ).all()
    form.need.choices = choices([("", "—")] + [(str(i), label) for i, _, label in needs])
    form.needs.choices = choices([(code, label) for _, code, label in needs])
    indicators = session.execute(
        select(Indicator.id, Indicator.label)
        .where(
            Indicator.organisation_id == organisation_id, Indicator.formula.is_(None), Indicator.unit == "%"
        )
        .order_by(Indicator.label)
    ).all()
    form.indicator.choices = choices([("", "—")] + [(str(i), label) for i, label in indicators])
    earlier = [
        q
        for q in survey.questions
        if q.kind in ("single", "multiple", "scale") and (question is None or q.position < question.position)
    ]
    form.condition_question.choices = choices(
        [("", "— toujours posée —")] + [(str(q.id), q.text[:80]) for q in earlier]
    )
    if question is not None and request.method == "GET":
        settings = question.settings or {}
        form.text.data = question.text
        form.kind.data = question.kind
        form.help.data = question.help
        form.required.data = question.required
        form.options.data = "\n".join(
            ("+ " if o.get("positive") else "") + str(o["label"]) for o in settings.get("options", [])
        )
        if question.kind == "scale":
            form.scale_min.data = settings.get("min")
            form.scale_max.data = settings.get("max")
            form.min_label.data = settings.get("min_label")
            form.max_label.data = settings.get("max_label")
            form.positive_from.data = settings.get("positive_from")
        if question.kind == "number":
            form.number_min.data = settings.get("min")
            form.number_max.data = settings.get("max")
        if question.kind in ("points", "rating"):
            form.total.data = settings.get("total")
            form.needs.data = list(settings.get("needs", []))
        form.condition_question.data = str(question.condition_question_id or "")
        target = next((q for q in survey.questions if q.id == question.condition_question_id), None)
        labels = {str(o["code"]): str(o["label"]) for o in options_of(target)} if target else {}
        form.condition_values.data = " ; ".join(labels.get(v, v) for v in question.condition_values or [])
        form.service.data = str(question.service_id or "")
        form.need.data = str(question.need_id or "")
        form.indicator.data = str(question.indicator_id or "")
    return form


def _question_input(form: QuestionForm) -> QuestionInput:
    return QuestionInput(
        text=form.text.data or "",
        kind=form.kind.data or "single",
        help=form.help.data,
        required=bool(form.required.data),
        options=form.options.data or "",
        scale_min=form.scale_min.data if form.scale_min.data is not None else 1,
        scale_max=form.scale_max.data if form.scale_max.data is not None else 5,
        min_label=form.min_label.data or "",
        max_label=form.max_label.data or "",
        positive_from=form.positive_from.data,
        number_min=float(form.number_min.data) if form.number_min.data is not None else None,
        number_max=float(form.number_max.data) if form.number_max.data is not None else None,
        total=form.total.data or 10,
        need_codes=list(form.needs.data or []),
        condition_question_id=_int(form.condition_question.data),
        condition_values=[v.strip() for v in (form.condition_values.data or "").split(";") if v.strip()],
        service_id=_int(form.service.data),
        need_id=_int(form.need.data),
        indicator_id=_int(form.indicator.data),
    )


@bp.route("/<int:survey_id>", methods=["GET", "POST"])
def show(survey_id: int) -> ResponseReturnValue:
    """The survey: its settings (editable), its public link, its questions and its state."""
    survey = get_or_404(Survey, survey_id)
    who = require(Action.VIEW, survey)
    form = _survey_form(who.organisation_id, survey)
    status = 200
    if request.method == "POST":
        require(Action.EDIT, survey)
        if form.validate_on_submit():
            try:
                if form.version.data is not None and form.version.data != survey.version:
                    raise StaleDataError("edited meanwhile")
                update_survey(db_session(), survey, _survey_input(form))
            except SurveyError as exc:
                flash(f"Enquête non modifiée : {exc}.", "error")
                status = 400
            except StaleDataError:
                db_session().rollback()
                survey = get_or_404(Survey, survey_id)
                who_name, _ = last_change(db_session(), "surveys", str(survey.id))
                by = f" par {who_name}" if who_name else ""
                flash(
                    f"Enquête non modifiée : ses paramètres ont été changés entre-temps{by}. Voici les valeurs "
                    "actuelles : reportez-y vos modifications.",
                    "error",
                )
                form = _survey_form(who.organisation_id, survey, reload=True)
                status = 409
            else:
                flash("Enquête enregistrée.", "success")
                return redirect(url_for("surveys.show", survey_id=survey.id), 303)
        else:
            status = 400
    issued, used = invitation_counts(db_session(), survey)
    return (
        render_template(
            "surveys/show.html",
            survey=survey,
            form=form,
            question_form=_ids(_question_form(survey), "question"),
            codes_form=_ids(CodesForm(), "codes"),
            copy_form=_ids(CopyForm(formdata=None, title=f"{survey.title} (copie)"), "copie"),
            confirm=ConfirmForm(),
            responses=response_count(db_session(), survey.id),
            issued=issued,
            used=used,
            public_url=public_url("participation.answer", token=survey.token),
            kinds=KIND_LABELS,
            states=STATE_LABELS,
            access=ACCESS_LABELS,
            question_kinds=QUESTION_KIND_LABELS,
            can_edit=can(who, Action.EDIT, survey),
            can_enter=can(who, Action.ENTER_VALUES, survey),
            options_of=options_of,
        ),
        status,
    )


@bp.route("/<int:survey_id>/questions", methods=["POST"])
def new_question(survey_id: int) -> ResponseReturnValue:
    survey = get_or_404(Survey, survey_id)
    require(Action.EDIT, survey)
    form = _question_form(survey)
    if not form.validate_on_submit():
        flash(
            "Question non ajoutée : " + " ; ".join(e for errs in form.errors.values() for e in errs), "error"
        )
        return redirect(url_for("surveys.show", survey_id=survey.id, _anchor="nouvelle-question"), 303)
    try:
        add_question(db_session(), survey, _question_input(form))
    except SurveyError as exc:
        flash(f"Question non ajoutée : {exc}.", "error")
    else:
        flash("Question ajoutée.", "success")
    return redirect(url_for("surveys.show", survey_id=survey.id, _anchor="questions"), 303)


def _question(survey_id: int, question_id: int) -> tuple[Survey, SurveyQuestion]:
    survey = get_or_404(Survey, survey_id)
    question = db_session().get(SurveyQuestion, question_id)
    if question is None or question.survey_id != survey.id:
        abort(404)
    return survey, question


@bp.route("/<int:survey_id>/questions/<int:question_id>", methods=["GET", "POST"])
def edit_question(survey_id: int, question_id: int) -> ResponseReturnValue:
    survey, question = _question(survey_id, question_id)
    require(Action.VIEW, survey)
    form = _question_form(survey, question)
    status = 200
    if request.method == "POST":
        require(Action.EDIT, survey)
        if form.validate_on_submit():
            try:
                update_question(db_session(), question, _question_input(form))
            except SurveyError as exc:
                flash(f"Question non modifiée : {exc}.", "error")
                status = 400
            else:
                flash("Question enregistrée.", "success")
                return redirect(url_for("surveys.show", survey_id=survey.id, _anchor="questions"), 303)
        else:
            status = 400
    return render_template("surveys/question.html", survey=survey, question=question, form=form), status


@bp.post("/<int:survey_id>/questions/<int:question_id>/supprimer")
def remove_question(survey_id: int, question_id: int) -> ResponseReturnValue:
    survey, question = _question(survey_id, question_id)
    require(Action.EDIT, survey)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        delete_question(db_session(), question)
    except SurveyError as exc:
        flash(f"Question non supprimée : {exc}.", "error")
    else:
        flash("Question supprimée.", "success")
    return redirect(url_for("surveys.show", survey_id=survey.id, _anchor="questions"), 303)


@bp.post("/<int:survey_id>/questions/<int:question_id>/deplacer")
def move(survey_id: int, question_id: int) -> ResponseReturnValue:
    survey, question = _question(survey_id, question_id)
    require(Action.EDIT, survey)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        move_question(db_session(), question, -1 if request.form.get("sens") == "haut" else 1)
    except SurveyError as exc:
        flash(f"Question non déplacée : {exc}.", "error")
    return redirect(url_for("surveys.show", survey_id=survey.id, _anchor="questions"), 303)


@bp.post("/<int:survey_id>/publier")
def publish_survey(survey_id: int) -> ResponseReturnValue:
    survey = get_or_404(Survey, survey_id)
    require(Action.EDIT, survey)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        publish(db_session(), survey, now=utcnow())
    except SurveyError as exc:
        flash(f"Enquête non publiée : {exc}.", "error")
    else:
        flash("Enquête ouverte : son lien public reçoit maintenant des réponses.", "success")
    return redirect(url_for("surveys.show", survey_id=survey.id), 303)


@bp.post("/<int:survey_id>/cloturer")
def close_survey(survey_id: int) -> ResponseReturnValue:
    survey = get_or_404(Survey, survey_id)
    require(Action.EDIT, survey)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        fed = close(db_session(), survey, now=utcnow())
    except SurveyError as exc:
        flash(f"Enquête non close : {exc}.", "error")
    else:
        written = f" {fed.written} valeur(s) d'indicateur mise(s) à jour." if fed.written else ""
        flash(f"Enquête close : elle ne reçoit plus de réponses en ligne.{written}", "success")
        for note in fed.skipped:
            flash(f"Indicateur non mis à jour : {note}.", "warning")
    return redirect(url_for("surveys.show", survey_id=survey.id), 303)


class CopyForm(ConfirmForm):
    title = StringField("Titre de la copie", validators=[DataRequired("Donnez un titre."), Length(max=200)])


@bp.post("/<int:survey_id>/copier")
def copy(survey_id: int) -> ResponseReturnValue:
    """A new draft with the same questions (next year's edition, say)."""
    survey = get_or_404(Survey, survey_id)
    who = require(Action.EDIT, survey)
    form = CopyForm()
    if not form.validate_on_submit():
        flash("Enquête non copiée : donnez un titre à la copie.", "error")
        return redirect(url_for("surveys.show", survey_id=survey.id), 303)
    try:
        twin = copy_survey(db_session(), survey, title=form.title.data or "", user_id=who.user_id)
    except SurveyError as exc:
        flash(f"Enquête non copiée : {exc}.", "error")
        return redirect(url_for("surveys.show", survey_id=survey.id), 303)
    flash("Copie créée, en préparation : ses questions peuvent être modifiées.", "success")
    return redirect(url_for("surveys.show", survey_id=twin.id), 303)


@bp.post("/<int:survey_id>/codes")
def codes(survey_id: int) -> ResponseReturnValue:
    """New invitation codes, downloaded once (only their hash is kept)."""
    survey = get_or_404(Survey, survey_id)
    require(Action.EDIT, survey)
    form = CodesForm()
    if not form.validate_on_submit():
        flash("Codes non créés : indiquez un nombre entre 1 et 5 000.", "error")
        return redirect(url_for("surveys.show", survey_id=survey.id), 303)
    try:
        created = generate_codes(db_session(), survey, int(form.count.data or 0), now=utcnow())
    except SurveyError as exc:
        flash(f"Codes non créés : {exc}.", "error")
        return redirect(url_for("surveys.show", survey_id=survey.id), 303)
    link = public_url("participation.answer", token=survey.token)
    content = workbook_bytes(
        "Codes d'invitation",
        ["Code", "Lien"],  # no link with the code in it: it would reach access logs
        [[c, link] for c in created],
        [14, 60],
    )
    return xlsx_response(content, f"codes-enquete-{survey.id}.xlsx")


@bp.get("/<int:survey_id>/resultats")
def show_results(survey_id: int) -> ResponseReturnValue:
    survey = get_or_404(Survey, survey_id)
    who = require(Action.VIEW, survey)
    by = request.args.get("par")
    data = results(db_session(), survey, by=by if by in ("group", "territory") else None)
    weights = consultation_weights(db_session(), survey) if survey.kind == "consultation" else []
    return render_template(
        "surveys/results.html",
        survey=survey,
        data=data,
        weights=weights,
        rule=CONSULTATION_RULE,
        channels=CHANNEL_LABELS,
        kinds=KIND_LABELS,
        states=STATE_LABELS,
        can_adopt=can(who, Action.SET_PRIORITY) and survey.state == "closed",
        confirm=ConfirmForm(),
    )


@bp.post("/<int:survey_id>/ponderations")
def adopt(survey_id: int) -> ResponseReturnValue:
    """The élus take the consultation's weights for the needs they tick (never automatic)."""
    survey = get_or_404(Survey, survey_id)
    who = require(Action.SET_PRIORITY, survey)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        count = adopt_weights(
            db_session(), survey, request.form.getlist("besoin"), user_id=who.user_id, now=utcnow()
        )
    except SurveyError as exc:
        flash(f"Pondérations non appliquées : {exc}.", "error")
    else:
        flash(f"Pondération de la consultation appliquée à {count} besoin(s).", "success")
    return redirect(url_for("surveys.show_results", survey_id=survey.id, _anchor="ponderations"), 303)


@bp.get("/<int:survey_id>/export.xlsx")
def export(survey_id: int) -> ResponseReturnValue:
    survey = get_or_404(Survey, survey_id)
    require(Action.EXPORT, survey)
    require(Action.VIEW_ANSWERS, survey)  # the workbook holds every answer sheet and the free text
    return xlsx_response(results_workbook(db_session(), survey), f"resultats-enquete-{survey.id}.xlsx")


@bp.route("/<int:survey_id>/verbatims", methods=["GET", "POST"])
def texts(survey_id: int) -> ResponseReturnValue:
    """Free-text answers, and their tagging by theme."""
    survey = get_or_404(Survey, survey_id)
    who = require(Action.VIEW_ANSWERS, survey)  # residents' own words: not for partners
    if request.method == "POST":
        require(Action.ENTER_VALUES, survey)
        if not ConfirmForm().validate_on_submit():
            abort(400)
        answer = db_session().get(SurveyAnswer, request.form.get("answer", type=int) or 0)
        response = db_session().get(SurveyResponse, answer.response_id) if answer is not None else None
        if answer is None or response is None or response.survey_id != survey.id:
            abort(404)
        set_themes(
            db_session(), survey, answer, request.form.getlist("theme"), request.form.get("nouveau", "")
        )
        flash("Thèmes enregistrés.", "success")
        return redirect(
            url_for(
                "surveys.texts",
                survey_id=survey.id,
                theme=request.args.get("theme") or None,
                page=request.args.get("page", type=int),
                _anchor=f"r{answer.id}",
            ),
            303,
        )
    theme = request.args.get("theme") or None
    everything = text_answers(db_session(), survey)
    chosen = with_theme(everything, theme)
    page = max(1, request.args.get("page", 1, type=int))
    return render_template(
        "surveys/texts.html",
        survey=survey,
        items=chosen[(page - 1) * TEXTS_PER_PAGE : page * TEXTS_PER_PAGE],
        page=page,
        pages=max(1, -(-len(chosen) // TEXTS_PER_PAGE)),
        shown=len(chosen),
        counts=theme_counts(everything),
        untagged=sum(1 for t in everything if not t.answer.themes),
        total=len(everything),
        theme=theme,
        can_tag=can(who, Action.ENTER_VALUES, survey),
        confirm=ConfirmForm(),
    )


@bp.route("/<int:survey_id>/saisie", methods=["GET", "POST"])
def entry(survey_id: int) -> ResponseReturnValue:
    """A paper questionnaire entered by staff, checked like an answer given online."""
    survey = get_or_404(Survey, survey_id)
    require(Action.VIEW, survey)
    who = require(Action.ENTER_VALUES, survey)
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        values = request.form.to_dict(flat=False)
        try:
            parsed = parse_answers(db_session(), survey, values)
            save_response(
                db_session(), survey, parsed, channel="paper", today=utcnow().date(),
                entered_by_id=who.user_id, reference=request.form.get("reference"),
            )  # fmt: skip
            after_entry(db_session(), survey)
        except AnswerErrors as exc:
            errors = exc.errors
            status = 400
        except SurveyError as exc:
            errors = {"": str(exc)}
            status = 400
        else:
            flash("Questionnaire papier enregistré. Vous pouvez saisir le suivant.", "success")
            return redirect(url_for("surveys.entry", survey_id=survey.id), 303)
    return (
        render_template(
            "surveys/entry.html",
            survey=survey,
            confirm=ConfirmForm(),
            reference=(values.get("reference") or [""])[0],
            responses=response_count(db_session(), survey.id),
            **question_context(db_session(), survey, values, errors),
        ),
        status,
    )


@bp.get("/<int:survey_id>/modele.xlsx")
def template(survey_id: int) -> ResponseReturnValue:
    survey = get_or_404(Survey, survey_id)
    require(Action.VIEW, survey)
    return xlsx_response(template_workbook(db_session(), survey), f"saisie-enquete-{survey.id}.xlsx")


@bp.route("/<int:survey_id>/import", methods=["GET", "POST"])
def upload(survey_id: int) -> ResponseReturnValue:
    survey = get_or_404(Survey, survey_id)
    require(Action.VIEW, survey)
    who = require(Action.ENTER_VALUES, survey)
    form = UploadForm()
    errors: list[str] = []
    status = 200
    if form.validate_on_submit():
        try:
            report = import_workbook(
                db_session(), survey, form.file.data.read(), user_id=who.user_id, today=utcnow().date()
            )
        except WorkbookError as exc:
            errors = [f"Fichier refusé : {exc}."]
        else:
            if report.errors:
                errors = [str(e) for e in report.errors]
            else:
                flash(f"{report.saved} questionnaire(s) importé(s).", "success")
                return redirect(url_for("surveys.show_results", survey_id=survey.id), 303)
        status = 400
    elif request.method == "POST":
        status = 400
    return render_template("surveys/import.html", survey=survey, form=form, errors=errors), status

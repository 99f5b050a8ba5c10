"""Services and partners, their activities (the offer) and indicators: read pages, and the
versioned edits of the value chain (services, activities, yearly volumes, territories served,
coverage links), by the direction and the administrator."""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3

from models import (
    Activity,
    ActivityKind,
    ActivityNeedCoverage,
    Indicator,
    Need,
    Objective,
    PartnerType,
    Service,
    ServiceKind,
)
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session
from services.coherence import build_coherence
from services.editing import StaleEdit
from services.indicators import indicator_history
from services.nomenclatures import m57_functions
from services.policy import Action, Principal, can
from services.steering import SteeringError
from services.value_chain import (
    ActivityInput,
    CoverageInput,
    DeliveryInput,
    ServiceInput,
    VolumeInput,
    archive_activity,
    create_activity,
    create_service,
    has_history,
    remove_coverage,
    restore_activity,
    save_deliveries,
    save_volumes,
    served_territories,
    set_coverage,
    update_activity,
    update_service,
)
from views.charts import Point, history_svg
from views.lookup import get_or_404
from views.value_chain_forms import (
    BLANK_ROWS,
    NONE,
    ActivityForm,
    CoverageForm,
    DeliveriesForm,
    ServiceDefinitionForm,
    VersionOnlyForm,
    VolumesForm,
)

bp = Blueprint("offer", __name__)
SERVICE_LABELS = {"name": "Nom", "description": "Description", "kind": "Nature", "partner_type": "Type"}
ACTIVITY_LABELS = {
    "name": "Nom",
    "output_unit": "Unité",
    "volume": "Volume annuel",
    "capacity": "Capacité",
    "unit_cost": "Coût unitaire",
    "archived_at": "Archivée le",
}
VOLUME_LABELS = {"planned_volume": "Prévu", "actual_volume": "Réalisé"}


def _m57_choices() -> list[SelectChoice]:
    return [NONE, *(SelectChoice(f.code, f"{f.code} — {f.label}") for f in m57_functions() if f.level >= 2)]


def _show_error(form: Any, exc: SteeringError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, str(exc)] if isinstance(field.errors, list) else [str(exc)]
    else:
        flash(str(exc), "error")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "", "None") else None
    except (TypeError, ValueError):
        return None


# -- services and partners ---------------------------------------------------------------------------
@bp.get("/services")
def services() -> ResponseReturnValue:
    who = require(Action.VIEW)
    rows = db_session().scalars(
        select(Service)
        .where(Service.organisation_id == who.organisation_id)
        .order_by(Service.kind, Service.name)
    )
    return render_template(
        "offer/services.html",
        services=list(rows),
        can_create=can(who, Action.CREATE, Service(organisation_id=who.organisation_id)),
    )


def _service_form(form: ServiceDefinitionForm) -> None:
    form.m57_function.choices = _m57_choices()


def _service_input(form: ServiceDefinitionForm, current: Service | None) -> ServiceInput:
    """What the form says; a post of the name and description only (the older form, the API's
    clients) keeps the rest as it is."""
    if current is not None and "kind" not in request.form:
        return ServiceInput(
            name=form.name.data or "",
            kind=current.kind,
            partner_type=current.partner_type,
            code=current.code,
            m57_function=current.m57_function,
            is_support=current.is_support,
            description=form.description.data,
        )
    return ServiceInput(
        name=form.name.data or "",
        kind=ServiceKind(form.kind.data),
        partner_type=PartnerType(form.partner_type.data) if form.partner_type.data else None,
        code=form.code.data or "",
        m57_function=form.m57_function.data or None,
        is_support=bool(form.is_support.data),
        description=form.description.data,
    )


@bp.route("/services/nouveau", methods=["GET", "POST"])
def create_service_page() -> ResponseReturnValue:
    who = require(Action.CREATE, Service(organisation_id=require(Action.VIEW).organisation_id))
    form = ServiceDefinitionForm()
    _service_form(form)
    if request.method == "GET":
        form.version.data = 0
        form.kind.data = request.args.get("nature", ServiceKind.OWN.value)
    if form.validate_on_submit():
        try:
            service = create_service(db_session(), who, _service_input(form, None))
        except SteeringError as exc:
            _show_error(form, exc)
        else:
            flash(f"« {service.name} » créé.", "success")
            return redirect(url_for("offer.service", service_id=service.id), 303)
    return render_template(
        "offer/service_form.html", form=form, service=None
    ), 400 if request.method == "POST" else 200


@bp.route("/services/<int:service_id>", methods=["GET", "POST"])
def service(service_id: int) -> ResponseReturnValue:
    item = get_or_404(Service, service_id)
    who = require(Action.VIEW, item)
    editable = can(who, Action.EDIT, item)
    form = ServiceDefinitionForm(obj=item if request.method == "GET" else None)
    _service_form(form)
    if request.method == "GET":
        form.kind.data = item.kind.value
        form.partner_type.data = item.partner_type.value if item.partner_type else ""
        form.m57_function.data = item.m57_function or ""
    status = 200
    if request.method == "POST":
        require(Action.EDIT, item)
        if "kind" not in request.form:  # the name and description only: the rest stays
            form.kind.data = item.kind.value
            form.partner_type.data = item.partner_type.value if item.partner_type else ""
        if form.validate_on_submit():
            try:
                changed = update_service(
                    db_session(), who, item, _service_input(form, item), int(form.version.data or 0)
                )
            except StaleEdit as stale:
                flash(stale.message(SERVICE_LABELS), "error")
                form.version.data = stale.current_version
                status = 409
            except SteeringError as exc:
                _show_error(form, exc)
                status = 400
            else:
                flash("Service enregistré." if changed else "Aucune modification.", "success")
                return redirect(url_for("offer.service", service_id=item.id), 303)
        else:
            status = 400
    indicators = db_session().scalars(
        select(Indicator).where(Indicator.service_id == item.id).order_by(Indicator.label)
    )
    visible = [i for i in indicators if can(who, Action.VIEW, i)]
    activities = (
        db_session()
        .scalars(
            select(Activity)
            .where(Activity.service_id == item.id)
            .order_by(Activity.archived_at.is_not(None), Activity.name)
        )
        .all()
    )
    return render_template(
        "offer/service.html",
        service=item,
        form=form,
        editable=editable,
        indicators=visible,
        activities=activities,
        can_create_activity=can(who, Action.CREATE, Activity(organisation_id=who.organisation_id)),
    ), status


# -- activities --------------------------------------------------------------------------------------
@bp.get("/activites")
def activities() -> ResponseReturnValue:
    who = require(Action.VIEW)
    archived = request.args.get("archivees") == "1"
    query = (
        select(Activity, Service)
        .join(Service, Service.id == Activity.service_id)
        .where(Activity.organisation_id == who.organisation_id)
        .order_by(Service.name, Activity.name)
    )
    if not archived:
        query = query.where(Activity.archived_at.is_(None))
    return render_template(
        "offer/activities.html",
        rows=db_session().execute(query).all(),
        archived=archived,
        can_create=can(who, Action.CREATE, Activity(organisation_id=who.organisation_id)),
    )


def _activity_choices(who: Principal, form: ActivityForm) -> None:
    services = db_session().scalars(
        select(Service)
        .where(Service.organisation_id == who.organisation_id)
        .order_by(Service.kind, Service.name)
    )
    form.service_id.choices = [
        NONE,
        *(
            SelectChoice(str(s.id), s.name + (" (partenaire)" if s.kind is ServiceKind.PARTNER else ""))
            for s in services
        ),
    ]
    form.m57_function.choices = _m57_choices()


def _activity_input(form: ActivityForm) -> ActivityInput:
    from decimal import Decimal

    return ActivityInput(
        service_id=_int(form.service_id.data),
        name=form.name.data or "",
        output_unit=form.output_unit.data or "",
        code=form.code.data or "",
        description=form.description.data,
        kind=ActivityKind(form.kind.data),
        unit_cost=form.unit_cost.data,
        fixed_cost=form.fixed_cost.data or Decimal("0"),
        capacity=form.capacity.data,
        volume=form.volume.data,
        beneficiaries=None if form.beneficiaries.data is None else int(form.beneficiaries.data),
        min_volume=float(form.min_volume.data or 0),
        staff_etp=Decimal(str(form.staff_etp.data or 0)),
        m57_function=form.m57_function.data or None,
    )


@bp.route("/activites/nouvelle", methods=["GET", "POST"])
def create_activity_page() -> ResponseReturnValue:
    who = require(Action.CREATE, Activity(organisation_id=require(Action.VIEW).organisation_id))
    form = ActivityForm()
    _activity_choices(who, form)
    if request.method == "GET":
        form.service_id.data = request.args.get("service", "")
        form.kind.data = ActivityKind.OPTIONAL.value
        service = db_session().get(Service, _int(form.service_id.data) or 0)
        if service is not None and service.organisation_id == who.organisation_id:
            form.m57_function.data = service.m57_function or ""
    if form.validate_on_submit():
        try:
            activity = create_activity(db_session(), who, _activity_input(form))
        except SteeringError as exc:
            _show_error(form, exc)
        else:
            flash(
                f"Activité « {activity.name} » créée : indiquez ses volumes, ses territoires et les besoins "
                "qu'elle couvre.",
                "success",
            )
            return redirect(url_for("offer.activity", activity_id=activity.id), 303)
    return render_template("offer/activity_new.html", form=form), 400 if request.method == "POST" else 200


def _volumes_form(activity: Activity, formdata: bool = False) -> VolumesForm:
    form = VolumesForm(formdata=None) if not formdata else VolumesForm()
    if not formdata:
        for volume in activity.volumes:
            form.rows.append_entry(
                {
                    "year": volume.year,
                    "planned": volume.planned_volume,
                    "actual": volume.actual_volume,
                    "version": volume.version,
                }
            )
        last = max((v.year for v in activity.volumes), default=utcnow().year - 1)
        for offset in range(1, BLANK_ROWS + 1):
            form.rows.append_entry({"year": None if offset > 1 else last + 1})
    return form


def _deliveries_form(activity: Activity, territories: list[Any], formdata: bool = False) -> DeliveriesForm:
    form = DeliveriesForm(formdata=None) if not formdata else DeliveriesForm()
    if not formdata:
        form.scope.data = "list" if activity.deliveries else "all"
        for delivery in sorted(activity.deliveries, key=lambda d: -d.share):
            form.rows.append_entry({"territory_id": str(delivery.territory_id), "share": delivery.share})
        for _ in range(BLANK_ROWS):
            form.rows.append_entry({})
        form.version.data = activity.version
    choices = [
        NONE,
        *(
            SelectChoice(
                str(t.id),
                f"{t.name} ({t.kind.value.upper() if t.kind.value == 'iris' else t.kind.value} {t.code})",
            )
            for t in territories
        ),
    ]
    for row in form.rows:
        row.form.territory_id.choices = choices
    return form


def _coverage_form(who: Principal, activity: Activity, formdata: bool = False) -> CoverageForm:
    form = CoverageForm() if formdata else CoverageForm(formdata=None)
    needs = db_session().scalars(
        select(Need).where(Need.organisation_id == who.organisation_id).order_by(Need.label)
    )
    form.other_id.choices = [NONE, *(SelectChoice(str(n.id), n.label) for n in needs)]
    form.other_id.label.text = "Besoin couvert"
    if not formdata:
        form.version.data = activity.version
        wanted = _int(request.args.get("besoin"))
        link = db_session().get(ActivityNeedCoverage, (activity.id, wanted)) if wanted else None
        if link is not None:
            form.other_id.data = str(link.need_id)
            form.coefficient.data = link.coefficient
            form.share.data = link.share
            form.note.data = link.note
    return form


def _links(who: Principal, activity: Activity) -> list[dict[str, Any]]:
    """The activity's coverage links with the share of its output the coverage model counts
    for each need (masked with the need's figures when they are secret)."""
    view = build_coherence(db_session(), who.organisation_id)
    shares = view.activity_shares
    mine = shares[shares["activity_id"] == activity.id].set_index("need_id") if len(shares) else shares
    rows = (
        db_session()
        .execute(
            select(ActivityNeedCoverage, Need)
            .join(Need, Need.id == ActivityNeedCoverage.need_id)
            .where(ActivityNeedCoverage.activity_id == activity.id)
            .order_by(Need.label)
        )
        .all()
    )
    out = []
    for link, need in rows:
        disclosure = getattr(view, "disclosure", None)  # statistical secrecy, when the organisation has it
        hidden = disclosure is not None and bool(disclosure.need_figures(need.id))
        known = not hidden and need.id in mine.index
        counted = float(cast(float, mine.at[need.id, "cost_share"])) if known else None
        persons = float(cast(float, mine.at[need.id, "persons"])) if known else None
        out.append({"link": link, "need": need, "counted": counted, "persons": persons, "masked": hidden})
    return out


def _activity_page(
    who: Principal, activity: Activity, status: int = 200, **forms: Any
) -> ResponseReturnValue:
    territories = served_territories(db_session(), who.organisation_id)
    definition = forms.get("definition")
    if definition is None:
        definition = ActivityForm(formdata=None, obj=activity)
        _activity_choices(who, definition)
        definition.service_id.data = str(activity.service_id)
        definition.kind.data = activity.kind.value
        definition.m57_function.data = activity.m57_function or ""
        definition.version.data = activity.version
    service = db_session().get(Service, activity.service_id)
    return render_template(
        "offer/activity.html",
        activity=activity,
        service=service,
        form=definition,
        volumes=forms.get("volumes") or _volumes_form(activity),
        deliveries=forms.get("deliveries") or _deliveries_form(activity, territories),
        coverage=forms.get("coverage") or _coverage_form(who, activity),
        links=_links(who, activity),
        history=has_history(db_session(), activity),
        territory_names={t.id: t.name for t in territories},
        editable=can(who, Action.EDIT, activity),
    ), status


def _editing(activity_id: int) -> tuple[Principal, Activity]:
    activity = get_or_404(Activity, activity_id)
    require(Action.VIEW, activity)
    return require(Action.EDIT, activity), activity


@bp.route("/activites/<int:activity_id>", methods=["GET", "POST"])
def activity(activity_id: int) -> ResponseReturnValue:
    item = get_or_404(Activity, activity_id)
    who = require(Action.VIEW, item)
    if request.method == "GET":
        return _activity_page(who, item)
    require(Action.EDIT, item)
    form = ActivityForm()
    _activity_choices(who, form)
    if form.validate_on_submit():
        try:
            changed = update_activity(
                db_session(), who, item, _activity_input(form), int(form.version.data or 0)
            )
        except StaleEdit as stale:
            flash(stale.message(ACTIVITY_LABELS), "error")
            form.version.data = stale.current_version
            return _activity_page(who, item, 409, definition=form)
        except SteeringError as exc:
            _show_error(form, exc)
        else:
            flash("Activité enregistrée." if changed else "Aucune modification.", "success")
            return redirect(url_for("offer.activity", activity_id=item.id), 303)
    return _activity_page(who, item, 400, definition=form)


@bp.post("/activites/<int:activity_id>/volumes")
def activity_volumes(activity_id: int) -> ResponseReturnValue:
    who, item = _editing(activity_id)
    form = _volumes_form(item, formdata=True)
    if not form.validate_on_submit():
        return _activity_page(who, item, 400, volumes=form)
    rows = []
    for entry in form.rows:
        row = entry.form
        if row.year.data is None:
            if row.planned.data is not None or row.actual.data is not None:
                row.year.errors = ["Année manquante pour ces volumes."]
                return _activity_page(who, item, 400, volumes=form)
            continue
        rows.append(
            VolumeInput(
                year=int(row.year.data),
                planned=row.planned.data,
                actual=row.actual.data,
                version=row.version.data,
                delete=bool(row.delete.data),
            )
        )
    try:
        changed = save_volumes(db_session(), who, item, rows)
    except StaleEdit as stale:
        flash(stale.message(VOLUME_LABELS), "error")
        return _activity_page(who, item, 409, volumes=_volumes_form(item))
    except SteeringError as exc:
        flash(f"Volumes par année : {exc}", "error")
        return _activity_page(who, item, 400, volumes=form)
    flash(
        f"Volumes enregistrés : {changed} année(s) modifiée(s)." if changed else "Aucune modification.",
        "success",
    )
    return redirect(url_for("offer.activity", activity_id=item.id, _anchor="volumes"), 303)


@bp.post("/activites/<int:activity_id>/territoires")
def activity_deliveries(activity_id: int) -> ResponseReturnValue:
    who, item = _editing(activity_id)
    territories = served_territories(db_session(), who.organisation_id)
    form = _deliveries_form(item, territories, formdata=True)
    if not form.validate_on_submit():
        return _activity_page(who, item, 400, deliveries=form)
    rows: list[DeliveryInput] | None = None
    if form.scope.data == "list":
        rows = []
        for number, entry in enumerate(form.rows, start=1):
            row = entry.form
            territory_id = _int(row.territory_id.data)
            if territory_id is None and row.share.data is None:
                continue
            if territory_id is None:
                row.territory_id.errors = [f"Ligne {number} : choisissez le territoire de cette part."]
                return _activity_page(who, item, 400, deliveries=form)
            if row.share.data is None:
                row.share.errors = [f"Ligne {number} : indiquez la part livrée dans ce territoire."]
                return _activity_page(who, item, 400, deliveries=form)
            rows.append(DeliveryInput(territory_id, float(row.share.data)))
    try:
        changed = save_deliveries(db_session(), who, item, int(form.version.data or 0), rows)
    except StaleEdit as stale:
        flash(stale.message(ACTIVITY_LABELS) + " (territoires desservis)", "error")
        return _activity_page(who, item, 409)
    except SteeringError as exc:
        flash(f"Territoires desservis : {exc}", "error")
        return _activity_page(who, item, 400, deliveries=form)
    flash("Territoires desservis enregistrés." if changed else "Aucune modification.", "success")
    return redirect(url_for("offer.activity", activity_id=item.id, _anchor="territoires"), 303)


@bp.post("/activites/<int:activity_id>/besoins")
def activity_coverage(activity_id: int) -> ResponseReturnValue:
    who, item = _editing(activity_id)
    form = _coverage_form(who, item, formdata=True)
    if not form.validate_on_submit():
        return _activity_page(who, item, 400, coverage=form)
    need = db_session().get(Need, _int(form.other_id.data) or 0)
    if need is None or need.organisation_id != who.organisation_id:
        form.other_id.errors = ["Choisissez le besoin que l'activité couvre."]
        return _activity_page(who, item, 400, coverage=form)
    try:
        changed = set_coverage(
            db_session(),
            who,
            item,
            need,
            CoverageInput(float(form.coefficient.data), form.share.data, form.note.data),
            page=item,
            version=int(form.version.data or 0),
        )
    except StaleEdit as stale:
        flash(stale.message(ACTIVITY_LABELS) + " (besoins couverts)", "error")
        return _activity_page(who, item, 409)
    except SteeringError as exc:
        _show_error(form, exc)
        return _activity_page(who, item, 400, coverage=form)
    flash(f"Couverture de « {need.label} » enregistrée." if changed else "Aucune modification.", "success")
    return redirect(url_for("offer.activity", activity_id=item.id, _anchor="besoins"), 303)


@bp.post("/activites/<int:activity_id>/besoins/<int:need_id>/retirer")
def activity_coverage_remove(activity_id: int, need_id: int) -> ResponseReturnValue:
    who, item = _editing(activity_id)
    need = get_or_404(Need, need_id)
    require(Action.EDIT, need)
    form = VersionOnlyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        removed = remove_coverage(
            db_session(), who, item, need, page=item, version=int(form.version.data or 0)
        )
    except StaleEdit as stale:
        flash(stale.message(ACTIVITY_LABELS) + " (besoins couverts)", "error")
        return _activity_page(who, item, 409)
    except SteeringError as exc:
        flash(str(exc), "error")
        return _activity_page(who, item, 400)
    flash(
        f"« {need.label} » n'est plus couvert par cette activité." if removed else "Aucune modification.",
        "success",
    )
    return redirect(url_for("offer.activity", activity_id=item.id, _anchor="besoins"), 303)


@bp.post("/activites/<int:activity_id>/archiver")
def archive_activity_page(activity_id: int) -> ResponseReturnValue:
    """Retire an activity (archived when it has history, else deleted), or bring an archived one back."""
    who, item = _editing(activity_id)
    form = VersionOnlyForm()
    if not form.validate_on_submit():
        abort(400)
    version = int(form.version.data or 0)
    name, service_id = item.name, item.service_id
    try:
        if item.archived_at is not None:
            restore_activity(db_session(), who, item, version)
            flash(f"Activité « {name} » rétablie dans l'offre.", "success")
            return redirect(url_for("offer.activity", activity_id=item.id), 303)
        outcome = archive_activity(db_session(), who, item, version, now=utcnow())
    except StaleEdit as stale:
        flash(stale.message(ACTIVITY_LABELS), "error")
        return _activity_page(who, item, 409)
    except SteeringError as exc:
        flash(str(exc), "error")
        return _activity_page(who, item, 400)
    if outcome == "deleted":
        flash(f"Activité « {name} » supprimée (elle n'avait pas d'historique).", "success")
        return redirect(url_for("offer.service", service_id=service_id), 303)
    flash(f"Activité « {name} » archivée : elle quitte l'offre, son historique reste.", "success")
    return redirect(url_for("offer.activity", activity_id=item.id), 303)


# -- indicators ----------------------------------------------------------------------------------------
@bp.get("/indicateurs/<int:indicator_id>")
def indicator(indicator_id: int) -> ResponseReturnValue:
    item = get_or_404(Indicator, indicator_id)
    require(Action.VIEW, item)
    history = indicator_history(db_session(), item)
    chart = history_svg(
        [Point(h.period_key, h.value, h.target, h.band_low, h.band_high) for h in history],
        title=f"{item.label} : valeurs et cibles des {len(history)} dernières périodes",
        unit=item.unit,
    )
    service = db_session().get(Service, item.service_id) if item.service_id else None
    objective = db_session().get(Objective, item.objective_id) if item.objective_id else None
    return render_template(
        "offer/indicator.html",
        indicator=item,
        history=history[::-1],
        chart=chart,
        service=service,
        objective=objective,
    )

"""The JSON API under /api/v1, described by an OpenAPI document, under the same policy.

It uses the session of a signed-in person; state-changing requests carry the CSRF token
(``X-CSRFToken`` header), given by ``GET /api/v1/moi``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from models import Indicator, Measurement, Objective, Period, Service, Target
from models.base import utcnow
from pilotis.auth import require
from pilotis.web import db_session
from services.collection import CollectionError, Entry, collection_grid, save_entries
from services.editing import StaleEdit, apply_edit, last_change
from services.numbers import NumberError, format_number, parse_value
from services.policy import Action, can
from services.scorecard import ScorecardError, build_scorecard, scorecard_json
from views.lookup import get_or_404

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _service_json(service: Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "code": service.code,
        "name": service.name,
        "kind": service.kind.value,
        "partner_type": service.partner_type.value if service.partner_type else None,
        "description": service.description,
        "version": service.version,
    }


def _indicator_json(indicator: Indicator) -> dict[str, Any]:
    return {
        "id": indicator.id,
        "code": indicator.code,
        "label": indicator.label,
        "type": indicator.type.value,
        "unit": indicator.unit,
        "direction": indicator.direction.value,
        "frequency": indicator.frequency.value,
        "perspective": indicator.perspective.value,
        "formula": indicator.formula,
        "service_id": indicator.service_id,
        "version": indicator.version,
    }


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(OPENAPI)


@bp.get("/moi")
def me() -> ResponseReturnValue:
    who = require(Action.VIEW)
    return jsonify(
        id=who.user_id,
        email=who.email,
        full_name=who.full_name,
        role=who.role.value,
        organisation_id=who.organisation_id,
        service_ids=sorted(who.service_ids),
        csrf_token=generate_csrf(),
    )


@bp.get("/services")
def services() -> ResponseReturnValue:
    who = require(Action.VIEW)
    rows = db_session().scalars(
        select(Service).where(Service.organisation_id == who.organisation_id).order_by(Service.code)
    )
    return jsonify([_service_json(s) for s in rows])


@bp.get("/services/<int:service_id>")
def service(service_id: int) -> ResponseReturnValue:
    item = get_or_404(Service, service_id)
    require(Action.VIEW, item)
    return jsonify(_service_json(item))


@bp.patch("/services/<int:service_id>")
def update_service(service_id: int) -> ResponseReturnValue:
    item = get_or_404(Service, service_id)
    require(Action.EDIT, item)
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("version"), int):
        return jsonify(error="Corps JSON attendu avec « version » (entier) et les champs à modifier."), 400
    changes: dict[str, Any] = {}
    for field in ("name", "description"):
        if field in payload:
            value = payload[field]
            if value is not None and not isinstance(value, str):
                return jsonify(error=f"« {field} » doit être une chaîne de caractères."), 400
            changes[field] = value.strip() if isinstance(value, str) else None
    if "name" in changes and not changes["name"]:
        return jsonify(error="« name » ne peut pas être vide."), 400
    unknown = set(payload) - {"version", "name", "description"}
    if unknown:
        return jsonify(error=f"Champs non modifiables : {', '.join(sorted(unknown))}."), 400
    try:
        apply_edit(db_session(), item, payload["version"], changes)
    except StaleEdit as stale:
        return (
            jsonify(
                error=stale.message({"name": "Nom", "description": "Description"}),
                current=stale.current_values,
                version=stale.current_version,
                changed_by=stale.changed_by,
            ),
            409,
        )
    return jsonify(_service_json(item))


@bp.get("/indicators")
def indicators() -> ResponseReturnValue:
    who = require(Action.VIEW)
    rows = db_session().scalars(
        select(Indicator).where(Indicator.organisation_id == who.organisation_id).order_by(Indicator.code)
    )
    return jsonify([_indicator_json(i) for i in rows if can(who, Action.VIEW, i)])


@bp.get("/indicators/<int:indicator_id>")
def indicator(indicator_id: int) -> ResponseReturnValue:
    item = get_or_404(Indicator, indicator_id)
    require(Action.VIEW, item)
    return jsonify(_indicator_json(item))


@bp.get("/objectives")
def objectives() -> ResponseReturnValue:
    who = require(Action.VIEW)
    rows = db_session().scalars(
        select(Objective).where(Objective.organisation_id == who.organisation_id).order_by(Objective.code)
    )
    return jsonify([_objective_json(o) for o in rows if can(who, Action.VIEW, o)])


@bp.get("/objectives/<int:objective_id>")
def objective(objective_id: int) -> ResponseReturnValue:
    item = get_or_404(Objective, objective_id)
    require(Action.VIEW, item)
    return jsonify(_objective_json(item))


def _objective_json(o: Objective) -> dict[str, Any]:
    return {
        "id": o.id,
        "code": o.code,
        "title": o.title,
        "level": o.level.value,
        "perspective": o.perspective.value,
        "parent_id": o.parent_id,
        "service_id": o.service_id,
        "owner_id": o.owner_id,
        "deadline": o.deadline.isoformat() if o.deadline else None,
        "weight": o.weight,
        "status": o.status.value,
        "need_ids": [n.id for n in o.needs],
        "activity_ids": [a.id for a in o.activities],
        "version": o.version,
    }


@bp.get("/indicators/<int:indicator_id>/targets")
def indicator_targets(indicator_id: int) -> ResponseReturnValue:
    item = get_or_404(Indicator, indicator_id)
    require(Action.VIEW, item)
    rows = db_session().execute(
        select(Target, Period.key)
        .join(Period, Period.id == Target.period_id)
        .where(Target.indicator_id == item.id)
        .order_by(Period.start_date)
    )
    return jsonify(
        [
            {
                "period": key,
                "value": t.value,
                "band_low": t.band_low,
                "band_high": t.band_high,
                "threshold_mode": t.threshold_mode.value,
                "amber_tolerance": t.amber_tolerance,
                "red_tolerance": t.red_tolerance,
            }
            for t, key in rows
        ]
    )


@bp.get("/indicators/<int:indicator_id>/measurements")
def indicator_measurements(indicator_id: int) -> ResponseReturnValue:
    item = get_or_404(Indicator, indicator_id)
    require(Action.VIEW, item)
    rows = db_session().execute(
        select(Measurement, Period.key)
        .join(Period, Period.id == Measurement.period_id)
        .where(Measurement.indicator_id == item.id)
        .order_by(Period.start_date)
    )
    return jsonify(
        [
            {
                "id": m.id,
                "period": key,
                "territory_id": m.territory_id,
                "value": m.value,
                "comment": m.comment,
                "state": m.state.value,
                "version": m.version,
            }
            for m, key in rows
        ]
    )


MEASUREMENT_FIELDS = ("value", "comment", "state")


def _measurement_state(measurement: Measurement | None) -> dict[str, Any]:
    if measurement is None:
        return {"value": None, "comment": None, "state": None}
    return {"value": measurement.value, "comment": measurement.comment, "state": measurement.state.value}


def _measurement_conflict(measurement: Measurement | None, error: str) -> ResponseReturnValue:
    """409: the value moved on since it was read; its current state and version, as the
    services' conflict (``PATCH /services``) says them."""
    changed_by = None
    if measurement is not None:
        changed_by, _ = last_change(db_session(), Measurement.__tablename__, str(measurement.id))
    return jsonify(
        error=error,
        current=_measurement_state(measurement),
        version=measurement.version if measurement else None,
        changed_by=changed_by,
        status=409,
    ), 409


def _version_refused(payload: dict[str, Any], measurement: Measurement | None) -> ResponseReturnValue | None:
    """The 400 that refuses a write without the version read (an integer, or ``null`` for none)."""
    if "version" not in payload:
        if measurement is None:
            now = "aucune valeur n'est encore saisie pour cette période : envoyez « version »: null"
        else:
            now = (
                f"la version actuelle de cette valeur est {measurement.version} (valeur "
                f"{'—' if measurement.value is None else format_number(measurement.value, None)}) : relisez-la, "
                "puis renvoyez votre modification avec « version »"
            )
        return jsonify(
            error=f"Le champ « version » est obligatoire (la version de la valeur lue) ; {now}.",
            version=measurement.version if measurement else None,
            current=_measurement_state(measurement),
            status=400,
        ), 400
    version = payload["version"]
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        return jsonify(
            error="« version » doit être un entier (la version lue), ou null pour une première valeur.",
            status=400,
        ), 400
    return None


@bp.post("/measurements")
def enter_measurement() -> ResponseReturnValue:
    """Enter (or correct) one value, by the rules of the entry grid; ``submit`` sends it on.

    The body carries the ``version`` of the value read (``null`` when there was none): a write
    without it is refused (400), a write on an older version is refused (409, with the current
    value), so that two read-modify-write clients never overwrite each other silently.
    """
    who = require(Action.ENTER_VALUES)
    payload = request.get_json(silent=True)
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("indicator_id"), int)
        or not payload.get("period")
    ):
        return jsonify(
            error="Corps JSON attendu : indicator_id (entier), period, version (celle de la valeur lue, null "
            "s'il n'y en a pas), value, et comment, submit."
        ), 400
    indicator = get_or_404(Indicator, payload["indicator_id"])
    require(Action.EDIT, indicator)
    try:
        grid = collection_grid(db_session(), who, indicator.service_id or 0, str(payload["period"]))
    except CollectionError as exc:
        return jsonify(error=str(exc)), 400
    row = next((r for r in grid.rows if r.indicator.id == indicator.id), None)
    current = row.measurement if row else None
    refused = _version_refused(payload, current)
    if refused is not None:
        return refused
    version: int | None = payload["version"]
    if current is not None and version is None:
        return _measurement_conflict(
            current,
            "Une valeur a été saisie entre-temps pour cette période : relisez-la avant de la modifier.",
        )
    if current is not None and version is not None and version != current.version:
        return _measurement_conflict(
            current,
            f"Cette valeur a été modifiée entre-temps (version {current.version}, vous avez lu la "
            f"version {version}) : relisez-la, puis refaites votre modification.",
        )
    if current is None and version is not None and row is not None:
        return _measurement_conflict(
            None, "La valeur lue n'existe plus (supprimée entre-temps) : relisez-la."
        )
    value = payload.get("value")
    if isinstance(value, bool) or (value is not None and not isinstance(value, (int, float, str))):
        return jsonify(error="« value » doit être un nombre (ou un texte au format français)."), 400
    if value is not None and not (isinstance(value, str) and not value.strip()):
        try:
            value = parse_value(value, indicator.unit)
        except NumberError as exc:
            return jsonify(error=f"{str(exc)[0].upper()}{str(exc)[1:]}."), 400
    entry = Entry(
        value="" if value is None else value, comment=str(payload.get("comment") or ""), version=version
    )
    try:
        result = save_entries(
            db_session(), who, grid, {indicator.id: entry}, submit=bool(payload.get("submit")), now=utcnow()
        )
    except IntegrityError:  # PostgreSQL: another first value of this period was inserted meanwhile
        db_session().rollback()
        return _measurement_conflict(
            db_session().get(Measurement, _measurement_id(indicator.id, grid.period.id)),
            "Une valeur a été saisie entre-temps pour cette période : relisez-la avant de la modifier.",
        )
    if result.errors:
        message = next(iter(result.errors.values()))
        if "entre-temps" in message:
            return _measurement_conflict(
                current
                if current is not None
                else db_session().get(Measurement, _measurement_id(indicator.id, grid.period.id)),
                message,
            )
        return jsonify(error=message), 400
    measurement = row.measurement if row else None
    return jsonify(
        id=measurement.id if measurement else None,
        value=measurement.value if measurement else None,
        state=measurement.state.value if measurement else None,
        version=measurement.version if measurement else None,
    )


def _measurement_id(indicator_id: int, period_id: int) -> int:
    found = db_session().scalar(
        select(Measurement.id).where(
            Measurement.indicator_id == indicator_id,
            Measurement.period_id == period_id,
            Measurement.territory_id.is_(None),
        )
    )
    return found or 0


@bp.get("/scorecard")
def scorecard() -> ResponseReturnValue:
    who = require(Action.VIEW)
    period = request.args.get("period", "")
    if not period:
        return jsonify(error="Paramètre « period » obligatoire (AAAA-MM, AAAA-T1…, AAAA)."), 400
    try:
        view = build_scorecard(
            db_session(),
            who,
            period,
            service_id=request.args.get("service", type=int),
            territory_id=request.args.get("territory", type=int),
        )
    except ScorecardError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(scorecard_json(view))


_ERROR = {"$ref": "#/components/schemas/Error"}
_RESPONSES_READ = {
    "401": {"description": "Connexion requise", "content": {"application/json": {"schema": _ERROR}}},
    "403": {"description": "Droits insuffisants", "content": {"application/json": {"schema": _ERROR}}},
    "404": {
        "description": "Introuvable (ou d'une autre organisation)",
        "content": {"application/json": {"schema": _ERROR}},
    },
}


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Pilotis API",
        "version": "1",
        "description": "API de Pilotis. Authentification par la session ; en écriture, en-tête X-CSRFToken.",
    },
    "servers": [{"url": "/api/v1"}],
    "paths": {
        "/moi": {
            "get": {
                "summary": "La personne connectée",
                "responses": {
                    "200": _ok({"$ref": "#/components/schemas/Me"}, "La personne"),
                    **_RESPONSES_READ,
                },
            }
        },
        "/services": {
            "get": {
                "summary": "Services de l'organisation",
                "responses": {
                    "200": _ok(
                        {"type": "array", "items": {"$ref": "#/components/schemas/Service"}}, "Les services"
                    ),
                    **_RESPONSES_READ,
                },
            }
        },
        "/services/{service_id}": {
            "parameters": [
                {"name": "service_id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "get": {
                "summary": "Un service",
                "responses": {
                    "200": _ok({"$ref": "#/components/schemas/Service"}, "Le service"),
                    **_RESPONSES_READ,
                },
            },
            "patch": {
                "summary": "Modifier un service (avec la version lue)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ServicePatch"}}
                    },
                },
                "responses": {
                    "200": _ok({"$ref": "#/components/schemas/Service"}, "Le service modifié"),
                    "400": _ok(_ERROR, "Corps invalide"),
                    "409": _ok(
                        {"$ref": "#/components/schemas/Conflict"}, "Modifié entre-temps : valeurs actuelles"
                    ),
                    **_RESPONSES_READ,
                },
            },
        },
        "/indicators": {
            "get": {
                "summary": "Indicateurs visibles",
                "responses": {
                    "200": _ok(
                        {"type": "array", "items": {"$ref": "#/components/schemas/Indicator"}},
                        "Les indicateurs",
                    ),
                    **_RESPONSES_READ,
                },
            }
        },
        "/indicators/{indicator_id}": {
            "parameters": [
                {"name": "indicator_id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "get": {
                "summary": "Un indicateur",
                "responses": {
                    "200": _ok({"$ref": "#/components/schemas/Indicator"}, "L'indicateur"),
                    **_RESPONSES_READ,
                },
            },
        },
        "/openapi.json": {
            "get": {"summary": "Ce document", "responses": {"200": {"description": "OpenAPI 3.1"}}}
        },
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                "required": ["error"],
            },
            "Me": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "email": {"type": "string"},
                    "full_name": {"type": "string"},
                    "role": {"type": "string"},
                    "organisation_id": {"type": "integer"},
                    "service_ids": {"type": "array", "items": {"type": "integer"}},
                    "csrf_token": {"type": "string"},
                },
            },
            "Service": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "code": {"type": "string"},
                    "name": {"type": "string"},
                    "kind": {"enum": ["own", "partner"]},
                    "partner_type": {"type": ["string", "null"]},
                    "description": {"type": ["string", "null"]},
                    "version": {"type": "integer"},
                },
            },
            "ServicePatch": {
                "type": "object",
                "properties": {
                    "version": {"type": "integer"},
                    "name": {"type": "string"},
                    "description": {"type": ["string", "null"]},
                },
                "required": ["version"],
                "additionalProperties": False,
            },
            "Conflict": {
                "type": "object",
                "properties": {
                    "error": {"type": "string"},
                    "current": {"type": "object"},
                    "version": {"type": "integer"},
                    "changed_by": {"type": ["string", "null"]},
                },
            },
            "Indicator": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "code": {"type": "string"},
                    "label": {"type": "string"},
                    "type": {"type": "string"},
                    "unit": {"type": "string"},
                    "direction": {"enum": ["higher", "lower", "band"]},
                    "frequency": {"enum": ["monthly", "quarterly", "yearly"]},
                    "perspective": {"type": "string"},
                    "formula": {"type": ["string", "null"]},
                    "service_id": {"type": ["integer", "null"]},
                    "version": {"type": "integer"},
                },
            },
        }
    },
}

_ID = {"type": "integer"}


def _path_param(name: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": _ID}]


def _list_of(schema: str, description: str) -> dict[str, Any]:
    return _ok({"type": "array", "items": {"$ref": f"#/components/schemas/{schema}"}}, description)


OPENAPI["paths"].update(
    {
        "/objectives": {
            "get": {
                "summary": "Objectifs visibles",
                "responses": {"200": _list_of("Objective", "Les objectifs"), **_RESPONSES_READ},
            }
        },
        "/objectives/{objective_id}": {
            "parameters": _path_param("objective_id"),
            "get": {
                "summary": "Un objectif",
                "responses": {
                    "200": _ok({"$ref": "#/components/schemas/Objective"}, "L'objectif"),
                    **_RESPONSES_READ,
                },
            },
        },
        "/indicators/{indicator_id}/targets": {
            "parameters": _path_param("indicator_id"),
            "get": {
                "summary": "Cibles d'un indicateur",
                "responses": {"200": _list_of("Target", "Les cibles"), **_RESPONSES_READ},
            },
        },
        "/indicators/{indicator_id}/measurements": {
            "parameters": _path_param("indicator_id"),
            "get": {
                "summary": "Valeurs d'un indicateur",
                "responses": {"200": _list_of("Measurement", "Les valeurs"), **_RESPONSES_READ},
            },
        },
        "/measurements": {
            "post": {
                "summary": "Saisir une valeur (mêmes règles que la grille de saisie)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/MeasurementEntry"}}
                    },
                },
                "responses": {
                    "200": _ok({"$ref": "#/components/schemas/Measurement"}, "La valeur enregistrée"),
                    "400": _ok(
                        _ERROR, "Valeur refusée, ou « version » absente (la version actuelle est dite)"
                    ),
                    "409": _ok(
                        {"$ref": "#/components/schemas/Conflict"}, "Modifiée entre-temps : valeur actuelle"
                    ),
                    **_RESPONSES_READ,
                },
            }
        },
        "/scorecard": {
            "get": {
                "summary": "Tableau de bord calculé d'une période",
                "parameters": [
                    {"name": "period", "in": "query", "required": True, "schema": {"type": "string"}},
                    {"name": "service", "in": "query", "schema": _ID},
                    {"name": "territory", "in": "query", "schema": _ID},
                ],
                "responses": {
                    "200": _ok({"type": "object"}, "Le tableau de bord (statuts, tendances, agrégats)"),
                    "400": _ok(_ERROR, "Période ou filtre invalide"),
                    **_RESPONSES_READ,
                },
            }
        },
    }
)
OPENAPI["components"]["schemas"].update(
    {
        "Objective": {
            "type": "object",
            "properties": {
                "id": _ID,
                "code": {"type": "string"},
                "title": {"type": "string"},
                "level": {"enum": ["strategic", "operational"]},
                "perspective": {"type": "string"},
                "parent_id": {"type": ["integer", "null"]},
                "service_id": {"type": ["integer", "null"]},
                "status": {"enum": ["active", "closed"]},
                "weight": {"type": "number"},
                "version": _ID,
            },
        },
        "Target": {
            "type": "object",
            "properties": {
                "period": {"type": "string"},
                "value": {"type": ["number", "null"]},
                "band_low": {"type": ["number", "null"]},
                "band_high": {"type": ["number", "null"]},
                "threshold_mode": {"enum": ["relative", "absolute"]},
                "amber_tolerance": {"type": "number"},
                "red_tolerance": {"type": "number"},
            },
        },
        "Measurement": {
            "type": "object",
            "properties": {
                "id": {"type": ["integer", "null"]},
                "period": {"type": "string"},
                "value": {"type": ["number", "null"]},
                "comment": {"type": ["string", "null"]},
                "state": {"enum": ["draft", "submitted", "validated", "returned"]},
                "version": {"type": ["integer", "null"]},
            },
        },
        "MeasurementEntry": {
            "type": "object",
            "required": ["indicator_id", "period", "version"],
            "properties": {
                "indicator_id": _ID,
                "period": {"type": "string"},
                "value": {"type": ["number", "string", "null"]},
                "comment": {"type": "string"},
                "version": {
                    "type": ["integer", "null"],
                    "description": "Version de la valeur lue (null : aucune valeur lue pour cette période). "
                    "Obligatoire : sans elle, 400 ; plus ancienne que l'actuelle, 409 avec la valeur actuelle.",
                },
                "submit": {"type": "boolean"},
            },
        },
    }
)

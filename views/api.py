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

from models import Indicator, Service
from pilotis.auth import require
from pilotis.web import db_session
from services.editing import StaleEdit, apply_edit
from services.policy import Action, can
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

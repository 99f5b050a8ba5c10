"""The API skeleton: its OpenAPI document describes every route, and errors are JSON in French."""

from __future__ import annotations

import re


def test_every_api_route_is_in_the_openapi_document(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    described = {
        (re.sub(r"\{[^}]+\}", "{}", path), method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    routed = {
        (re.sub(r"<[^>]+>", "{}", rule.rule.removeprefix("/api/v1")), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routed == described


def test_api_errors_are_json_in_french(client, login_as):
    anonymous = client.get("/api/v1/services")
    assert anonymous.status_code == 401 and anonymous.get_json()["error"] == "Authentification requise."
    missing = login_as("direction").get("/api/v1/services/987654321")
    assert missing.status_code == 404 and "n'existe pas" in missing.get_json()["error"]

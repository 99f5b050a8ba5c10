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


def test_the_scorecard_api_gives_the_computed_statuses(login_as):
    body = login_as("elu").get("/api/v1/scorecard?period=2025-T4").get_json()
    assert body["period"] == "2025-T4" and body["indicators"] == 49
    assert {p["perspective"] for p in body["perspectives"]} == {"users", "finance", "processes", "learning"}
    assert login_as("elu").get("/api/v1/scorecard?period=2025-T9").status_code == 400
    manager = login_as("responsable.seniors").get("/api/v1/scorecard?period=2025-T4").get_json()
    assert manager["indicators"] < 45  # their services only


def test_objectives_and_targets_follow_the_scope(login_as):
    manager = login_as("responsable.seniors")
    codes = {o["code"] for o in manager.get("/api/v1/objectives").get_json()}
    assert "OO1.1" in codes and "OO2.1" not in codes
    indicator = manager.get("/api/v1/indicators").get_json()[0]["id"]
    assert manager.get(f"/api/v1/indicators/{indicator}/targets").get_json()
    assert manager.get(f"/api/v1/indicators/{indicator}/measurements").get_json()


def test_entering_a_value_through_the_api(login_as, engine, demo):
    from sqlalchemy import delete, select

    from models import Indicator, Measurement, Period
    from pilotis.database import write_session

    with write_session(engine) as session:
        indicator = session.scalar(select(Indicator).where(Indicator.organisation_id == demo.organisation_id,
                                                           Indicator.code == "repas_livres"))  # fmt: skip
        period = session.scalar(
            select(Period).where(Period.organisation_id == demo.organisation_id, Period.key == "2026-11")
        )
        ids = (indicator.id, period.id)
    manager = login_as("responsable.seniors")
    token = manager.get("/api/v1/moi").get_json()["csrf_token"]
    headers = {"X-CSRFToken": token}
    bad = manager.post(
        "/api/v1/measurements",
        json={"indicator_id": ids[0], "period": "2026-11", "value": "1.234,5", "version": None},
        headers=headers,
    )
    assert bad.status_code == 400 and "mélange point et virgule" in bad.get_json()["error"]
    first = manager.post(
        "/api/v1/measurements",
        json={"indicator_id": ids[0], "period": "2026-11", "value": "3 120", "version": None},
        headers=headers,
    )
    assert (
        first.status_code == 200
        and first.get_json()["value"] == 3120
        and first.get_json()["state"] == "draft"
    )
    version = first.get_json()["version"]
    second = manager.post("/api/v1/measurements", json={"indicator_id": ids[0], "period": "2026-11", "value": 3130,
                                                        "version": version}, headers=headers)  # fmt: skip
    assert second.status_code == 200
    stale = manager.post("/api/v1/measurements", json={"indicator_id": ids[0], "period": "2026-11", "value": 3140,
                                                       "version": version}, headers=headers)  # fmt: skip
    assert stale.status_code == 409 and "entre-temps" in stale.get_json()["error"]
    reader = login_as("partenaire")
    refused = reader.post("/api/v1/measurements", json={"indicator_id": ids[0], "period": "2026-11", "value": 1},
                          headers={"X-CSRFToken": reader.get("/api/v1/moi").get_json()["csrf_token"]})  # fmt: skip
    assert refused.status_code == 403
    with write_session(engine) as session:
        session.execute(
            delete(Measurement).where(Measurement.indicator_id == ids[0], Measurement.period_id == ids[1])
        )

"""Editing shared rows: stale edits get 409 with the other person's value; scope is enforced."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Indicator, Service
from pilotis.database import write_session
from tests.conftest import csrf_token


@pytest.fixture
def caf_service(engine, demo):
    with write_session(engine) as session:
        service = session.scalar(
            select(Service).where(Service.organisation_id == demo.organisation_id, Service.code == "CAF")
        )
        original = (service.id, service.name, service.description)
    yield original[0]
    with write_session(engine) as session:
        service = session.get(Service, original[0])
        service.name, service.description = original[1], original[2]


def _edit_form(client, service_id):
    page = client.get(f"/services/{service_id}").get_data(as_text=True)
    version = int(page.split('name="version" type="hidden" value="')[1].split('"')[0])
    return csrf_token(page), version


def test_a_stale_page_edit_is_refused_with_the_other_value(login_as, caf_service, engine):
    alice, bob = login_as("direction"), login_as("admin")
    alice_token, version = _edit_form(alice, caf_service)
    bob_token, same_version = _edit_form(bob, caf_service)
    assert version == same_version
    saved = bob.post(
        f"/services/{caf_service}",
        data={"csrf_token": bob_token, "name": "CAF de l'Aude", "version": version},
    )
    assert saved.status_code == 303
    stale = alice.post(
        f"/services/{caf_service}", data={"csrf_token": alice_token, "name": "CAF 11", "version": version}
    )
    assert stale.status_code == 409
    page = stale.get_data(as_text=True)
    assert "modifiée entre-temps par Alex Martin" in page
    assert "CAF de l&#39;Aude" in page  # the other person's value is shown
    with write_session(engine) as session:
        assert session.get(Service, caf_service).name == "CAF de l'Aude"


def test_a_stale_api_edit_gets_409_with_the_current_values(login_as, caf_service):
    client = login_as("direction")
    token = client.get("/api/v1/moi").get_json()["csrf_token"]
    current = client.get(f"/api/v1/services/{caf_service}").get_json()
    first = client.patch(
        f"/api/v1/services/{caf_service}",
        json={"version": current["version"], "description": "Partenaire historique"},
        headers={"X-CSRFToken": token},
    )
    assert first.status_code == 200 and first.get_json()["version"] == current["version"] + 1
    second = client.patch(
        f"/api/v1/services/{caf_service}",
        json={"version": current["version"], "description": "Autre chose"},
        headers={"X-CSRFToken": token},
    )
    assert second.status_code == 409
    body = second.get_json()
    assert body["current"]["description"] == "Partenaire historique"
    assert body["version"] == current["version"] + 1
    assert "modifiée entre-temps" in body["error"]


def test_bad_api_bodies_are_refused_in_french(login_as, caf_service):
    client = login_as("direction")
    token = client.get("/api/v1/moi").get_json()["csrf_token"]
    for body, message in [
        ({"name": "x"}, "version"),
        ({"version": 1, "name": ""}, "ne peut pas être vide"),
        ({"version": 1, "code": "X"}, "non modifiables"),
        ({"version": 1, "name": 3}, "chaîne de caractères"),
    ]:
        response = client.patch(f"/api/v1/services/{caf_service}", json=body, headers={"X-CSRFToken": token})
        assert response.status_code == 400 and message in response.get_json()["error"]


def test_a_reader_changes_nothing(login_as, caf_service, engine):
    client = login_as("partenaire")
    token, version = csrf_token(client.get("/services").get_data(as_text=True)), 0
    with write_session(engine) as session:
        version = session.get(Service, caf_service).version
    response = client.post(
        f"/services/{caf_service}", data={"csrf_token": token, "name": "Lecteur", "version": version}
    )
    assert response.status_code == 403
    assert "Accès refusé" in response.get_data(as_text=True)
    with write_session(engine) as session:
        assert session.get(Service, caf_service).version == version


def test_a_manager_cannot_read_another_services_indicator(login_as, engine, demo):
    with write_session(engine) as session:
        other = session.scalar(
            select(Indicator.id)
            .join(Service, Service.id == Indicator.service_id)
            .where(Indicator.organisation_id == demo.organisation_id, Service.code == "SOLIDARITE")
            .limit(1)
        )
        own = session.scalar(
            select(Indicator.id)
            .join(Service, Service.id == Indicator.service_id)
            .where(Indicator.organisation_id == demo.organisation_id, Service.code == "SENIORS")
            .limit(1)
        )
    client = login_as("responsable.seniors")
    assert client.get(f"/indicateurs/{own}").status_code == 200
    assert client.get(f"/indicateurs/{other}").status_code == 403
    assert client.get(f"/api/v1/indicators/{other}").status_code == 403
    listed = {i["id"] for i in client.get("/api/v1/indicators").get_json()}
    assert own in listed and other not in listed


def test_nobody_sees_another_organisations_rows(login_as, engine, other_demo):
    with write_session(engine) as session:
        foreign = session.scalar(
            select(Service.id).where(Service.organisation_id == other_demo.organisation_id).limit(1)
        )
    client = login_as("admin")
    assert client.get(f"/services/{foreign}").status_code == 404
    assert client.get(f"/api/v1/services/{foreign}").status_code == 404
    assert foreign not in {s["id"] for s in client.get("/api/v1/services").get_json()}

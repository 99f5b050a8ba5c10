"""Data collection through the pages: grid, comment when red, submission, validation, return."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models import Indicator, Measurement, MeasurementState, Period, Service
from pilotis.database import write_session
from tests.conftest import csrf_token


@pytest.fixture
def seniors(engine, demo):
    """The seniors service and its monthly indicators for the open month 2026-10 (no values yet)."""
    with write_session(engine) as session:
        service = session.scalar(
            select(Service).where(Service.organisation_id == demo.organisation_id, Service.code == "SENIORS")
        )
        period = session.scalar(
            select(Period).where(Period.organisation_id == demo.organisation_id, Period.key == "2026-10")
        )
        indicators = {
            i.code: i.id
            for i in session.scalars(
                select(Indicator).where(
                    Indicator.service_id == service.id,
                    Indicator.frequency == "monthly",
                    Indicator.formula.is_(None),
                )
            )
        }
        ids = (service.id, period.id)
    yield {"service": ids[0], "period": ids[1], "indicators": indicators}
    with write_session(engine) as session:
        for m in session.scalars(
            select(Measurement).where(
                Measurement.period_id == ids[1], Measurement.indicator_id.in_(indicators.values())
            )
        ):
            session.delete(m)


def _grid(client, service_id):
    page = client.get(f"/saisie/?service={service_id}&periode=2026-10").get_data(as_text=True)
    return page, csrf_token(page)


def _fill(indicators, **values):
    data = {}
    for code, value in values.items():
        data[f"valeur-{indicators[code]}"] = value
        data[f"commentaire-{indicators[code]}"] = ""
        data[f"version-{indicators[code]}"] = ""
    return data


def test_a_manager_fills_submits_and_the_direction_validates(login_as, engine, seniors):
    manager = login_as("responsable.seniors")
    page, token = _grid(manager, seniors["service"])
    assert page.count('name="valeur-') == len(seniors["indicators"]) == 6
    values = _fill(seniors["indicators"], repas_livres="3 150", beneficiaires_portage="205",
                   cout_portage="33 500,50", cout_saad="55\u202f000", heures_aide_domicile="1 900",
                   beneficiaires_saad="212")  # fmt: skip
    draft = manager.post(
        "/saisie/",
        data={
            "csrf_token": token,
            "service": seniors["service"],
            "periode": "2026-10",
            "action": "enregistrer",
            **values,
        },
    )
    assert draft.status_code == 303
    with write_session(engine) as session:
        saved = {
            m.indicator_id: m
            for m in session.scalars(select(Measurement).where(Measurement.period_id == seniors["period"]))
        }
        assert saved[seniors["indicators"]["cout_portage"]].value == 33500.5
        assert {m.state for m in saved.values() if m.indicator_id in seniors["indicators"].values()} == {
            MeasurementState.DRAFT
        }
    page, token = _grid(manager, seniors["service"])
    versions = dict(re.findall(r'name="version-(\d+)" value="(\d+)"', page))
    submitted = manager.post(
        "/saisie/",
        data={
            "csrf_token": token,
            "service": seniors["service"],
            "periode": "2026-10",
            "action": "soumettre",
            **{**values, **{f"version-{k}": v for k, v in versions.items()}},
        },
    )
    assert submitted.status_code == 303
    direction = login_as("direction")
    pending = direction.get("/saisie/validation?periode=2026-10").get_data(as_text=True)
    ids = re.findall(r'name="mesure" value="(\d+)"', pending)
    assert len(ids) == 6
    refused = direction.post(
        "/saisie/validation",
        data={"csrf_token": csrf_token(pending), "mesure": ids[:1], "action": "renvoyer"},
    )
    assert refused.status_code == 400 and "commentaire est obligatoire" in refused.get_data(as_text=True)
    returned = direction.post(
        "/saisie/validation",
        data={
            "csrf_token": csrf_token(pending),
            "mesure": ids[:1],
            "action": "renvoyer",
            "commentaire": "Chiffre à vérifier",
        },
    )
    assert returned.status_code == 303
    validated = direction.post(
        "/saisie/validation", data={"csrf_token": csrf_token(pending), "mesure": ids[1:], "action": "valider"}
    )
    assert validated.status_code == 303
    with write_session(engine) as session:
        states = [
            m.state
            for m in session.scalars(select(Measurement).where(Measurement.id.in_([int(i) for i in ids])))
        ]
        assert states.count(MeasurementState.VALIDATED) == 5 and states.count(MeasurementState.RETURNED) == 1
    page, _ = _grid(manager, seniors["service"])
    assert page.count('name="valeur-') == 1  # only the returned value is editable again
    assert "Renvoyée par la direction : Chiffre à vérifier" in page


def test_bad_numbers_and_red_values_without_comment_write_nothing(login_as, engine, seniors):
    manager = login_as("responsable.seniors")
    _, token = _grid(manager, seniors["service"])
    values = _fill(seniors["indicators"], repas_livres="1.234,56", beneficiaires_portage="2")
    response = manager.post(
        "/saisie/",
        data={
            "csrf_token": token,
            "service": seniors["service"],
            "periode": "2026-10",
            "action": "enregistrer",
            **values,
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "rien n&#39;a été enregistré" in page
    assert "mélange point et virgule" in page
    assert "un commentaire est obligatoire" in page  # 2 beneficiaries: far below target, red
    with write_session(engine) as session:
        assert not session.scalars(
            select(Measurement).where(
                Measurement.period_id == seniors["period"],
                Measurement.indicator_id.in_(seniors["indicators"].values()),
            )
        ).all()


def test_a_manager_cannot_open_another_services_grid(login_as, demo, engine):
    with write_session(engine) as session:
        other = session.scalar(
            select(Service.id).where(
                Service.organisation_id == demo.organisation_id, Service.code == "SOLIDARITE"
            )
        )
    response = login_as("responsable.seniors").get(f"/saisie/?service={other}&periode=2026-10")
    assert response.status_code == 400 and "pas dans votre périmètre" in response.get_data(as_text=True)


def test_closed_periods_are_read_only(login_as, seniors):
    page = (
        login_as("responsable.seniors")
        .get(f"/saisie/?service={seniors['service']}&periode=2025-10")
        .get_data(as_text=True)
    )
    assert 'name="valeur-' not in page and "(close)" in page


def test_the_grid_refuses_a_number_its_unit_cannot_hold(login_as, engine, seniors):
    """The grid goes through the one validation (services.numbers): a count cannot be -3."""
    manager = login_as("responsable.seniors")
    _, token = _grid(manager, seniors["service"])
    values = _fill(seniors["indicators"], beneficiaires_portage="-3")
    response = manager.post(
        "/saisie/",
        data={
            "csrf_token": token,
            "service": seniors["service"],
            "periode": "2026-10",
            "action": "enregistrer",
        }
        | values,
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "rien n&#39;a été enregistré" in page
    assert "hors limites" in page and "va de 0" in page
    with write_session(engine) as session:
        assert not session.scalars(
            select(Measurement).where(
                Measurement.period_id == seniors["period"],
                Measurement.indicator_id.in_(seniors["indicators"].values()),
            )
        ).all()


def test_the_grid_opens_on_the_oldest_period_still_owed(login_as, seniors):
    """The demo's 2026-09 is submitted: without a period asked, the grid opens on 2026-10, the
    oldest month still owed, and the period picker says what each period still owes."""
    page = (
        login_as("responsable.seniors").get(f"/saisie/?service={seniors['service']}").get_data(as_text=True)
    )
    assert "— période 2026-10" in page
    assert (
        "Ouverte sur la plus ancienne période où ce service doit encore des valeurs : 2026-10 (6 à saisir"
        in page
    )
    assert re.search(r'<option value="2026-10" selected>2026-10 — 6 valeurs dues</option>', page)
    assert '<option value="2026-09" >2026-09</option>' in page  # submitted: nothing owed
    asked = login_as("responsable.seniors").get(f"/saisie/?service={seniors['service']}&periode=2026-09")
    assert "— période 2026-09" in asked.get_data(as_text=True)
    assert "Ouverte sur la plus ancienne" not in asked.get_data(as_text=True)

"""No silent overwrite of a shared record (issue 22, item 4).

Two people open the same form; the first saves; the second saves what they typed on the page they
read before. On the old main the second save replaced the first (the élu's weight 7 became 3, the
targets and the allocation keys of the first person were gone). Now every form carries the version
of the record it was read at: the stale save gets the 409 page with the current values, and the
record keeps the first person's values. The forms prefill every current value (a need's weight),
so changing one field keeps the others.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, delete, select

from models import CostCentre, CostKey, Indicator, Measurement, Need, Period, Target
from models.enums import Frequency
from pilotis.database import write_session
from services.costing import publish_cost_indicators
from tests.conftest import csrf_token, rows_added_are_removed


def _version(page: str, form_marker: str = "") -> str:
    """The version carried by the (first) form after ``form_marker`` in the page."""
    start = page.index(form_marker) if form_marker else 0
    found = re.search(r'name="version"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="version"', page[start:])
    assert found, "the form carries no version"
    return found.group(1) or found.group(2)


def _text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


# -- a need's priority (the élus) -------------------------------------------------------------------
@pytest.fixture
def need_id(engine: Engine, demo: Any) -> Iterator[int]:
    """The demo's AAH need at priority 4, weight 9 (an élu's weight beside the level); put back after."""
    with write_session(engine) as session:
        need = session.scalar(
            select(Need).where(Need.organisation_id == demo.organisation_id, Need.code == "AAH")
        )
        saved = (need.priority, need.priority_weight, need.priority_set_by_id, need.priority_set_at)
        need.priority, need.priority_weight = 4, 9.0
        found = need.id
    yield found
    with write_session(engine) as session:
        need = session.get(Need, found)
        need.priority, need.priority_weight, need.priority_set_by_id, need.priority_set_at = saved


def _priority(engine: Engine, need_id: int) -> tuple[int, float]:
    with engine.connect() as conn:
        row = conn.execute(select(Need.priority, Need.priority_weight).where(Need.id == need_id)).one()
    return int(row[0]), float(row[1])


def test_the_priority_form_shows_the_weight_and_changing_the_level_keeps_it(
    login_as: Callable[[str], FlaskClient], engine: Engine, need_id: int
) -> None:
    client = login_as("elu")
    page = client.get(f"/besoins/{need_id}").get_data(as_text=True)
    assert re.search(r'name="weight"[^>]*value="9"', page), "the weight is not prefilled"
    form = {"csrf_token": csrf_token(page), "level": "5", "weight": "9", "version": _version(page)}
    response = client.post(f"/besoins/{need_id}", data=form)  # the élu changed the level only
    assert response.status_code == 303
    assert _priority(engine, need_id) == (5, 9.0)  # the old main wrote (5, 5.0)


def test_a_stale_priority_save_gets_409_with_the_current_weight(
    login_as: Callable[[str], FlaskClient], engine: Engine, need_id: int
) -> None:
    first, second = login_as("elu"), login_as("elu")  # two browsers (or two élus) on the same need
    page_1 = first.get(f"/besoins/{need_id}").get_data(as_text=True)
    page_2 = second.get(f"/besoins/{need_id}").get_data(as_text=True)
    saved = first.post(
        f"/besoins/{need_id}",
        data={"csrf_token": csrf_token(page_1), "level": "4", "weight": "7", "version": _version(page_1)},
    )
    assert saved.status_code == 303
    stale = second.post(
        f"/besoins/{need_id}",
        data={"csrf_token": csrf_token(page_2), "level": "4", "weight": "3", "version": _version(page_2)},
    )
    assert stale.status_code == 409
    body = _text(stale)
    assert "modifiée entre-temps par Nadia Roux" in body
    assert "Poids pour l'arbitrage : « 7 »" in body and "Priorité : « 4 »" in body
    assert _priority(engine, need_id) == (4, 7.0)  # the old main: 3.0
    # the form shown again carries the current version: saving it now is deliberate, and accepted
    again = second.post(
        f"/besoins/{need_id}",
        data={
            "csrf_token": csrf_token(body),
            "level": "4",
            "weight": "3",
            "version": _version(body, "Fixer la priorité"),
        },
    )
    assert again.status_code == 303 and _priority(engine, need_id) == (4, 3.0)


def test_a_priority_save_without_its_version_writes_nothing(
    login_as: Callable[[str], FlaskClient], engine: Engine, need_id: int
) -> None:
    client = login_as("elu")
    page = client.get(f"/besoins/{need_id}").get_data(as_text=True)
    response = client.post(
        f"/besoins/{need_id}", data={"csrf_token": csrf_token(page), "level": "2", "weight": "1"}
    )
    assert response.status_code == 400 and "Version de la fiche manquante" in _text(response)
    assert _priority(engine, need_id) == (4, 9.0)


# -- an indicator's targets (the direction) -----------------------------------------------------------
@pytest.fixture
def indicator(engine: Engine, demo: Any) -> Iterator[tuple[int, tuple[str, str]]]:
    """The demo's meals indicator, and two periods of its frequency no target uses; the targets
    and periods the test adds are removed after it."""
    with write_session(engine) as session:
        item = session.scalar(
            select(Indicator).where(
                Indicator.organisation_id == demo.organisation_id, Indicator.code == "repas_livres"
            )
        )
        found, frequency = item.id, item.frequency
    keys = {
        Frequency.MONTHLY: ("2031-01", "2031-02"),
        Frequency.QUARTERLY: ("2031-T1", "2031-T2"),
        Frequency.YEARLY: ("2031", "2032"),
    }[frequency]
    with rows_added_are_removed(engine):
        yield found, keys


def _targets(engine: Engine, indicator_id: int, keys: tuple[str, str]) -> list[float | None]:
    with engine.connect() as conn:
        return [
            value
            for (value,) in conn.execute(
                select(Target.value)
                .join(Period, Period.id == Target.period_id)
                .where(Target.indicator_id == indicator_id, Period.key.in_(keys))
                .order_by(Period.start_date)
            )
        ]


def _trajectory(page: str, keys: tuple[str, str], start: str, end: str) -> dict[str, str]:
    return {
        "csrf_token": csrf_token(page),
        "start": keys[0],
        "end": keys[1],
        "start_value": start,
        "end_value": end,
        "shape": "linear",
        "mode": "relative",
        "amber": "0,05",
        "red": "0,10",
        "version": _version(page),
    }


def test_a_stale_targets_save_gets_409_and_the_first_targets_stay(
    login_as: Callable[[str], FlaskClient], engine: Engine, indicator: tuple[int, tuple[str, str]]
) -> None:
    indicator_id, keys = indicator
    first, second = login_as("direction"), login_as("direction")
    url = f"/indicateurs/{indicator_id}/cibles"
    page_1, page_2 = first.get(url).get_data(as_text=True), second.get(url).get_data(as_text=True)
    assert first.post(url, data=_trajectory(page_1, keys, "3000", "3100")).status_code == 303
    stale = second.post(url, data=_trajectory(page_2, keys, "2000", "2100"))
    assert stale.status_code == 409
    body = _text(stale)
    assert "Les cibles de cet indicateur ont été modifiées entre-temps par" in body
    assert "les cibles actuelles sont dans le tableau ci-dessous" in body
    assert "3 100" in body.replace("\u202f", " ")  # the current targets are shown
    assert _targets(engine, indicator_id, keys) == [3000.0, 3100.0]  # the old main: [2000, 2100]
    missing = {k: v for k, v in _trajectory(page_2, keys, "1", "2").items() if k != "version"}
    refused = second.post(url, data=missing)
    assert refused.status_code == 400 and "Version des cibles manquante" in _text(refused)
    assert _targets(engine, indicator_id, keys) == [3000.0, 3100.0]


# -- the cost allocation keys (finance) ------------------------------------------------------------------
@pytest.fixture
def admin_keys(engine: Engine, demo: Any) -> Iterator[list[tuple[int, int, Any]]]:
    """The demo's keys of its administration centre, put back exactly after the test."""
    with write_session(engine) as session:
        provider = session.scalar(
            select(CostCentre.id).where(
                CostCentre.organisation_id == demo.organisation_id, CostCentre.code == "ADMIN"
            )
        )
        before = [
            (k.provider_id, k.receiver_id, k.share)
            for k in session.scalars(select(CostKey).where(CostKey.provider_id == provider))
        ]
    yield before
    with write_session(engine) as session:
        session.execute(delete(CostKey).where(CostKey.provider_id == provider))
        session.add_all(CostKey(provider_id=p, receiver_id=r, share=s) for p, r, s in before)
        session.flush()
        publish_cost_indicators(session, demo.organisation_id)


def _keys_form(page: str, shares: dict[str, str]) -> dict[str, str]:
    section = re.search(r'<section class="centre" id="centre-ADMIN">(.*?)</section>', page, re.S)
    assert section
    return {
        "csrf_token": csrf_token(page),
        "what": "keys",
        "centre": "ADMIN",
        "version": _version(section.group(1)),
        **{f"cle-{code}": share for code, share in shares.items()},
    }


def _shares(engine: Engine, provider_id: int) -> dict[int, float]:
    with engine.connect() as conn:
        return {
            r: float(s)
            for r, s in conn.execute(
                select(CostKey.receiver_id, CostKey.share).where(CostKey.provider_id == provider_id)
            )
        }


def test_a_stale_allocation_keys_save_gets_409_and_the_first_keys_stay(
    login_as: Callable[[str], FlaskClient], engine: Engine, admin_keys: list[tuple[int, int, Any]]
) -> None:
    provider = admin_keys[0][0]
    first, second = login_as("finances"), login_as("finances")
    page_1 = first.get("/couts/modele").get_data(as_text=True)
    page_2 = second.get("/couts/modele").get_data(as_text=True)
    mine = {"SENIORS": "40", "SOLIDARITE": "30", "PETITE_ENFANCE": "20", "AUTONOMIE": "10"}
    theirs = {"SENIORS": "10", "SOLIDARITE": "20", "PETITE_ENFANCE": "30", "AUTONOMIE": "40"}
    assert first.post("/couts/modele", data=_keys_form(page_1, mine)).status_code == 303
    after_first = _shares(engine, provider)
    stale = second.post("/couts/modele", data=_keys_form(page_2, theirs))
    assert stale.status_code == 409
    body = _text(stale)
    assert "Les clés de « Direction et administration générale » ont été modifiées entre-temps" in body
    assert "les clés actuelles sont affichées ci-dessous" in body
    assert re.search(r'name="cle-SENIORS"[^>]*value="40,00"', body), "the current keys are not shown"
    assert _shares(engine, provider) == after_first  # the old main: the second person's keys
    assert sorted(after_first.values()) == [0.1, 0.2, 0.3, 0.4]


# -- the measurements API ---------------------------------------------------------------------------------
@pytest.fixture
def meals_value(engine: Engine, demo: Any) -> Iterator[tuple[int, str]]:
    """The meals indicator and a period of the demo with no value yet; the values written are removed."""
    with write_session(engine) as session:
        indicator_id = session.scalar(
            select(Indicator.id).where(
                Indicator.organisation_id == demo.organisation_id, Indicator.code == "repas_livres"
            )
        )
        period_id = session.scalar(
            select(Period.id).where(Period.organisation_id == demo.organisation_id, Period.key == "2026-11")
        )
    yield indicator_id, "2026-11"
    with write_session(engine) as session:
        session.execute(
            delete(Measurement).where(
                Measurement.indicator_id == indicator_id, Measurement.period_id == period_id
            )
        )


def test_the_api_refuses_a_write_without_version_and_says_the_current_one(
    login_as: Callable[[str], FlaskClient], meals_value: tuple[int, str]
) -> None:
    indicator_id, period = meals_value
    manager = login_as("responsable.seniors")
    headers = {"X-CSRFToken": manager.get("/api/v1/moi").get_json()["csrf_token"]}
    body = {"indicator_id": indicator_id, "period": period, "value": 3000}
    first = manager.post("/api/v1/measurements", json=body, headers=headers)
    assert first.status_code == 400
    assert first.get_json()["error"].startswith("Le champ « version » est obligatoire")
    assert "envoyez « version »: null" in first.get_json()["error"]
    created = manager.post("/api/v1/measurements", json={**body, "version": None}, headers=headers)
    assert created.status_code == 200
    version = created.get_json()["version"]
    again = manager.post("/api/v1/measurements", json={**body, "value": 3001}, headers=headers)
    assert again.status_code == 400
    assert f"la version actuelle de cette valeur est {version} (valeur 3 000)" in again.get_json()[
        "error"
    ].replace("\u202f", " ")
    assert again.get_json()["version"] == version
    # a client that read no value while one was entered meanwhile is told, not allowed to overwrite it
    late = manager.post("/api/v1/measurements", json={**body, "value": 1, "version": None}, headers=headers)
    assert late.status_code == 409 and late.get_json()["current"]["value"] == 3000
    assert late.get_json()["version"] == version
    moved = manager.post(
        "/api/v1/measurements", json={**body, "value": 3002, "version": version}, headers=headers
    )
    assert moved.status_code == 200
    stale = manager.post(
        "/api/v1/measurements", json={**body, "value": 2, "version": version}, headers=headers
    )
    conflict = stale.get_json()
    assert stale.status_code == 409 and "entre-temps" in conflict["error"]
    assert conflict["current"]["value"] == 3002 and conflict["version"] == moved.get_json()["version"]
    assert conflict["changed_by"]
    listed = manager.get(f"/api/v1/indicators/{indicator_id}/measurements").get_json()
    assert [m["value"] for m in listed if m["period"] == period] == [3002]


def test_a_stale_edit_no_view_catches_is_the_409_page_with_the_current_values(app: Flask) -> None:
    """The one handler (views/errors.py) renders a StaleEdit like any ConflictError: the page, or
    JSON under /api, with the current values."""
    from services.editing import StaleEdit
    from views.errors import render_user_error

    stale = StaleEdit(
        table_name="needs",
        row_id="1",
        current_version=3,
        current_values={"priority_weight": "7"},
        changed_by="Nadia Roux",
        changed_at=None,
    )
    assert stale.status == 409
    with app.test_request_context("/besoins/1", method="POST"):
        body, status = render_user_error(stale)  # type: ignore[misc]
    assert status == 409
    assert "Poids pour l'arbitrage : « 7 »" in html.unescape(str(body))
    with app.test_request_context("/api/v1/measurements", method="POST"):
        answer, status = render_user_error(stale)  # type: ignore[misc]
    assert status == 409 and "Nadia Roux" in answer.get_json()["error"]

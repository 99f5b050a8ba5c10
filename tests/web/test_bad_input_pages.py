"""Bad input through the pages and the API: a French refusal, never a broken page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models import Indicator, Measurement, MeasurementState, Period, Service
from models.base import utcnow
from pilotis.database import write_session

MONTH = "2026-10"


@pytest.fixture
def meals(engine, demo):
    """The seniors' monthly count of meals delivered, for the open month (no value yet)."""
    with write_session(engine) as session:
        service = session.scalar(
            select(Service).where(Service.organisation_id == demo.organisation_id, Service.code == "SENIORS")
        )
        period = session.scalar(
            select(Period).where(Period.organisation_id == demo.organisation_id, Period.key == MONTH)
        )
        indicator = session.scalar(
            select(Indicator).where(Indicator.service_id == service.id, Indicator.code == "repas_livres")
        )
        ids = {"service": service.id, "period": period.id, "indicator": indicator.id}
    yield ids
    with write_session(engine) as session:
        for m in session.scalars(
            select(Measurement).where(
                Measurement.period_id == ids["period"], Measurement.indicator_id == ids["indicator"]
            )
        ):
            session.delete(m)


def _store(engine, demo, meals, value, state=MeasurementState.VALIDATED):
    with write_session(engine) as session:
        session.add(
            Measurement(
                organisation_id=demo.organisation_id,
                indicator_id=meals["indicator"],
                period_id=meals["period"],
                value=value,
                state=state,
                entered_at=utcnow(),
                submitted_at=utcnow(),
                validated_at=utcnow(),
            )
        )


@pytest.mark.parametrize(
    ("value", "state"),
    [
        (1e300, MeasurementState.VALIDATED),
        (-1e300, MeasurementState.SUBMITTED),
        (123_456_789_012_345_678.0, MeasurementState.VALIDATED),
        (float("inf"), MeasurementState.VALIDATED),
        (float("nan"), MeasurementState.DRAFT),  # SQLite stores NULL, PostgreSQL NaN
    ],
    ids=["1e300", "-1e300", "1.2e17", "inf", "nan"],
)
def test_every_page_showing_a_number_survives_any_stored_value(login_as, engine, demo, meals, value, state):
    """Bug: 1e300 stored (workbook, API) made the grid, the scorecard and the indicator page 500."""
    _store(engine, demo, meals, value, state)
    pages = {
        "manager": [f"/saisie/?service={meals['service']}&periode={MONTH}"],
        "direction": [
            f"/saisie/?service={meals['service']}&periode={MONTH}",
            f"/tableau-de-bord/?periode={MONTH}",
            f"/tableau-de-bord/service/{meals['service']}?periode={MONTH}",
            f"/indicateurs/{meals['indicator']}",
        ],
    }
    logins = {"manager": "responsable.seniors", "direction": "direction"}
    for who, urls in pages.items():
        client = login_as(logins[who])
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (who, url, response.status_code)
            page = response.get_data(as_text=True)
            if url.startswith("/indicateurs/") and abs(value) < float("inf"):
                assert "10^" in page, url  # the value shown in powers of ten, not 300 digits


def test_the_api_refuses_a_value_beyond_its_unit_and_writes_nothing(login_as, engine, meals):
    client = login_as("responsable.seniors")
    headers = {"X-CSRFToken": client.get("/api/v1/moi").get_json()["csrf_token"]}
    for value, reason in [
        (1e300, "hors limites : un nombre de repas va de 0 à mille milliards"),
        ("1e300", "n'est pas un nombre"),
        (-12, "hors limites"),
        ("Infinity", "n'est pas un nombre"),
    ]:
        response = client.post(
            "/api/v1/measurements",
            json={"indicator_id": meals["indicator"], "period": MONTH, "value": value, "version": None},
            headers=headers,
        )
        assert response.status_code == 400, (value, response.get_data(as_text=True))
        assert reason in response.get_json()["error"], response.get_json()
    # JSON's own infinity (1e400 is read as inf by Python's parser)
    response = client.post(
        "/api/v1/measurements",
        data=f'{{"indicator_id": {meals["indicator"]}, "period": "{MONTH}", "value": 1e400, "version": null}}',
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 400 and "non fini" in response.get_json()["error"]
    with write_session(engine) as session:
        assert (
            session.scalar(
                select(Measurement).where(
                    Measurement.indicator_id == meals["indicator"], Measurement.period_id == meals["period"]
                )
            )
            is None
        )
    ok = client.post(
        "/api/v1/measurements",
        json={"indicator_id": meals["indicator"], "period": MONTH, "value": "3 150", "version": None},
        headers=headers,
    )
    assert ok.status_code == 200 and ok.get_json()["value"] == 3150.0


def _upload(client, name, content, **fields):
    from io import BytesIO

    from tests.conftest import csrf_token

    token = csrf_token(client.get("/statistiques/import").get_data(as_text=True))
    return client.post(
        "/statistiques/import",
        data={"csrf_token": token, "file": (BytesIO(content), name), **fields},
        content_type="multipart/form-data",
    )


def test_the_statistics_page_warns_refuses_and_takes_a_vintage_back(login_as, engine, demo):
    from tests.integration.test_statistics_vintages import caf_grown, extract

    direction = login_as("direction")
    others = b"\n".join(
        line
        for line in extract("FILO2019_DISP_EPCI_extrait.csv").split(b"\r\n")
        if not line.startswith(b"200035715")
    )
    warned = _upload(direction, "FILO2019_DISP_EPCI.csv", others, source="filosofi")
    page = warned.get_data(as_text=True)
    assert warned.status_code == 200 and "Fichier valide, mais rien n'a été enregistré." in page
    assert "Aucun chiffre de ce fichier ne concerne votre organisation" in page

    refused = _upload(direction, "data_CAF_2018_IRIS.csv", caf_grown(), source="caf", vintage="2021")
    assert refused.status_code == 400
    assert "le nom du fichier « data_CAF_2018_IRIS.csv » indique 2018" in refused.get_data(as_text=True)
    try:
        forced = _upload(
            direction, "data_CAF_2018_IRIS.csv", caf_grown(), source="caf", vintage="2021", force_vintage="y"
        )
        assert forced.status_code == 303, forced.get_data(as_text=True)[:2000]
        listing = direction.get("/statistiques/import").get_data(as_text=True)
        assert "Retirer le millésime 2021 (CNAF)" in listing
    finally:
        from tests.conftest import csrf_token

        token = csrf_token(direction.get("/statistiques/import").get_data(as_text=True))
        removed = direction.post(
            "/statistiques/retirer", data={"csrf_token": token, "source": "caf", "vintage": "2021"}
        )
    assert removed.status_code == 303
    done = direction.get("/statistiques/import").get_data(as_text=True)
    assert "Millésime 2021 retiré : 189 chiffre(s) supprimé(s)" in done
    assert "Retirer le millésime 2021 (CNAF)" not in done
    with write_session(engine) as session:
        from models import Need

        aah = session.scalar(
            select(Need).where(Need.organisation_id == demo.organisation_id, Need.code == "AAH")
        )
        assert (aah.size, aah.vintage) == (1818, 2020)
    token = csrf_token(direction.get("/statistiques/import").get_data(as_text=True))
    again = direction.post(
        "/statistiques/retirer", data={"csrf_token": token, "source": "caf", "vintage": "2021"}
    )
    assert again.status_code == 400 and "Aucun chiffre CNAF du millésime 2021" in again.get_data(as_text=True)
    manager = login_as("responsable.seniors")
    assert manager.post("/statistiques/retirer", data={"source": "caf", "vintage": "2020"}).status_code in (
        400,
        403,
    )


# -- French pages: no English or technical words -------------------------------------------------
def test_form_fields_carry_no_autocomplete_none(login_as):
    """Bug: fields without an autocomplete hint were written ``autocomplete="None"``."""
    page = login_as("direction").get("/statistiques/import").get_data(as_text=True)
    assert 'name="vintage"' in page and 'autocomplete="None"' not in page


def test_the_jobs_page_says_its_times_are_paris_times(login_as):
    page = login_as("admin").get("/admin/taches").get_data(as_text=True)
    assert "(UTC)" not in page and "Prochaine (heure de Paris)" in page


def test_jobs_run_speaks_french():
    """Bug: ``pilotis jobs run`` printed « succeeded »: every outcome the runner gives has its French word."""
    import inspect

    from jobs import runner
    from pilotis import cli

    given = set(re.findall(r'Outcome\([^)]*?"(succeeded|failed|skipped|running)"', inspect.getsource(runner)))
    assert given >= {"succeeded", "skipped"} and given <= set(cli.OUTCOME_LABELS)
    assert cli.OUTCOME_LABELS["succeeded"] == "réussie"


def test_the_journal_shows_french_labels_and_readable_values(login_as, engine, demo, meals):
    """Bug: the journal showed column names (``value``, ``state``) and the raw JSON of created rows."""
    _store(engine, demo, meals, 94330.0, MeasurementState.SUBMITTED)
    with write_session(engine) as session:
        measurement = session.scalar(
            select(Measurement).where(
                Measurement.indicator_id == meals["indicator"], Measurement.period_id == meals["period"]
            )
        )
        row_id = measurement.id
    page = login_as("admin").get(f"/journal/?table=measurements&fiche={row_id}").get_data(as_text=True)
    assert "Valeur : 94\u202f330" in page and "État : soumise" in page, page[page.find("<table") :][:1500]
    table = page.split("<table", 1)[1].split("</table>", 1)[0]
    assert "&#34;" not in table and "{" not in table and ">value<" not in table

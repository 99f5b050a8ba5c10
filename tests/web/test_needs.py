"""The needs register, priorities, the coherence matrix and statistical confidentiality."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models import Need, User
from pilotis.database import write_session
from tests.conftest import csrf_token


@pytest.fixture
def aah(engine, demo):
    with write_session(engine) as session:
        need = session.scalar(
            select(Need).where(Need.organisation_id == demo.organisation_id, Need.code == "AAH")
        )
        saved = (
            need.id,
            need.priority,
            need.priority_weight,
            need.priority_set_by_id,
            need.priority_set_at,
            need.size,
        )
    yield saved[0]
    with write_session(engine) as session:
        need = session.get(Need, saved[0])
        need.priority, need.priority_weight, need.priority_set_by_id, need.priority_set_at, need.size = saved[
            1:
        ]


def test_the_matrix_shows_the_least_covered_priority_need(login_as):
    page = login_as("direction").get("/coherence").get_data(as_text=True)
    assert "Besoin prioritaire le moins couvert" in page and "Allocataires de l&#39;AAH" in page
    assert 'class="heatmap"' in page and "Matrice public × territoire" in page
    assert "Secret statistique" in page


def test_a_need_page_explains_its_coverage(login_as, aah):
    page = login_as("partenaire").get(f"/besoins/{aah}").get_data(as_text=True)
    assert "Pourquoi ce taux" in page and "Accompagnement des personnes handicapées" in page
    assert "CNAF 2020" in page and "Fixer la priorité" not in page


def test_an_elected_official_sets_the_priority_and_is_recorded(login_as, engine, aah):
    client = login_as("elu")
    page = client.get(f"/besoins/{aah}").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page)
    assert version, "the priority form carries the need's version"
    response = client.post(
        f"/besoins/{aah}",
        data={"csrf_token": csrf_token(page), "level": "5", "weight": "8", "version": version.group(1)},
    )
    assert response.status_code == 303
    with write_session(engine) as session:
        need = session.get(Need, aah)
        setter = session.get(User, need.priority_set_by_id)
        assert (need.priority, need.priority_weight, setter.full_name) == (5, 8.0, "Nadia Roux")
    assert "fixée par Nadia Roux" in client.get(f"/besoins/{aah}").get_data(as_text=True)


def test_a_reader_cannot_set_a_priority(login_as, aah):
    client = login_as("partenaire")
    token = csrf_token(client.get("/besoins").get_data(as_text=True))
    assert client.post(f"/besoins/{aah}", data={"csrf_token": token, "level": "1"}).status_code == 403


def test_small_counts_are_masked_everywhere(login_as, engine, aah):
    with write_session(engine) as session:
        session.get(Need, aah).size = 7.0
    client = login_as("direction")
    page = client.get(f"/besoins/{aah}").get_data(as_text=True)
    assert re.search(r"<dt>Effectif</dt><dd><span class=\"secret\">secret</span>", page)
    book = load_workbook(BytesIO(client.get("/coherence/export.xlsx").data))
    row = next(r for r in book["Besoins"].iter_rows(values_only=True) if r[0] == "AAH")
    assert row[6] == "secret" and row[9] == "secret"


def test_the_import_page_resizes_the_needs(login_as, engine, demo):
    from tests.integration.test_statistics_import import caf_file

    client = login_as("direction")
    page = client.get("/statistiques/import").get_data(as_text=True)
    bad = client.post("/statistiques/import", data={"csrf_token": csrf_token(page), "source": "filosofi",
                                                     "file": (BytesIO(caf_file()), "data_CAF_2020_IRIS.csv")},
                      content_type="multipart/form-data")  # fmt: skip
    assert bad.status_code == 400 and "Rien n'a été enregistré" in bad.get_data(as_text=True)
    same = client.post("/statistiques/import", data={"csrf_token": csrf_token(page), "source": "caf",
                                                      "file": (BytesIO(caf_file()), "data_CAF_2020_IRIS.csv")},
                       content_type="multipart/form-data", follow_redirects=True)  # fmt: skip
    assert "Millésime 2020 importé : 0 chiffre(s) ajouté(s), 189 déjà connu(s)" in same.get_data(as_text=True)
    assert "0 besoin(s) redimensionné(s)" in same.get_data(as_text=True)

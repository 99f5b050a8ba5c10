"""The audit journal: who changed what, filters, and an Excel export with no formulas."""

from __future__ import annotations

from io import BytesIO

from openpyxl import load_workbook
from sqlalchemy import select

from models import Service
from pilotis.database import write_session
from tests.conftest import csrf_token


def test_a_change_is_journaled_with_who_field_old_and_new(login_as, engine, demo):
    client = login_as("direction")
    with write_session(engine) as session:
        service = session.scalar(
            select(Service).where(
                Service.organisation_id == demo.organisation_id, Service.code == "ASSO_ALIMENTAIRE"
            )
        )
        service_id, old_name, version = service.id, service.name, service.version
    page = client.get(f"/services/{service_id}").get_data(as_text=True)
    new_name = '=HYPERLINK("http://evil.example";"clic")'  # a formula typed as a name
    client.post(
        f"/services/{service_id}", data={"csrf_token": csrf_token(page), "name": new_name, "version": version}
    )
    journal = client.get(f"/journal/?table=services&fiche={service_id}").get_data(as_text=True)
    assert "Claire Dubois" in journal and "modification" in journal and ">Nom<" in journal
    assert old_name.replace("'", "&#39;") in journal
    export = client.get(f"/journal/export.xlsx?table=services&fiche={service_id}")
    assert export.status_code == 200
    sheet = load_workbook(BytesIO(export.data)).active
    cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
    assert any(c.value == new_name for c in cells)
    assert all(c.data_type != "f" for c in cells)  # no cell stored as a formula
    with write_session(engine) as session:
        session.get(Service, service_id).name = old_name


def test_filters_and_bad_dates(login_as):
    client = login_as("admin")
    page = client.get("/journal/?du=2026-13-01&table=inconnue").get_data(as_text=True)
    assert "Date « 2026-13-01 » invalide" in page and "Type de fiche inconnu" in page
    only_users = client.get("/journal/?table=users").get_data(as_text=True)
    assert "Compte n°" in only_users and "Service n°" not in only_users

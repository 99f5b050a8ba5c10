"""The model workbook page (/modele/): download, upload back all or nothing, for the direction and the
administrator of a new organisation (the CCAS of Perros-Guirec)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models import Activity, ActivityVolume, AuditEntry, Organisation, Role, ServiceKind, User
from models.base import utcnow
from pilotis.database import write_session
from services import accounts
from services.policy import Principal
from services.value_chain import (
    ActivityInput,
    ServiceInput,
    VolumeInput,
    create_activity,
    create_service,
    save_volumes,
)
from tests.conftest import csrf_token

PASSWORD = "une phrase de passe assez longue"


@pytest.fixture(scope="module")
def perros(engine) -> int:  # type: ignore[no-untyped-def]
    """The CCAS of Perros-Guirec with a direction member, an élu, one service, one activity and its 2025 volume."""
    from services.organisations import create_organisation

    with write_session(engine) as session:
        found = session.scalar(select(Organisation).where(Organisation.insee_code == "22168"))
        if found is not None:
            return found.id
        organisation = create_organisation(session, "ccas", "22168", now=utcnow()).organisation
        for login, role in (("direction", Role.DIRECTION), ("elu", Role.ELECTED)):
            accounts.create_user(
                session,
                organisation=organisation,
                email=f"{login}@perros.pilotis.example",
                full_name=f"{login.capitalize()} de Perros",
                role=role,
                services=[],
                password=PASSWORD,
                now=utcnow(),
            )
        who = Principal(
            user_id=0, organisation_id=organisation.id, role=Role.DIRECTION, service_ids=frozenset()
        )
        service = create_service(
            session, who, ServiceInput(name="Pôle seniors", kind=ServiceKind.OWN, code="SENIORS")
        )
        activity = create_activity(
            session,
            who,
            ActivityInput(
                service_id=service.id,
                name="Portage de repas",
                output_unit="repas livré",
                code="A_PORTAGE",
                unit_cost=Decimal("11"),
                volume=9000.0,
            ),
        )
        save_volumes(session, who, activity, [VolumeInput(2025, 9000.0, 8700.0)])
        return organisation.id


def _client(app, login):  # type: ignore[no-untyped-def]
    client = app.test_client()
    token = csrf_token(client.get("/connexion").get_data(as_text=True))
    signed = client.post(
        "/connexion",
        data={"csrf_token": token, "email": f"{login}@perros.pilotis.example", "password": PASSWORD},
    )
    assert signed.status_code == 302
    return client


def _upload(client, content: bytes, name: str = "modele.xlsx"):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/modele/").get_data(as_text=True))
    return client.post(
        "/modele/",
        data={"csrf_token": token, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def _with_volume(content: bytes, actual: object) -> bytes:
    """The workbook with the « Volume réalisé » of A_PORTAGE in 2025 set to ``actual``."""
    book = load_workbook(io.BytesIO(content))
    sheet = book["Volumes annuels"]
    headers = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        values = dict(zip(headers, row, strict=False))
        if values["Code activité"].value == "A_PORTAGE" and values["Année"].value == 2025:
            values["Volume réalisé"].value = actual
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _actual(engine, perros) -> float | None:  # type: ignore[no-untyped-def]
    with write_session(engine) as session:
        return session.scalar(
            select(ActivityVolume.actual_volume)
            .join(Activity, Activity.id == ActivityVolume.activity_id)
            .where(
                Activity.organisation_id == perros, Activity.code == "A_PORTAGE", ActivityVolume.year == 2025
            )
        )


def test_the_workbook_goes_out_and_back_with_a_changed_volume_in_the_journal(app, engine, perros):
    client = _client(app, "direction")
    page = client.get("/modele/").get_data(as_text=True)
    assert "Télécharger le modèle (.xlsx)" in page and "Déposer un classeur modifié" in page
    download = client.get("/modele/modele.xlsx")
    assert download.status_code == 200 and download.data[:2] == b"PK"
    assert 'filename="modele-' in download.headers["Content-Disposition"]
    unchanged = _upload(client, download.data)
    assert unchanged.status_code == 303
    assert "Aucun changement" in client.get("/modele/").get_data(as_text=True)
    changed = _upload(client, _with_volume(download.data, 8850))
    assert changed.status_code == 303
    assert "Modèle mis à jour (voir le journal) : Volumes annuels : 1 modification" in client.get(
        "/modele/"
    ).get_data(as_text=True)
    assert _actual(engine, perros) == 8850.0
    with write_session(engine) as session:
        entry = session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.organisation_id == perros,
                AuditEntry.table_name == "activity_volumes",
                AuditEntry.field == "actual_volume",
            )
            .order_by(AuditEntry.id.desc())
        ).first()
        assert (entry.old_value, entry.new_value) == ("8700.0", "8850.0")
        assert session.get(User, entry.user_id).email == "direction@perros.pilotis.example"


def test_a_bad_workbook_is_refused_with_located_errors_and_nothing_changes(app, engine, perros):
    client = _client(app, "direction")
    before = _actual(engine, perros)
    not_excel = _upload(client, b"Code;Nom\nA;B\n", "modele.csv")
    assert not_excel.status_code == 400
    assert "Fichier refusé : ce fichier n&#39;est pas un classeur Excel (.xlsx)." in not_excel.get_data(
        as_text=True
    )
    download = client.get("/modele/modele.xlsx").data
    negative = _upload(client, _with_volume(download, -5))
    text = negative.get_data(as_text=True).replace("&#39;", "'")
    assert negative.status_code == 400
    assert "erreur(s) : rien n'a été importé" in text
    assert "Feuille « Volumes annuels », ligne" in text and "colonne « Volume réalisé »" in text
    assert _actual(engine, perros) == before
    missing = client.post(
        "/modele/", data={"csrf_token": csrf_token(client.get("/modele/").get_data(as_text=True))}
    )
    assert missing.status_code == 400 and "Choisissez un fichier." in missing.get_data(as_text=True)


def test_an_elected_member_neither_downloads_nor_uploads_the_model(app, perros):
    client = _client(app, "elu")
    assert client.get("/modele/").status_code == 403
    assert client.get("/modele/modele.xlsx").status_code == 403
    token = csrf_token(client.get("/compte/mot-de-passe").get_data(as_text=True))
    assert client.post("/modele/", data={"csrf_token": token}).status_code == 403

"""Importing a filled Excel template: all or nothing, every bad file refused and located."""

from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from models import AuditEntry, Measurement, Organisation, Service, User
from models.base import utcnow
from services.collection import collection_grid
from services.measurement_io import import_measurements, template_workbook
from services.policy import Principal
from services.workbooks import WorkbookError

PERIOD = "2026-10"


@pytest.fixture
def setting(db_session, demo):
    org = db_session.get(Organisation, demo.organisation_id)
    manager = db_session.scalar(
        select(User).where(User.email == "responsable.seniors@carcassonne.pilotis.example")
    )
    principal = Principal.of(manager)
    service = db_session.scalar(
        select(Service).where(Service.organisation_id == org.id, Service.code == "SENIORS")
    )
    grid = collection_grid(db_session, principal, service.id, PERIOD)
    return {
        "session": db_session,
        "principal": principal,
        "template": template_workbook(grid, org),
        "service": service,
    }


def edited(template: bytes, **cells: object) -> bytes:
    book = load_workbook(io.BytesIO(template))
    sheet = book["Saisie"]
    for ref, value in cells.items():
        sheet[ref] = value
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def counts(session):
    return (
        session.scalar(select(func.count()).select_from(Measurement)),
        session.scalar(select(func.count()).select_from(AuditEntry)),
    )


def run(setting, content, **kw):
    return import_measurements(setting["session"], setting["principal"], content, now=utcnow(), **kw)


def test_the_template_is_protected_and_names_its_scope(setting):
    book = load_workbook(io.BytesIO(setting["template"]))
    sheet = book["Saisie"]
    assert sheet.protection.sheet
    assert [c.value for c in sheet[3]] == [
        "Code",
        "Indicateur",
        "Unité",
        "Période",
        "Cible",
        "Valeur",
        "Commentaire",
    ]
    assert sheet["A4"].protection.locked and not sheet["F4"].protection.locked
    assert book["Pilotis"].sheet_state == "hidden"
    assert {r[0].value: r[1].value for r in book["Pilotis"].iter_rows()}["periode"] == PERIOD


def test_a_good_file_is_imported_whole(setting):
    content = edited(setting["template"], F4=205, F5="33 500,50", F6="55 000", F7=1900, F8=212, F9=3150)
    report = run(setting, content)
    assert report.errors == [] and report.saved == 6


@pytest.mark.parametrize(
    ("cells", "where", "message"),
    [
        ({"F4": "1.234,56"}, "ligne 4, colonne « Valeur »", "mélange point et virgule"),
        ({"F4": "1.234"}, "ligne 4, colonne « Valeur »", "ambigu"),
        ({"F5": "beaucoup"}, "ligne 5, colonne « Valeur »", "n'est pas un nombre"),
        ({"F6": "=SUM(F4:F5)"}, "ligne 6, colonne « Valeur »", "formule refusée"),
        ({"A7": "code_inconnu"}, "ligne 7, colonne « Code »", "inconnu"),
        ({"A8": "accompagnements_rsa"}, "ligne 8, colonne « Code »", "autre service"),
        ({"A9": "beneficiaires_portage"}, "ligne 9, colonne « Code »", "figure déjà en ligne 4"),
        ({"D4": "2025-T1"}, "ligne 4, colonne « Période »", "au lieu de 2026-10"),
        ({"D5": "31/02/2026"}, "ligne 5, colonne « Période »", "ni une période"),
        ({"D6": "15/09/2026"}, "ligne 6, colonne « Période »", "hors de la période"),
        (
            {"A10": "satisfaction_saad", "F10": 90},
            "ligne 10, colonne « Code »",
            "pas attendu pour la période",
        ),
    ],
)
def test_each_bad_row_is_located_and_nothing_is_written(setting, cells, where, message):
    before = counts(setting["session"])
    good = {"F4": 205, "F5": 33500, "F6": 55000, "F7": 1900, "F8": 212, "F9": 3150}
    content = edited(setting["template"], **{**good, **cells})
    report = run(setting, content)
    text = " | ".join(str(e) for e in report.errors)
    assert where in text and message in text, text
    assert text.startswith("feuille « Saisie »")
    assert report.saved == 0
    assert counts(setting["session"]) == before


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _with_entry(template: bytes, name: str, data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(template))
    entries = {i.filename: source.read(i.filename) for i in source.infolist()}
    entries[name] = data
    return _zip(entries)


def _with_dtd(template: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(template))
    entries = {i.filename: source.read(i.filename) for i in source.infolist()}
    sheet = entries["xl/worksheets/sheet1.xml"]
    entries["xl/worksheets/sheet1.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>' + sheet
    )
    return _zip(entries)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: b"not a zip at all", "n'est pas un classeur Excel"),
        (lambda t: _zip({"hello.txt": b"x"}), "n'est pas un classeur Excel"),
        (lambda t: _with_entry(t, "xl/vbaProject.bin", b"\0" * 100), "macros"),
        (lambda t: _with_dtd(t), "DTD"),
        (lambda t: _with_entry(t, "xl/bomb.xml", b"0" * (40 * 1024 * 1024)), "anormalement compressé"),
        (lambda t: t + b"\0" * (6 * 1024 * 1024), "trop volumineux"),
    ],
)
def test_malformed_workbooks_are_refused_before_parsing(setting, make, message):
    before = counts(setting["session"])
    with pytest.raises(WorkbookError, match=message):
        run(setting, make(setting["template"]))
    assert counts(setting["session"]) == before


def test_wrong_headers_other_scope_and_wrong_choice_are_refused(setting):
    with pytest.raises(WorkbookError, match="en-têtes modifiés"):
        run(setting, edited(setting["template"], F3="Montant"))
    book = load_workbook(io.BytesIO(setting["template"]))
    book["Pilotis"]["B2"] = "SOLIDARITE"
    buffer = io.BytesIO()
    book.save(buffer)
    with pytest.raises(WorkbookError, match="pas dans votre périmètre"):
        run(setting, buffer.getvalue())
    with pytest.raises(WorkbookError, match="concerne la période 2026-10, pas 2026-11"):
        run(setting, setting["template"], expected_period="2026-11")


def test_the_cli_imports_in_the_name_of_an_account(make_app, demo_database_url, tmp_path):
    app = make_app(demo_database_url)  # where ``pilotis demo`` has run
    runner = app.test_cli_runner()
    from pilotis.database import session_factory

    with session_factory(app.extensions["pilotis.engine"])() as session:
        org = session.scalar(select(Organisation))
        manager = session.scalar(select(User).where(User.email.like("responsable.seniors@%")))
        service = session.scalar(
            select(Service).where(Service.organisation_id == org.id, Service.code == "SENIORS")
        )
        grid = collection_grid(session, Principal.of(manager), service.id, PERIOD)
        template = template_workbook(grid, org)
    good = tmp_path / "bon.xlsx"
    good.write_bytes(edited(template, F4=205, F5=33500, F6=55000, F7=1900, F8=212, F9=3150))
    bad = tmp_path / "mauvais.xlsx"
    bad.write_bytes(edited(template, F4="1.234,56"))
    refused = runner.invoke(args=["import", "measurements", str(bad), "--as", manager.email])
    assert refused.exit_code == 1 and "rien n'a été importé" in refused.output and "ligne 4" in refused.output
    done = runner.invoke(args=["import", "measurements", str(good), "--as", manager.email, "--submit"])
    assert done.exit_code == 0, done.output
    assert "6 valeur(s) importée(s)" in done.output
    reader = runner.invoke(
        args=["import", "measurements", str(good), "--as", "partenaire@carcassonne.pilotis.example"]
    )
    assert reader.exit_code == 1 and "n'a pas le droit" in reader.output

"""Statistics imports that write nothing say so; vintages that contradict the file are refused
unless forced; a vintage imported by mistake can be taken back, with the needs resized back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import AuditEntry, Need, Territory, TerritoryKind, TerritoryStatistic
from services.needs import resize_needs
from services.statistics_import import (
    StatisticsImportError,
    import_statistics,
    imported_vintages,
    remove_statistics,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "statistics"


def extract(name: str) -> bytes:
    return (DATA / name).read_bytes()


def caf_grown() -> bytes:
    """The CAF 2020 extract with every published count 10 % higher (a plausible other vintage)."""
    lines = extract("data_CAF_2020_IRIS_extrait.csv").decode("utf-8").splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(";")
        if cells[1] == "0":
            cells = cells[:2] + [str(round(int(x) * 1.1)) if x else "" for x in cells[2:]]
        out.append(";".join(cells))
    return ("\n".join(out) + "\n").encode("utf-8")


def statistics(session, organisation_id, **where):
    query = (
        select(func.count())
        .select_from(TerritoryStatistic)
        .where(TerritoryStatistic.organisation_id == organisation_id)
    )
    for key, value in where.items():
        query = query.where(getattr(TerritoryStatistic, key) == value)
    return session.scalar(query)


def territory(session, organisation_id, kind):
    return session.scalar(
        select(Territory).where(Territory.organisation_id == organisation_id, Territory.kind == kind)
    )


def test_the_epci_file_is_read_as_epci_not_as_iris(db_session, demo):
    """Bug: the EPCI Filosofi file « imported » with success and wrote nothing (9 digits read as IRIS)."""
    epci = territory(db_session, demo.organisation_id, TerritoryKind.EPCI)
    assert epci is not None and epci.code == "200035715"
    report = import_statistics(
        db_session,
        demo.organisation_id,
        extract("FILO2019_DISP_EPCI_extrait.csv"),
        source="filosofi",
        filename="FILO2019_DISP_EPCI.csv",
    )
    assert report.ok and report.vintage == 2019 and not report.warnings
    assert report.stats.inserted > 0 and report.rows_outside == 2  # Rodez's and Toulouse's EPCI
    median = db_session.scalar(
        select(TerritoryStatistic).where(
            TerritoryStatistic.territory_id == epci.id, TerritoryStatistic.variable.like("%median%")
        )
    )
    assert median is not None and median.value == 18450


def test_a_file_that_concerns_no_territory_of_the_organisation_says_so(db_session, demo):
    before = statistics(db_session, demo.organisation_id)
    others = b"\n".join(
        line
        for line in extract("FILO2019_DISP_EPCI_extrait.csv").split(b"\r\n")
        if not line.startswith(b"200035715")
    )
    report = import_statistics(
        db_session, demo.organisation_id, others, source="filosofi", filename="FILO2019_DISP_EPCI.csv"
    )
    assert report.ok and report.wrote_nothing
    assert report.warnings == [
        "aucun chiffre de ce fichier ne concerne votre organisation : ses 2 territoire(s) (EPCI) sont tous "
        "hors de votre arborescence ; rien n'a été importé"
    ]
    assert statistics(db_session, demo.organisation_id) == before


def test_departements_and_regions_are_told_apart_by_the_file_name(db_session, demo):
    content = extract("FILO2019_DISP_DEP_extrait.csv")
    refused = import_statistics(
        db_session, demo.organisation_id, content, source="filosofi", filename="filo.csv"
    )
    assert not refused.ok and "départements ou régions ?" in refused.errors[0]
    department = territory(db_session, demo.organisation_id, TerritoryKind.DEPARTEMENT)
    report = import_statistics(
        db_session, demo.organisation_id, content, source="filosofi", filename="FILO2019_DISP_DEP.csv"
    )
    assert report.ok and report.rows_outside == 2
    assert statistics(db_session, demo.organisation_id, territory_id=department.id) > 0
    # the régions' file has a « 11 » too (Île-de-France): it must not land on the Aude
    regions = import_statistics(
        db_session,
        demo.organisation_id,
        extract("FILO2019_DISP_REG_extrait.csv"),
        source="filosofi",
        filename="FILO2019_DISP_REG.csv",
    )
    assert regions.ok
    region = territory(db_session, demo.organisation_id, TerritoryKind.REGION)
    stored_on_aude = db_session.scalar(
        select(TerritoryStatistic.value).where(
            TerritoryStatistic.territory_id == department.id, TerritoryStatistic.variable.like("%median%")
        )
    )
    assert stored_on_aude == 19550  # the Aude's median, not Île-de-France's 24 060
    if region is None:
        assert regions.wrote_nothing and "régions" in regions.warnings[0]


def test_a_vintage_that_contradicts_the_file_name_is_refused_unless_forced(db_session, demo):
    """Bug: --vintage 2021 on a file named …_2018_… stored its figures as 2021 and resized the needs."""
    before = statistics(db_session, demo.organisation_id)
    refused = import_statistics(
        db_session,
        demo.organisation_id,
        caf_grown(),
        source="caf",
        filename="data_CAF_2018_IRIS.csv",
        vintage=2021,
    )
    assert not refused.ok and refused.errors == [
        "millésime 2021 demandé mais le nom du fichier « data_CAF_2018_IRIS.csv » indique 2018 : importez-le "
        "comme 2018, ou forcez le millésime 2021 si le nom du fichier est trompeur"
    ]
    assert statistics(db_session, demo.organisation_id) == before
    agreeing = import_statistics(
        db_session,
        demo.organisation_id,
        caf_grown(),
        source="caf",
        filename="data_CAF_2021_IRIS.csv",
        vintage=2021,
    )
    assert agreeing.ok and agreeing.stats.inserted == 189


def test_a_vintage_imported_by_mistake_is_taken_back_and_the_needs_resized_back(db_session, demo):
    aah = db_session.scalar(
        select(Need).where(Need.organisation_id == demo.organisation_id, Need.code == "AAH")
    )
    size, vintage, source = aah.size, aah.vintage, aah.source
    forced = import_statistics(
        db_session,
        demo.organisation_id,
        caf_grown(),
        source="caf",
        filename="data_CAF_2018_IRIS.csv",
        vintage=2021,
        force_vintage=True,
    )
    assert forced.ok and forced.stats.inserted == 189
    resize_needs(db_session, demo.organisation_id)
    assert (aah.size, aah.vintage) == (2000, 2021)
    listed = {(v.source, v.vintage): v for v in imported_vintages(db_session, demo.organisation_id)}
    assert listed[("caf", 2021)].figures == 189 and listed[("caf", 2021)].evidencing >= 1

    audited = db_session.scalar(select(func.count()).select_from(AuditEntry))
    assert remove_statistics(db_session, demo.organisation_id, source="caf", vintage=2021) == 189
    resized = {code: (old, new) for code, old, new in resize_needs(db_session, demo.organisation_id).resized}
    assert resized["AAH"] == (2000, size)
    assert (aah.size, aah.vintage, aah.source) == (size, vintage, source)
    assert statistics(db_session, demo.organisation_id, vintage=2021, source="CNAF") == 0
    deleted = db_session.scalars(
        select(AuditEntry)
        .where(AuditEntry.table_name == "territory_statistics", AuditEntry.action == "delete")
        .order_by(AuditEntry.id.desc())
    ).all()
    assert len(deleted) >= 189 and '"vintage": "2021"' in deleted[0].old_value
    assert db_session.scalar(select(func.count()).select_from(AuditEntry)) > audited + 189

    with pytest.raises(StatisticsImportError, match="aucun chiffre CNAF du millésime 2021 n'est enregistré"):
        remove_statistics(db_session, demo.organisation_id, source="caf", vintage=2021)


def test_the_cli_warns_refuses_forces_and_removes(runner, engine, demo, tmp_path):
    """Through ``pilotis import statistics`` and ``pilotis import remove-statistics`` (committed, then undone).

    Each command names the organisation: Rodez's demo is in the database too once a test has asked for it."""
    from pilotis.database import write_session

    others = tmp_path / "FILO2019_DISP_EPCI.csv"
    others.write_bytes(
        b"\n".join(
            line
            for line in extract("FILO2019_DISP_EPCI_extrait.csv").split(b"\r\n")
            if not line.startswith(b"200035715")
        )
    )
    nothing = runner.invoke(
        args=["import", "statistics", str(others), "--source", "filosofi", "--organisation", demo.slug]
    )
    assert nothing.exit_code == 3, nothing.output
    assert "Avertissement : aucun chiffre de ce fichier ne concerne votre organisation" in nothing.output

    named_2018 = tmp_path / "data_CAF_2018_IRIS.csv"
    named_2018.write_bytes(caf_grown())
    refused = runner.invoke(
        args=[
            "import",
            "statistics",
            str(named_2018),
            "--source",
            "caf",
            "--vintage",
            "2021",
            "--organisation",
            demo.slug,
        ]
    )
    assert (
        refused.exit_code == 1
        and "le nom du fichier « data_CAF_2018_IRIS.csv » indique 2018" in refused.output
    )
    try:
        forced = runner.invoke(
            args=[
                "import",
                "statistics",
                str(named_2018),
                "--source",
                "caf",
                "--vintage",
                "2021",
                "--force-vintage",
                "--organisation",
                demo.slug,
            ]
        )
        assert forced.exit_code == 0, forced.output
        assert (
            "millésime 2021 : 189 chiffre(s) ajouté(s)" in forced.output
            and "besoin AAH : 1818" in forced.output
        )
    finally:
        removed = runner.invoke(
            args=[
                "import",
                "remove-statistics",
                "--source",
                "caf",
                "--vintage",
                "2021",
                "--as",
                "direction@carcassonne.pilotis.example",
                "--organisation",
                demo.slug,
            ]
        )
    assert removed.exit_code == 0, removed.output
    assert "Millésime 2021 (caf) retiré : 189 chiffre(s) supprimé(s)." in removed.output
    assert "besoin AAH : 2000" in removed.output and "→ 1818" in removed.output
    with write_session(engine) as session:
        aah = session.scalar(
            select(Need).where(Need.organisation_id == demo.organisation_id, Need.code == "AAH")
        )
        assert aah.size == 1818 and aah.vintage == 2020
        last = session.scalar(
            select(AuditEntry)
            .where(AuditEntry.table_name == "territory_statistics", AuditEntry.action == "delete")
            .order_by(AuditEntry.id.desc())
        )
        assert last.user_id is not None
    again = runner.invoke(
        args=[
            "import",
            "remove-statistics",
            "--source",
            "caf",
            "--vintage",
            "2021",
            "--organisation",
            demo.slug,
        ]
    )
    assert again.exit_code == 1 and "aucun chiffre CNAF du millésime 2021" in again.output

"""Statistics at every level, as INSEE and the CNAF publish them (issue 19, item 1): Filosofi and
CAF files by IRIS, commune, EPCI, département, région and France; the census bases in their
published layouts; Windows-1252/Latin-1 files; a national file with a bad row elsewhere; the ABS
report's comparison columns filled from what is held."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Organisation, Territory, TerritoryKind, TerritoryStatistic
from services.abs_report import build_portrait
from services.statistics_import import import_statistics

DATA = Path(__file__).resolve().parent.parent / "data" / "statistics"


def extract(name: str) -> bytes:
    return (DATA / name).read_bytes()


def territory(session, organisation_id, kind, code=None):
    query = select(Territory).where(Territory.organisation_id == organisation_id, Territory.kind == kind)
    if code is not None:
        query = query.where(Territory.code == code)
    return session.scalar(query)


def value(session, territory_id, variable, vintage=None):
    query = select(TerritoryStatistic).where(
        TerritoryStatistic.territory_id == territory_id, TerritoryStatistic.variable == variable
    )
    if vintage is not None:
        query = query.where(TerritoryStatistic.vintage == vintage)
    row = session.scalar(query.order_by(TerritoryStatistic.vintage.desc()))
    return None if row is None else row.value


def count(session, organisation_id):
    return session.scalar(
        select(func.count())
        .select_from(TerritoryStatistic)
        .where(TerritoryStatistic.organisation_id == organisation_id)
    )


def with_line(content: bytes, line: str, *, replace_prefix: str | None = None) -> bytes:
    """The file with ``line`` added (or put in place of the line starting with ``replace_prefix``)."""
    text = content.decode("utf-8-sig")
    lines = [x for x in text.splitlines() if x]
    if replace_prefix is not None:
        lines = [line if x.startswith(replace_prefix) else x for x in lines]
    else:
        lines.append(line)
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def whole_tree(session, organisation_id):
    """Give the demo the top of its tree: it stops at the département, while an organisation
    created by Pilotis has the whole tree up to France (services.organisations)."""
    if territory(session, organisation_id, TerritoryKind.FRANCE) is not None:
        return
    france = Territory(organisation_id=organisation_id, kind=TerritoryKind.FRANCE, code="FR", name="France")
    session.add(france)
    session.flush()
    region = Territory(
        organisation_id=organisation_id,
        kind=TerritoryKind.REGION,
        code="76",
        name="Occitanie",
        parent_id=france.id,
    )
    session.add(region)
    session.flush()
    territory(session, organisation_id, TerritoryKind.DEPARTEMENT, "11").parent_id = region.id
    session.flush()


def comparisons(session, organisation_id, code):
    organisation = session.get(Organisation, organisation_id)
    figure = next(f for f in build_portrait(session, organisation).figures if f.code == code)
    return {c.level: c for c in figure.comparisons}


def test_the_report_comparisons_fill_themselves_from_the_epci_departement_and_france_files(db_session, demo):
    """Bug: every EPCI, département and France comparison read « non disponible »."""
    org = demo.organisation_id
    whole_tree(db_session, org)
    for name, filename in (
        ("FILO2019_DISP_EPCI_extrait.csv", "FILO2019_DISP_EPCI.csv"),
        ("FILO2019_DISP_DEP_extrait.csv", "FILO2019_DISP_DEP.csv"),
        ("FILO2019_DISP_REG_extrait.csv", "FILO2019_DISP_REG.csv"),
        ("FILO2019_DISP_METROPOLE_construit.csv", "FILO2019_DISP_METROPOLE.csv"),
    ):
        report = import_statistics(db_session, org, extract(name), source="filosofi", filename=filename)
        assert report.ok, (name, report.errors)
    france = territory(db_session, org, TerritoryKind.FRANCE)
    assert france is not None and value(db_session, france.id, "filo_mediane_uc") == 21500
    median = comparisons(db_session, org, "filo_mediane_uc")
    assert (median["EPCI"].value, median["Département"].value, median["France"].value) == (
        18450,
        19550,
        21500,
    )
    assert median["Département"].vintage == "2019" and median["Département"].note == ""
    minima = comparisons(db_session, org, "filo_part_minima_sociaux")
    assert minima["Département"].value == pytest.approx(4.3)  # the Aude's PPMINI19, published « 4,3 »


def test_an_iris_census_base_in_the_published_layout_is_read(db_session, demo):
    org = demo.organisation_id
    content = extract("base-ic-evol-struct-pop-2021_extrait.csv")
    report = import_statistics(
        db_session, org, content, source="census", filename="base-ic-evol-struct-pop-2021.csv"
    )
    assert report.ok, report.errors
    assert (report.layout, report.vintage, report.vintages) == ("census-iris", 2021, [2021])
    # Toulouse's 3 IRIS are outside; the one with « n.d. » is skipped and counted, not refused
    assert report.rows_outside == 3 and report.rows_skipped == 1
    assert report.warnings == [
        "1 ligne(s) d'autres territoires illisible(s) ignorée(s) (par exemple ligne 25, colonne « P21_POP0002 » : "
        "« n.d. » n'est pas un nombre)"
    ]
    palais = territory(db_session, org, TerritoryKind.IRIS, "110690101")
    assert value(db_session, palais.id, "pop_80p", 2021) == pytest.approx(160.51801)
    assert value(db_session, palais.id, "pop_0_19", 2021) == pytest.approx(421.54273)
    stored = db_session.scalars(
        select(TerritoryStatistic).where(
            TerritoryStatistic.territory_id == palais.id, TerritoryStatistic.source == "INSEE RP"
        )
    ).all()
    assert {s.variable for s in stored} >= {
        "population",
        "pop_0_2",
        "pop_3_5",
        "pop_60_74",
        "pop_75p",
        "pop_65p",
    }
    again = import_statistics(
        db_session, org, content, source="census", filename="base-ic-evol-struct-pop-2021.csv"
    )
    assert again.ok and again.stats.inserted == 0 and again.stats.unchanged == report.stats.inserted


def test_the_communal_census_base_gives_both_of_its_vintages(db_session, demo):
    org = demo.organisation_id
    content = extract("base-cc-evol-struct-pop-2021_extrait.csv")
    report = import_statistics(
        db_session, org, content, source="census", filename="base-cc-evol-struct-pop-2021.CSV"
    )
    assert report.ok, report.errors
    assert report.layout == "census-commune" and report.vintages == [2021, 2015]
    commune = territory(db_session, org, TerritoryKind.COMMUNE, "11069")
    assert value(db_session, commune.id, "population", 2021) == 46119
    assert value(db_session, commune.id, "pop_75p", 2021) == 4780 + 927  # 75-89 + 90 and over
    assert value(db_session, commune.id, "population", 2015) == pytest.approx(45427.215)
    assert report.rows_outside == 2  # Rodez and Toulouse


def test_a_latin_1_file_is_read(db_session, demo):
    """Bug: a file saved in Windows-1252 or Latin-1 was refused (« pas encodé en UTF-8 »)."""
    org = demo.organisation_id
    whole_tree(db_session, org)
    text = extract("FILO2019_DISP_REG_extrait.csv").decode("utf-8-sig")
    assert "Île-de-France" in text
    report = import_statistics(
        db_session, org, text.encode("latin-1"), source="filosofi", filename="FILO2019_DISP_REG.csv"
    )
    assert report.ok, report.errors
    assert report.warnings[0].startswith("fichier lu en Windows-1252 (il n'est pas en UTF-8)")
    occitanie = territory(db_session, org, TerritoryKind.REGION, "76")
    assert occitanie is not None and value(db_session, occitanie.id, "filo_mediane_uc", 2019) == 20980


def test_a_national_file_with_a_bad_row_elsewhere_is_imported_with_that_row_counted(db_session, demo):
    org = demo.organisation_id
    content = with_line(
        extract("FILO2019_DISP_DEP_extrait.csv"),
        "13;Bouches-du-Rhône;n.d.;899000;;;20780" + ";" * 24,
    )
    content = with_line(content, "9X;Inconnu;1;1;;;1" + ";" * 24)  # a malformed code, not the Aude's
    report = import_statistics(db_session, org, content, source="filosofi", filename="FILO2019_DISP_DEP.csv")
    assert report.ok, report.errors
    assert (
        report.rows_skipped == 2
        and "2 ligne(s) d'autres territoires illisible(s) ignorée(s)" in report.warnings[0]
    )
    aude = territory(db_session, org, TerritoryKind.DEPARTEMENT, "11")
    assert value(db_session, aude.id, "filo_menages", 2019) == 166668


def test_the_organisations_own_rows_must_be_clean(db_session, demo):
    org = demo.organisation_id
    before = count(db_session, org)
    aude = "11;Aude;166668;351614;248894,3;14250;19550,5x" + ";0" * 24
    content = with_line(extract("FILO2019_DISP_DEP_extrait.csv"), aude, replace_prefix="11;")
    report = import_statistics(db_session, org, content, source="filosofi", filename="FILO2019_DISP_DEP.csv")
    assert not report.ok
    assert report.errors == ["ligne 2, colonne « Q219 » : « 19550,5x » n'est pas un nombre"]
    assert count(db_session, org) == before


@pytest.mark.parametrize(
    ("filename", "kind", "code"),
    [
        ("data_CAF_2020_COM.csv", TerritoryKind.COMMUNE, "11069"),
        ("data_CAF_2020_DEP.csv", TerritoryKind.DEPARTEMENT, "11"),
        ("data_CAF_2020_EPCI.csv", TerritoryKind.EPCI, "200035715"),
        ("data_CAF_2020_FRANCE.csv", TerritoryKind.FRANCE, "FR"),
    ],
)
def test_caf_files_are_read_at_every_level(db_session, demo, filename, kind, code):
    """The CNAF's layout at the commune, EPCI, département and France levels (constructed counts)."""
    org = demo.organisation_id
    whole_tree(db_session, org)
    header = extract("data_CAF_2020_IRIS_extrait.csv").decode().splitlines()[0]
    row = f"{code};0;25000;50000;1;4000;1;1;900;1;1;1;1;1;1;1;1;300;12000;1;2500;5000;3000"
    other = {"COM": "31555", "DEP": "31", "EPCI": "243100518", "FRANCE": "XX"}[filename.split("_")[3][:-4]]
    lines = [header, row] + ([] if kind is TerritoryKind.FRANCE else [f"{other};0" + ";1" * 21])
    report = import_statistics(
        db_session, org, ("\r\n".join(lines) + "\r\n").encode(), source="caf", filename=filename
    )
    assert report.ok, report.errors
    target = territory(db_session, org, kind, code)
    assert value(db_session, target.id, "caf_rsa_socle", 2020) == 3000
    assert report.rows_outside == (0 if kind is TerritoryKind.FRANCE else 1)

"""Importing published statistics: same file twice changes nothing, a new vintage adds one and
re-sizes the needs, and every bad file is refused with nothing written."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from models import Need, TerritoryStatistic
from services import territorial_data as data
from services.needs import resize_needs
from services.statistics_import import StatisticsImportError, import_statistics


def caf_file(transform=lambda row: row, extra_rows=()) -> bytes:
    """The real CAF 2020 IRIS rows of Carcassonne, optionally transformed."""
    source = (data.DATA_DIR / "iris_caf2020_occitanie25.csv").read_text(encoding="utf-8-sig").splitlines()
    rows = list(csv.reader(source, delimiter=";"))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(rows[0])
    for row in rows[1:]:
        if row[0].startswith("11069") or row[0].startswith("31555"):
            writer.writerow(transform(list(row)))
    for row in extra_rows:
        writer.writerow(row)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def grown(row):
    if row[1] == "0":
        return [row[0], row[1]] + [str(round(int(x) * 1.1)) if x else "" for x in row[2:]]
    return row


def count(session):
    return session.scalar(select(func.count()).select_from(TerritoryStatistic))


def test_the_same_file_twice_changes_nothing(db_session, demo):
    report = import_statistics(
        db_session, demo.organisation_id, caf_file(), source="caf", filename="data_CAF_2020_IRIS.csv"
    )
    assert report.ok and report.vintage == 2020
    assert report.stats.inserted == 0 and report.stats.unchanged == 189
    assert report.rows_outside > 0  # Toulouse's IRIS are outside the organisation: skipped


def test_a_new_vintage_is_added_and_the_needs_resized(db_session, demo):
    before = count(db_session)
    report = import_statistics(db_session, demo.organisation_id, caf_file(grown), source="caf", vintage=2021)
    assert report.ok and report.stats.inserted == 189 and count(db_session) == before + 189
    secret = db_session.scalars(select(TerritoryStatistic).where(TerritoryStatistic.vintage == 2021,
                                                                  TerritoryStatistic.variable == "caf_rsa_socle",
                                                                  TerritoryStatistic.is_secret)).all()  # fmt: skip
    assert len(secret) == 1 and secret[0].value is None  # the secret IRIS stays secret, never 0
    resized = {code: (old, new) for code, old, new in resize_needs(db_session, demo.organisation_id).resized}
    assert resized["AAH"] == (1818, 2000)
    aah = db_session.scalar(
        select(Need).where(Need.organisation_id == demo.organisation_id, Need.code == "AAH")
    )
    assert aah.vintage == 2021 and aah.source == "CNAF 2021"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a;b;c\n1;2;3\n", "disposition de fichier inconnue"),
        (b"PK\x03\x04\x00\x00binary", "pas un fichier texte CSV"),  # Latin-1 is read (test_statistics_levels)
    ],
)
def test_unreadable_files_are_refused(db_session, demo, content, message):
    with pytest.raises(StatisticsImportError, match=message):
        import_statistics(db_session, demo.organisation_id, content, source="caf", vintage=2020)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"transform": lambda r: r if r[0] != "110690101" else [r[0], r[1], "six cents", *r[3:]]},
            "« six cents » n'est pas un nombre",
        ),
        (
            {"extra_rows": [["110699999", "0"] + ["1"] * 21]},
            "territoire « 110699999 » absent de l'arborescence",
        ),
        ({"extra_rows": [["110690101", "0"] + ["600"] * 21]}, "en double"),
        ({"extra_rows": [["11069X", "0"] + ["1"] * 21]}, "code de territoire « 11069X » invalide"),
        (
            {"transform": lambda r: r if r[0] != "110690101" else [r[0], r[1], "999", *r[3:]]},
            "fichier contradictoire",
        ),
    ],
)
def test_bad_rows_are_located_and_nothing_is_written(db_session, demo, kwargs, message):
    before = count(db_session)
    report = import_statistics(
        db_session, demo.organisation_id, caf_file(**kwargs), source="caf", vintage=2020
    )
    assert not report.ok
    assert any(message in e for e in report.errors), report.errors
    assert count(db_session) == before


def test_a_caf_file_needs_its_vintage(db_session, demo):
    report = import_statistics(
        db_session, demo.organisation_id, caf_file(), source="caf", filename="allocataires.csv"
    )
    assert not report.ok and "millésime du fichier CAF inconnu" in report.errors[0]


def test_the_cli_imports_and_reports_the_resized_needs(make_app, demo_database_url, tmp_path):
    app = make_app(demo_database_url)  # where ``pilotis demo`` has run
    runner = app.test_cli_runner()
    path = tmp_path / "data_CAF_2021_IRIS.csv"
    path.write_bytes(caf_file(grown))
    result = runner.invoke(args=["import", "statistics", str(path), "--source", "caf"])
    assert result.exit_code == 0, result.output
    assert (
        "millésime 2021 : 189 chiffre(s) ajouté(s)" in result.output
        and "besoin AAH : 1818.0 → 2000.0" in result.output
    )
    refused = runner.invoke(args=["import", "statistics", str(path), "--source", "filosofi"])
    assert refused.exit_code == 1 and "pas à la source « filosofi »" in refused.output
    coherence = runner.invoke(args=["coherence"])
    assert coherence.exit_code == 0 and '"least_covered_priority_need": "AAH"' in coherence.output
    out = tmp_path / "c.xlsx"
    assert (
        runner.invoke(
            args=["coherence", "--format", "xlsx", "-o", str(out), "--publish-year", "2025"]
        ).exit_code
        == 0
    )
    from openpyxl import load_workbook

    book = load_workbook(out)
    assert book.sheetnames == ["Besoins", "Matrice", "Orphelins", "Règles"]
    assert all(c.data_type != "f" for ws in book for row in ws.iter_rows() for c in row)

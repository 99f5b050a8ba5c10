"""The ABS report built from the database: its figures are the published ones, secrets stay secret,
the analysis texts are versioned, the annex is text-safe, the CLI writes each format, and the
R123-1 calendar job reminds the direction once per period."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select

from jobs import runner
from jobs.registry import BY_NAME, Context
from models import (
    JobRun,
    Notification,
    Organisation,
    Role,
    Territory,
    TerritoryKind,
    TerritoryStatistic,
    User,
)
from pilotis.database import write_session
from services.abs_exports import annex_workbook
from services.abs_report import ReportError, build_report, save_text
from services.editing import StaleEdit
from services.needs import resize_needs
from services.policy import Principal
from tests.conftest import DEMO_COMMUNE

DATA = Path(__file__).resolve().parents[2] / "services" / "data" / "territoire"
SECRET_IRIS = "110690601"  # CNAF NOTE != 0: every CAF figure of this IRIS is secret


def pdf_text(content: bytes) -> bytes:
    """The PDF's streams, inflated (object streams hold the structure tree and the metadata)."""
    parts = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            parts.append(match.group(1))
    return content + b"".join(parts)


def principal(session, demo, login: str) -> Principal:
    user = session.scalar(select(User).where(User.email == f"{login}@carcassonne.pilotis.example"))
    return Principal.of(user)


@pytest.fixture(scope="module")
def insee():
    """The source files, read here independently of Pilotis's readers."""
    communes = pd.read_csv(DATA / "communes_occitanie25_indicateurs.csv", dtype={"codgeo": str})
    filosofi = pd.read_csv(
        DATA / "filosofi2019_communes_occitanie25.csv",
        sep=";",
        decimal=",",
        dtype={"CODGEO": str},
        encoding="utf-8-sig",
    )
    iris = pd.read_csv(
        DATA / "iris_filosofi2019_occitanie25.csv",
        sep=";",
        decimal=",",
        dtype={"IRIS": str, "COM": str},
        encoding="utf-8-sig",
    )
    return (
        communes.set_index("codgeo").loc[DEMO_COMMUNE],
        filosofi.set_index("CODGEO").loc[DEMO_COMMUNE],
        iris[iris["COM"] == DEMO_COMMUNE].set_index("IRIS"),
    )


def test_the_portrait_shows_the_published_figures_with_source_and_vintage(db_session, demo, insee):
    commune, filosofi, iris = insee
    report = build_report(db_session, demo.organisation_id, year=2027)
    figures = {f.code: f for f in report.portrait.figures}
    assert report.portrait.territory == "Carcassonne"
    population = figures["population"]
    assert population.value == commune["pop_rp2021"] == 46119
    assert (population.source, population.vintage) == ("INSEE RP", "2021")
    assert figures["filo_mediane_uc"].value == filosofi["Q219"] == 18450
    assert (figures["filo_mediane_uc"].source, figures["filo_mediane_uc"].vintage) == (
        "INSEE Filosofi",
        "2019",
    )
    assert figures["filo_d1"].value == filosofi["D119"]
    assert figures["part_75p"].value == pytest.approx(commune["pop_75p"] / commune["pop_rp2021"] * 100)
    assert figures["indice_vieillissement"].value == pytest.approx(
        commune["pop_65p"] / commune["pop_0_19"] * 100
    )
    # CAF counts: the sum of the published IRIS, a lower bound because one IRIS is secret
    rsa = figures["caf_rsa_socle"]
    assert rsa.value == commune["caf20_alloc_rsa_socle"] == 2971
    assert rsa.lower_bound and "1 IRIS" in rsa.note and rsa.vintage == "2020"
    assert figures["caf_aah"].value == commune["caf20_alloc_aah"]
    # no commune poverty rate in the embedded Filosofi file: not invented, the IRIS range is given
    poverty = figures["filo_taux_pauvrete_60"]
    assert poverty.value is None and not poverty.masked
    low, high = iris["DISP_TP6019"].min(), iris["DISP_TP6019"].max()
    assert f"de {low:.1f} % à {high:.1f} %".replace(".", ",") in poverty.note
    # the IRIS poverty rates are the INSEE file's
    column = [c[0] for c in report.portrait.iris.columns].index("filo_taux_pauvrete_60")
    shown = {row.code: row.cells[column] for row in report.portrait.iris.rows}
    for code, rate in iris["DISP_TP6019"].items():
        assert shown[code].status == "ok" and shown[code].value == pytest.approx(rate)
    # Pilotis holds no EPCI, département or national statistic for the demo: never estimated
    assert [(c.level, c.territory) for c in population.comparisons] == [
        ("EPCI", "CA Carcassonne Agglo"),
        ("Département", "Aude"),
        ("France", None),
    ]
    assert all(
        c.value is None and c.note == "non disponible" for f in figures.values() for c in f.comparisons
    )
    assert {"INSEE RP 2021", "INSEE Filosofi 2019", "CNAF 2020"} <= set(report.sources)


def test_a_wider_territory_is_compared_when_its_statistics_are_held(db_session, demo):
    departement = db_session.scalar(
        select(Territory).where(
            Territory.organisation_id == demo.organisation_id, Territory.kind == TerritoryKind.DEPARTEMENT
        )
    )
    for variable, value in (("population", 374070.0), ("pop_75p", 43400.0)):
        db_session.add(
            TerritoryStatistic(
                organisation_id=demo.organisation_id,
                territory_id=departement.id,
                variable=variable,
                label=variable,
                unit="personnes",
                vintage=2021,
                source="INSEE RP",
                value=value,
            )
        )
    db_session.flush()
    figures = {f.code: f for f in build_report(db_session, demo.organisation_id, year=2027).portrait.figures}
    compared = {c.level: c for c in figures["part_75p"].comparisons}
    assert compared["Département"].value == pytest.approx(43400 / 374070 * 100)
    assert compared["EPCI"].value is None and compared["EPCI"].note == "non disponible"
    assert {c.level: c.value for c in figures["population"].comparisons}["Département"] == 374070


def test_secret_and_small_counts_stay_masked_everywhere(db_session, demo):
    small = db_session.scalar(
        select(TerritoryStatistic)
        .join(Territory, Territory.id == TerritoryStatistic.territory_id)
        .where(
            Territory.organisation_id == demo.organisation_id,
            Territory.code == "110690801",
            TerritoryStatistic.variable == "caf_rsa_socle",
        )
    )
    small.value = 5.0  # below the threshold of 11
    db_session.flush()
    resize_needs(db_session, demo.organisation_id)  # as every import does
    report = build_report(db_session, demo.organisation_id, year=2027)
    columns = [c[0] for c in report.portrait.iris.columns]
    rows = {row.code: row for row in report.portrait.iris.rows}
    secret = rows[SECRET_IRIS]
    assert all(c.value is None and c.status in ("secret", "missing") for c in secret.cells)
    assert {c.status for c in secret.cells[columns.index("caf_allocataires") :]} == {"secret"}
    rsa = columns.index("caf_rsa_socle")
    assert rows["110690801"].cells[rsa].status == "masked" and rows["110690801"].cells[rsa].value is None
    # the column shows a total: a second cell is masked so the small one cannot be recovered
    masked = [code for code, row in rows.items() if row.cells[rsa].status == "masked"]
    assert len(masked) == 2
    book = load_workbook(BytesIO(annex_workbook(report)))
    sheet = book["IRIS"]
    by_code = {r[0].value: r for r in sheet.iter_rows(min_row=2)}
    assert by_code[SECRET_IRIS][2 + rsa].value == "secret"
    assert by_code["110690801"][2 + rsa].value == "secret"
    values = [cell.value for row in sheet.iter_rows(min_row=2) for cell in row]
    assert 5 not in values and 5.0 not in values


def test_a_thematic_analysis_keeps_its_public(db_session, demo):
    report = build_report(db_session, demo.organisation_id, year=2028, kind="theme", theme="personnes_agees")
    assert report.title == "Analyse thématique 2028 — Personnes âgées"
    assert [n.line.code for n in report.needs] == ["PA80"]
    assert {o.code for o in report.objectives} == {"OS1", "OO1.1", "OO1.2"}
    assert report.coherence.groups == ["Personnes âgées"]
    codes = {f.code for f in report.portrait.figures}
    assert {"part_75p", "pop_80p", "population"} <= codes and "caf_rsa_socle" not in codes
    families = build_report(db_session, demo.organisation_id, year=2028, kind="theme", theme="familles")
    assert {n.line.code for n in families.needs} == {"MONOPARENTS", "FAMILLES_NOMBREUSES"}
    with pytest.raises(ReportError, match="Public « chats » inconnu"):
        build_report(db_session, demo.organisation_id, year=2028, kind="theme", theme="chats")
    with pytest.raises(ReportError, match="entre 2000 et 2200"):
        build_report(db_session, demo.organisation_id, year=1999)


def test_analysis_texts_are_versioned_and_a_stale_edit_is_refused(db_session, demo):
    direction = principal(db_session, demo, "direction")
    row, changed = save_text(
        db_session,
        direction,
        demo.organisation_id,
        2027,
        "full",
        None,
        "portrait",
        "Un territoire qui vieillit.",
        0,
    )
    assert changed and row.version == 1 and row.updated_by_id == direction.user_id
    row, changed = save_text(
        db_session,
        direction,
        demo.organisation_id,
        2027,
        "full",
        None,
        "portrait",
        "Un territoire qui vieillit vite.",
        1,
    )
    assert changed and row.version == 2
    with pytest.raises(StaleEdit) as stale:
        save_text(
            db_session, direction, demo.organisation_id, 2027, "full", None, "portrait", "Version ancienne", 1
        )
    message = stale.value.message({"text": "Texte d'analyse"})
    assert "modifiée entre-temps" in message and "Un territoire qui vieillit vite." in message
    with pytest.raises(StaleEdit):  # the form was read before anybody wrote the text
        save_text(db_session, direction, demo.organisation_id, 2027, "full", None, "portrait", "Autre", 0)
    report = build_report(db_session, demo.organisation_id, year=2027)
    assert (
        report.text("portrait").text == "Un territoire qui vieillit vite."
        and report.text("portrait").version == 2
    )
    assert report.text("synthese").version == 0
    # another year or a thematic analysis has its own texts
    assert build_report(db_session, demo.organisation_id, year=2028).text("portrait").text == ""
    with pytest.raises(PermissionError):
        save_text(
            db_session,
            principal(db_session, demo, "elu"),
            demo.organisation_id,
            2027,
            "full",
            None,
            "portrait",
            "Texte d'élu",
            2,
        )
    with pytest.raises(ReportError, match="Section « inconnue » inconnue"):
        save_text(db_session, direction, demo.organisation_id, 2027, "full", None, "inconnue", "x", 0)


def test_the_annex_has_one_sheet_per_table_and_text_never_becomes_a_formula(db_session, demo):
    direction = principal(db_session, demo, "direction")
    save_text(db_session, direction, demo.organisation_id, 2027, "full", None, "synthese", "=SOMME(A1:A9)", 0)
    book = load_workbook(BytesIO(annex_workbook(build_report(db_session, demo.organisation_id, year=2027))))
    assert book.sheetnames == [
        "Sommaire",
        "Portrait",
        "IRIS",
        "Projections",
        "Méthode des projections",
        "Participation",
        "Qualitatif",
        "Partenaires",
        "Besoins",
        "Matrice",
        "Couverture par public",
        "Écarts",
        "Objectifs",
        "Plan d'action",
        "Analyses",
    ]
    portrait = {row[1].value: row for row in book["Portrait"].iter_rows(min_row=2)}
    assert portrait["Population municipale"][2].value == 46119
    assert portrait["Population municipale"][5].value == "INSEE RP"
    assert portrait["Taux de pauvreté au seuil de 60 %"][2].value == "non disponible"
    analyses = {row[0].value: row[1] for row in book["Analyses"].iter_rows(min_row=2)}
    assert analyses["Synthèse"].value == "=SOMME(A1:A9)" and analyses["Synthèse"].data_type == "s"
    partners = [row[0].value for row in book["Partenaires"].iter_rows(min_row=2)]
    assert "Caisse d'allocations familiales (partenaire)" in partners


def test_the_cli_writes_each_format(app, demo, tmp_path):
    cli = app.test_cli_runner()

    def run(*args: str):
        return cli.invoke(args=["report", "abs", "--organisation", demo.slug, *args])

    xlsx = tmp_path / "annexe.xlsx"
    result = run("--year", "2027", "--format", "xlsx", "-o", str(xlsx))
    assert result.exit_code == 0, result.output
    assert "Portrait" in load_workbook(xlsx).sheetnames
    html = tmp_path / "rapport.html"
    result = run("--year", "2028", "--theme", "personnes_agees", "--format", "html", "-o", str(html))
    assert result.exit_code == 0, result.output
    text = html.read_text(encoding="utf-8")
    assert '<html lang="fr">' in text and "Analyse thématique 2028 — Personnes âgées" in text
    assert "<style>" in text and "<svg" in text
    pdf = tmp_path / "rapport.pdf"
    result = run("--year", "2027", "--format", "pdf", "-o", str(pdf))
    assert result.exit_code == 0, result.output
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF")
    inflated = pdf_text(content)
    assert demo.name.encode() in inflated
    assert b'pdfuaid:part="1"' in inflated and b"/StructTreeRoot" in inflated and b"/Lang" in inflated
    result = run("--year", "2028", "--theme", "chats", "--format", "html", "-o", str(html))
    assert result.exit_code == 1 and "Erreur : Public « chats » inconnu" in result.output


@pytest.fixture
def clean_calendar(engine, demo):
    with write_session(engine) as session:
        before = session.scalar(select(func.max(Notification.id))) or 0
    yield
    with write_session(engine) as session:
        session.execute(delete(Notification).where(Notification.id > before))
        session.execute(delete(JobRun).where(JobRun.job_name == "abs-calendar"))


def test_the_calendar_job_reminds_the_direction_once_per_period(engine, demo, tmp_path, clean_calendar):
    spec = BY_NAME["abs-calendar"]
    september = Context(now=datetime(2026, 9, 14, 7, 0, tzinfo=UTC), packs_folder=tmp_path)
    with write_session(engine) as session:
        organisation = session.get(Organisation, demo.organisation_id)
        assert spec.due(session, organisation, september) == ["ABS2027-sept"]
        directors = session.scalars(
            select(User.id).where(User.organisation_id == demo.organisation_id, User.role == Role.DIRECTION)
        ).all()
    first = runner.run_one(engine, spec, demo.organisation_id, "ABS2027-sept", september)
    assert first.status == "succeeded", first.message
    assert first.message == f"{len(directors)} rappel(s) du calendrier de l'ABS envoyé(s) à la direction"
    later = Context(now=datetime(2026, 10, 2, 7, 0, tzinfo=UTC), packs_folder=tmp_path)
    assert runner.run_one(engine, spec, demo.organisation_id, "ABS2027-sept", later).status == "skipped"
    with write_session(engine) as session:
        notes = session.scalars(
            select(Notification).where(
                Notification.organisation_id == demo.organisation_id,
                Notification.title.like("Analyse des besoins sociaux%"),
            )
        ).all()
        assert sorted(n.user_id for n in notes) == sorted(directors)
        assert notes[0].title == "Analyse des besoins sociaux : diagnostic complet dû en 2027"
        assert notes[0].link == "/abs?annee=2027" and notes[0].kind == "reminder"
        assert "R123-1" in notes[0].body


def test_the_portrait_is_the_observatorys_standard_indicators(db_session, demo):
    """One definition (scorecard.territorial_indicators): every portrait figure is a standard
    indicator, with its label and formula, and the value /observatoire shows for the territory."""
    from scorecard.territorial_indicators import BY_CODE
    from services.observatory import build_observatory

    organisation = db_session.get(Organisation, demo.organisation_id)
    report = build_report(db_session, demo.organisation_id, year=2027)
    observatory = build_observatory(db_session, organisation)
    latest = {item.indicator.code: item.latest for t in observatory.themes for item in t.indicators}
    compared = 0
    for figure in report.portrait.figures:
        if figure.code == "croissance":
            continue
        standard = BY_CODE[figure.code]
        assert figure.label == standard.label and figure.unit == standard.unit
        assert figure.definition in ("", standard.formula)
        point = latest.get(figure.code)
        if point is None or figure.code == "part_couverte_caf":
            continue  # CAF persons covered: the report sums the published IRIS (a lower bound)
        assert figure.masked == point.masked, figure.code
        if figure.value is not None and point.value is not None:
            assert figure.value == pytest.approx(point.value), figure.code
            compared += 1
    assert compared >= 15


def test_the_report_holds_projections_participation_and_qualitative_evidence(db_session, demo):
    from datetime import date

    from models import EvidenceKind, Need, NeedObservation

    need = db_session.scalar(
        select(Need).where(Need.organisation_id == demo.organisation_id, Need.code == "PA80")
    )
    db_session.add(
        NeedObservation(
            need_id=need.id,
            kind=EvidenceKind.PARTNER_NOTE,
            observed_on=date(2026, 10, 2),
            source="Département de l'Aude, équipe médico-sociale APA",
            summary="Listes d'attente pour l'aide à domicile des plus de 85 ans.",
        )
    )
    db_session.flush()
    report = build_report(db_session, demo.organisation_id, year=2027)
    # projections: the demo holds one census (2021); the older groups follow Aude's projection
    # of the 75+ (PERSAGEES: 47 540 in 2021, 65 560 in 2030, both sexes), the others are not invented
    outlook = report.outlook
    assert outlook is not None and outlook.available and outlook.horizons == [2027, 2030]
    assert outlook.reference == "Aude" and "département (Aude)" in outlook.method
    by = {p.variable: p for p in outlook.projections}
    assert by["pop_75p"].values[2030] == pytest.approx(5707 * 65560 / 47540)
    assert not by["population"].projected and "un seul recensement" in by["population"].reason
    pa80 = next(n for n in outlook.needs if n.code == "PA80")
    future = pa80.future[2030]
    assert future.size == pytest.approx(3619 * 65560 / 47540)
    assert future.coverage_rate == pytest.approx(pa80.covered / future.size)
    assert future.coverage_rate < pa80.coverage_rate  # at today's offer, the 80+ are less covered
    # the 312-answer needs barometer and the consultation, with their counts and intervals
    surveys = {s.title: s for s in report.surveys}
    barometer = surveys["Baromètre des besoins sociaux 2026"]
    assert barometer.responses == 312 and not barometer.masked
    first = barometer.questions[0]
    assert first.answered == 312 and sum(o.count or 0 for o in first.options) == 312
    assert all(o.low <= o.share <= o.high for o in first.options if not o.masked)
    consultation = next(s for s in report.surveys if s.consultation)
    assert sum(c.score for c in consultation.consultation) == pytest.approx(1)
    # a small answer is masked with a complementary one: never alone
    for survey in report.surveys:
        for question in survey.questions:
            masked = [o for o in question.options if o.masked]
            if masked and question.kind != "multiple":
                assert len(masked) >= 2 and all(o.count is None and o.share is None for o in masked)
                shown = sum(o.count or 0 for o in question.options)
                assert (question.answered or 0) - shown >= survey.threshold
            assert all(o.masked or o.count >= survey.threshold for o in question.options)
    # the qualitative material, with its date, who was heard and the summary
    rows = [o for o in report.observations if o.need == need.label]
    assert [(o.day, o.kind) for o in rows] == [(date(2026, 10, 2), "Note d'un partenaire")]
    # the partners consulted with their contribution: the note names the Département
    contributions = {p.partner_type: p.contributions for p in report.partners}
    assert contributions["Département"] == [
        f"Note d'un partenaire du 02/10/2026 ({need.label}) : Listes d'attente pour l'aide à domicile des "
        "plus de 85 ans."
    ]
    assert contributions["Caisse d'allocations familiales"] == []
    assert any("Allocataires du RSA (" in n and "territoires)" in n for p in report.partners for n in p.needs)
    themed = build_report(db_session, demo.organisation_id, year=2027, kind="theme", theme="familles")
    assert themed.observations == []
    # the Excel annex: the same projections, answers and material, no small count written
    book = load_workbook(BytesIO(annex_workbook(report)))
    projections = {r[0]: r for r in book["Projections"].iter_rows(min_row=2, values_only=True)}
    assert projections["75 ans et plus"][1] == "part du département"
    assert projections["75 ans et plus"][7] == pytest.approx(5707 * 65560 / 47540)
    answers = list(book["Participation"].iter_rows(min_row=2, values_only=True))
    assert any(r[0] == "Baromètre des besoins sociaux 2026" and r[2] == 312 for r in answers)
    assert all(not isinstance(r[6], int | float) or r[6] >= 11 for r in answers)
    material = list(book["Qualitatif"].iter_rows(min_row=2, values_only=True))
    assert [r[1] for r in material] == ["Note d'un partenaire"]


def test_secrecy_follows_the_projections(db_session, demo):
    """A secret 75+ count is never projected (nor shown), and a masked need shows no future size
    or coverage."""
    from dataclasses import replace

    from services.coherence import build_coherence
    from services.observatory import _Held, build_outlook, main_territory

    organisation = db_session.get(Organisation, demo.organisation_id)
    commune = main_territory(db_session, organisation)
    row = db_session.scalar(
        select(TerritoryStatistic).where(
            TerritoryStatistic.territory_id == commune.id, TerritoryStatistic.variable == "pop_75p"
        )
    )
    row.is_secret, row.value = True, None
    db_session.flush()
    view = build_coherence(db_session, demo.organisation_id)
    lines = [replace(n, masked=True) if n.code == "PA80" else n for n in view.needs]
    held = _Held(db_session, demo.organisation_id, view.disclosure)
    outlook = build_outlook(db_session, demo.organisation_id, held, commune, [2030], lines)
    by = {p.variable: p for p in outlook.projections}
    assert by["pop_75p"].masked and by["pop_75p"].values == {} and by["pop_75p"].base_value is None
    assert not by["pop_80p"].projected  # its container is secret: nothing borrowed from it
    pa80 = next(n for n in outlook.needs if n.code == "PA80")
    assert pa80.masked and pa80.size is None and pa80.covered is None
    assert pa80.future[2030].size is None and pa80.future[2030].coverage_rate is None

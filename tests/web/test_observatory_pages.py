"""The observatory (issue 19, item 2): every held statistic of a territory by theme, its trend
over the held vintages, its comparison with the wider territories, a chart and a table per
indicator, secrecy kept, exported to Excel."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from models import Territory, TerritoryStatistic
from pilotis.database import write_session
from services.statistics_import import import_statistics
from tests.conftest import rows_added_are_removed

DATA = Path(__file__).resolve().parent.parent / "data" / "statistics"


def _article(html: str, code: str) -> str:
    start = html.index(f'id="ind-{code}"')
    return html[start : html.index("</article>", start)]


def test_the_director_reads_every_theme_with_comparisons_charts_and_tables(login_as):
    html = login_as("direction").get("/observatoire").get_data(as_text=True)
    for title in ("Population", "Vieillissement", "Revenus et pauvreté", "Prestations des CAF"):
        assert f">{title}</h2>" in html
    assert (
        "Carcassonne" in html
        and "Formule\u00a0: population de 65 ans et plus / population de moins de 20 ans × 100" in html
    )
    ageing = _article(html, "indice_vieillissement")
    assert "<svg" in ageing and "<table>" in ageing
    # ageing index of Carcassonne, census 2021: 65+ / under 20 × 100, hand-computed from the demo
    assert re.search("Département\u00a0: Aude", html)
    median = _article(html, "filo_mediane_uc")
    assert "18\u202f450" in median or "18\u00a0450" in median  # French thousands separator


def test_secret_cells_and_their_derived_figures_stay_secret(login_as, engine, demo):
    """The IRIS of Carcassonne whose CAF counts are secret: its RSA count and RSA per 100 households are « secret »."""
    with write_session(engine) as session:
        iris = session.scalar(
            select(Territory).where(
                Territory.organisation_id == demo.organisation_id, Territory.code == "110690601"
            )
        )
        secret = session.scalar(
            select(TerritoryStatistic).where(
                TerritoryStatistic.territory_id == iris.id, TerritoryStatistic.variable == "caf_rsa_socle"
            )
        )
        assert secret is not None and secret.is_secret
        iris_id = iris.id
    html = login_as("partenaire").get(f"/observatoire?territoire={iris_id}").get_data(as_text=True)
    for code in ("caf_rsa_socle", "rsa_pour_100_menages", "part_monoparents_caf"):
        figure = _article(html, code)
        assert '<span class="figure">secret</span>' in figure and ">secret</td>" in figure, code
        assert "Commune\u00a0: Carcassonne" in figure  # compared with its commune
    commune = _article(login_as("partenaire").get("/observatoire").get_data(as_text=True), "caf_rsa_socle")
    assert "minorant, 1 IRIS secret" in commune and '<span class="figure">secret</span>' not in commune


def test_a_second_census_vintage_gives_a_trend(login_as, engine, demo):
    with rows_added_are_removed(engine):  # the journal's rows and the figures the file adds
        with write_session(engine) as session:
            report = import_statistics(
                session,
                demo.organisation_id,
                (DATA / "base-cc-evol-struct-pop-2021_extrait.csv").read_bytes(),
                source="census",
                filename="base-cc-evol-struct-pop-2021.CSV",
            )
            assert report.ok, report.errors
        html = login_as("direction").get("/observatoire").get_data(as_text=True)
        population = _article(html, "population")
        assert "<td>2015</td>" in population and "<td>2021</td>" in population
        assert "évolution\u00a0: +692 entre 2015 et 2021" in population  # 46 119 − 45 427,215, rounded
        assert "<path" in population  # the trend line
        book = load_workbook(BytesIO(login_as("direction").get("/observatoire/export.xlsx").data))
        rows = list(book.active.iter_rows(values_only=True))
        assert rows[0][:6] == ("Thème", "Indicateur", "Territoire", "Niveau", "Millésime", "Valeur")
        assert ("Population", "Population municipale", "Carcassonne", "Commune", 2015, 45427) in [
            r[:6] for r in rows
        ]


def test_the_export_writes_secret_as_text_and_is_refused_to_strangers(login_as, client):
    response = login_as("direction").get("/observatoire/export.xlsx")
    assert response.status_code == 200
    rows = list(load_workbook(BytesIO(response.data)).active.iter_rows(values_only=True))
    assert len(rows) > 20
    assert client.get("/observatoire").status_code in (302, 401)


def test_two_censuses_give_projections_and_the_needs_they_imply(login_as, engine, demo):
    """The communal base (P15_ and P21_ columns): the 75+ and the 80+ need projected to 2030, on
    /observatoire and in the ABS report (page and Word), with the method and its limits."""
    from docx import Document

    with rows_added_are_removed(engine):
        with write_session(engine) as session:
            report = import_statistics(
                session,
                demo.organisation_id,
                (DATA / "base-cc-evol-struct-pop-2021_extrait.csv").read_bytes(),
                source="census",
                filename="base-cc-evol-struct-pop-2021.CSV",
            )
            assert report.ok, report.errors
        director = login_as("direction")
        html = director.get("/observatoire").get_data(as_text=True)
        section = html[html.index('id="projections"') :]
        # the 75+ follow Aude's projection (47 540 in 2021, 65 560 in 2030); the population its trend:
        # 45 427,215 in 2015, 46 119 in 2021 → × (46 119 / 45 427,215)^(9/6) in 2030
        expected = 46119 * (46119 / 45427.215) ** 1.5
        assert (
            f"{expected:,.0f}".replace(",", "\u202f") in section
            or f"{expected:,.0f}".replace(",", "\u00a0") in section
        )
        assert "part du département des 75 ans et plus" in section  # the 80+: one census only
        assert "7\u202f870" in section or "7\u00a0870" in section  # 5 707 × 65 560 / 47 540
        assert (
            "En 2030, à l'offre d'aujourd'hui, la couverture du besoin « Personnes âgées de 80 ans" in section
        )
        assert "Omphale" in section and "Méthode" in section
        book = load_workbook(BytesIO(director.get("/observatoire/export.xlsx").data))
        projected = {
            (r[1], r[4]): r for r in book.active.iter_rows(values_only=True) if r[0] == "Projections"
        }
        assert projected[("75 ans et plus", 2030)][5] == round(5707 * 65560 / 47540)
        assert "méthode des parts" in projected[("75 ans et plus", 2030)][7]
        page = director.get("/abs?annee=2027").get_data(as_text=True)
        body = page[page.index('id="section-projections"') : page.index('id="section-participation"')]
        assert "2027" in body and "2030" in body and "(fragile)" in body and "Limites" in body
        from services.abs_report import build_report
        from services.abs_word import word_document

        with write_session(engine) as session:
            document = Document(
                BytesIO(word_document(build_report(session, demo.organisation_id, year=2027)))
            )
        headers = [[c.text for c in t.rows[0].cells] for t in document.tables]
        assert ["Tranche d'âge", "Méthode", "Recensements", "Variation annuelle", "2027", "2030"] in headers
        text = "\n".join(p.text for p in document.paragraphs)
        assert (
            "Participation des habitants et des usagers" in text
            and "312 répondants, 99 réponses libres." in text
        )

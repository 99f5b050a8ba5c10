"""Unit costs per year: each year's cost over that year's volume (its actual volume, else the
activity's output indicator, else its reference volume), the volume and its source beside every
unit cost on the cost page and in the exports, and the scenario's unit costs from the latest
closed year."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models import Activity, ActivityVolume
from services.costing import compute, current_costs, load_volumes
from services.scenarios import current_problem


def activity(session, organisation_id: int, code: str) -> Activity:
    return session.scalar(
        select(Activity).where(Activity.organisation_id == organisation_id, Activity.code == code)
    )


def row(report, code: str):
    return report.activities[report.activities["code"] == code].iloc[0]


def test_each_year_divides_by_its_own_volume(db_session, demo):
    org = demo.organisation_id
    meals = {year: row(compute(db_session, org, year), "A_PORTAGE") for year in (2024, 2025)}
    # the demo holds no yearly volumes: the meals measured each year (output indicator « repas »)
    assert meals[2024]["volume_label"] == "indicateur « Repas livrés à domicile », 2024"
    assert meals[2024]["volume"] != meals[2025]["volume"] != 34_000
    for year, meal in meals.items():
        assert meal["unit_cost"] == pytest.approx(meal["full_cost"] / meal["volume"], rel=1e-12), year


def test_an_actual_volume_comes_first_then_the_indicator_then_the_reference(db_session, demo):
    org = demo.organisation_id
    portage = activity(db_session, org, "A_PORTAGE")
    db_session.add(ActivityVolume(activity_id=portage.id, year=2024, actual_volume=35_876, source="saisie"))
    db_session.add(ActivityVolume(activity_id=portage.id, year=2026, planned_volume=36_500))
    db_session.flush()
    meal_2024 = row(compute(db_session, org, 2024), "A_PORTAGE")
    assert meal_2024["volume"] == 35_876 and meal_2024["volume_label"] == "réalisé 2024 (saisie)"
    assert meal_2024["unit_cost"] == pytest.approx(meal_2024["full_cost"] / 35_876, rel=1e-12)
    # the 2026 budget: the planned volume (the year is not over: no indicator total, no actual)
    meal_2026 = row(compute(db_session, org, 2026), "A_PORTAGE")
    assert (meal_2026["volume"], meal_2026["volume_source"]) == (36_500, "prevu")
    # a planned volume does not count for the accounts of a year
    accounts = load_volumes(db_session, org, 2026, "actual").loc[portage.id]
    assert accounts["volume_source"] == "reference" and accounts["volume"] == 34_000


def test_a_unit_counted_per_year_does_not_add_up_monthly_values(db_session, demo):
    """RSA support counts persons accompanied over the year (« personne accompagnée (an) »): the 12
    monthly counts of persons accompanied are not added up (that would be 12 times too many)."""
    org = demo.organisation_id
    rsa = activity(db_session, org, "A_RSA")
    volume = load_volumes(db_session, org, 2025, "actual").loc[rsa.id]
    assert volume["volume_source"] == "reference" and volume["volume"] == rsa.volume


def test_the_scenario_unit_costs_use_the_latest_closed_year(db_session, demo):
    org = demo.organisation_id
    portage = activity(db_session, org, "A_PORTAGE")
    closed = current_costs(db_session, org)[portage.id]
    assert closed["year"] == 2025 and closed["volume"] != 34_000
    spec = next(a for a in current_problem(db_session, org).activities if a.code == "A_PORTAGE")
    assert spec.unit_cost == pytest.approx(
        (closed["full_cost"] - float(portage.fixed_cost)) / closed["volume"], abs=1e-6
    )
    assert spec.current_volume == 34_000  # today's volume stays the activity's


def test_the_cost_page_and_the_exports_show_the_volume_and_its_source(login_as, demo):
    client = login_as("finances")
    page = client.get("/couts?annee=2025").get_data(as_text=True)
    assert "indicateur « Repas livrés à domicile », 2025" in page
    assert "volume de référence de l&#39;activité" in page  # where nothing was measured
    trend = page.split("Évolution du coût unitaire", 1)[1]
    assert "indicateur « Repas livrés à domicile », 2024" in trend
    book = load_workbook(io.BytesIO(client.get("/couts/export.xlsx?annee=2025").data))
    sheet = book["Coûts par activité"]
    headers = [c.value for c in sheet[1]]
    assert headers[3:5] == ["Volume", "Source du volume"] and "Source du volume 2024" in headers
    portage = next(
        r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] == "Portage de repas à domicile"
    )
    assert portage[4] == "indicateur « Repas livrés à domicile », 2025" and portage[3] != 34_000

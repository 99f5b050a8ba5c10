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
from pilotis.database import write_session
from services.costing import compute, current_costs, load_volumes
from services.scenarios import current_problem


def activity(session, organisation_id: int, code: str) -> Activity:
    return session.scalar(
        select(Activity).where(Activity.organisation_id == organisation_id, Activity.code == code)
    )


def row(report, code: str):
    return report.activities[report.activities["code"] == code].iloc[0]


def set_volume(session, activity: Activity, year: int, *, planned=None, actual=None, source=None) -> None:
    """The year's row of ``activity_volumes`` as given (created if the demo has none)."""
    row = session.scalar(
        select(ActivityVolume).where(ActivityVolume.activity_id == activity.id, ActivityVolume.year == year)
    )
    if row is None:
        row = ActivityVolume(activity_id=activity.id, year=year)
        session.add(row)
    row.planned_volume, row.actual_volume, row.source = planned, actual, source
    session.flush()


def test_each_year_divides_by_its_own_volume(db_session, demo):
    org = demo.organisation_id
    portage = activity(db_session, org, "A_PORTAGE")
    set_volume(db_session, portage, 2024, planned=34_000, actual=35_876, source="saisie")
    set_volume(db_session, portage, 2025, planned=35_000, actual=36_410, source="import")
    meals = {year: row(compute(db_session, org, year), "A_PORTAGE") for year in (2024, 2025)}
    assert (meals[2024]["volume"], meals[2024]["volume_label"]) == (35_876, "réalisé 2024 (saisie)")
    assert (meals[2025]["volume"], meals[2025]["volume_label"]) == (36_410, "réalisé 2025 (import)")
    for year, meal in meals.items():  # never the reference 34 000 of the activity's sheet
        assert meal["unit_cost"] == pytest.approx(meal["full_cost"] / meal["volume"], rel=1e-12), year


def test_an_actual_volume_comes_first_then_the_indicator_then_the_reference(db_session, demo):
    org = demo.organisation_id
    portage = activity(db_session, org, "A_PORTAGE")
    # no actual volume for 2024: the twelve months of its output indicator « Repas livrés à domicile »
    set_volume(db_session, portage, 2024, planned=34_000)
    meal_2024 = row(compute(db_session, org, 2024), "A_PORTAGE")
    assert meal_2024["volume_label"] == "indicateur « Repas livrés à domicile », 2024"
    assert meal_2024["volume"] > 30_000 and meal_2024["volume"] != 34_000
    # no output indicator counting « participation »: the activity's reference volume
    isolation = activity(db_session, org, "A_ISOLEMENT")
    set_volume(db_session, isolation, 2024)
    alone = row(compute(db_session, org, 2024), "A_ISOLEMENT")
    assert (alone["volume"], alone["volume_source"]) == (isolation.volume, "reference")
    # the 2026 budget: the planned volume first
    set_volume(db_session, portage, 2026, planned=36_500)
    meal_2026 = row(compute(db_session, org, 2026), "A_PORTAGE")
    assert (meal_2026["volume"], meal_2026["volume_source"]) == (36_500, "prevu")
    # a planned volume does not count for the accounts of a year
    accounts = load_volumes(db_session, org, 2026, "actual").loc[portage.id]
    assert accounts["volume_source"] == "reference" and accounts["volume"] == portage.volume


def test_a_unit_counted_per_year_does_not_add_up_monthly_values(db_session, demo):
    """RSA support counts persons accompanied over the year (« personne accompagnée (an) »): the 12
    monthly counts of persons accompanied are not added up (that would be 12 times too many)."""
    org = demo.organisation_id
    rsa = activity(db_session, org, "A_RSA")
    set_volume(db_session, rsa, 2025)
    volume = load_volumes(db_session, org, 2025, "actual").loc[rsa.id]
    assert volume["volume_source"] == "reference" and volume["volume"] == rsa.volume


def test_the_scenario_unit_costs_use_the_latest_closed_year(db_session, demo):
    org = demo.organisation_id
    portage = activity(db_session, org, "A_PORTAGE")
    set_volume(db_session, portage, 2025, planned=35_000, actual=36_410, source="saisie")
    closed = current_costs(db_session, org)[portage.id]
    assert closed["year"] == 2025 and closed["volume"] == 36_410
    spec = next(a for a in current_problem(db_session, org).activities if a.code == "A_PORTAGE")
    expected = (closed["full_cost"] - float(portage.fixed_cost)) / 36_410
    assert spec.unit_cost == pytest.approx(expected, abs=1e-6)
    assert spec.current_volume == portage.volume  # today's volume stays the activity's


def test_the_cost_page_and_the_exports_show_the_volume_and_its_source(login_as, engine, demo):
    with write_session(engine) as session:
        report = compute(session, demo.organisation_id, 2025)
        earlier = compute(session, demo.organisation_id, 2024)
    meal, meal_2024 = row(report, "A_PORTAGE"), row(earlier, "A_PORTAGE")
    client = login_as("finances")
    page = client.get("/couts?annee=2025").get_data(as_text=True)
    shown = page.split('data-activity="A_PORTAGE"', 1)[1].split("</tr>", 1)[0]
    assert meal["volume_label"] and meal["volume_label"] in shown
    trend = page.split("Évolution du coût unitaire", 1)[1]
    assert meal_2024["volume_label"] in trend
    book = load_workbook(io.BytesIO(client.get("/couts/export.xlsx?annee=2025").data))
    sheet = book["Coûts par activité"]
    headers = [c.value for c in sheet[1]]
    assert headers[3:5] == ["Volume", "Source du volume"] and "Source du volume 2024" in headers
    portage = next(
        r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] == "Portage de repas à domicile"
    )
    assert (portage[3], portage[4]) == (meal["volume"], meal["volume_label"])
    assert portage[headers.index("Source du volume 2024")] == meal_2024["volume_label"]

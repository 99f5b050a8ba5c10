"""The costing of the demo: every euro of the year reaches an activity, the cost model's edits
move costs between activities without creating or losing any, and the same costing feeds the
indicators, the coherence analysis and the budget execution."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models import (
    Activity,
    ActivityVolume,
    CostCentre,
    CostDriverQuantity,
    CostKind,
    CostLine,
    Indicator,
    Measurement,
    MeasurementState,
    Nomenclature,
    Period,
    PeriodKind,
)
from pilotis.database import write_session
from services.budget import execution
from services.coherence import build_coherence, load_frames
from services.costing import (
    CostModelError,
    compute,
    current_costs,
    load_model,
    publish_cost_indicators,
    save_drivers,
    save_keys,
    set_driver_quantity,
    set_method,
    years_with_costs,
)

SENIORS_ACTIVITIES = {"A_PORTAGE", "A_SAAD", "A_ISOLEMENT"}


def by_code(report, column: str) -> dict[str, float]:
    return dict(zip(report.activities["code"], report.activities[column].astype(float), strict=True))


def activity_ids(report) -> dict[str, int]:
    return {str(code): int(i) for i, code in report.activities["code"].items()}


def quantities(session, centre_id: int) -> dict[int, Decimal]:
    return dict(
        session.execute(
            select(CostDriverQuantity.activity_id, CostDriverQuantity.quantity).where(
                CostDriverQuantity.centre_id == centre_id
            )
        ).all()
    )


def centre(session, organisation_id: int, code: str) -> CostCentre:
    return session.scalar(
        select(CostCentre).where(CostCentre.organisation_id == organisation_id, CostCentre.code == code)
    )


def stored_expenses(session, organisation_id: int, year: int, kind: CostKind) -> float:
    """The year's real operating expenses of the budget documents (the execution to date left out)."""
    amounts = session.scalars(
        select(CostLine.amount).where(
            CostLine.organisation_id == organisation_id, CostLine.year == year, CostLine.kind == kind,
            CostLine.document_type != "EXEC", CostLine.section == "fonctionnement",
            CostLine.operation == "reelle", CostLine.flow == "depense",
        )
    )  # fmt: skip
    return float(sum(amounts, Decimal(0)))


def cost_measurement(session, organisation_id: int, code: str, period: str) -> float | None:
    return session.scalar(
        select(Measurement.value)
        .join(Indicator, Indicator.id == Measurement.indicator_id)
        .join(Period, Period.id == Measurement.period_id)
        .where(Indicator.organisation_id == organisation_id, Indicator.code == code, Period.key == period)
        .where(Measurement.territory_id.is_(None))
    )


# --- conservation and the figures a person reads ---------------------------------------------------


@pytest.mark.parametrize(
    ("year", "basis", "used"),
    [(2023, "auto", "actual"), (2024, "budget", "budget"), (2025, "auto", "actual"),
     (2025, "budget", "budget"), (2026, "auto", "budget")],
)  # fmt: skip
def test_every_euro_of_the_year_reaches_an_activity(db_session, demo, year, basis, used):
    report = compute(db_session, demo.organisation_id, year, basis=basis)
    assert (report.year, report.basis, report.method) == (year, used, "reciprocal")
    kind = CostKind.ACTUAL if used == "actual" else CostKind.BUDGET
    assert round(report.costing.total_in, 2) == round(
        stored_expenses(db_session, demo.organisation_id, year, kind), 2
    )
    full = float(report.activities["full_cost"].sum())
    assert round(full, 2) == round(report.costing.total_in - report.costing.unassigned, 2)
    assert round(report.costing.total_out, 2) == round(full, 2)
    assert report.costing.unassigned == 0
    operational = report.centres[report.centres["kind"] == "operational"]
    assert round(float(operational["full"].sum()), 2) == round(full, 2)  # the support costs are all passed on
    partners = report.activities[report.activities["code"].str.startswith("P_")]
    assert (partners["full_cost"] == 0).all()  # the partners' activities cost the CCAS nothing


def test_the_years_and_their_basis(db_session, demo):
    years = years_with_costs(db_session, demo.organisation_id)
    assert [y for y, _ in years] == sorted({y for y, _ in years}, reverse=True)  # newest first, once each
    assert {2026: "budget", 2025: "actual", 2024: "actual", 2023: "actual"}.items() <= dict(years).items()
    latest = current_costs(db_session, demo.organisation_id)
    report = compute(db_session, demo.organisation_id, 2025)
    portage = activity_ids(report)["A_PORTAGE"]
    assert latest[portage]["year"] == 2025.0  # the newest accounts, not the 2026 budget
    assert latest[portage]["full_cost"] == pytest.approx(by_code(report, "full_cost")["A_PORTAGE"])


def meals_measured(session, organisation_id: int, year: int) -> float | None:
    """The meals delivered in a year by the output indicator « Repas livrés à domicile » (its 12 months)."""
    values = session.scalars(
        select(Measurement.value)
        .join(Indicator, Indicator.id == Measurement.indicator_id)
        .join(Period, Period.id == Measurement.period_id)
        .where(Indicator.organisation_id == organisation_id, Indicator.code == "repas_livres")
        .where(Period.kind == PeriodKind.MONTH, Period.key.startswith(f"{year}-"))
        .where(Measurement.territory_id.is_(None), Measurement.state != MeasurementState.DRAFT)
    ).all()
    return float(sum(values)) if len(values) == 12 else None


def test_the_cost_per_meal_is_the_full_cost_over_the_meals_delivered(db_session, demo):
    """Each year's cost over that year's meals (the year's actual volume, the measured meals when
    all twelve months are; the plan for the budget year), not one fixed volume for every year."""
    org = demo.organisation_id
    sources = {}
    for year in (2023, 2024, 2025, 2026):
        report = compute(db_session, org, year)
        meals = report.activities[report.activities["code"] == "A_PORTAGE"].iloc[0]
        measured = meals_measured(db_session, org, year)
        volume = db_session.scalar(
            select(ActivityVolume)
            .join(Activity, Activity.id == ActivityVolume.activity_id)
            .where(Activity.organisation_id == org, Activity.code == "A_PORTAGE", ActivityVolume.year == year)
        )
        expected = volume.actual_volume if volume.actual_volume is not None else volume.planned_volume
        assert meals["volume"] == pytest.approx(expected)
        if measured is not None:
            assert meals["volume"] == pytest.approx(measured)
        assert meals["full_cost"] > 0
        sources[year] = meals["volume_source"]
        assert meals["unit_cost"] == pytest.approx(meals["full_cost"] / meals["volume"], rel=1e-12)
        assert cost_measurement(db_session, org, "cout_complet_repas", str(year)) == pytest.approx(
            round(meals["unit_cost"], 2), abs=1e-9
        )
        shelter = report.activities[report.activities["code"] == "A_HEBERGEMENT"].iloc[0]
        assert shelter["cost_per_beneficiary"] == pytest.approx(
            shelter["full_cost"] / shelter["beneficiaries"]
        )
        assert cost_measurement(db_session, org, "cout_complet_hebergement", str(year)) == round(
            shelter["cost_per_beneficiary"]
        )
    assert sources[2023] == sources[2024] == sources[2025] == "realise" and sources[2026] == "prevu"


# --- editing the cost model ---------------------------------------------------------------------


def test_more_hours_on_meals_raise_their_cost_and_lower_the_rest_of_the_centre(db_session, demo):
    org = demo.organisation_id
    before = compute(db_session, org, 2025)
    seniors = centre(db_session, org, "SENIORS")
    portage = activity_ids(before)["A_PORTAGE"]
    hours = quantities(db_session, seniors.id)
    assert set(hours) == {activity_ids(before)[c] for c in SENIORS_ACTIVITIES}
    meal_before = cost_measurement(db_session, org, "cout_complet_repas", "2025")
    set_driver_quantity(db_session, org, "SENIORS", "A_PORTAGE", str(hours[portage] * 2))
    assert quantities(db_session, seniors.id) == {**hours, portage: hours[portage] * 2}
    after = compute(db_session, org, 2025)
    old, new = by_code(before, "unit_cost"), by_code(after, "unit_cost")
    assert new["A_PORTAGE"] > old["A_PORTAGE"]
    assert new["A_SAAD"] < old["A_SAAD"] and new["A_ISOLEMENT"] < old["A_ISOLEMENT"]
    for code in set(old) - SENIORS_ACTIVITIES:  # the other centres are untouched
        assert new[code] == pytest.approx(old[code], nan_ok=True)
    assert round(after.costing.total_in, 2) == round(before.costing.total_in, 2)
    assert round(float(after.activities["full_cost"].sum()), 2) == round(
        float(before.activities["full_cost"].sum()), 2
    )
    # the seniors' centre cost is split by hours: meals now take twice their hours' share
    share = float(hours[portage] * 2 / (sum(hours.values()) + hours[portage]))
    seniors_full = float(after.centres.loc["SENIORS", "full"])
    assert by_code(after, "full_cost")["A_PORTAGE"] == pytest.approx(seniors_full * share)
    assert publish_cost_indicators(db_session, org) > 0
    assert cost_measurement(db_session, org, "cout_complet_repas", "2025") == pytest.approx(
        round(new["A_PORTAGE"], 2), abs=1e-9
    )
    assert cost_measurement(db_session, org, "cout_complet_repas", "2025") != meal_before


def test_the_three_methods_keep_the_total_and_agree_with_one_support(db_session, demo):
    org = demo.organisation_id
    reference = compute(db_session, org, 2025)
    for method in ("direct", "step-down", "reciprocal"):
        set_method(db_session, org, method)
        report = compute(db_session, org, 2025)
        assert report.method == method
        assert round(float(report.activities["full_cost"].sum()), 2) == round(reference.costing.total_in, 2)
        # with one support function there are no services between supports: the methods agree
        assert by_code(report, "full_cost") == pytest.approx(by_code(reference, "full_cost"))
    with pytest.raises(CostModelError, match="méthode de répartition « moyenne » inconnue"):
        set_method(db_session, org, "moyenne")


def test_the_methods_differ_when_supports_serve_each_other(db_session, demo):
    """A second support (IT) serving the administration (20 %) and the seniors (80 %), served back
    by the administration (10 %): hand-computed support received by the seniors' centre."""
    org = demo.organisation_id
    admin = float(compute(db_session, org, 2025).centres.loc["ADMIN", "direct"])
    db_session.add(CostCentre(organisation_id=org, code="INFO", name="Informatique", kind="support",
                              function_codes=["0202"], step_order=1, driver="direct"))  # fmt: skip
    db_session.add(CostLine(organisation_id=org, kind=CostKind.ACTUAL, document_type="CA", year=2025,
                            nomenclature=Nomenclature.M57, function_code="0202", nature_code="6156",
                            label="Maintenance informatique", amount=Decimal("100000.00")))  # fmt: skip
    db_session.flush()
    save_keys(db_session, org, "INFO", {"ADMIN": "20", "SENIORS": "80"})
    save_keys(db_session, org, "ADMIN", {"INFO": "10", "SENIORS": "40", "SOLIDARITE": "20",
                                         "PETITE_ENFANCE": "20", "AUTONOMIE": "10"})  # fmt: skip
    it = 100000.0
    admin_full = (admin + 0.2 * it) / (1 - 0.2 * 0.1)
    expected = {
        "direct": admin * 40 / 90 + it,
        "step-down": 0.4 * admin + (it + 0.1 * admin),  # ADMIN closes first, then INFO to SENIORS only
        "reciprocal": 0.4 * admin_full + 0.8 * (it + 0.1 * admin_full),
    }
    totals = set()
    for method, received in expected.items():
        set_method(db_session, org, method)
        report = compute(db_session, org, 2025)
        assert float(report.centres.loc["SENIORS", "support_received"]) == pytest.approx(
            received, abs=0.005
        ), method
        totals.add(round(float(report.activities["full_cost"].sum()), 2))
        assert round(report.costing.total_in, 2) == round(
            stored_expenses(db_session, org, 2025, CostKind.ACTUAL), 2
        )
    assert len(totals) == 1  # each method conserves the total
    assert len({round(v, 2) for v in expected.values()}) == 3  # …and the methods do differ here


def test_keys_that_do_not_sum_to_100_are_refused_and_nothing_changes(db_session, demo):
    org = demo.organisation_id
    _, keys_before, _ = load_model(db_session, org)
    with pytest.raises(CostModelError) as refused:
        save_keys(db_session, org, "ADMIN", {"SENIORS": "40", "SOLIDARITE": "25", "PETITE_ENFANCE": "20",
                                             "AUTONOMIE": "10"})  # fmt: skip
    assert str(refused.value) == (
        "les clés de « Direction et administration générale » font 95,00 % au lieu de 100 %"
    )
    _, keys_after, _ = load_model(db_session, org)
    assert keys_after.sort_values("receiver").to_dict("records") == keys_before.sort_values(
        "receiver"
    ).to_dict("records")
    with pytest.raises(
        CostModelError, match="« Pôle seniors et maintien à domicile » n'est pas une fonction support"
    ):
        save_keys(db_session, org, "SENIORS", {"ADMIN": "100"})
    with pytest.raises(CostModelError, match="centre de coût « RH » inconnu"):
        save_keys(db_session, org, "ADMIN", {"RH": "100"})
    with pytest.raises(CostModelError, match="« quarante » n'est pas un nombre"):
        save_keys(db_session, org, "ADMIN", {"SENIORS": "quarante", "SOLIDARITE": "60"})


def test_keys_summing_to_100_share_the_administration_as_said(db_session, demo):
    org = demo.organisation_id
    save_keys(db_session, org, "ADMIN", {"SENIORS": "40", "SOLIDARITE": "30", "PETITE_ENFANCE": "20,5",
                                         "AUTONOMIE": "9,5"})  # fmt: skip
    report = compute(db_session, org, 2025)
    admin = float(report.centres.loc["ADMIN", "direct"])
    received = report.centres["support_received"].astype(float)
    assert received["SENIORS"] == pytest.approx(0.40 * admin)
    assert received["PETITE_ENFANCE"] == pytest.approx(0.205 * admin)
    assert round(float(report.activities["full_cost"].sum()), 2) == round(report.costing.total_in, 2)


def test_drivers_without_any_quantity_are_refused_and_nothing_changes(db_session, demo):
    org = demo.organisation_id
    seniors = centre(db_session, org, "SENIORS")
    hours = quantities(db_session, seniors.id)
    with pytest.raises(CostModelError) as refused:
        save_drivers(db_session, org, "SENIORS", "time", dict.fromkeys(hours, "0"))
    assert str(refused.value) == (
        "« Pôle seniors et maintien à domicile » : aucune quantité d'inducteur (temps passé (heures)) ; "
        "ses coûts ne pourraient aller à aucune activité"
    )
    with pytest.raises(CostModelError, match="l'affectation directe fait 90 % au lieu de 100 %"):
        save_drivers(db_session, org, "SENIORS", "direct", dict(zip(hours, ["50", "30", "10"], strict=True)))
    with pytest.raises(CostModelError, match="est négative"):
        save_drivers(db_session, org, "SENIORS", "time", dict(zip(hours, ["-5", "30", "10"], strict=True)))
    assert quantities(db_session, seniors.id) == hours
    assert centre(db_session, org, "SENIORS").driver == "time"


def test_a_direct_assignment_in_percent_carries_the_centre_as_said(db_session, demo):
    org = demo.organisation_id
    ids = activity_ids(compute(db_session, org, 2025))
    save_drivers(db_session, org, "SENIORS", "direct", {ids["A_PORTAGE"]: "50", ids["A_SAAD"]: "50"})
    report = compute(db_session, org, 2025)
    full = by_code(report, "full_cost")
    seniors = float(report.centres.loc["SENIORS", "full"])
    assert full["A_PORTAGE"] == pytest.approx(seniors / 2) and full["A_SAAD"] == pytest.approx(seniors / 2)
    assert full["A_ISOLEMENT"] == 0
    with pytest.raises(CostModelError, match="affectation directe"):
        set_driver_quantity(db_session, org, "SENIORS", "A_PORTAGE", "60")


# --- the same costing everywhere --------------------------------------------------------------------


def test_the_coherence_analysis_uses_the_full_cost_of_the_costing(db_session, demo):
    org = demo.organisation_id
    ids = activity_ids(compute(db_session, org, 2025))
    frames = load_frames(db_session, org)["activities"]
    full = by_code(compute(db_session, org, 2025), "full_cost")
    assert frames.loc[ids["A_PORTAGE"], "cost"] == pytest.approx(full["A_PORTAGE"])
    assert frames.loc[ids["A_SAAD"], "cost"] == pytest.approx(full["A_SAAD"])
    elderly = {line.code: line.cost_per_person for line in build_coherence(db_session, org).needs}["PA80"]
    hours = quantities(db_session, centre(db_session, org, "SENIORS").id)[ids["A_PORTAGE"]]
    set_driver_quantity(db_session, org, "SENIORS", "A_PORTAGE", str(hours * 2))
    changed = by_code(compute(db_session, org, 2025), "full_cost")
    assert load_frames(db_session, org)["activities"].loc[ids["A_PORTAGE"], "cost"] == pytest.approx(
        changed["A_PORTAGE"]
    )
    after = {line.code: line.cost_per_person for line in build_coherence(db_session, org).needs}["PA80"]
    assert elderly is not None and after > elderly  # meals cost more, so does each old person they serve


def test_the_execution_of_closed_accounts(db_session, demo):
    org = demo.organisation_id
    run = execution(db_session, org, 2025)
    assert (run.state, run.months) == ("final", 12)
    assert run.total["actual"] == pytest.approx(
        compute(db_session, org, 2025, basis="actual").costing.total_in
    )
    assert run.total["budget"] == pytest.approx(
        compute(db_session, org, 2025, basis="budget").costing.total_in
    )
    assert run.total["rate"] == pytest.approx(run.total["actual"] / run.total["budget"])
    assert run.total["projection"] == pytest.approx(run.total["actual"])  # nothing to project
    table = run.by_service
    assert set(table.index) == {
        "Direction et administration générale", "Pôle seniors et maintien à domicile",
        "Pôle solidarité et insertion", "Pôle petite enfance", "Pôle autonomie, handicap et logement",
    }  # fmt: skip
    assert float(table["budget"].sum()) == pytest.approx(run.total["budget"])
    assert float(table["actual"].sum()) == pytest.approx(run.total["actual"])
    assert list(table["rate"]) == pytest.approx(list(table["actual"] / table["budget"]))
    assert float(run.by_function["actual"].sum()) == pytest.approx(run.total["actual"])
    activities = run.by_activity
    assert float(activities["actual"].sum()) == pytest.approx(run.total["actual"])
    assert not any(name.startswith("P_") for name in activities.index)


def test_the_execution_to_date_projects_the_months_elapsed(db_session, demo):
    org = demo.organisation_id
    run = execution(db_session, org, 2026)
    assert (run.state, run.months) == ("to_date", 10)  # the demo is as of 26 November: October is closed
    to_date = float(
        sum(
            db_session.scalars(
                select(CostLine.amount).where(CostLine.organisation_id == org, CostLine.year == 2026,
                                              CostLine.document_type == "EXEC")
            ),
            Decimal(0),
        )
    )  # fmt: skip
    assert run.total["actual"] == pytest.approx(to_date)
    assert run.total["budget"] == pytest.approx(stored_expenses(db_session, org, 2026, CostKind.BUDGET))
    assert run.total["rate"] == pytest.approx(to_date / run.total["budget"])
    assert run.total["projection"] == pytest.approx(to_date * 12 / 10)
    assert run.total["projected_rate"] == pytest.approx(to_date * 1.2 / run.total["budget"])
    for table in (run.by_service, run.by_function, run.by_activity):
        assert list(table["projection"]) == pytest.approx(list(table["actual"] * 12 / 10))
        assert float(table["actual"].sum()) == pytest.approx(to_date)
    assert 0.75 < run.total["rate"] < 0.9 and 0.95 < run.total["projected_rate"] < 1.05


# --- the command line -----------------------------------------------------------------------------


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False, standalone_mode=True)


def test_the_cli_gives_costs_that_balance(app, demo):
    result = invoke(app, "costs", "--format", "json", "--organisation", demo.slug)
    assert result.exit_code == 0, result.output
    costs = json.loads(result.output)
    assert (costs["year"], costs["basis"], costs["method"]) == (2025, "actual", "reciprocal")
    full = sum(a["full_cost"] for a in costs["activities"])
    assert round(full, 2) == costs["total_out"] == round(costs["total_in"] - costs["unassigned"], 2)
    reaching = sum(f["amount"] for f in costs["flows"] if f["stage"] in ("activite", "affectation"))
    assert round(reaching, 2) == pytest.approx(costs["total_out"], abs=0.05)
    meals = next(a for a in costs["activities"] if a["code"] == "A_PORTAGE")
    assert meals["unit_cost"] == round(meals["full_cost"] / meals["volume"], 2)
    assert meals["unit_cost_trend"]["2025"] == meals["unit_cost"]
    assert {"2024", "2025", "2026"} <= set(meals["unit_cost_trend"])
    assert costs["execution"]["state"] == "final" and costs["execution"]["months"] == 12


def test_the_cli_writes_the_costs_workbook(app, demo, tmp_path):
    out = tmp_path / "couts.xlsx"
    result = invoke(
        app, "costs", "--year", "2026", "--format", "xlsx", "-o", str(out), "--organisation", demo.slug
    )
    assert result.exit_code == 0, result.output
    assert f"Coûts 2026 écrits dans {out}." in result.output
    book = load_workbook(out)
    assert book.sheetnames == [
        "Coûts par activité", "Centres de coût", "Flux", "Exécution par service", "Exécution par fonction",
        "Exécution par activité", "À propos",
    ]  # fmt: skip
    assert all(c.data_type != "f" for ws in book for row in ws.iter_rows() for c in row)
    about = {row[0].value: row[1].value for row in book["À propos"].iter_rows()}
    assert about["Année"] == 2026 and about["Base"] == "Budget voté"
    assert about["Charges réparties sur les activités"] == pytest.approx(
        about["Charges de l'année"], abs=0.01
    )
    activities = book["Coûts par activité"]
    header = [c.value for c in activities[1]]
    assert header[:9] == [
        "Activité",
        "Service",
        "Unité",
        "Volume",
        "Source du volume",  # beside every unit cost, the volume it divides by and where it comes from
        "Bénéficiaires",
        "Coût direct",
        "Coût support",
        "Coût complet",
    ]
    assert sum(row[8] or 0 for row in activities.iter_rows(min_row=2, values_only=True)) == pytest.approx(
        about["Charges de l'année"], abs=0.05
    )


def test_the_cli_refuses_a_year_without_costs(app, demo, tmp_path):
    """As the cost pages answer 404 for a year without budget nor accounts, the command says so
    instead of printing a costing of zeros."""
    result = invoke(app, "costs", "--year", "1999", "--organisation", demo.slug)
    assert result.exit_code == 1, result.output[:300]
    assert result.output.startswith("Erreur : ") and "1999" in result.output
    out = tmp_path / "couts.xlsx"
    result = invoke(
        app, "costs", "--year", "1999", "--format", "xlsx", "-o", str(out), "--organisation", demo.slug
    )
    assert result.exit_code == 1 and not out.exists()


def test_the_cli_refuses_an_unknown_activity_or_centre_in_french(app, demo, engine):
    with write_session(engine) as session:
        hours = quantities(session, centre(session, demo.organisation_id, "SENIORS").id)
    result = invoke(app, "cost-driver", "SENIORS", "A_INCONNUE", "1200", "--organisation", demo.slug)
    assert result.exit_code == 1
    assert result.output.strip() == "Erreur : activité « A_INCONNUE » inconnue."
    result = invoke(app, "cost-driver", "RH", "A_PORTAGE", "1200", "--organisation", demo.slug)
    assert result.exit_code == 1 and "Erreur : centre de coût « RH » inconnu." in result.output
    result = invoke(app, "cost-driver", "SENIORS", "A_PORTAGE", "beaucoup", "--organisation", demo.slug)
    assert result.exit_code == 1 and "« beaucoup » n'est pas un nombre" in result.output
    with write_session(engine) as session:
        assert quantities(session, centre(session, demo.organisation_id, "SENIORS").id) == hours


def test_the_cli_changes_a_driver_quantity(app, demo, engine):
    org = demo.organisation_id
    with write_session(engine) as session:
        before = compute(session, org, 2025)
        portage = activity_ids(before)["A_PORTAGE"]
        hours = quantities(session, centre(session, org, "SENIORS").id)[portage]
        values = 2 * len(years_with_costs(session, org))  # two indicators fed by the costing, every year
    try:
        result = invoke(
            app, "cost-driver", "SENIORS", "A_PORTAGE", str(hours * 2), "--organisation", demo.slug
        )
        assert result.exit_code == 0, result.output
        assert f"Inducteur modifié ; {values} valeur(s) d'indicateurs de coût recalculée(s)." in result.output
        with write_session(engine) as session:
            after = compute(session, org, 2025)
            assert by_code(after, "unit_cost")["A_PORTAGE"] > by_code(before, "unit_cost")["A_PORTAGE"]
            assert cost_measurement(session, org, "cout_complet_repas", "2025") == pytest.approx(
                round(by_code(after, "unit_cost")["A_PORTAGE"], 2), abs=1e-9
            )
    finally:
        restored = invoke(app, "cost-driver", "SENIORS", "A_PORTAGE", str(hours), "--organisation", demo.slug)
        assert restored.exit_code == 0, restored.output
    with write_session(engine) as session:
        assert by_code(compute(session, org, 2025), "unit_cost") == pytest.approx(
            by_code(before, "unit_cost"), nan_ok=True
        )
        assert cost_measurement(session, org, "cout_complet_repas", "2025") == pytest.approx(
            round(by_code(before, "unit_cost")["A_PORTAGE"], 2), abs=1e-9
        )

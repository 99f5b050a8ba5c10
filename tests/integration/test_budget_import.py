"""Importing budgets and accounts: a whole document or nothing, the same file twice changes nothing,
a CA or an execution export replaces the previous one of its year (seeded lines included), DMs
accumulate, and the costing indicators of the year follow."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import BudgetDocument, CostKind, CostLine, Indicator, Measurement, Organisation, Period, Service
from pilotis.database import make_engine
from services.budget import execution, import_budget, save_mapping
from services.budget_files import BudgetFileError, parse_budget_file
from services.costing import compute, years_with_costs

DATA = Path(__file__).resolve().parents[1] / "data" / "budget"
DEMO_CA = Path(__file__).resolve().parents[2] / "services" / "data" / "demo" / "ca_2025_ccas_carcassonne.csv"
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
SCDL_HEADER = DEMO_CA.read_text(encoding="utf-8").splitlines()[0].split(",")

#: The finance software export of tests/data/budget (Windows-1252, « ; », French amounts).
LEDGER = {
    "name": "Grand livre",
    "columns": {"year": "Exercice", "function_code": "Fonction", "nature_code": "Nature", "label": "Libellé",
                "planned_amount": "Prévu", "actual_amount": "Réalisé", "flow": "Sens"},
    "defaults": {"document_type": "CA", "nomenclature": "M57"},
}  # fmt: skip


def scdl_file(
    rows: list[tuple[str, str, str]], *, document: str = "décision modificative", year: int = 2026
) -> bytes:
    """An SCDL file of the CCAS de Carcassonne (the header of the demo CA): (nature, function, amount)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SCDL_HEADER, lineterminator="\n")
    writer.writeheader()
    for nature, function, amount in rows:
        writer.writerow({
            "BGT_NATDEC": document, "BGT_ANNEE": str(year), "BGT_SIRET": "26110026500018",
            "BGT_NOM": "CCAS DE CARCASSONNE", "BGT_NATURE": nature, "BGT_FONCTION": function,
            "BGT_SECTION": "fonctionnement", "BGT_OPBUDG": "réel", "BGT_CODRD": "dépense", "BGT_MTPROPNOUV": amount,
        })  # fmt: skip
    return out.getvalue().encode("utf-8")


def plain(messages: list[str]) -> list[str]:
    """Messages with the no-break spaces of French numbers as plain spaces."""
    return [m.replace("\u00a0", " ").replace("\u202f", " ") for m in messages]


def counts(session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(CostLine)),
        session.scalar(select(func.count()).select_from(BudgetDocument)),
    )


def operating_expenses(session, organisation_id: int, year: int, kind: CostKind, document: str) -> Decimal:
    """The real operating expenses stored for a year and document type, summed exactly."""
    amounts = session.scalars(
        select(CostLine.amount).where(
            CostLine.organisation_id == organisation_id, CostLine.year == year, CostLine.kind == kind,
            CostLine.document_type == document, CostLine.section == "fonctionnement",
            CostLine.operation == "reelle", CostLine.flow == "depense",
        )
    )  # fmt: skip
    return sum(amounts, Decimal(0))


def real_operating_expenses(data: bytes, filename: str, **kwargs) -> Decimal:
    """What a file says the year's real operating expenses are (actual for accounts, else planned)."""
    document = parse_budget_file(data, filename, **kwargs)
    actual = document.document_type in ("CA", "CFU", "EXEC")
    return sum(
        ((line.actual_amount if actual else line.planned_amount) or Decimal(0) for line in document.lines
         if (line.section, line.operation, line.flow) == ("fonctionnement", "reelle", "depense")),
        Decimal(0),
    )  # fmt: skip


def cost_measurement(session, organisation_id: int, code: str, period: str) -> float | None:
    return session.scalar(
        select(Measurement.value)
        .join(Indicator, Indicator.id == Measurement.indicator_id)
        .join(Period, Period.id == Measurement.period_id)
        .where(Indicator.organisation_id == organisation_id, Indicator.code == code, Period.key == period)
        .where(Measurement.territory_id.is_(None))
    )


def portage_unit_cost(session, organisation_id: int, year: int) -> float:
    activities = compute(session, organisation_id, year).activities
    return float(activities.loc[activities["code"] == "A_PORTAGE", "unit_cost"].iloc[0])


# --- the demo compte administratif ---------------------------------------------------------------


def test_the_demo_compte_administratif_replaces_the_seeded_one(db_session, demo):
    org = demo.organisation_id
    seeded = db_session.scalar(
        select(func.count())
        .select_from(CostLine)
        .where(CostLine.organisation_id == org, CostLine.year == 2025, CostLine.document_type == "CA")
    )
    lines_before, documents_before = counts(db_session)
    result = import_budget(db_session, org, DEMO_CA.read_bytes(), DEMO_CA.name, now=NOW)
    assert (result.document_type, result.year, result.lines, result.unchanged) == ("CA", 2025, 83, False)
    assert seeded > 0 and result.replaced == seeded
    assert result.warnings == [] and result.indicators == 2  # the cost per meal and per person sheltered
    assert counts(db_session) == (lines_before - seeded + 83, documents_before + 1)
    summary = plain([result.summary()])[0]
    assert summary.startswith(f"Compte administratif 2025 importé : 83 ligne(s), remplace {seeded} ligne(s)")
    document = db_session.scalar(
        select(BudgetDocument).where(BudgetDocument.organisation_id == org, BudgetDocument.year == 2025)
    )
    assert (document.document_type, document.nomenclature.value, document.siret) == (
        "CA",
        "M57",
        "26110026500018",
    )
    assert (document.line_count, document.source_name, document.source_format) == (83, DEMO_CA.name, "scdl")
    assert document.imported_at == NOW and document.months_elapsed is None
    lines = db_session.scalars(select(CostLine).where(CostLine.document_id == document.id)).all()
    assert len(lines) == 83
    assert {line.kind for line in lines} == {CostKind.ACTUAL} and {line.document_type for line in lines} == {
        "CA"
    }
    parsed = parse_budget_file(DEMO_CA.read_bytes(), DEMO_CA.name)
    assert sum(line.amount for line in lines) == sum(line.actual_amount for line in parsed.lines)
    assert all(line.planned_amount is not None for line in lines)  # the credits opened of the CA are kept
    assert sum(line.planned_amount for line in lines) == sum(line.planned_amount for line in parsed.lines)


def test_the_same_file_twice_changes_nothing(db_session, demo):
    org = demo.organisation_id
    first = import_budget(db_session, org, DEMO_CA.read_bytes(), DEMO_CA.name, now=NOW)
    assert not first.unchanged
    before = counts(db_session)
    meal = cost_measurement(db_session, org, "cout_complet_repas", "2025")
    again = import_budget(db_session, org, DEMO_CA.read_bytes(), "copie du CA.csv", now=NOW)
    assert again.unchanged and again.replaced == 0 and again.lines == 83
    assert again.summary() == "Compte administratif 2025 déjà importé à l'identique : aucune modification."
    assert counts(db_session) == before
    assert cost_measurement(db_session, org, "cout_complet_repas", "2025") == meal
    assert db_session.scalar(
        select(BudgetDocument.source_name).where(BudgetDocument.organisation_id == org, BudgetDocument.year == 2025)
    ) == DEMO_CA.name  # fmt: skip


def test_the_accounts_of_2025_are_counted_once_and_feed_the_cost_indicators(db_session, demo):
    org = demo.organisation_id
    meal_before = cost_measurement(db_session, org, "cout_complet_repas", "2025")
    meal_2024 = cost_measurement(db_session, org, "cout_complet_repas", "2024")
    shelter_before = cost_measurement(db_session, org, "cout_complet_hebergement", "2025")
    assert meal_before == pytest.approx(portage_unit_cost(db_session, org, 2025), abs=0.005)
    import_budget(db_session, org, DEMO_CA.read_bytes(), DEMO_CA.name, now=NOW)
    expected = real_operating_expenses(DEMO_CA.read_bytes(), DEMO_CA.name)
    assert operating_expenses(db_session, org, 2025, CostKind.ACTUAL, "CA") == expected
    report = compute(db_session, org, 2025)
    assert report.basis == "actual"
    assert round(report.costing.total_in, 2) == float(expected)  # the seeded CA is gone, not added to
    assert report.costing.unassigned == 0  # every function of the file has its cost centre
    meal_after = cost_measurement(db_session, org, "cout_complet_repas", "2025")
    assert meal_after != meal_before
    assert meal_after == pytest.approx(portage_unit_cost(db_session, org, 2025), abs=0.005)
    assert cost_measurement(db_session, org, "cout_complet_hebergement", "2025") != shelter_before
    assert (
        cost_measurement(db_session, org, "cout_complet_repas", "2024") == meal_2024
    )  # other years untouched


def test_decisions_modificatives_accumulate_beside_the_budget(db_session, demo):
    org = demo.organisation_id
    voted = compute(db_session, org, 2026, basis="budget").costing.total_in
    first = scdl_file([("6042", "423", "12 000,00"), ("6411", "422", "8 500,50")])
    second = scdl_file(
        [("6042", "423", "-2 000,00"), ("60623", "424", "1 250,00")]
    )  # a DM may lower a credit
    lines_before, documents_before = counts(db_session)
    one = import_budget(db_session, org, first, "dm1_2026.csv", now=NOW)
    two = import_budget(db_session, org, second, "dm2_2026.csv", now=NOW)
    assert (one.document_type, one.year, one.replaced, two.replaced) == ("DM", 2026, 0, 0)
    assert plain([two.summary()])[0].startswith("Décision modificative 2026 importé : 2 ligne(s) ; dépenses")
    assert counts(db_session) == (lines_before + 4, documents_before + 2)
    kept = db_session.scalars(
        select(BudgetDocument.source_name)
        .where(BudgetDocument.organisation_id == org, BudgetDocument.document_type == "DM")
        .order_by(BudgetDocument.source_name)
    ).all()
    assert kept == ["dm1_2026.csv", "dm2_2026.csv"]
    assert operating_expenses(db_session, org, 2026, CostKind.BUDGET, "DM") == Decimal("19750.50")
    assert operating_expenses(db_session, org, 2026, CostKind.BUDGET, "BP") > 0  # the BP stays
    report = compute(db_session, org, 2026, basis="budget")
    assert round(report.costing.total_in - voted, 2) == 19750.50
    assert execution(db_session, org, 2026).total["budget"] == pytest.approx(
        report.costing.total_in, abs=0.005
    )


def test_an_execution_export_replaces_the_seeded_execution_to_date(db_session, demo):
    org = demo.organisation_id
    save_mapping(db_session, org, {
        "name": "Exécution mensuelle",
        "columns": {"nature_code": "Compte", "function_code": "Fonction", "actual_amount": "Mandaté", "month": "Mois"},
        "defaults": {"document_type": "EXEC", "year": "2026"},
    })  # fmt: skip
    assert execution(db_session, org, 2026).months == 10  # the seeded export, to the end of October
    rows = ["Compte;Fonction;Mandaté;Mois"] + [f"6411;423;10 000,00;{m}" for m in range(1, 12)]
    years = years_with_costs(db_session, org)
    result = import_budget(
        db_session,
        org,
        "\n".join(rows).encode(),
        "execution.csv",
        mapping_name="Exécution mensuelle",
        now=NOW,
    )
    assert (result.document_type, result.year, result.lines, result.indicators) == ("EXEC", 2026, 11, 0)
    assert result.replaced > 0
    assert operating_expenses(db_session, org, 2026, CostKind.ACTUAL, "EXEC") == Decimal("110000.00")
    run = execution(db_session, org, 2026)
    assert (run.state, run.months) == ("to_date", 11)
    assert run.total["actual"] == 110000.0
    assert run.total["projection"] == pytest.approx(120000.0)
    assert years_with_costs(db_session, org) == years  # an execution to date is no year of costs


def test_an_annex_budget_leaves_the_principal_budget_of_its_year(db_session, demo):
    """The BP of an establishment's annex budget (M22, an EHPAD) is not the CCAS's BP."""
    org = demo.organisation_id
    principal = operating_expenses(db_session, org, 2026, CostKind.BUDGET, "BP")
    meal = cost_measurement(db_session, org, "cout_complet_repas", "2026")
    save_mapping(db_session, org, {
        "name": "EHPAD",
        "columns": {"nature_code": "Compte", "planned_amount": "Budget", "function_code": "Fonction"},
        "defaults": {"document_type": "BP", "year": "2026", "nomenclature": "M22"},
    })  # fmt: skip
    annex = b"Compte;Budget;Fonction\n6022;1000;\n6411;5000;\n7311;8000;\n"
    result = import_budget(db_session, org, annex, "ehpad_bp_2026.csv", mapping_name="EHPAD", now=NOW)
    assert (result.document_type, result.year, result.lines) == ("BP", 2026, 3)
    assert result.replaced == 0
    assert operating_expenses(db_session, org, 2026, CostKind.BUDGET, "BP") == principal + Decimal("6000.00")
    assert cost_measurement(db_session, org, "cout_complet_repas", "2026") == meal


# --- bad files: a located French report, nothing written ------------------------------------------


@pytest.mark.parametrize(
    ("name", "mapped", "message"),
    [
        ("bad_unknown_codes.csv", False, "ligne 5, colonne BGT_FONCTION : fonction M57 « 4299 » inconnue"),
        ("bad_duplicate.csv", False, "ligne 9 : doublon de la ligne 7"),
        ("bad_negative_ca.csv", False, "ligne 3, colonne BGT_MTREAL : montant négatif « -1 200,00 »"),
        ("bad_ccas_m14_sans_correspondance.csv", False, "ligne 3, colonne BGT_FONCTION : fonction M14 « 59 » inconnue"),
        ("bad_two_documents.csv", False, "plusieurs types de document dans un même fichier : CA (ligne 2), DM (ligne 6)"),
        ("bad_ca_without_actual.csv", False, "compte administratif sans aucun montant réalisé"),
        ("bad_missing_columns.csv", False, "ligne 1 : colonnes SCDL obligatoires absentes : BGT_OPBUDG, BGT_CODRD"),
        ("empty.csv", False, "fichier vide : aucune ligne"),
        ("header_only.csv", False, "le fichier ne contient aucune ligne budgétaire"),
        ("export_logiciel_ca_2025.csv", False, "ce fichier n'est pas un budget au format SCDL"),
        ("bad_export_total.csv", True, "ligne 12 : le total réalisé des dépenses de fonctionnement (900 000,00 €) contredit"),
        ("bad_export_amounts.csv", True, "ligne 3, colonne Prévu : « 12,345 » a plus de deux décimales"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_whole_with_located_messages(db_session, demo, name, mapped, message):
    org = demo.organisation_id
    if mapped:
        save_mapping(db_session, org, LEDGER)
    before = counts(db_session)
    meal = cost_measurement(db_session, org, "cout_complet_repas", "2025")
    with pytest.raises(BudgetFileError) as refused:
        import_budget(
            db_session,
            org,
            (DATA / name).read_bytes(),
            name,
            mapping_name="Grand livre" if mapped else None,
            now=NOW,
        )
    assert any(m.startswith(message) for m in plain(refused.value.messages)), refused.value.messages
    assert counts(db_session) == before
    assert cost_measurement(db_session, org, "cout_complet_repas", "2025") == meal


def test_the_file_of_another_ccas_is_refused(db_session, demo):
    org = demo.organisation_id
    db_session.get(Organisation, org).siren = "261100265"  # the CCAS de Carcassonne
    db_session.flush()
    before = counts(db_session)
    with pytest.raises(BudgetFileError) as refused:
        import_budget(db_session, org, (DATA / "scdl_bp_2025_ccas_m57.csv").read_bytes(), "bp.csv", now=NOW)
    (message,) = refused.value.messages
    assert message.startswith("le fichier est celui du SIRET 26310412300014, qui n'appartient pas à")
    assert message.endswith("(SIREN 261100265)")
    assert counts(db_session) == before
    assert not import_budget(
        db_session, org, DEMO_CA.read_bytes(), DEMO_CA.name, now=NOW
    ).unchanged  # its own


# --- finance software exports through a saved column mapping --------------------------------------


def test_a_mapped_export_imports_and_replaces_the_accounts_of_its_year(db_session, demo):
    org = demo.organisation_id
    save_mapping(db_session, org, LEDGER)
    data = (DATA / "export_logiciel_ca_2025.csv").read_bytes()
    result = import_budget(db_session, org, data, "grand_livre.csv", mapping_name="Grand livre", now=NOW)
    assert (result.document_type, result.year, result.lines, result.unchanged) == ("CA", 2025, 9, False)
    assert result.warnings == [
        "fichier lu en Windows-1252 (il n'est pas en UTF-8) : vérifiez les accents des libellés"
    ]
    assert result.expenses == Decimal("900060.53") and result.revenues == Decimal("1085500.20")
    document = db_session.scalar(
        select(BudgetDocument).where(BudgetDocument.organisation_id == org, BudgetDocument.year == 2025)
    )
    assert (document.source_format, document.siret, document.line_count) == ("Grand livre", None, 9)
    assert operating_expenses(db_session, org, 2025, CostKind.ACTUAL, "CA") == Decimal("900060.53")
    assert round(compute(db_session, org, 2025).costing.total_in, 2) == 900060.53
    again = import_budget(db_session, org, data, "grand_livre.csv", mapping_name="Grand livre", now=NOW)
    assert again.unchanged


def test_a_mapped_export_names_services_that_pilotis_knows(db_session, demo):
    org = demo.organisation_id
    save_mapping(db_session, org, {
        "name": "Par service",
        "columns": {"function_code": "Fonction", "nature_code": "Nature", "planned_amount": "Prévu",
                    "actual_amount": "Réalisé", "flow": "Sens", "service": "Service"},
        "defaults": {"document_type": "CA", "year": "2025"},
    })  # fmt: skip
    header = "Fonction;Nature;Prévu;Réalisé;Sens;Service"
    unknown = f"{header}\n423;6042;1 000,00;900,00;Dépense;seniors\n424;6512;500,00;450,00;Dépense;CRECHES\n"
    before = counts(db_session)
    with pytest.raises(BudgetFileError) as refused:
        import_budget(db_session, org, unknown.encode(), "ca.csv", mapping_name="Par service", now=NOW)
    assert refused.value.messages == ["ligne 3 : service « CRECHES » inconnu dans Pilotis"]
    assert counts(db_session) == before
    known = f"{header}\n423;6042;1 000,00;900,00;Dépense;seniors\n424;6512;500,00;450,00;Dépense;SOLIDARITE\n"
    import_budget(db_session, org, known.encode(), "ca.csv", mapping_name="Par service", now=NOW)
    services = db_session.execute(
        select(Service.code, CostLine.amount)
        .join(Service, Service.id == CostLine.service_id)
        .where(CostLine.organisation_id == org, CostLine.year == 2025, CostLine.document_type == "CA")
        .order_by(Service.code)
    ).all()
    assert [(code, amount) for code, amount in services] == [
        ("SENIORS", Decimal("900.00")), ("SOLIDARITE", Decimal("450.00"))
    ]  # fmt: skip


def test_an_unknown_mapping_is_refused_in_french(db_session, demo):
    org = demo.organisation_id
    save_mapping(db_session, org, LEDGER)
    before = counts(db_session)
    with pytest.raises(BudgetFileError) as refused:
        import_budget(
            db_session, org, (DATA / "export_logiciel_ca_2025.csv").read_bytes(), "x.csv",
            mapping_name="Grand livre 2024", now=NOW,
        )  # fmt: skip
    assert refused.value.messages == [
        "correspondance de colonnes « Grand livre 2024 » inconnue (enregistrées : Grand livre)"
    ]
    assert counts(db_session) == before


# --- the command line -----------------------------------------------------------------------------


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False, standalone_mode=True)


def test_the_cli_refuses_a_bad_file_with_its_located_messages(app, demo, engine):
    path = DATA / "bad_unknown_codes.csv"
    with engine.connect() as conn:
        before = conn.scalar(select(func.count()).select_from(CostLine))
    result = invoke(app, "import", "budget", str(path), "--organisation", demo.slug)
    assert result.exit_code == 1
    assert "Erreur : 2 erreur(s) dans bad_unknown_codes.csv : rien n'a été importé." in result.output
    assert "ligne 5, colonne BGT_FONCTION : fonction M57 « 4299 » inconnue" in result.output
    assert "ligne 6, colonne BGT_NATURE : nature M57 « 6999 » inconnue" in result.output
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(CostLine)) == before


def test_the_cli_imports_a_document_once_and_a_saved_mapping(make_app, demo_database_url, tmp_path):
    app = make_app(demo_database_url)  # where ``pilotis demo`` has run
    first = invoke(app, "import", "budget", str(DEMO_CA))
    assert first.exit_code == 0, first.output
    assert (
        "Compte administratif 2025 importé : 83 ligne(s), remplace 18 ligne(s) antérieure(s)" in first.output
    )
    again = invoke(app, "import", "budget", str(DEMO_CA))
    assert again.exit_code == 0 and "déjà importé à l'identique : aucune modification" in again.output
    costs = invoke(app, "costs", "--year", "2025")
    assert costs.exit_code == 0, costs.output
    expected = real_operating_expenses(DEMO_CA.read_bytes(), DEMO_CA.name)
    assert json.loads(costs.output)["total_in"] == float(expected)
    export = DATA / "export_logiciel_ca_2025.csv"
    unknown = invoke(app, "import", "budget", str(export), "--mapping", "Grand livre")
    assert unknown.exit_code == 1
    assert "correspondance de colonnes « Grand livre » inconnue (enregistrées : aucune)" in unknown.output
    mapping = tmp_path / "grand_livre.json"
    mapping.write_text(json.dumps(LEDGER, ensure_ascii=False), encoding="utf-8")
    saved = invoke(app, "import", "mapping", str(mapping))
    assert saved.exit_code == 0 and "Correspondance « Grand livre » enregistrée." in saved.output
    mapped = invoke(app, "import", "budget", str(export), "--mapping", "Grand livre")
    assert mapped.exit_code == 0, mapped.output
    assert "Attention : fichier lu en Windows-1252" in mapped.output
    assert (
        "Compte administratif 2025 importé : 9 ligne(s), remplace 83 ligne(s) antérieure(s)" in mapped.output
    )
    engine = make_engine(demo_database_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(BudgetDocument)) == 1
    finally:
        engine.dispose()

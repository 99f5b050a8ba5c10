"""Budget files: SCDL budget CSV and finance-software exports, parsed exactly or refused with located messages."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.budget_files import (
    SCDL_COLUMNS,
    AmountError,
    BudgetFileError,
    ColumnMapping,
    mapping_from_dict,
    mapping_to_dict,
    parse_amount,
    parse_budget_file,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "budget"
DEMO = Path(__file__).resolve().parents[2] / "services" / "data" / "demo" / "ca_2025_ccas_carcassonne.csv"

EXPORT = ColumnMapping(
    name="Grand livre Saint-Alban",
    columns={
        "year": "Exercice", "function_code": "Fonction", "nature_code": "Nature", "label": "Libellé",
        "planned_amount": "Prévu", "actual_amount": "Réalisé", "flow": "Sens",
    },
    defaults={"document_type": "CA", "nomenclature": "M57"},
)  # fmt: skip


def read(name: str, **kwargs):
    return parse_budget_file((DATA / name).read_bytes(), name, **kwargs)


def refused(data: bytes, filename: str = "budget.csv", **kwargs) -> list[str]:
    with pytest.raises(BudgetFileError) as caught:
        parse_budget_file(data, filename, **kwargs)
    return [m.replace("\u00a0", " ").replace("\u202f", " ") for m in caught.value.messages]


def refused_file(name: str, **kwargs) -> list[str]:
    return refused((DATA / name).read_bytes(), name, **kwargs)


def scdl(rows: list[dict[str, str]], *, separator: str = ",", bom: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SCDL_COLUMNS, delimiter=separator, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in SCDL_COLUMNS})
    return ("\ufeff" if bom else "").encode() + buffer.getvalue().encode()


def scdl_row(nature: str, function: str, amount: str, **overrides: str) -> dict[str, str]:
    row = {
        "BGT_NATDEC": "budget primitif", "BGT_ANNEE": "2025", "BGT_SIRET": "26310412300014",
        "BGT_NOM": "CCAS TEST", "BGT_CONTNAT": "", "BGT_NATURE": nature, "BGT_NATURE_LABEL": "libellé",
        "BGT_FONCTION": function, "BGT_SECTION": "fonctionnement", "BGT_OPBUDG": "réel", "BGT_CODRD": "dépense",
        "BGT_MTPREV": amount,
    }  # fmt: skip
    row.update(overrides)
    return row


# --- the samples, hand-checked ---------------------------------------------------------------


def test_scdl_budget_primitif_m57():
    doc = read("scdl_bp_2025_ccas_m57.csv")
    assert (doc.document_type, doc.year, doc.siret) == ("BP", 2025, "26310412300014")
    assert doc.organisation_name == "CCAS DE SAINT-ALBAN-SUR-AUDE"
    assert (doc.nomenclature, doc.budget_kind, doc.source_format) == ("M57", "principal", "scdl")
    assert len(doc.lines) == 19 and doc.warnings == []
    first = doc.lines[0]
    assert first.line_number == 2  # the header is line 1
    assert (first.function_code, first.m57_function_code, first.nature_code, first.chapter_code) == (
        "423",
        "423",
        "6042",
        "011",
    )
    assert (first.section, first.operation, first.flow) == ("fonctionnement", "reelle", "depense")
    assert first.planned_amount == Decimal("85000.00") and first.actual_amount is None
    assert (
        first.function_label == "Personnes âgées"
        and first.nature_label == "Achats de prestations de services"
    )
    assert doc.lines[1].planned_amount == Decimal("42000.50")
    assert doc.lines[2].planned_amount == Decimal("6800.00")
    order = doc.lines[11]
    assert (order.nature_code, order.operation, order.chapter_code, order.function_code) == (
        "6811",
        "ordre",
        "042",
        "01",
    )
    # 85 000 + 42 000,50 + 6 800 + 15 400 + 310 000 + 265 000 + 98 500 + 61 200 + 88 700 + 45 000 + 12 000 + 7 200
    assert doc.total("fonctionnement", "depense").planned == Decimal("1036800.50")
    # 98 000 + 850 000 + 125 000 + 22 500
    assert doc.total("fonctionnement", "recette").planned == Decimal("1095500.00")
    assert doc.total("investissement", "depense").planned == Decimal("9600.00")
    assert doc.total("investissement", "recette").planned == Decimal("9600.00")  # 7 200 + 2 400
    assert doc.total("fonctionnement", "depense").actual is None


def test_scdl_compte_administratif_with_french_numbers():
    doc = read("scdl_ca_2024_ccas_m57.csv")
    assert (doc.document_type, doc.year, len(doc.lines)) == ("CA", 2024, 11)
    food = doc.lines[1]
    assert food.planned_amount == Decimal("40000.00")  # BGT_CREDOUV « 40 000,00 »
    assert food.actual_amount == Decimal("41250.10")  # BGT_MTREAL « 41 250,10 »
    rent = doc.lines[2]
    assert rent.nature_code == "6135" and rent.actual_amount == Decimal(
        "0.00"
    )  # credits opened, nothing done
    assert doc.lines[4].function_code == "4231" and doc.lines[4].m57_function_code == "4231"
    refund = doc.lines[7]
    assert (refund.nature_code, refund.flow, refund.chapter_code) == ("6419", "recette", "013")
    depenses = doc.total("fonctionnement", "depense")
    assert depenses.planned == Decimal("653500.00")
    # 78 412,35 + 41 250,10 + 0 + 301 874,92 + 97 120,00 + 86 004,61 + 37 815,00
    assert depenses.actual == Decimal("642476.98")
    assert doc.total("fonctionnement", "recette").actual == Decimal(
        "943642.69"
    )  # 6 212,44 + 97 430,25 + 840 000
    assert doc.total("investissement", "depense").actual == Decimal("3618.00")
    assert doc.total("investissement", "recette").planned is None


def test_scdl_m14_is_mapped_to_m57_with_warnings():
    doc = read("scdl_ca_2022_ccas_m14.csv")  # « m14 » in the name says the nomenclature
    assert doc.nomenclature == "M14"
    mapped = [(line.function_code, line.m57_function_code) for line in doc.lines]
    assert mapped == [
        ("61", "423"),
        ("64", "422"),
        ("520", "420"),
        ("523", "424"),
        ("523", "424"),
        ("520", "420"),
        ("64", "422"),
    ]
    subsidy = doc.lines[4]
    assert (subsidy.nature_code, subsidy.m57_nature_code) == ("6745", "6574")
    assert doc.lines[0].m57_nature_code == "6042"
    assert doc.lines[0].actual_amount == Decimal("51240.40")
    assert any(
        w.startswith("fonction M14 61 convertie en M57 423 (Personnes âgées) : 1 ligne(s)")
        for w in doc.warnings
    )
    assert any(
        w.startswith("fonction M14 64 convertie en M57 422 (Petite enfance) : 2 ligne(s)")
        for w in doc.warnings
    )
    assert "nature M14 6745 convertie en M57 6574 : 1 ligne(s)" in doc.warnings
    same = parse_budget_file((DATA / "scdl_ca_2022_ccas_m14.csv").read_bytes(), "ca.csv", nomenclature="M14")
    assert same.fingerprint == doc.fingerprint


def test_an_m14_file_read_as_m57_says_which_codes_are_m14():
    messages = refused((DATA / "scdl_ca_2022_ccas_m14.csv").read_bytes(), "ca_2022.csv")
    assert (
        "ligne 4, colonne BGT_FONCTION : fonction M57 « 520 » inconnue (absente de la table de référence de Pilotis)"
        in messages
    )
    assert messages[-1].startswith(
        "les fonctions 520, 523 existent en M14 : si ce fichier est en M14, indiquez"
    )


def test_finance_export_csv_with_a_mapping():
    doc = read("export_logiciel_ca_2025.csv", mapping=EXPORT)
    assert (doc.document_type, doc.year, doc.nomenclature, doc.source_format) == (
        "CA",
        2025,
        "M57",
        "Grand livre Saint-Alban",
    )
    assert doc.siret is None and len(doc.lines) == 9  # the two TOTAL rows are checks, not lines
    assert doc.warnings == [
        "fichier lu en Windows-1252 (il n'est pas en UTF-8) : vérifiez les accents des libellés"
    ]
    meals = doc.lines[0]
    assert meals.line_number == 3  # a title line, then the header on line 2
    assert (meals.function_code, meals.nature_code, meals.chapter_code) == ("423", "6042", "011")
    assert meals.label == "Portage de repas - prestataire"
    assert meals.planned_amount == Decimal("120000.00")  # « 120 000,00 » with a no-break space
    assert meals.actual_amount == Decimal("118245.60")
    assert meals.section == "fonctionnement"  # deduced from the nature
    assert doc.lines[6].flow == "recette" and doc.lines[6].nature_code == "7066"
    assert doc.total("fonctionnement", "depense").actual == Decimal("900060.53")
    assert doc.total("fonctionnement", "recette").planned == Decimal("1090000.00")


def workbook_bytes(rows: list[list[object]], title: str = "Budget 2025") -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    book.create_sheet("Notes").append(["rien ici"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX_MAPPING = ColumnMapping(
    name="Export xlsx",
    columns={"function_code": "Fonction", "nature_code": "Nature", "label": "Libellé", "planned_amount": "Prévu",
             "actual_amount": "Réalisé", "flow": "Sens", "service": "Service"},
    defaults={"document_type": "CA", "year": "2025"},
    sheet="budget 2025",
)  # fmt: skip


def test_finance_export_xlsx_with_numbers_as_excel_stores_them():
    data = workbook_bytes([
        ["CCAS de Saint-Alban - exécution 2025"],
        [],
        ["Fonction", "Nature", "Libellé", "Prévu", "Réalisé", "Sens", "Service"],
        ["423", "6042", "Portage de repas", 120000, 118245.6, "Dépense", "SAAD"],
        ["020", 7474, "Subvention de la commune", 760000.0, 760000, "Recette", None],
        ["424", "6512", "Aides facultatives", 0.1 + 0.2, 54320.00000000001, "D", "AIDES"],
        ["Total", "", "", 880000.3, 932565.6, "", None],
    ])  # fmt: skip
    doc = parse_budget_file(data, "execution.xlsx", mapping=XLSX_MAPPING)
    assert [line.line_number for line in doc.lines] == [4, 5, 6]
    assert doc.lines[0].actual_amount == Decimal("118245.60") and doc.lines[0].service == "SAAD"
    assert (
        doc.lines[1].function_code == "020" and doc.lines[1].nature_code == "7474"
    )  # a code typed as a number
    assert doc.lines[2].planned_amount == Decimal("0.30")  # 0.30000000000000004 is a float artefact
    assert doc.lines[2].actual_amount == Decimal("54320.00")
    assert doc.lines[1].service is None


def test_xlsx_problems_are_located_by_sheet_row_and_column():
    data = workbook_bytes([
        ["Fonction", "Nature", "Libellé", "Prévu", "Réalisé", "Sens", "Service"],
        ["423", "6042", "Portage", 12.345, 10, "Dépense", None],
    ])  # fmt: skip
    messages = refused(data, "x.xlsx", mapping=XLSX_MAPPING)
    assert messages == [
        "feuille « Budget 2025 », ligne 2, colonne Prévu : « 12.345 » a plus de deux décimales : un montant se donne au centime"
    ]


def test_workbook_sheet_must_exist_and_old_formats_are_refused():
    data = workbook_bytes([["Fonction"]])
    other = ColumnMapping(**{**mapping_to_dict(XLSX_MAPPING), "sheet": "Dépenses"})
    assert refused(data, "x.xlsx", mapping=other) == [
        "feuille « Dépenses » absente du classeur (feuilles : Budget 2025, Notes)"
    ]
    assert "Excel 97-2003" in refused(b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "x.xls", mapping=XLSX_MAPPING)[0]
    assert refused(b"PK\x03\x04 not really a zip", "x.xlsx", mapping=XLSX_MAPPING) == [
        "ce fichier n'est pas un classeur Excel (.xlsx)"
    ]


# --- fingerprints ----------------------------------------------------------------------------


def test_fingerprint_ignores_order_separator_encoding_number_format_and_labels():
    original = read("scdl_bp_2025_ccas_m57.csv")
    with open(DATA / "scdl_bp_2025_ccas_m57.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    rows = rows[7:] + rows[:7][::-1]  # another order
    for row in rows:
        row["BGT_MTPREV"] = row["BGT_MTPREV"].replace(".", ",")
        row["BGT_NATURE_LABEL"] = row["BGT_NATURE_LABEL"].upper()
    again = parse_budget_file(scdl(rows, separator=";", bom=True), "bp.csv")
    assert again.fingerprint == original.fingerprint
    assert [line.planned_amount for line in again.lines] != [line.planned_amount for line in original.lines]
    rows[0]["BGT_MTPREV"] = "1,00"
    assert parse_budget_file(scdl(rows), "bp.csv").fingerprint != original.fingerprint


def test_a_later_document_of_the_same_year_has_its_own_fingerprint():
    rows = [scdl_row("6042", "423", "1000")]
    dm = [scdl_row("6042", "423", "1000", BGT_NATDEC="décision modificative")]
    assert (
        parse_budget_file(scdl(rows), "a.csv").fingerprint != parse_budget_file(scdl(dm), "b.csv").fingerprint
    )


# --- bad input: a located French report, nothing returned ------------------------------------


def test_unknown_function_and_nature_codes():
    assert refused_file("bad_unknown_codes.csv") == [
        "ligne 5, colonne BGT_FONCTION : fonction M57 « 4299 » inconnue (absente de la table de référence de Pilotis)",
        "ligne 6, colonne BGT_NATURE : nature M57 « 6999 » inconnue (absente de la table de référence de Pilotis)",
    ]  # line 7 has 4239: a sub-rubrique of 423, accepted


def test_duplicate_lines():
    assert refused_file("bad_duplicate.csv") == [
        "ligne 9 : doublon de la ligne 7 (même document, fonction, nature, section, opération, sens)"
    ]


def test_negative_amounts_outside_a_decision_modificative():
    assert refused_file("bad_negative_ca.csv") == [
        "ligne 3, colonne BGT_MTREAL : montant négatif « -1 200,00 » (seule une décision modificative peut réduire un crédit)"
    ]
    messages = refused(scdl([scdl_row("6042", "423", "-500")]))
    assert messages == [
        "ligne 2, colonne BGT_MTPREV : montant négatif « -500 » (seule une décision modificative peut réduire un crédit)"
    ]


def test_a_decision_modificative_may_lower_a_credit_and_adds_carried_over_amounts():
    rows = [
        scdl_row("6042", "423", "", BGT_NATDEC="décision modificative", BGT_MTPROPNOUV="-2 000,00"),
        scdl_row(
            "6135",
            "420",
            "",
            BGT_NATDEC="décision modificative",
            BGT_MTPROPNOUV="150.5",
            BGT_MTRARPREC="49.5",
        ),
    ]
    doc = parse_budget_file(scdl(rows), "dm1_2025.csv")
    assert doc.document_type == "DM"
    assert [line.planned_amount for line in doc.lines] == [Decimal("-2000.00"), Decimal("200.00")]


def test_m14_codes_without_m57_equivalent():
    assert refused_file("bad_ccas_m14_sans_correspondance.csv") == [
        "ligne 3, colonne BGT_FONCTION : fonction M14 « 59 » inconnue (absente de la table de référence de Pilotis) et sans correspondance M57",
        "ligne 4, colonne BGT_FONCTION : fonction M14 « 025 » sans correspondance M57 (pas d'équivalent M57 : une subvention se classe selon l'objet de l'association (ex. 424 pour une association d'aide aux personnes en difficulté)) : reclassez la ligne en M57",
        "ligne 6, colonne BGT_NATURE : nature M14 « 678 » sans correspondance M57 (pas d'équivalent M57 : charge exceptionnelle à requalifier par nature)",
    ]


def test_several_documents_or_years_in_one_file():
    assert refused_file("bad_two_documents.csv") == [
        "plusieurs types de document dans un même fichier : CA (ligne 2), DM (ligne 6) ; un fichier doit contenir un seul document",
        "plusieurs exercices dans un même fichier : 2024 (ligne 2), 2025 (ligne 6) ; un fichier doit contenir un seul document",
    ]


def test_a_compte_administratif_without_any_actual_amount():
    assert refused_file("bad_ca_without_actual.csv") == [
        "compte administratif sans aucun montant réalisé (colonne BGT_MTREAL vide partout)"
    ]


def test_missing_scdl_columns():
    assert refused_file("bad_missing_columns.csv") == [
        "ligne 1 : colonnes SCDL obligatoires absentes : BGT_OPBUDG, BGT_CODRD (schéma scdl/budget ; pour un autre format, utilisez un modèle de correspondance --mapping NOM)"
    ]


def test_a_file_that_is_not_scdl_suggests_a_mapping():
    (message,) = refused_file("export_logiciel_ca_2025.csv")
    assert message.startswith("ce fichier n'est pas un budget au format SCDL")
    assert "colonnes SCDL manquantes : BGT_NATDEC, BGT_ANNEE, BGT_SIRET" in message
    assert "colonnes trouvées : Exercice, Fonction, Nature, Libellé, Prévu, Réalisé, Sens" in message
    assert message.endswith("importez-le avec un modèle de correspondance (--mapping NOM)")


def test_empty_files():
    assert refused_file("empty.csv") == ["fichier vide : aucune ligne"]
    assert refused_file("header_only.csv") == ["le fichier ne contient aucune ligne budgétaire"]


def test_a_total_row_that_contradicts_its_lines():
    assert refused_file("bad_export_total.csv", mapping=EXPORT) == [
        "ligne 12 : le total réalisé des dépenses de fonctionnement (900 000,00 €) contredit la somme des lignes (900 060,53 €)"
    ]


def test_a_total_row_scoped_to_a_chapter():
    rows = [
        "Nature;Fonction;Prévu;Sens",
        "6042;423;1 000,00;Dépense",
        "60623;423;250,50;Dépense",
        "6411;423;9 000,00;Dépense",
        "Total 011;;1 250,00;Dépense",
    ]
    mapping = ColumnMapping(
        name="Chapitres",
        columns={
            "nature_code": "Nature",
            "function_code": "Fonction",
            "planned_amount": "Prévu",
            "flow": "Sens",
        },
        defaults={"document_type": "BP", "year": "2026"},
    )
    messages = refused("\n".join(rows).encode(), "bp.csv", mapping=mapping)
    assert messages == [
        "ligne 5 : le total des dépenses de fonctionnement de la nature 011 (1 250,00 €) contredit la somme des lignes (1 250,50 €)"
    ]
    rows[-1] = "Total 011;;1 250,50;Dépense"
    assert len(parse_budget_file("\n".join(rows).encode(), "bp.csv", mapping=mapping).lines) == 3


def test_amounts_that_are_not_money():
    assert refused_file("bad_export_amounts.csv", mapping=EXPORT) == [
        "ligne 2, colonne Prévu : « 1.234,56 » mélange point et virgule : écrivez 1 234,56 (ou réglez le séparateur décimal dans le modèle de correspondance)",
        "ligne 3, colonne Prévu : « 12,345 » a plus de deux décimales : un montant se donne au centime",
        "ligne 4, colonne Prévu : « douze » n'est pas un nombre",
        "ligne 5, colonne Prévu : « 1.500 » est ambigu (mille 500 ou 1,500 ?) : écrivez 1 500 ou 1,500",
        "compte administratif sans aucun montant réalisé (colonne Réalisé vide partout)",
    ]


def test_missing_values_and_bad_keywords_are_all_reported_in_one_pass():
    rows = [
        scdl_row("6042", "423", "100", BGT_NATDEC="budget rectificatif"),
        scdl_row("6042", "424", "100", BGT_SECTION="exploitation courante"),
        scdl_row("6042", "425", "100", BGT_CODRD=""),
        scdl_row("6042", "428", "100", BGT_SIRET="123"),
        scdl_row("6411", "428", "100", BGT_SECTION="investissement"),
        scdl_row("6042", "421", ""),
    ]
    messages = refused(scdl(rows))
    assert messages == [
        "ligne 2, colonne BGT_NATDEC : type de document « budget rectificatif » inconnu : budget primitif (BP), budget supplémentaire (BS), décision modificative (DM), compte administratif (CA), compte financier unique (CFU) ou exécution (EXEC)",
        "ligne 3, colonne BGT_SECTION : section « exploitation courante » inconnue : fonctionnement ou investissement",
        "ligne 4, colonne BGT_CODRD : sens (dépense ou recette) manquant(e)",
        "ligne 5, colonne BGT_SIRET : SIRET « 123 » invalide : 14 chiffres attendus",
        "ligne 6, colonne BGT_SECTION : la nature « 6411 » relève de la section de fonctionnement, pas de la section d'investissement",
        "ligne 7 : aucun montant prévu (colonnes BGT_MTPREV, BGT_MTPROPNOUV, BGT_MTRARPREC vides)",
    ]


def test_messages_are_capped():
    rows = [scdl_row(f"69{i:02d}", "423", "1") for i in range(60)]
    messages = refused(scdl(rows))
    assert len(messages) == 51 and messages[-1] == "… et 10 autres"


# --- other rules -----------------------------------------------------------------------------


def test_a_budget_primitif_ignores_realised_amounts_with_a_warning():
    doc = parse_budget_file(scdl([scdl_row("6042", "423", "100", BGT_MTREAL="95")]), "bp.csv")
    assert doc.lines[0].actual_amount is None
    assert doc.warnings == ["1 montant(s) réalisé(s) ignoré(s) : un BP ne porte que des prévisions"]


def test_lines_without_function_are_kept_with_a_warning():
    doc = parse_budget_file(scdl([scdl_row("6042", "", "100")]), "bp.csv")
    assert doc.lines[0].function_code is None and doc.lines[0].m57_function_code is None
    assert doc.warnings[0].startswith("1 ligne(s) sans fonction")


def test_months_only_in_execution_exports():
    mapping = ColumnMapping(
        name="Exécution mensuelle",
        columns={
            "nature_code": "Compte",
            "function_code": "Fonction",
            "actual_amount": "Mandaté",
            "month": "Mois",
        },
        defaults={"document_type": "EXEC", "year": "2026"},
    )
    text = "Compte;Fonction;Mandaté;Mois\n6042;423;100,00;1\n6042;423;120,00;février\n6042;423;80,00;3\n"
    doc = parse_budget_file(text.encode(), "exec.csv", mapping=mapping)
    assert [(line.month, line.actual_amount) for line in doc.lines] == [
        (1, Decimal("100.00")), (2, Decimal("120.00")), (3, Decimal("80.00")),
    ]  # fmt: skip
    assert doc.document_type == "EXEC"
    ca = ColumnMapping(**{**mapping_to_dict(mapping), "defaults": {"document_type": "CA", "year": "2026"}})
    messages = refused(text.encode(), "ca.csv", mapping=ca)
    assert (
        messages[0]
        == "ligne 2, colonne Mois : un mois n'a de sens que dans un export d'exécution (EXEC), pas dans un CA"
    )


def test_m22_annex_budget():
    mapping = ColumnMapping(
        name="EHPAD",
        columns={"nature_code": "Compte", "planned_amount": "Budget", "function_code": "Fonction"},
        defaults={"document_type": "BP", "year": "2026", "nomenclature": "M22"},
    )
    doc = parse_budget_file(
        b"Compte;Budget;Fonction\n6022;1000;\n6411;5000;\n7311;8000;\n", "ehpad.csv", mapping=mapping
    )
    assert (doc.nomenclature, doc.budget_kind) == ("M22", "annexe")
    assert [(line.m22_group, line.flow, line.m57_function_code) for line in doc.lines] == [
        ("I", "depense", None), ("II", "depense", None), ("I", "recette", None),
    ]  # fmt: skip
    messages = refused(b"Compte;Budget;Fonction\n6022;1000;423\n", "ehpad.csv", mapping=mapping)
    assert messages == [
        "ligne 2, colonne Fonction : fonction « 423 » : la nomenclature M22 n'a pas de fonction (laissez la colonne vide)"
    ]


def test_flow_that_a_nature_does_not_imply_must_be_given():
    mapping = ColumnMapping(
        name="Investissement",
        columns={"nature_code": "Nature", "planned_amount": "Prévu"},
        defaults={"document_type": "BP", "year": "2026"},
    )
    messages = refused(b"Nature;Prevu\n1641;1000\n", "bp.csv", mapping=mapping)
    assert messages == [
        "ligne 2 : le sens (dépense ou recette) ne se déduit pas de la nature « 1641 » : ajoutez une colonne Sens ou une valeur par défaut au modèle"
    ]


def test_headers_match_without_case_accents_or_spaces_and_cells_may_hold_code_and_label():
    mapping = ColumnMapping(
        name="Souple",
        columns={
            "nature_code": "  NATURE ",
            "function_code": "fonction",
            "planned_amount": "prevu",
            "label": "libelle",
        },
        defaults={"document_type": "BP", "year": "2026"},
    )
    text = "Nature;Fonction;Prévu;Libellé\n6042 - Achats de prestations;4231 – Forfait autonomie;1 500;Ateliers\n"
    doc = parse_budget_file(text.encode(), "bp.csv", mapping=mapping)
    line = doc.lines[0]
    assert (line.nature_code, line.nature_label) == ("6042", "Achats de prestations")
    assert (line.function_code, line.function_label) == ("4231", "Forfait autonomie")
    assert line.planned_amount == Decimal("1500.00") and line.label == "Ateliers"


def test_headers_repeated_on_each_printed_page_are_skipped():
    mapping = ColumnMapping(
        name="Paginé",
        columns={"nature_code": "Nature", "planned_amount": "Prévu"},
        defaults={"document_type": "BP", "year": "2026", "function_code": "423"},
    )
    text = "Nature;Prévu\n6042;10\nNature;Prévu\n6411;20\n"
    doc = parse_budget_file(text.encode(), "bp.csv", mapping=mapping)
    assert [(line.line_number, line.nature_code, line.function_code) for line in doc.lines] == [
        (2, "6042", "423"), (4, "6411", "423"),
    ]  # fmt: skip


def test_missing_mapped_columns_are_listed():
    messages = refused(b"Nature;Montant\n6042;10\n", "bp.csv", mapping=EXPORT)
    assert messages == [
        "ligne 1 : colonnes du modèle « Grand livre Saint-Alban » absentes : Exercice, Fonction, Libellé, Prévu, Réalisé, Sens (colonnes trouvées : Nature, Montant)"
    ]


@pytest.mark.parametrize(
    ("decimal_comma", "text", "value"),
    [
        (True, "1.234,56", "1234.56"),
        (True, "1 234,5", "1234.50"),
        (False, "1,234.56", "1234.56"),
        (False, "12.5", "12.50"),
    ],
)
def test_the_mapping_fixes_the_decimal_separator(decimal_comma, text, value):
    assert parse_amount(text, decimal_comma=decimal_comma) == Decimal(value)


# --- amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1234", "1234.00"), ("1234,56", "1234.56"), ("1 234,56", "1234.56"), ("1\u00a0234,56", "1234.56"),
     ("1\u202f234,56 €", "1234.56"), ("-12,5", "-12.50"), ("\u221212,5", "-12.50"), ("1234.56", "1234.56"),
     ("0.120", "0.12"), ("1500.000", "1500.00"), (1500, "1500.00"),
     (12.5, "12.50"), (Decimal("7.10"), "7.10"), ("+3", "3.00"), ("- 1 200,00", "-1200.00")],
)  # fmt: skip
def test_amounts_read_exactly(raw, value):
    assert parse_amount(raw, point_is_decimal=True) == Decimal(value)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("1.234,56", "mélange point et virgule"), ("12,345", "plus de deux décimales"), ("1 2345", "groupes de trois"),
     ("douze", "n'est pas un nombre"), ("", "vide"), (True, "case à cocher"), (float("nan"), "non fini"),
     ("1.234", "ambigu"), ("=A1", "n'est pas un nombre"), (0.125, "plus de deux décimales")],
)  # fmt: skip
def test_amounts_refused_say_why(raw, reason):
    with pytest.raises(AmountError, match=reason):
        parse_amount(raw)


# --- mappings --------------------------------------------------------------------------------


def test_mapping_round_trips_through_its_json_form():
    stored = mapping_to_dict(XLSX_MAPPING)
    assert mapping_from_dict(stored) == XLSX_MAPPING
    assert stored["columns"]["nature_code"] == "Nature" and stored["sheet"] == "budget 2025"


def test_invalid_mappings_are_refused_with_every_reason():
    with pytest.raises(BudgetFileError) as caught:
        mapping_from_dict({
            "name": "Cassé", "columns": {"fonction": "F", "planned_amount": "P"},
            "defaults": {"document_type": "budget rectificatif", "year": "25", "colour": "bleu"},
        })  # fmt: skip
    assert caught.value.messages == [
        "modèle de correspondance « Cassé » : champ « fonction » inconnu (champs possibles : document_type, year, siret, organisation_name, nomenclature, function_code, function_label, nature_code, nature_label, chapter_code, section, operation, flow, planned_amount, actual_amount, service, month, label, equipment_operation, total)",
        "modèle de correspondance « Cassé », valeur par défaut de « document_type » : type de document « budget rectificatif » inconnu : budget primitif (BP), budget supplémentaire (BS), décision modificative (DM), compte administratif (CA), compte financier unique (CFU) ou exécution (EXEC)",
        "modèle de correspondance « Cassé », valeur par défaut de « year » : exercice « 25 » invalide : une année comme 2025 est attendue",
        "modèle de correspondance « Cassé » : pas de valeur par défaut possible pour « colour » (possibles : document_type, year, siret, organisation_name, nomenclature, budget_kind, section, operation, flow, function_code, service)",
        "modèle de correspondance « Cassé » : la colonne de la nature (nature_code) est obligatoire",
    ]
    with pytest.raises(BudgetFileError, match="« name » doit être un texte"):
        mapping_from_dict({"columns": {}})
    with pytest.raises(BudgetFileError, match="au moins une colonne de montant"):
        ColumnMapping(
            name="x", columns={"nature_code": "N"}, defaults={"document_type": "BP", "year": "2025"}
        )


# --- the demo file ---------------------------------------------------------------------------


def test_the_demo_compte_administratif_of_the_ccas_de_carcassonne():
    doc = parse_budget_file(DEMO.read_bytes(), DEMO.name)
    assert (doc.document_type, doc.year, doc.siret, doc.nomenclature) == ("CA", 2025, "26110026500018", "M57")
    assert doc.organisation_name == "CCAS DE CARCASSONNE" and doc.warnings == []
    operating = [
        line
        for line in doc.lines
        if (line.section, line.operation, line.flow) == ("fonctionnement", "reelle", "depense")
    ]
    spent = sum(line.actual_amount for line in operating)
    assert Decimal("3800000") < spent < Decimal("4000000")
    staff = sum(line.actual_amount for line in operating if line.chapter_code == "012")
    administration = sum(line.actual_amount for line in operating if line.m57_function_code == "420")
    assert Decimal("0.55") <= round(staff / spent, 2) <= Decimal("0.65")  # personnel: about 60 %
    assert Decimal("0.25") <= round(administration / spent, 2) <= Decimal("0.29")  # a quarter or so
    assert {line.m57_function_code[:3] for line in operating} == {"420", "422", "423", "424", "425"}
    assert parse_budget_file(DEMO.read_bytes(), "copie.csv").fingerprint == doc.fingerprint


# --- properties ------------------------------------------------------------------------------

NATURES = ["6042", "60623", "6135", "6411", "6413", "6451", "6453", "6512", "6574", "611"]
FUNCTIONS = ["420", "421", "422", "423", "4231", "424", "425", "428", "020"]
money = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(
        st.tuples(st.sampled_from(NATURES), st.sampled_from(FUNCTIONS), money, money, st.booleans()),
        min_size=1,
        max_size=25,
        unique_by=lambda cell: (cell[0], cell[1], cell[4]),
    ),
    french=st.booleans(),
    separator=st.sampled_from([",", ";"]),
    data=st.data(),
)
def test_generated_scdl_round_trips_amounts_and_totals(cells, french, separator, data):
    def written(value: Decimal) -> str:
        text = f"{value:.2f}"
        return text.replace(".", ",") if french else text

    rows = [
        scdl_row(
            nature, function, "", BGT_NATDEC="compte administratif", BGT_CREDOUV=written(planned),
            BGT_MTREAL=written(actual), BGT_CODRD="recette" if revenue else "dépense",
        )
        for nature, function, planned, actual, revenue in cells
    ]  # fmt: skip
    doc = parse_budget_file(scdl(rows, separator=separator), "ca.csv")
    assert [(line.planned_amount, line.actual_amount) for line in doc.lines] == [
        (p, a) for _n, _f, p, a, _r in cells
    ]
    for flow in ("depense", "recette"):
        chosen = [line for line in doc.lines if line.flow == flow]
        total = doc.total("fonctionnement", flow)
        if chosen:
            assert total.planned == sum(line.planned_amount for line in chosen)
            assert total.actual == sum(line.actual_amount for line in chosen)
        else:
            assert total.planned is None and total.actual is None
    shuffled = data.draw(st.permutations(rows))
    assert (
        parse_budget_file(scdl(shuffled, separator=";" if separator == "," else ","), "ca.csv").fingerprint
        == doc.fingerprint
    )


@settings(max_examples=150, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.lists(
            st.lists(st.sampled_from(["BGT_NATDEC", "6042", "423", "1 000,5", "", "compte administratif", "réel",
                                      "dépense", "TOTAL", "Nature", "Prévu", "2025", "x;y", '"', "-3", "1e9"]),
                     max_size=12),
            max_size=8,
        ).map(lambda rows: "\n".join(";".join(cells) for cells in rows).encode()),
    ),
    with_mapping=st.booleans(),
)  # fmt: skip
def test_any_input_is_read_or_refused_never_crashes(data, with_mapping):
    try:
        parse_budget_file(data, "fichier.csv", mapping=EXPORT if with_mapping else None)
    except BudgetFileError as exc:
        assert exc.messages and all(isinstance(m, str) and m for m in exc.messages)

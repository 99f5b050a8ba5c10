"""The reference nomenclatures: M57 tree, recognition rules, M14 -> M57 mapping, chapters, M22 groups."""

import csv

import pytest

from services import nomenclatures as nom


def test_m57_function_4_tree_is_complete_for_social_action():
    tree = {f.code: f for f in nom.m57_functions()}
    assert (
        tree["4"].label == "Santé et action sociale"
        and tree["4"].level == 1
        and tree["4"].parent_code is None
    )
    assert tree["42"].parent_code == "4" and tree["42"].level == 2
    assert [c for c in tree if c.startswith("42") and len(c) == 3] == [
        "420", "421", "422", "423", "424", "425", "428",
    ]  # fmt: skip
    assert tree["423"].label == "Personnes âgées"
    assert [c for c in tree if c.startswith("423") and len(c) == 4] == ["4231", "4232", "4238"]
    assert (
        tree["4231"].label == "Forfait autonomie"
        and tree["4231"].level == 4
        and tree["4231"].parent_code == "423"
    )
    assert tree["020"].label == "Administration générale de la collectivité"
    assert {"0", "1", "2", "3", "5", "6", "7", "8"} <= set(tree)


def test_every_function_table_is_a_consistent_tree():
    for name in ("M57", "M14"):
        functions = nom.functions(name)
        codes = [f.code for f in functions]
        assert len(codes) == len(set(codes)), name
        for function in functions:
            assert function.level == len(function.code)
            assert function.label
            assert function.parent_code is None or function.parent_code in codes
    assert nom.functions("M22") == []


def test_the_territorial_function_4_table_agrees_with_the_reference():
    with open(
        nom.DATA_DIR.parent / "territoire" / "m57_fonctions_sante_action_sociale.csv", encoding="utf-8"
    ) as f:
        older = [row["code"] for row in csv.DictReader(f, delimiter=";") if row["niveau"] != "chapitre"]
    assert all(nom.is_known_function("M57", code) for code in older)


@pytest.mark.parametrize(
    ("code", "known", "label"),
    [
        ("423", True, "Personnes âgées"),
        ("4231", True, "Forfait autonomie"),
        ("4239", True, "Personnes âgées"),  # a local sub-rubrique under a level-3 head
        ("42381", True, "Autres actions pour les personnes âgées"),
        ("4299", False, None),  # 429 is not a head
        ("429", False, None),
        ("94", False, None),  # function 9 is « en réserve »: not in the table
        ("59", True, "Sécurité"),  # M57 5 Aménagement, 59 Sécurité (not an M14 head)
        (" 424 ", True, "Personnes en difficulté"),
    ],
)
def test_m57_function_recognition_rules(code, known, label):
    assert nom.is_known_function("M57", code) is known
    assert nom.function_label("M57", code) == label


@pytest.mark.parametrize(
    ("code", "known", "label"),
    [
        ("6042", True, "Achats de prestations de services (autres que terrains à aménager)"),
        ("011", True, "Charges à caractère général"),
        ("012", True, "Charges de personnel et frais assimilés"),
        ("65", True, "Autres charges de gestion courante"),
        ("606321", True, "Fournitures de petit équipement"),  # under 60632
        ("6099", True, "Rabais, remises et ristournes obtenus sur achats"),  # under 609
        ("6999", False, None),  # only the class is known
        ("6", False, None),
        ("ABC", False, None),
    ],
)
def test_m57_nature_recognition_rules(code, known, label):
    assert nom.is_known_nature("M57", code) is known
    assert nom.nature_label("M57", code) == label


def test_the_natures_a_ccas_budget_uses_are_known():
    for code in ("6042", "60623", "611", "6135", "6218", "6411", "6413", "6451", "6453", "6512", "6561",
                 "657362", "6574", "7066", "70688", "7311", "7473", "7478", "7474", "74712", "013", "014",
                 "656", "66", "67", "68", "70", "73", "74", "75", "77", "78", "20", "21", "23", "10", "13", "16"):  # fmt: skip
        assert nom.is_known_nature("M57", code), code


@pytest.mark.parametrize(
    ("m14", "m57"),
    [("61", "423"), ("64", "422"), ("520", "420"), ("521", "425"), ("522", "421"), ("523", "424"),
     ("524", "428"), ("62", "4211"), ("63", "4212"), ("020", "020"), ("021", "031"), ("5231", "424")],
)  # fmt: skip
def test_m14_functions_map_to_m57(m14, m57):
    assert nom.m14_to_m57_function(m14) == m57


def test_m14_heads_that_do_not_line_up_carry_a_note_or_no_target():
    assert "4231" in nom.m14_function_correspondence("61").note  # one head, several targets
    aides = nom.m14_function_correspondence("025")
    assert aides is not None and aides.m57_code is None and "objet de l'association" in aides.note
    assert nom.m14_to_m57_function("025") is None
    assert nom.m14_function_correspondence("59") is None  # not an M14 function at all
    # the same number means different things: 422 is youth in M14, early childhood in M57
    assert nom.function_label("M14", "422") == "Autres activités pour les jeunes"
    assert nom.m14_to_m57_function("422") == "338"


def test_every_m14_function_has_a_row_and_every_target_exists_in_m57():
    with open(nom.DATA_DIR / "m14_m57_fonctions.csv", encoding="utf-8") as f:
        rows = {row["m14"]: row["m57"] for row in csv.DictReader(f, delimiter=";")}
    assert set(rows) == {f.code for f in nom.functions("M14")}
    assert all(target == "" or target in {f.code for f in nom.m57_functions()} for target in rows.values())


@pytest.mark.parametrize(
    ("m14", "m57"),
    [("6042", "6042"), ("6411", "6411"), ("6745", "6574"), ("6554", "6556"), ("6713", "6512"),
     ("7788", "7588"), ("67131", "6512"), ("678", None), ("9999", None)],
)  # fmt: skip
def test_m14_natures_map_to_m57(m14, m57):
    assert nom.m14_to_m57_nature(m14) == m57


def test_m14_recognises_its_own_accounts_and_the_shared_ones():
    assert nom.nature_label("M14", "6745") == "Subventions aux personnes de droit privé (exceptionnelles)"
    assert nom.nature_label("M57", "6745") == "Charges spécifiques"  # only its head 67 is known in M57
    assert nom.nature_label("M14", "6554") == "Contributions aux organismes de regroupement"
    assert nom.nature_label("M57", "6554") == "Dotation de compensation de charges transférées"
    assert nom.is_known_nature("M14", "6411")


def test_social_function_is_function_4():
    assert nom.social_function("4") and nom.social_function("423") and nom.social_function("4231")
    assert not nom.social_function("020") and not nom.social_function("52")


@pytest.mark.parametrize(
    ("nomenclature", "code", "section", "flow", "operation", "chapter"),
    [
        ("M57", "6411", "fonctionnement", "depense", "reelle", "012"),
        ("M57", "6218", "fonctionnement", "depense", "reelle", "012"),
        ("M57", "6042", "fonctionnement", "depense", "reelle", "011"),
        ("M57", "6512", "fonctionnement", "depense", "reelle", "65"),
        ("M57", "7391", "fonctionnement", "depense", "reelle", "014"),
        ("M57", "6419", "fonctionnement", "recette", "reelle", "013"),
        ("M57", "7474", "fonctionnement", "recette", "reelle", "74"),
        ("M57", "7311", "fonctionnement", "recette", "reelle", "731"),
        ("M14", "7311", "fonctionnement", "recette", "reelle", "73"),
        ("M57", "6811", "fonctionnement", "depense", "ordre", "042"),
        ("M57", "28183", "investissement", "recette", "ordre", "040"),
        ("M57", "2183", "investissement", "depense", "reelle", "21"),
        ("M57", "20422", "investissement", "depense", "reelle", "204"),
        ("M57", "011", "fonctionnement", "depense", "reelle", "011"),
        ("M22", "6411", "fonctionnement", "depense", "reelle", None),
    ],
)
def test_nature_chapter(nomenclature, code, section, flow, operation, chapter):
    assert nom.nature_chapter(nomenclature, code, section=section, flow=flow, operation=operation) == chapter


def test_section_and_flow_implied_by_a_nature():
    assert nom.nature_section("M57", "6411") == "fonctionnement"
    assert nom.nature_section("M57", "2183") == "investissement"
    assert (
        nom.nature_section("M57", "002") == "fonctionnement"
        and nom.nature_section("M57", "001") == "investissement"
    )
    assert nom.nature_flow("M57", "6411") == "depense" and nom.nature_flow("M57", "7474") == "recette"
    assert nom.nature_flow("M57", "6419") == "recette"  # atténuation de charges
    assert nom.nature_flow("M57", "7391") == "depense"  # atténuation de produits
    assert nom.nature_flow("M57", "1641") is None  # a loan and its repayment


@pytest.mark.parametrize(
    ("code", "flow", "group"),
    [("6022", "depense", "I"), ("611", "depense", "I"), ("6411", "depense", "II"), ("621", "depense", "II"),
     ("616", "depense", "III"), ("6811", "depense", "III"), ("7311", "recette", "I"), ("7478", "recette", "II"),
     ("6419", "recette", "II"), ("76", "recette", "III"), ("2183", "depense", None)],
)  # fmt: skip
def test_m22_functional_groups(code, flow, group):
    assert nom.m22_group(code, flow) == group


def test_m22_has_accounts_but_no_functions():
    assert nom.is_known_nature("M22", "6411") and nom.is_known_nature("M22", "7311")
    assert not nom.is_known_function("M22", "423")


@pytest.mark.parametrize(
    ("text", "name"), [("m57", "M57"), ("M57A", "M57"), ("M57-M57", "M57"), (" M14 ", "M14"), ("M22", "M22")]
)
def test_nomenclature_names(text, name):
    assert nom.normalise_nomenclature(text) == name


def test_unknown_nomenclature_is_refused_in_french():
    with pytest.raises(nom.NomenclatureError, match="M57, M14 ou M22"):
        nom.normalise_nomenclature("M52")

"""The starter catalogue: what the shipped files hold, and the located refusals of a bad file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models import Direction, Frequency, PartnerType, Perspective
from services.catalogue import CATALOGUE_DIR, CatalogueError, load_catalogue, standard_catalogue
from services.demo import spec
from services.nomenclatures import is_known_function


def test_the_shipped_catalogue_holds_the_demo_and_more():
    cat = standard_catalogue()
    assert cat.counts() == {"publics": 12, "services": 12, "activities": 38, "needs": 23, "indicators": 82}
    for code in (
        "A_PORTAGE",
        "A_SAAD",
        "A_TELEASSISTANCE",
        "A_DOMICILIATION",
        "A_EPICERIE",
        "A_AIDES_FAC",
        "A_ASL",
        "A_RSA",
        "A_HEBERGEMENT",
        "A_CRECHE",
        "A_PCB",
    ):
        assert code in cat.activities, code
    # the demo's 17 activities, 10 needs (30 with one by IRIS) and 49 indicators are all in it
    assert {a.code for a in spec.ACTIVITIES} <= set(cat.activities) and len(spec.ACTIVITIES) == 17
    assert set(spec.NEEDS) <= set(cat.needs) and len(spec.NEEDS) == 10
    assert {i.code for i in spec.INDICATORS} <= set(cat.indicators) and len(spec.INDICATORS) == 49


def test_every_activity_has_its_unit_function_publics_and_indicators():
    cat = standard_catalogue()
    for a in cat.activities.values():
        assert a.output_unit and a.covers, a.code
        own = cat.services[a.service].partner_type is None
        assert a.m57_function is not None or not own, a.code
        if a.m57_function:
            assert is_known_function("M57", a.m57_function), a.code
        assert cat.publics_of(a), a.code
        assert cat.indicators_of(a.code), f"{a.code} sans indicateur standard"
    portage = cat.activities["A_PORTAGE"]
    public, cover = cat.publics_of(portage)[0]
    assert (public.code, cover.need, cover.coefficient) == ("personnes_agees", "PA80", 1 / 250)
    assert cat.activities["A_DOMICILIATION"].mandatory and cat.activities["A_ASL"].mandatory
    assert cat.services["CAF"].partner_type is PartnerType.CAF


def test_needs_have_a_formula_over_known_statistics_or_a_note_saying_where_to_count():
    cat = standard_catalogue()
    for n in cat.needs.values():
        assert n.formula or n.note, n.code
    assert cat.needs["PA80"].formula == "pop_80p"
    rsa = cat.needs["RSA_IRIS"]
    assert (rsa.per, rsa.code_for("110690902"), rsa.label_for("Saint-Jacques")) == (
        "iris",
        "RSA_110690902",
        "Allocataires du RSA — Saint-Jacques",
    )
    assert rsa.priority_rule is not None
    assert [rsa.priority_rule.priority(v, 3) for v in (48.0, 30.0, 29.9, 20.0, 5.0, None)] == [
        5,
        5,
        4,
        4,
        3,
        3,
    ]


def test_indicators_have_unit_direction_frequency_and_perspective():
    cat = standard_catalogue()
    assert {i.perspective for i in cat.indicators.values()} == set(Perspective)
    cost = cat.indicators["cout_repas"]
    assert (cost.formula, cost.direction, cost.frequency, cost.unit) == (
        "cout_portage / repas_livres",
        Direction.LOWER_IS_BETTER,
        Frequency.MONTHLY,
        "EUR/repas",
    )
    assert cat.service_of(cat.indicators["etp_total"]) == "ADMIN"
    assert cat.service_of(cat.indicators["repas_livres"]) == "SENIORS"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "activities.toml",
            'output_unit = "repas livré"',
            'outpt_unit = "repas livré"',
            "activities.toml, activité n° 1 (A_PORTAGE), champ « outpt_unit » : champ inconnu",
        ),
        (
            "activities.toml",
            'm57_function = "4238"',
            'm57_function = "4299"',
            "activité n° 1 (A_PORTAGE), champ « m57_function » : fonction M57 « 4299 » inconnue",
        ),
        (
            "activities.toml",
            'coefficient = "1/250"',
            'coefficient = "1/0"',
            "covers n° 1 » : coefficient « 1/0 » illisible",
        ),
        (
            "activities.toml",
            'need = "PA80", coefficient = "1/250"',
            'need = "PA99", coefficient = "1/250"',
            "activities.toml (A_PORTAGE) : besoin couvert « PA99 » inconnu de needs.toml",
        ),
        ("activities.toml", 'service = "SENIORS"', 'service = "SENIOR"', "service « SENIOR » inconnu"),
        (
            "needs.toml",
            'formula = "pop_80p"',
            'formula = "pop_81p"',
            "variable(s) statistique(s) inconnue(s) : pop_81p",
        ),
        ("needs.toml", 'formula = "pop_80p"', 'formula = "pop_80p *"', "formule refusée"),
        ("needs.toml", 'public = "personnes_agees"', 'public = "aines"', "public « aines » inconnu"),
        ("needs.toml", "priority = 4", "priority = 9", "champ « priority » : un entier de 1 à 5"),
        (
            "indicators.toml",
            'direction = "higher"',
            'direction = "up"',
            "« up » inconnu (valeurs possibles : higher, lower, band)",
        ),
        (
            "indicators.toml",
            'formula = "cout_portage / repas_livres"',
            'formula = "cout_portage / repas"',
            "indicators.toml (cout_repas) : la formule lit des indicateurs inconnus du catalogue : repas",
        ),
        (
            "indicators.toml",
            'code = "repas_livres"',
            'code = "beneficiaires_portage"',
            "code « beneficiaires_portage » en double",
        ),
        ("publics.toml", 'parent = "familles"', 'parent = "famille"', "public parent « famille » inconnu"),
        ("services.toml", 'partner_type = "caf"', 'partner_type = "cnaf"', "« cnaf » inconnu"),
    ],
)
def test_a_bad_entry_is_refused_with_its_file_entry_and_field(copy, file, old, new, message):
    _edit(copy / file, old, new)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(copy)
    assert message in str(caught.value)
    assert str(caught.value).startswith("Catalogue standard illisible")


def test_a_cycle_of_formulas_and_a_broken_file_are_refused(copy):
    _edit(
        copy / "indicators.toml",
        'code = "repas_livres"\n',
        'code = "repas_livres"\nformula = "cout_repas * 2"\n',
    )
    with pytest.raises(CatalogueError, match="cout_repas"):
        load_catalogue(copy)
    (copy / "needs.toml").write_text("[[need]\ncode = 'X'", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"needs\.toml : TOML illisible"):
        load_catalogue(copy)
    (copy / "needs.toml").unlink()
    with pytest.raises(CatalogueError, match=r"needs\.toml : fichier absent"):
        load_catalogue(copy)


def test_many_problems_are_listed_together_up_to_a_limit(copy):
    text = (copy / "activities.toml").read_text(encoding="utf-8").replace("output_unit", "unit")
    (copy / "activities.toml").write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(copy)
    message = str(caught.value)
    assert message.count("champ « unit » : champ inconnu") == 6  # and 6 « output_unit » obligatoire
    assert message.endswith("… et 64 autre(s) problème(s).")  # 38 activités, 2 problèmes chacune

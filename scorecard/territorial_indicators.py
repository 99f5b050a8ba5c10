"""Standard territorial indicators of the ABS, computed from published statistics (pure).

Each indicator is defined once here — its inputs (Pilotis's variable names, see
``services.statistics_catalog``), its formula, unit and source — and read by the observatory and
the ABS report. The functions take plain numbers: no database, no clock.

Secrecy travels with the values: an input given as :class:`Observation` with ``secret=True``
(secret at source, or masked by the organisation's disclosure) makes every figure derived from
it masked, never computed from the other inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Themes of the observatory, in their order: (code, French title).
THEMES: list[tuple[str, str]] = [
    ("population", "Population"),
    ("vieillissement", "Vieillissement"),
    ("familles", "Familles et ménages"),
    ("revenus", "Revenus et pauvreté"),
    ("caf", "Prestations des CAF"),
]
THEME_TITLES = dict(THEMES)

CENSUS = "INSEE, recensement de la population"
FILOSOFI = "INSEE, Filosofi"
CNAF = "CNAF, allocataires au 31/12"


@dataclass(frozen=True)
class TerritorialIndicator:
    """A standard indicator: ``inputs[0]`` alone, or ``inputs[0] / inputs[1] × scale``."""

    code: str
    label: str
    theme: str
    unit: str
    decimals: int
    inputs: tuple[str, ...]
    formula: str
    source: str
    scale: float = 1.0

    @property
    def is_ratio(self) -> bool:
        return len(self.inputs) == 2


def _value(code: str, label: str, theme: str, unit: str, decimals: int, source: str) -> TerritorialIndicator:
    return TerritorialIndicator(code, label, theme, unit, decimals, (code,), label.lower(), source)


INDICATORS: list[TerritorialIndicator] = [
    _value("population", "Population municipale", "population", "personnes", 0, CENSUS),
    TerritorialIndicator(
        "part_0_19",
        "Part des moins de 20 ans",
        "population",
        "%",
        1,
        ("pop_0_19", "population"),
        "population de 0 à 19 ans / population × 100",
        CENSUS,
        100,
    ),
    TerritorialIndicator(
        "part_0_14",
        "Part des moins de 15 ans",
        "population",
        "%",
        1,
        ("pop_0_14", "population"),
        "population de 0 à 14 ans / population × 100",
        CENSUS,
        100,
    ),
    _value("pop_0_2", "Enfants de 0 à 2 ans", "population", "personnes", 0, CENSUS),
    _value("pop_3_5", "Enfants de 3 à 5 ans", "population", "personnes", 0, CENSUS),
    _value("pop_15_24", "Jeunes de 15 à 24 ans", "population", "personnes", 0, CENSUS),
    TerritorialIndicator(
        "indice_jeunesse",
        "Indice de jeunesse",
        "population",
        "rapport",
        2,
        ("pop_0_19", "pop_65p"),
        "population de moins de 20 ans / population de 65 ans et plus",
        CENSUS,
    ),
    TerritorialIndicator(
        "indice_vieillissement",
        "Indice de vieillissement",
        "vieillissement",
        "indice",
        0,
        ("pop_65p", "pop_0_19"),
        "population de 65 ans et plus / population de moins de 20 ans × 100",
        CENSUS,
        100,
    ),
    TerritorialIndicator(
        "part_75p",
        "Part des 75 ans et plus",
        "vieillissement",
        "%",
        1,
        ("pop_75p", "population"),
        "population de 75 ans et plus / population × 100",
        CENSUS,
        100,
    ),
    TerritorialIndicator(
        "part_80p",
        "Part des 80 ans et plus",
        "vieillissement",
        "%",
        1,
        ("pop_80p", "population"),
        "population de 80 ans et plus / population × 100",
        CENSUS,
        100,
    ),
    TerritorialIndicator(
        "rapport_60_74_75p",
        "Rapport 60-74 ans / 75 ans et plus (demande future)",
        "vieillissement",
        "rapport",
        2,
        ("pop_60_74", "pop_75p"),
        "population de 60 à 74 ans / population de 75 ans et plus",
        CENSUS,
    ),
    _value("pop_75p", "Personnes de 75 ans et plus", "vieillissement", "personnes", 0, CENSUS),
    _value("pop_80p", "Personnes de 80 ans et plus", "vieillissement", "personnes", 0, CENSUS),
    TerritorialIndicator(
        "part_familles_monoparentales",
        "Part des familles monoparentales",
        "familles",
        "%",
        1,
        ("rp_familles_monoparentales", "rp_familles"),
        "familles monoparentales / familles × 100",
        CENSUS,
        100,
    ),
    TerritorialIndicator(
        "part_menages_1_personne",
        "Part des ménages d'une personne",
        "familles",
        "%",
        1,
        ("rp_menages_1_personne", "rp_menages"),
        "ménages d'une personne / ménages × 100",
        CENSUS,
        100,
    ),
    TerritorialIndicator(
        "part_monoparents_caf",
        "Part des monoparents parmi les allocataires",
        "familles",
        "%",
        1,
        ("caf_monoparents", "caf_allocataires"),
        "allocataires monoparents / allocataires × 100",
        CNAF,
        100,
    ),
    _value("filo_menages", "Ménages fiscaux", "revenus", "ménages", 0, FILOSOFI),
    _value(
        "filo_mediane_uc", "Revenu disponible médian par unité de consommation", "revenus", "€", 0, FILOSOFI
    ),
    _value("filo_taux_pauvrete_60", "Taux de pauvreté au seuil de 60 %", "revenus", "%", 1, FILOSOFI),
    _value("filo_d1", "1er décile du revenu disponible par UC", "revenus", "€", 0, FILOSOFI),
    _value("filo_rapport_d9_d1", "Rapport interdécile D9/D1", "revenus", "rapport", 1, FILOSOFI),
    _value("filo_part_minima_sociaux", "Part des minima sociaux dans le revenu", "revenus", "%", 1, FILOSOFI),
    _value(
        "filo_part_prestations_sociales",
        "Part des prestations sociales dans le revenu",
        "revenus",
        "%",
        1,
        FILOSOFI,
    ),
    _value(
        "filo_part_prestations_logement",
        "Part des prestations logement dans le revenu",
        "revenus",
        "%",
        1,
        FILOSOFI,
    ),
    _value(
        "filo_part_prestations_familiales",
        "Part des prestations familiales dans le revenu",
        "revenus",
        "%",
        1,
        FILOSOFI,
    ),
    _value("caf_allocataires", "Allocataires des CAF", "caf", "allocataires", 0, CNAF),
    _value("caf_rsa_socle", "Allocataires du RSA socle", "caf", "allocataires", 0, CNAF),
    _value("caf_prime_activite", "Allocataires de la prime d'activité", "caf", "allocataires", 0, CNAF),
    _value("caf_aide_logement", "Allocataires d'une aide au logement", "caf", "allocataires", 0, CNAF),
    _value("caf_aah", "Allocataires de l'AAH", "caf", "allocataires", 0, CNAF),
    _value("caf_monoparents", "Allocataires monoparents", "caf", "allocataires", 0, CNAF),
    _value(
        "caf_couples_3_enfants", "Couples allocataires avec 3 enfants ou plus", "caf", "allocataires", 0, CNAF
    ),
    _value(
        "caf_jeunes_non_etudiants",
        "Allocataires de moins de 25 ans non étudiants",
        "caf",
        "allocataires",
        0,
        CNAF,
    ),
    TerritorialIndicator(
        "part_couverte_caf",
        "Part de la population couverte par les CAF",
        "caf",
        "%",
        1,
        ("caf_personnes_couvertes", "population"),
        "personnes couvertes / population × 100",
        f"{CNAF} ; {CENSUS}",
        100,
    ),
    TerritorialIndicator(
        "rsa_pour_100_menages",
        "Allocataires du RSA pour 100 ménages",
        "caf",
        "pour 100 ménages",
        1,
        ("caf_rsa_socle", "filo_menages"),
        "allocataires du RSA socle / ménages fiscaux × 100",
        f"{CNAF} ; {FILOSOFI}",
        100,
    ),
    TerritorialIndicator(
        "prime_activite_pour_100_menages",
        "Allocataires de la prime d'activité pour 100 ménages",
        "caf",
        "pour 100 ménages",
        1,
        ("caf_prime_activite", "filo_menages"),
        "allocataires de la prime d'activité / ménages fiscaux × 100",
        f"{CNAF} ; {FILOSOFI}",
        100,
    ),
    TerritorialIndicator(
        "aah_pour_100_20_64",
        "Allocataires de l'AAH pour 100 personnes de 20 à 64 ans",
        "caf",
        "pour 100",
        1,
        ("caf_aah", "pop_20_64"),
        "allocataires de l'AAH / population de 20 à 64 ans × 100",
        f"{CNAF} ; {CENSUS}",
        100,
    ),
    TerritorialIndicator(
        "part_aide_logement",
        "Part des allocataires percevant une aide au logement",
        "caf",
        "%",
        1,
        ("caf_aide_logement", "caf_allocataires"),
        "allocataires d'une aide au logement / allocataires × 100",
        CNAF,
        100,
    ),
]
BY_CODE = {indicator.code: indicator for indicator in INDICATORS}


def theme_of_variable(variable: str) -> str:
    """The theme of a held variable no standard indicator names (by its family of names)."""
    if variable.startswith("caf_"):
        return "caf"
    if variable.startswith("filo_"):
        return "revenus"
    if variable.startswith("rp_"):
        return "familles"
    if variable in {"pop_60_74", "pop_65p", "pop_65_79", "pop_75p", "pop_75_89", "pop_80p", "pop_90p"}:
        return "vieillissement"
    return "population"


@dataclass(frozen=True)
class Observation:
    """A published value: ``None`` when unknown; ``secret`` when it may not be shown (at source
    or by the organisation's disclosure)."""

    value: float | None
    secret: bool = False


@dataclass(frozen=True)
class Result:
    value: float | None
    masked: bool  # derived from a secret input: shown as « secret », never computed


def evaluate(indicator: TerritorialIndicator, inputs: Sequence[Observation | None]) -> Result:
    """The indicator from its inputs, in the order of ``indicator.inputs``.

    ``inputs[0]`` alone, or ``inputs[0] / inputs[1] × scale``. A missing input (``None``, or an
    observation of no value) gives no value; a secret input masks the result; a zero denominator
    gives no value (not infinity).
    """
    if len(inputs) != len(indicator.inputs):
        raise ValueError(f"{indicator.code}: {len(indicator.inputs)} inputs expected, {len(inputs)} given")
    if any(i is not None and i.secret for i in inputs):
        return Result(None, True)
    numbers = [i.value if i is not None else None for i in inputs]
    if any(n is None or not math.isfinite(n) for n in numbers):
        return Result(None, False)
    values = [float(n) for n in numbers if n is not None]
    if not indicator.is_ratio:
        return Result(values[0], False)
    if values[1] == 0:
        return Result(None, False)
    return Result(values[0] / values[1] * indicator.scale, False)


def series(
    indicator: TerritorialIndicator, history: Mapping[str, Mapping[int, Observation]]
) -> list[tuple[int, Result]]:
    """The indicator at each vintage of its first input, oldest first.

    ``history``: variable -> vintage -> observation. The other inputs are read at the same
    vintage when held, else at their latest vintage before it, else at their earliest one (CAF
    2020 counts over the Filosofi 2019 households): the point's vintage is the first input's.
    """
    first = history.get(indicator.inputs[0], {})
    out: list[tuple[int, Result]] = []
    for vintage in sorted(first):
        inputs: list[Observation | None] = [first[vintage]]
        for name in indicator.inputs[1:]:
            held = history.get(name, {})
            before = [v for v in held if v <= vintage]
            chosen = max(before) if before else (min(held) if held else None)
            inputs.append(held[chosen] if chosen is not None else None)
        out.append((vintage, evaluate(indicator, inputs)))
    return out


def change(points: Sequence[tuple[int, Result]]) -> tuple[int, int, float] | None:
    """(first vintage, last vintage, last − first) over the shown points, or None with fewer than two."""
    shown = [(v, r.value) for v, r in points if r.value is not None and not r.masked]
    if len(shown) < 2:
        return None
    (first, a), (last, b) = shown[0], shown[-1]
    return first, last, float(b or 0) - float(a or 0)


__all__ = [
    "BY_CODE",
    "INDICATORS",
    "THEMES",
    "Observation",
    "Result",
    "TerritorialIndicator",
    "change",
    "evaluate",
    "series",
    "theme_of_variable",
]

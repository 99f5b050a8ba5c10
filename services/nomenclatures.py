"""The public accounting nomenclatures Pilotis reads budgets in: M57, M14 (mapped to M57) and M22.

The reference tables are CSV files under ``services/data/nomenclatures`` (their sources and
limits are in ``SOURCES.md`` there). They are a well-sourced subset, not the full DGFiP plans
de comptes, so recognition follows written rules rather than a bare lookup:

- **Functions** (M57, M14): a code is known when it is in the table, or when it has four digits
  or more and its longest known head has three digits or more (a sub-rubrique such as ``42381``
  under ``4238``, or ``4239`` under ``423``). ``4299`` is refused: ``429`` is not a head.
  M22 has no functions at all.
- **Natures**: a code is known when it is an account or a chapter of the table, or when one of
  its heads of two digits or more is a known account (``606321`` under ``60632``, ``6099``
  under ``609``). A class alone (``6``) is not enough.
- **M14 to M57**: most M14 accounts keep their number in M57; the accounts whose meaning or
  number changed are listed with their M57 target. Functions were renumbered (the M14
  fonction 6 « Famille » became part of M57 42 « Action sociale », 61 personnes âgées became
  423…): every M14 function has a row, with a default M57 target and a note when one M14 head
  covers several M57 heads, and no target when there is no M57 equivalent (the line must then
  be reclassified by hand).

Everything here is pure: no clock, no database, tables read once and cached.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from scorecard.errors import UserError

DATA_DIR = Path(__file__).resolve().parent / "data" / "nomenclatures"

#: The values of ``models.enums.Nomenclature``.
NOMENCLATURES: tuple[str, ...] = ("M57", "M14", "M22")
SECTIONS: tuple[str, ...] = ("fonctionnement", "investissement")
FLOWS: tuple[str, ...] = ("depense", "recette")


class NomenclatureError(UserError):
    """A nomenclature name Pilotis does not know; the message says which ones it knows."""


@dataclass(frozen=True)
class FunctionRef:
    """A function of a functional nomenclature: ``level`` is the number of digits (1 to 4)."""

    code: str
    label: str
    level: int
    parent_code: str | None


@dataclass(frozen=True)
class NatureRef:
    """An account (``compte``) or a budget chapter (``chapitre``) of a nomenclature by nature."""

    code: str
    label: str
    kind: Literal["compte", "chapitre"]
    note: str = ""


@dataclass(frozen=True)
class Correspondence:
    """An M14 code and its M57 target (``None``: no equivalent), with the reason when not 1:1."""

    m14_code: str
    m57_code: str | None
    note: str = ""


def normalise_nomenclature(value: str) -> str:
    """``"m57"``, ``"M57A"`` (abridged), ``"M57-M57"`` (TOTEM) -> ``"M57"``; else an error."""
    text = value.strip().upper().replace(" ", "")
    for name in NOMENCLATURES:
        if text.startswith(name):
            return name
    raise NomenclatureError(f"nomenclature « {value} » inconnue : M57, M14 ou M22 attendue")


def _rows(filename: str) -> list[dict[str, str]]:
    with (DATA_DIR / filename).open(encoding="utf-8", newline="") as handle:
        return [
            {key: (value or "").strip() for key, value in row.items()}
            for row in csv.DictReader(handle, delimiter=";")
        ]


@cache
def _functions(nomenclature: str) -> dict[str, FunctionRef]:
    if nomenclature == "M22":
        return {}
    filename = {"M57": "m57_fonctions.csv", "M14": "m14_fonctions.csv"}[nomenclature]
    return {
        row["code"]: FunctionRef(row["code"], row["libelle"], int(row["niveau"]), row["parent"] or None)
        for row in _rows(filename)
    }


@cache
def _accounts(nomenclature: str) -> dict[str, NatureRef]:
    """Accounts by code; M14 shares the M57 accounts except those listed in ``m14_natures.csv``."""
    if nomenclature == "M22":
        return {
            row["code"]: NatureRef(row["code"], row["libelle"], "compte", row["note"])
            for row in _rows("m22_comptes.csv")
        }
    accounts = {
        row["code"]: NatureRef(row["code"], row["libelle"], "compte", row["note"])
        for row in _rows("m57_natures.csv")
    }
    if nomenclature == "M14":
        accounts.update(
            {
                row["code"]: NatureRef(row["code"], row["libelle"], "compte", row["note"])
                for row in _rows("m14_natures.csv")
            }
        )
    return accounts


@cache
def _chapters(nomenclature: str) -> dict[str, NatureRef]:
    if nomenclature == "M22":
        return {}
    chapters = {
        row["code"]: NatureRef(row["code"], row["libelle"], "chapitre") for row in _rows("m57_chapitres.csv")
    }
    if nomenclature == "M14":
        for code in ("67", "77"):
            chapters[code] = NatureRef(code, _accounts("M14")[code].label, "chapitre")
        chapters.pop("731", None)  # a chapter of its own only in M57
        chapters.pop("656", None)
    return chapters


@cache
def _m14_function_map() -> dict[str, Correspondence]:
    return {
        row["m14"]: Correspondence(row["m14"], row["m57"] or None, row["note"])
        for row in _rows("m14_m57_fonctions.csv")
    }


@cache
def _m14_nature_map() -> dict[str, Correspondence]:
    return {
        row["code"]: Correspondence(row["code"], row["m57"] or None, row["note"])
        for row in _rows("m14_natures.csv")
    }


def _clean(code: str) -> str:
    return code.strip()


def _function_anchor(nomenclature: str, code: str) -> FunctionRef | None:
    """The table entry ``code`` is or falls under (see the module rules), or ``None``."""
    table = _functions(normalise_nomenclature(nomenclature))
    code = _clean(code)
    if code in table:
        return table[code]
    if len(code) >= 4 and code.isdigit():
        for cut in range(len(code) - 1, 2, -1):
            if code[:cut] in table:
                return table[code[:cut]]
    return None


def _nature_anchor(nomenclature: str, code: str) -> NatureRef | None:
    name = normalise_nomenclature(nomenclature)
    code = _clean(code)
    accounts, chapters = _accounts(name), _chapters(name)
    if code in accounts:
        return accounts[code]
    if code in chapters:
        return chapters[code]
    if code.isdigit():
        for cut in range(len(code) - 1, 1, -1):
            if code[:cut] in accounts:
                return accounts[code[:cut]]
    return None


def is_known_function(nomenclature: str, code: str) -> bool:
    """Whether ``code`` is a function of ``nomenclature`` by the rules of this module."""
    return _function_anchor(nomenclature, code) is not None


def function_label(nomenclature: str, code: str) -> str | None:
    """The label of ``code``, or of the head a sub-rubrique falls under; ``None`` when unknown."""
    anchor = _function_anchor(nomenclature, code)
    return anchor.label if anchor else None


def is_known_nature(nomenclature: str, code: str) -> bool:
    """Whether ``code`` is an account or a chapter of ``nomenclature`` by the rules of this module."""
    return _nature_anchor(nomenclature, code) is not None


def nature_label(nomenclature: str, code: str) -> str | None:
    """The label of ``code``, or of the account it falls under; ``None`` when unknown."""
    anchor = _nature_anchor(nomenclature, code)
    return anchor.label if anchor else None


def is_chapter(nomenclature: str, code: str) -> bool:
    """Whether ``code`` is a budget chapter (``011``, ``012``, ``65``…) rather than an account."""
    return _clean(code) in _chapters(normalise_nomenclature(nomenclature))


def functions(nomenclature: str) -> list[FunctionRef]:
    """The functions of ``nomenclature`` in tree order (empty for M22)."""
    return list(_functions(normalise_nomenclature(nomenclature)).values())


def m57_functions() -> list[FunctionRef]:
    """The M57 functional tree (levels 1 to 4), the rows of the ``AccountingFunction`` table."""
    return functions("M57")


def natures(nomenclature: str) -> list[NatureRef]:
    """The chapters then the accounts Pilotis knows for ``nomenclature``."""
    name = normalise_nomenclature(nomenclature)
    return [*_chapters(name).values(), *_accounts(name).values()]


def m14_function_correspondence(code: str) -> Correspondence | None:
    """The M57 target of an M14 function (through its head for a sub-rubrique); ``None`` if unknown."""
    anchor = _function_anchor("M14", code)
    if anchor is None:
        return None
    return _m14_function_map().get(anchor.code, Correspondence(anchor.code, None, ""))


def m14_to_m57_function(code: str) -> str | None:
    """The default M57 function for an M14 function; ``None`` when unknown or without equivalent."""
    correspondence = m14_function_correspondence(code)
    return correspondence.m57_code if correspondence else None


def m14_nature_correspondence(code: str) -> Correspondence | None:
    """The M57 account of an M14 account: listed changes first, else the same number if M57 knows it."""
    code = _clean(code)
    changes = _m14_nature_map()
    for cut in range(len(code), 1, -1):
        if code[:cut] in changes:
            return changes[code[:cut]]
    if is_known_nature("M57", code):
        return Correspondence(code, code)
    return None


def m14_to_m57_nature(code: str) -> str | None:
    """The M57 account for an M14 account; ``None`` when unknown or without equivalent."""
    correspondence = m14_nature_correspondence(code)
    return correspondence.m57_code if correspondence else None


def social_function(code: str) -> bool:
    """Whether an M57 function belongs to function 4 « Santé et action sociale » (4, 42, 4231…)."""
    return _clean(code).startswith("4")


_FONCTIONNEMENT_CHAPTERS = {"002", "011", "012", "013", "014", "016", "017", "022", "023", "042", "043"}
_INVESTISSEMENT_CHAPTERS = {"001", "020", "021", "024", "040", "041"}


def nature_section(nomenclature: str, code: str) -> str | None:
    """The section a nature belongs to: classes 6 and 7 are fonctionnement (exploitation in M22),
    classes 1, 2 and 4 investissement; chapters ``0xx`` by their definition; else ``None``."""
    code = _clean(code)
    if code in _FONCTIONNEMENT_CHAPTERS:
        return "fonctionnement"
    if code in _INVESTISSEMENT_CHAPTERS:
        return "investissement"
    if code[:1] in ("6", "7"):
        return "fonctionnement"
    if code[:1] in ("1", "2", "4"):
        return "investissement"
    return None


def nature_flow(nomenclature: str, code: str) -> str | None:
    """The flow a nature implies when a file does not say it, or ``None`` when it depends.

    Class 6 is an expense except the « atténuations de charges » (6419, 6459, 6479, 609…),
    class 7 a revenue except the « atténuations de produits » (739). Classes 1 and 2 carry both
    (a loan is a revenue, its repayment an expense): no guess there.
    """
    code = _clean(code)
    if code in ("011", "012", "014", "022", "023", "65", "656", "66", "67", "68"):
        return "depense"
    if code in ("002", "013", "70", "73", "731", "74", "75", "76", "77", "78"):
        return "recette"
    if code.startswith("739"):
        return "depense"
    if code.startswith(("6419", "6459", "6479", "609", "619", "629")):
        return "recette"
    if code.startswith("6"):
        return "depense"
    if code.startswith("7"):
        return "recette"
    return None


def nature_chapter(
    nomenclature: str, code: str, *, section: str, flow: str, operation: str = "reelle"
) -> str | None:
    """The budget chapter a line is voted in (M57, M14), from its nature, section, flow and operation.

    Order operations go to 042 (fonctionnement) or 040 (investissement: 041 patrimonial
    operations cannot be told apart from the nature alone). Real operations: 011 charges à
    caractère général (60, 61, 62 except 621, 635, 637), 012 personnel (621, 631, 633, 64), 014
    atténuations de produits (739), 013 atténuations de charges (class 6 as revenue), the
    two-digit account otherwise (65, 66, 70, 74…; 731 on its own in M57), and in investissement
    the two-digit account except 204. ``None`` for M22 (groups, not chapters) and unknown shapes.
    """
    name = normalise_nomenclature(nomenclature)
    code = _clean(code)
    if name == "M22":
        return None
    if code in _chapters(name):
        return code
    if operation == "ordre":
        return "042" if section == "fonctionnement" else "040"
    if section == "fonctionnement" and flow == "depense":
        if code.startswith(("621", "631", "633", "64")):
            return "012"
        if code.startswith("739"):
            return "014"
        if code.startswith(("60", "61", "62", "635", "637")):
            return "011"
        if name == "M57" and code.startswith("656"):
            return "656"
        if code[:2] in ("65", "66", "67", "68"):
            return code[:2]
        return None
    if section == "fonctionnement":
        if code.startswith("6"):
            return "013"
        if name == "M57" and code.startswith("731"):
            return "731"
        if code[:2] in ("70", "73", "74", "75", "76", "77", "78"):
            return code[:2]
        return None
    if code.startswith("204"):
        return "204"
    if code[:2] in ("10", "13", "16", "20", "21", "23", "26", "27", "45"):
        return code[:2]
    return None


def m22_group(code: str, flow: str) -> str | None:
    """The M22 groupe fonctionnel (``"I"``, ``"II"``, ``"III"``) of an operating account.

    Expenses: I exploitation courante, II personnel, III structure. Revenues: I produits de la
    tarification, II autres produits relatifs à l'exploitation, III produits financiers et
    non encaissables. Longest listed head wins; ``None`` for investment accounts or unlisted ones.
    """
    code = _clean(code)
    accounts = _rows_m22_groups()
    for cut in range(len(code), 1, -1):
        entry = accounts.get((code[:cut], flow))
        if entry:
            return entry
    return None


@cache
def _rows_m22_groups() -> dict[tuple[str, str], str]:
    return {
        (row["code"], row["sens"]): row["groupe"]
        for row in _rows("m22_comptes.csv")
        if row["sens"] and row["groupe"]
    }

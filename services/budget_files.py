"""Reading budget and accounts files: the SCDL « budget » CSV, and finance-software exports.

Two ways in, one result (:class:`BudgetDocumentData`), nothing written anywhere:

- **SCDL budget** (schema.data.gouv.fr ``scdl/budget`` 0.8.x, the national open-data format of
  the « données essentielles du budget »): recognised by its ``BGT_…`` headers, ``;`` or ``,``
  separated. The document type comes from ``BGT_NATDEC``, the amounts by document type:

  - BP, BS, DM: planned = ``BGT_MTPREV`` (the vote), else ``BGT_MTPROPNOUV`` + ``BGT_MTRARPREC``
    (new proposals and carried-over credits; a DM may lower a credit); ``BGT_MTREAL`` is ignored
    with a warning (the schema fills it only in a CA).
  - CA (and CFU): planned = ``BGT_CREDOUV`` (crédits ouverts), else ``BGT_MTPREV``; actual =
    ``BGT_MTREAL`` (empty: 0 when credits were opened); a CA with no realised amount at all is refused.

  SCDL carries no nomenclature column: it is the ``nomenclature`` argument, else a ``M14``,
  ``M22`` or ``M57`` token in the file name, else M57 (every commune and CCAS is in M57 since
  2024).
- **Finance-software export** (CSV or .xlsx) read through a saved :class:`ColumnMapping`
  (target field -> column header, matched without case, accents or extra spaces), with
  defaults for what the export lacks (document type, year, nomenclature, section, flow…).

Amounts are :class:`~decimal.Decimal` to the cent from the file to the result, never floats:
``1 234,56``, ``1234.56``, ``-12,5``, no-break spaces and a trailing ``€`` are read; a value
with more than two significant decimals is refused (it is not money), as are ``1.234,56`` and
``1.234`` unless the mapping says which separator is decimal (``decimal_comma``). Excel cells
holding binary floats are rounded to the cent only when within 10⁻⁶ of it.

Every problem of the file is reported in one pass, located (``ligne 14, colonne BGT_FONCTION :
…``, ``feuille « Budget », ligne 9 : …`` for a workbook) and in French; the caller writes
nothing unless :func:`parse_budget_file` returns. Checked: required columns, one document
type, year, SIRET and nomenclature per file, known function and nature codes (see
:mod:`services.nomenclatures`), M14 codes with an M57 equivalent, duplicate lines, negative
amounts outside a DM, a CA without any actual amount, and « total » rows of an export against
the sum of the lines they total.

The :attr:`BudgetDocumentData.fingerprint` is a SHA-256 of the normalised document (type,
year, SIRET, nomenclature, and the sorted lines without labels): the same content in another
line order, separator, encoding or number format has the same fingerprint, so a re-import can
be recognised; a different amount changes it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from scorecard.errors import UserError
from services import nomenclatures as nom
from services import tabular
from services.numbers import NumberError, check_amount, format_number
from services.workbooks import WorkbookError, larger, open_workbook

MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_ROWS = 20_000
MAX_COLUMNS = 60
MAX_MESSAGES = 50
HEADER_SEARCH_ROWS = 20
#: A finance export is longer than a service's values: up to MAX_ROWS lines of about 25 cells.
#: CSV: the size and lines above, every cell past the 60th dropped (exports carry many columns).
CSV_LIMITS = tabular.CsvLimits(
    bytes=MAX_CSV_BYTES,
    lines=20 * MAX_ROWS,
    rows=MAX_ROWS + HEADER_SEARCH_ROWS,
    columns=MAX_COLUMNS,
    truncate=True,
)
NOT_CSV = "ce fichier n'est pas un fichier texte CSV (ni un classeur .xlsx)"
WORKBOOK_LIMITS = larger(cells=500_000, shared_strings=500_000, elements=2_000_000)
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

DOCUMENT_TYPES: tuple[str, ...] = ("BP", "BS", "DM", "CA", "CFU", "EXEC")
#: Documents whose lines carry what was done (an actual amount), not only what was voted.
ACTUAL_DOCUMENTS = frozenset({"CA", "CFU", "EXEC"})
SECTIONS: tuple[str, ...] = ("fonctionnement", "investissement")
OPERATIONS: tuple[str, ...] = ("reelle", "ordre")
FLOWS: tuple[str, ...] = ("depense", "recette")
BUDGET_KINDS: tuple[str, ...] = ("principal", "annexe")

#: Fields a :class:`ColumnMapping` may fill from a column of the export.
TARGET_FIELDS: tuple[str, ...] = (
    "document_type", "year", "siret", "organisation_name", "nomenclature", "function_code",
    "function_label", "nature_code", "nature_label", "chapter_code", "section", "operation", "flow",
    "planned_amount", "actual_amount", "service", "month", "label", "equipment_operation", "total",
)  # fmt: skip
#: Fields a mapping may give a fixed value for, used when the column is absent or the cell empty.
DEFAULTABLE_FIELDS: tuple[str, ...] = (
    "document_type", "year", "siret", "organisation_name", "nomenclature", "budget_kind", "section",
    "operation", "flow", "function_code", "service",
)  # fmt: skip

SCDL_COLUMNS: tuple[str, ...] = (
    "BGT_NATDEC", "BGT_ANNEE", "BGT_SIRET", "BGT_NOM", "BGT_CONTNAT", "BGT_CONTNAT_LABEL", "BGT_NATURE",
    "BGT_NATURE_LABEL", "BGT_FONCTION", "BGT_FONCTION_LABEL", "BGT_OPERATION", "BGT_SECTION", "BGT_OPBUDG",
    "BGT_CODRD", "BGT_MTREAL", "BGT_MTBUDGPREC", "BGT_MTRARPREC", "BGT_MTPROPNOUV", "BGT_MTPREV",
    "BGT_CREDOUV", "BGT_MTRAR3112", "BGT_ARTSPE",
)  # fmt: skip
#: Mandatory in the schema (``BGT_CONTNAT_LABEL`` is tolerated absent: files made before 0.7 lack it).
SCDL_REQUIRED: tuple[str, ...] = (
    "BGT_NATDEC", "BGT_ANNEE", "BGT_SIRET", "BGT_NOM", "BGT_CONTNAT", "BGT_NATURE", "BGT_NATURE_LABEL",
    "BGT_SECTION", "BGT_OPBUDG", "BGT_CODRD",
)  # fmt: skip
SCDL_AMOUNTS: tuple[str, ...] = ("BGT_MTPREV", "BGT_MTPROPNOUV", "BGT_MTRARPREC", "BGT_CREDOUV", "BGT_MTREAL")
_SCDL_FIELDS = {
    "document_type": "BGT_NATDEC", "year": "BGT_ANNEE", "siret": "BGT_SIRET", "organisation_name": "BGT_NOM",
    "chapter_code": "BGT_CONTNAT", "nature_code": "BGT_NATURE", "nature_label": "BGT_NATURE_LABEL",
    "function_code": "BGT_FONCTION", "function_label": "BGT_FONCTION_LABEL",
    "equipment_operation": "BGT_OPERATION", "section": "BGT_SECTION", "operation": "BGT_OPBUDG",
    "flow": "BGT_CODRD",
}  # fmt: skip


class BudgetFileError(UserError):
    """The file is refused as a whole; ``messages`` lists every problem found, in French."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages), problems=messages)


class AmountError(UserError):
    """A cell that is not an amount Pilotis accepts; the message says why."""


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class BudgetLineData:
    """One budget line as read, checked and mapped; amounts exact to the cent."""

    line_number: int
    nomenclature: str
    function_code: str | None
    function_label: str
    #: After M14 -> M57 mapping; equal to ``function_code`` in M57; ``None`` in M22 or without function.
    m57_function_code: str | None
    nature_code: str
    nature_label: str
    section: str
    operation: str
    flow: str
    planned_amount: Decimal | None
    actual_amount: Decimal | None
    service: str | None
    month: int | None
    label: str
    #: The chapter voted (``011``, ``012``, ``65``…): from the file (``BGT_CONTNAT``) or deduced.
    chapter_code: str | None = None
    #: After M14 -> M57 mapping; equal to ``nature_code`` in M57; ``None`` in M22.
    m57_nature_code: str | None = None
    #: SCDL ``BGT_OPERATION``: the voted equipment operation (investment), part of the line's identity.
    equipment_operation: str | None = None
    #: M22 groupe fonctionnel (``I``, ``II``, ``III``) of an operating line.
    m22_group: str | None = None


@dataclass(frozen=True)
class BudgetTotal:
    """Sums of one (section, flow): ``None`` when no line of it has that kind of amount."""

    planned: Decimal | None
    actual: Decimal | None


@dataclass(frozen=True)
class BudgetDocumentData:
    """A whole budget document (BP, BS, DM, CA, CFU or an execution export), checked."""

    document_type: str
    year: int
    siret: str | None
    organisation_name: str
    nomenclature: str
    budget_kind: str
    lines: tuple[BudgetLineData, ...]
    fingerprint: str
    totals: dict[tuple[str, str], BudgetTotal]
    source_format: str
    warnings: list[str] = field(default_factory=list)

    def total(self, section: str, flow: str) -> BudgetTotal:
        """The sums of ``(section, flow)``; ``BudgetTotal(None, None)`` when the file has no such line."""
        return self.totals.get((section, flow), BudgetTotal(None, None))


# ---------------------------------------------------------------------------------------------
# Column mappings


@dataclass(frozen=True)
class ColumnMapping:
    """How to read a finance-software export: target field -> source column header, and defaults.

    Created only valid: :class:`BudgetFileError` otherwise. ``decimal_comma``: ``True`` for
    ``1.234,56``, ``False`` for ``1,234.56``, ``None`` to read each cell the French way.
    """

    name: str
    columns: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    decimal_comma: bool | None = None
    sheet: str | None = None

    def __post_init__(self) -> None:
        problems = _mapping_problems(self)
        if problems:
            raise BudgetFileError(problems)


def _mapping_problems(mapping: ColumnMapping) -> list[str]:
    name = mapping.name.strip() if isinstance(mapping.name, str) else ""
    where = f"modèle de correspondance « {name} »" if name else "modèle de correspondance"
    problems: list[str] = []
    if not name:
        problems.append(f"{where} : le nom est obligatoire")
    elif len(name) > 80:
        problems.append(f"{where} : nom trop long (80 caractères au plus)")
    for target, header in mapping.columns.items():
        if target not in TARGET_FIELDS:
            problems.append(
                f"{where} : champ « {target} » inconnu (champs possibles : {', '.join(TARGET_FIELDS)})"
            )
        if not isinstance(header, str) or not header.strip():
            problems.append(f"{where} : la colonne du champ « {target} » est vide")
    for target, value in mapping.defaults.items():
        if target not in DEFAULTABLE_FIELDS:
            problems.append(
                f"{where} : pas de valeur par défaut possible pour « {target} » "
                f"(possibles : {', '.join(DEFAULTABLE_FIELDS)})"
            )
            continue
        try:
            _parse_default(target, value)
        except ValueError as exc:
            problems.append(f"{where}, valeur par défaut de « {target} » : {exc}")
    if "nature_code" not in mapping.columns:
        problems.append(f"{where} : la colonne de la nature (nature_code) est obligatoire")
    if not {"planned_amount", "actual_amount"} & set(mapping.columns):
        problems.append(
            f"{where} : indiquez au moins une colonne de montant (planned_amount ou actual_amount)"
        )
    for needed, what in (
        ("document_type", "le type de document (BP, BS, DM, CA, CFU, EXEC)"),
        ("year", "l'exercice"),
    ):
        if needed not in mapping.columns and needed not in mapping.defaults:
            problems.append(f"{where} : donnez {what} par une colonne ou une valeur par défaut")
    if mapping.decimal_comma is not None and not isinstance(mapping.decimal_comma, bool):
        problems.append(f"{where} : decimal_comma vaut vrai, faux ou rien")
    if mapping.sheet is not None and (not isinstance(mapping.sheet, str) or not mapping.sheet.strip()):
        problems.append(f"{where} : nom de feuille vide")
    return problems


def _parse_default(target: str, value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("texte attendu")
    if target == "document_type":
        return _document_type(value)
    if target == "year":
        return _year(value)
    if target == "nomenclature":
        return nom.normalise_nomenclature(value)
    if target == "section":
        return _section(value)
    if target == "operation":
        return _operation(value)
    if target == "flow":
        return _flow(value)
    if target == "siret":
        return _siret(value)
    if target == "budget_kind":
        return _budget_kind(value)
    if not value.strip():
        raise ValueError("valeur vide")
    return value.strip()


def mapping_from_dict(data: Mapping[str, Any]) -> ColumnMapping:
    """A mapping from its stored JSON form; :class:`BudgetFileError` listing what is wrong."""
    if not isinstance(data, Mapping):
        raise BudgetFileError(["modèle de correspondance illisible : un objet JSON est attendu"])
    problems: list[str] = []
    unknown = set(data) - {"name", "columns", "defaults", "decimal_comma", "sheet"}
    if unknown:
        problems.append(f"modèle de correspondance : clés inconnues {', '.join(sorted(map(str, unknown)))}")
    name = data.get("name")
    columns = data.get("columns", {})
    defaults = data.get("defaults", {})
    decimal_comma = data.get("decimal_comma")
    sheet = data.get("sheet")
    if not isinstance(name, str):
        problems.append("modèle de correspondance : « name » doit être un texte")
    for key, value in (("columns", columns), ("defaults", defaults)):
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            problems.append(f"modèle de correspondance : « {key} » doit associer des textes à des textes")
    if decimal_comma is not None and not isinstance(decimal_comma, bool):
        problems.append("modèle de correspondance : « decimal_comma » vaut true, false ou null")
    if sheet is not None and not isinstance(sheet, str):
        problems.append("modèle de correspondance : « sheet » doit être un texte ou null")
    if problems:
        raise BudgetFileError(problems)
    return ColumnMapping(
        name=str(name).strip(),
        columns={str(k): str(v).strip() for k, v in dict(columns).items()},
        defaults={str(k): str(v).strip() for k, v in dict(defaults).items()},
        decimal_comma=decimal_comma,
        sheet=sheet.strip() if isinstance(sheet, str) else None,
    )


def mapping_to_dict(mapping: ColumnMapping) -> dict[str, Any]:
    """The JSON-ready form of a mapping; :func:`mapping_from_dict` reads it back unchanged."""
    return {
        "name": mapping.name,
        "columns": dict(mapping.columns),
        "defaults": dict(mapping.defaults),
        "decimal_comma": mapping.decimal_comma,
        "sheet": mapping.sheet,
    }


# ---------------------------------------------------------------------------------------------
# Values


def _norm(text: object) -> str:
    """Lower case, no accents, single spaces: how headers and keywords are compared."""
    value = unicodedata.normalize("NFKD", str(text).replace("\ufeff", ""))
    value = "".join(c for c in value if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", value).strip().casefold()


def _document_type(text: str) -> str:
    value = _norm(text).replace("’", "'")
    if value in ("bp", "budget primitif", "budget previsionnel"):
        return "BP"
    if value in ("bs", "budget supplementaire"):
        return "BS"
    if re.fullmatch(r"dm ?\d*|decision modificative( (n°|no|n) ?\d+)?( ?\d+)?", value):
        return "DM"
    if value in ("ca", "compte administratif"):
        return "CA"
    if value in ("cfu", "compte financier unique"):
        return "CFU"
    if value in ("exec", "execution", "suivi d'execution", "export d'execution", "execution budgetaire"):
        return "EXEC"
    raise ValueError(
        f"type de document « {text} » inconnu : budget primitif (BP), budget supplémentaire (BS), "
        "décision modificative (DM), compte administratif (CA), compte financier unique (CFU) ou "
        "exécution (EXEC)"
    )


def _section(text: str) -> str:
    value = _norm(text)
    if value in ("fonctionnement", "f", "fonct", "fonct.", "exploitation", "section de fonctionnement"):
        return "fonctionnement"
    if value in ("investissement", "i", "invest", "invest.", "inv", "inv.", "section d'investissement"):
        return "investissement"
    raise ValueError(f"section « {text} » inconnue : fonctionnement ou investissement")


def _operation(text: str) -> str:
    value = _norm(text)
    if value in ("reel", "reelle", "reels", "reelles", "operation reelle", "operations reelles"):
        return "reelle"
    if value in ("ordre", "o", "operation d'ordre", "operations d'ordre"):
        return "ordre"
    raise ValueError(f"type d'opération « {text} » inconnu : réel ou ordre")


def _flow(text: str) -> str:
    value = _norm(text)
    if value in ("depense", "depenses", "d", "dep", "dep."):
        return "depense"
    if value in ("recette", "recettes", "r", "rec", "rec."):
        return "recette"
    raise ValueError(f"sens « {text} » inconnu : dépense ou recette")


def _budget_kind(text: str) -> str:
    value = _norm(text)
    if value in ("principal", "budget principal"):
        return "principal"
    if value in ("annexe", "budget annexe"):
        return "annexe"
    raise ValueError(f"budget « {text} » inconnu : principal ou annexe")


def _siret(text: str) -> str:
    value = re.sub(r"[\s\u00a0\u202f.]", "", str(text))
    if not re.fullmatch(r"\d{14}", value):
        raise ValueError(f"SIRET « {text} » invalide : 14 chiffres attendus")
    return value


def _integer_text(raw: object) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return _cell_text(raw)


def _year(raw: object) -> int:
    text = _integer_text(raw).strip()
    if not re.fullmatch(r"\d{4}", text) or not 1990 <= int(text) <= 2200:
        raise ValueError(f"exercice « {text} » invalide : une année comme 2025 est attendue")
    return int(text)


_MONTHS = ("janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre", "octobre",
           "novembre", "decembre")  # fmt: skip


def _month(raw: object) -> int:
    text = _norm(_integer_text(raw))
    if text.isdigit() and 1 <= int(text) <= 12:
        return int(text)
    if text in _MONTHS:
        return _MONTHS.index(text) + 1
    raise ValueError(f"mois « {_cell_text(raw)} » invalide : 1 à 12 ou janvier à décembre")


def _cell_text(value: object) -> str:
    """A cell as text: integral floats without ``.0``, dates in ISO form, ``None`` empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "VRAI" if value else "FAUX"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value).strip()


_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
_GROUPED_SPACE = re.compile(r"^-?\d{1,3}( \d{3})+([.,]\d+)?$")
_PLAIN = re.compile(r"^-?\d+([.,]\d+)?$|^-?[.,]\d+$")


def _french(value: Decimal) -> str:
    """``1234567.8`` -> ``1 234 567,80`` (the one French formatter)."""
    return format_number(value, 2)


def parse_amount(
    raw: object, *, decimal_comma: bool | None = None, point_is_decimal: bool = False
) -> Decimal:
    """The amount ``raw`` stands for, exact to the cent, or :class:`AmountError` saying why.

    ``decimal_comma=None`` reads each cell the French way: ``1 234,56``, ``1234,56``,
    ``1234.56``; ``1.234,56`` (mixed) and ``1.234`` (a thousand or 1,234?) are refused unless
    ``point_is_decimal`` (machine formats such as SCDL, where a point is always decimal).
    ``True``/``False`` fix the decimal separator; the other one (or a space) may group thousands.
    """
    if isinstance(raw, bool):
        raise AmountError("une case à cocher n'est pas un montant")
    if isinstance(raw, int):
        return _bounded(Decimal(raw), raw).quantize(CENT)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise AmountError("nombre non fini")
        exact = _bounded(Decimal(repr(raw)), raw)
        if exact == exact.quantize(CENT):
            return exact.quantize(CENT)
        cents = round(raw * 100)
        if abs(raw * 100 - cents) < 1e-6:  # a binary float such as 0.30000000000000004
            return (Decimal(cents) / 100).quantize(CENT)
        raise AmountError(f"« {raw!r} » a plus de deux décimales : un montant se donne au centime")
    if isinstance(raw, Decimal):
        value = raw
        original = str(raw)
    else:
        original = str(raw).strip()
        text = original.removesuffix("€").removesuffix("EUR").strip()
        text = _SPACES.sub(" ", text).replace("\u2212", "-").lstrip("+").strip()
        if text.startswith("- "):
            text = "-" + text[2:]
        if not text:
            raise AmountError("valeur vide")
        value = _decimal_from_text(
            text, original, decimal_comma=decimal_comma, point_is_decimal=point_is_decimal
        )
    if not value.is_finite():
        raise AmountError(f"« {original} » n'est pas un nombre")
    _bounded(value, original)
    if value != value.quantize(CENT):
        raise AmountError(f"« {original} » a plus de deux décimales : un montant se donne au centime")
    return value.quantize(CENT)


def _bounded(value: Decimal, raw: object) -> Decimal:
    """``value`` when within what an amount allows (services.numbers), else :class:`AmountError`."""
    try:
        return check_amount(value, raw=raw)
    except NumberError as exc:
        raise AmountError(str(exc)) from None


def _decimal_from_text(
    text: str, original: str, *, decimal_comma: bool | None, point_is_decimal: bool
) -> Decimal:
    if decimal_comma is not None:
        decimal, thousands = (",", ".") if decimal_comma else (".", ",")
        grouped = re.compile(rf"^-?\d{{1,3}}([ {re.escape(thousands)}]\d{{3}})+({re.escape(decimal)}\d+)?$")
        plain = re.compile(rf"^-?\d*({re.escape(decimal)}\d+)?$")
        if grouped.match(text):
            text = text.replace(" ", "").replace(thousands, "")
        elif not plain.match(text) or text in ("", "-"):
            separator = "virgule" if decimal_comma else "point"
            raise AmountError(
                f"« {original} » n'est pas un montant écrit avec le {separator} comme séparateur décimal"
            )
        return _to_decimal(text.replace(decimal, "."), original)
    if "," in text and "." in text:
        raise AmountError(
            f"« {original} » mélange point et virgule : écrivez 1 234,56 (ou réglez le séparateur "
            "décimal dans le modèle de correspondance)"
        )
    if " " in text:
        if _GROUPED_SPACE.match(text):
            return _to_decimal(text.replace(" ", "").replace(",", "."), original)
        raise AmountError(
            f"« {original} » : les espaces ne peuvent séparer que des groupes de trois chiffres"
        )
    if not _PLAIN.match(text):
        raise AmountError(f"« {original} » n'est pas un nombre")
    integer, _, decimals = text.replace(",", ".").partition(".")
    if "." in text and not point_is_decimal and len(decimals) == 3 and integer.strip("-") not in ("", "0"):
        raise AmountError(
            f"« {original} » est ambigu (mille {decimals} ou {integer},{decimals} ?) : écrivez "
            f"{integer} {decimals} ou {integer},{decimals}"
        )
    return _to_decimal(text.replace(",", "."), original)


def _to_decimal(text: str, original: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise AmountError(f"« {original} » n'est pas un nombre") from None


_CODE_WITH_LABEL = re.compile(r"^([0-9]{1,9})\s*(?:[-–—:]\s*|\s+)([^\d\s].*)$")


def _code_and_label(raw: object) -> tuple[str, str]:
    """``"4231 - Forfait autonomie"`` -> (``"4231"``, ``"Forfait autonomie"``); a bare code stays."""
    text = _integer_text(raw).strip()
    match = _CODE_WITH_LABEL.match(text)
    if match:
        return match.group(1), match.group(2).strip()
    return re.sub(r"[\s\u00a0\u202f]", "", text), ""


_TOTAL_WORD = re.compile(r"^(sous[- ]?)?tota(l|ux)\b")
_TRUTHY = {"1", "oui", "o", "x", "vrai", "true", "yes", "total", "t"}


def _is_total_word(value: object) -> bool:
    return bool(_TOTAL_WORD.match(_norm(_cell_text(value))))


# ---------------------------------------------------------------------------------------------
# Reading the table


_Score = Callable[[list[str]], int]


@dataclass
class _Table:
    header_line: int
    headers: list[str]
    rows: list[tuple[int, list[object]]]
    sheet: str | None
    notes: list[str]


def _split_csv(text: str, separator: str) -> list[tuple[int, list[object]]]:
    return [(line, list(cells)) for line, cells in tabular.split_records(text, separator, CSV_LIMITS)]


def _find_header(rows: list[tuple[int, list[object]]], score: _Score) -> int | None:
    """Index of the best header among the first rows (``score`` > 0); else of the widest row, or ``None``."""
    best, best_score = None, 0
    for index, (_line, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        value = score([_cell_text(c) for c in cells])
        if value > best_score:
            best, best_score = index, value
    if best is None and rows:
        widths = [sum(1 for c in cells if _cell_text(c)) for _line, cells in rows[:HEADER_SEARCH_ROWS]]
        best = widths.index(max(widths))
    return best


def _body(rows: list[tuple[int, list[object]]], index: int) -> list[tuple[int, list[object]]]:
    """The rows under the header, without the copies of it that paged exports repeat."""
    header = [_norm(_cell_text(c)) for c in rows[index][1]]
    return [
        (line, cells) for line, cells in rows[index + 1 :] if [_norm(_cell_text(c)) for c in cells] != header
    ]


def _read_csv(data: bytes, score: _Score) -> _Table:
    def choose(head_text: str, candidates: Sequence[str]) -> str:
        """The separator under which the first lines hold the best header (see :func:`_find_header`)."""
        best_separator, best_rank = candidates[0], (-1, -1)
        head_text = "\n".join(head_text.split("\n")[: HEADER_SEARCH_ROWS + 5])
        for separator in candidates:
            head = _split_csv(head_text, separator)
            index = _find_header(head, score)
            rank = (
                (0, 0)
                if index is None
                else (score([_cell_text(c) for c in head[index][1]]), len(head[index][1]))
            )
            if rank > best_rank:
                best_separator, best_rank = separator, rank
        return best_separator

    try:
        table = tabular.read_csv(data, CSV_LIMITS, choose=choose)
    except tabular.CsvError as exc:
        message = exc.messages[0]
        raise BudgetFileError([NOT_CSV if message.startswith(tabular.NOT_TEXT) else message]) from None
    rows: list[tuple[int, list[object]]] = [(line, list(cells)) for line, cells in table.rows]
    index = _find_header(rows, score)
    index = 0 if index is None else index
    header_line, header_cells = rows[index]
    return _Table(header_line, [_cell_text(c) for c in header_cells], _body(rows, index), None, table.notes)


def _read_xlsx(data: bytes, sheet: str | None, score: _Score) -> _Table:
    try:
        workbook = open_workbook(data, data_only=True, limits=WORKBOOK_LIMITS)
    except WorkbookError as exc:
        raise BudgetFileError([str(exc)]) from None
    try:
        if sheet is not None:
            names = {_norm(n): n for n in workbook.sheetnames}
            if _norm(sheet) not in names:
                raise BudgetFileError(
                    [f"feuille « {sheet} » absente du classeur (feuilles : {', '.join(workbook.sheetnames)})"]
                )
            worksheet = workbook[names[_norm(sheet)]]
        else:
            worksheet = workbook.worksheets[0]
        rows: list[tuple[int, list[object]]] = []
        for number, values in enumerate(worksheet.iter_rows(values_only=True, max_col=MAX_COLUMNS), start=1):
            cells: list[object] = list(values)
            if any(_cell_text(c) for c in cells):
                rows.append((number, cells))
            if len(rows) > MAX_ROWS + HEADER_SEARCH_ROWS:
                raise BudgetFileError([f"classeur trop long : {MAX_ROWS} lignes au plus"])
        title = worksheet.title
    except WorkbookError as exc:  # a sheet openpyxl cannot read to the end
        raise BudgetFileError([str(exc)]) from None
    finally:
        workbook.close()
    if not rows:
        raise BudgetFileError([f"feuille « {title} » vide : aucune ligne"])
    index = _find_header(rows, score)
    index = 0 if index is None else index
    header_line, header_cells = rows[index]
    return _Table(header_line, [_cell_text(c) for c in header_cells], _body(rows, index), title, [])


def _read_table(data: bytes, filename: str, sheet: str | None, score: _Score) -> _Table:
    if not data.strip():
        raise BudgetFileError(["fichier vide : aucune ligne"])
    lower = filename.lower()
    if data[:4] == b"\xd0\xcf\x11\xe0" or lower.endswith(".xls"):
        raise BudgetFileError(
            ["format Excel 97-2003 (.xls) non pris en charge : enregistrez le classeur en .xlsx ou en CSV"]
        )
    if lower.endswith(".ods"):
        raise BudgetFileError(
            ["format OpenDocument (.ods) non pris en charge : enregistrez le classeur en .xlsx ou en CSV"]
        )
    if data[:2] == b"PK" or lower.endswith((".xlsx", ".xlsm")):
        return _read_xlsx(data, sheet, score)
    return _read_csv(data, score)


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass
class _Cell:
    """A raw value with where it came from: a column header, or the mapping's default."""

    value: object
    column: str | None

    @property
    def text(self) -> str:
        return _cell_text(self.value)

    @property
    def empty(self) -> bool:
        return self.text == ""


@dataclass
class _Row:
    line: int
    cells: dict[str, _Cell]

    def get(self, name: str) -> _Cell:
        return self.cells.get(name, _Cell(None, None))


@dataclass
class _Total:
    line: int
    section: str | None
    flow: str | None
    function_prefix: str | None
    nature_prefix: str | None
    planned: Decimal | None
    actual: Decimal | None


@dataclass
class _Context:
    filename: str
    sheet: str | None
    source: str
    mapping: ColumnMapping | None
    nomenclature: str
    nomenclature_explicit: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def where(self, line: int | None, column: str | None = None) -> str:
        parts = []
        if self.sheet:
            parts.append(f"feuille « {self.sheet} »")
        if line is not None:
            parts.append(f"ligne {line}")
        if column:
            parts.append(f"colonne {column}")
        return ", ".join(parts)

    def error(self, line: int | None, column: str | None, message: str) -> None:
        where = self.where(line, column)
        self.errors.append(f"{where} : {message}" if where else message)

    def default_note(self, cell: _Cell) -> str:
        return (
            f" (valeur par défaut du modèle « {self.mapping.name} »)"
            if cell.column is None and self.mapping
            else ""
        )


def _of_section(section: str) -> str:
    return "de fonctionnement" if section == "fonctionnement" else "d'investissement"


def _nomenclature_from_filename(filename: str) -> str | None:
    match = re.search(r"(?<![A-Za-z0-9])(M57|M14|M22)(?![0-9])", filename, re.IGNORECASE)
    return match.group(1).upper() if match else None


def parse_budget_file(
    data: bytes, filename: str, *, mapping: ColumnMapping | None = None, nomenclature: str | None = None
) -> BudgetDocumentData:
    """Read and check a whole budget file; :class:`BudgetFileError` lists every problem found.

    Without ``mapping`` the file must be an SCDL budget CSV; with one, a CSV or .xlsx export
    read through it. ``nomenclature`` (M57, M14, M22) says the nomenclature of a file that does
    not (SCDL never does); a nomenclature column of the export wins over it.
    """
    explicit = None
    if nomenclature is not None:
        try:
            explicit = nom.normalise_nomenclature(nomenclature)
        except nom.NomenclatureError as exc:
            raise BudgetFileError([str(exc)]) from None
    if mapping is not None and explicit is None and "nomenclature" in mapping.defaults:
        explicit = nom.normalise_nomenclature(mapping.defaults["nomenclature"])
    from_name = _nomenclature_from_filename(filename)
    context = _Context(
        filename=filename,
        sheet=None,
        source="scdl" if mapping is None else mapping.name,
        mapping=mapping,
        nomenclature=explicit or from_name or "M57",
        nomenclature_explicit=(explicit or from_name) is not None,
    )
    rows = (
        _scdl_rows(data, filename, context)
        if mapping is None
        else _mapped_rows(data, filename, mapping, context)
    )
    return _check_document(rows, context)


def _scdl_score(headers: list[str]) -> int:
    found = {h.strip().upper() for h in headers}
    return len(found & set(SCDL_COLUMNS))


def _scdl_rows(data: bytes, filename: str, context: _Context) -> list[_Row]:
    table = _read_table(data, filename, None, _scdl_score)
    context.sheet = table.sheet
    context.warnings.extend(table.notes)
    headers = [h.strip().upper() for h in table.headers]
    if not any(h.startswith("BGT_") for h in headers):
        shown = ", ".join(h for h in table.headers[:10] if h) or "aucune"
        raise BudgetFileError(
            [
                "ce fichier n'est pas un budget au format SCDL (schema.data.gouv.fr scdl/budget) : colonnes "
                f"SCDL manquantes : {', '.join(SCDL_REQUIRED)} ; colonnes trouvées : {shown}. Pour un export "
                "de logiciel financier, importez-le avec un modèle de correspondance (--mapping NOM)"
            ]
        )
    missing = [c for c in SCDL_REQUIRED if c not in headers]
    problems = []
    if missing:
        problems.append(
            f"ligne {table.header_line} : colonnes SCDL obligatoires absentes : {', '.join(missing)} "
            "(schéma scdl/budget ; pour un autre format, utilisez un modèle de correspondance --mapping NOM)"
        )
    if not any(c in headers for c in SCDL_AMOUNTS):
        problems.append(
            f"ligne {table.header_line} : aucune colonne de montant SCDL ({', '.join(SCDL_AMOUNTS)})"
        )
    duplicated = sorted({h for h in headers if h and headers.count(h) > 1})
    if duplicated:
        problems.append(f"ligne {table.header_line} : colonnes en double : {', '.join(duplicated)}")
    if problems:
        raise BudgetFileError(problems)
    index = {h: i for i, h in enumerate(headers) if h}
    rows: list[_Row] = []
    for line, cells in table.rows:
        values: dict[str, _Cell] = {}
        for name in SCDL_COLUMNS:
            if name in index:
                position = index[name]
                values[name] = _Cell(cells[position] if position < len(cells) else None, name)
        for target, column in _SCDL_FIELDS.items():
            if column in values:
                values[target] = values[column]
        rows.append(_Row(line, values))
    return rows


def _mapped_rows(data: bytes, filename: str, mapping: ColumnMapping, context: _Context) -> list[_Row]:
    wanted = {target: _norm(header) for target, header in mapping.columns.items()}

    def score(headers: list[str]) -> int:
        found = {_norm(h) for h in headers}
        return len(set(wanted.values()) & found)

    table = _read_table(data, filename, mapping.sheet, score)
    context.sheet = table.sheet
    context.warnings.extend(table.notes)
    positions: dict[str, int] = {}
    for i, header in enumerate(table.headers):
        positions.setdefault(_norm(header), i)
    missing = [mapping.columns[t] for t, h in wanted.items() if h not in positions]
    if missing:
        shown = ", ".join(h for h in table.headers[:15] if h) or "aucune"
        raise BudgetFileError(
            [
                f"{context.where(table.header_line)} : colonnes du modèle « {mapping.name} » absentes : "
                f"{', '.join(missing)} (colonnes trouvées : {shown})"
            ]
        )
    rows: list[_Row] = []
    for line, cells in table.rows:
        values: dict[str, _Cell] = {}
        for target in TARGET_FIELDS:
            if target in wanted:
                position = positions[wanted[target]]
                value = cells[position] if position < len(cells) else None
                values[target] = _Cell(value, table.headers[position])
                if values[target].empty and target in mapping.defaults:
                    values[target] = _Cell(mapping.defaults[target], None)
            elif target in mapping.defaults:
                values[target] = _Cell(mapping.defaults[target], None)
        if "budget_kind" in mapping.defaults:
            values["budget_kind"] = _Cell(mapping.defaults["budget_kind"], None)
        rows.append(_Row(line, values))
    return rows


@dataclass
class _Parsed:
    row_line: int
    document_type: str | None = None
    year: int | None = None
    siret: str | None = None
    organisation_name: str = ""
    nomenclature: str = "M57"
    line: BudgetLineData | None = None
    actual_given: bool = False


def _amount(context: _Context, row: _Row, cell: _Cell, *, machine: bool, tally: _Tally) -> Decimal | None:
    if cell.empty:
        return None
    decimal_comma = context.mapping.decimal_comma if context.mapping else None
    try:
        return parse_amount(cell.value, decimal_comma=decimal_comma, point_is_decimal=machine)
    except AmountError as exc:
        context.error(row.line, cell.column, str(exc))
        tally.amount_failures += 1
        return None


def _scdl_amounts(
    context: _Context, row: _Row, document_type: str, tally: _Tally
) -> tuple[Decimal | None, _Cell, Decimal | None, _Cell]:
    """(planned, its cell, actual, its cell) of an SCDL row, by document type (see the module doc)."""
    cells = {name: row.get(name) for name in SCDL_AMOUNTS}
    amounts = {name: _amount(context, row, cells[name], machine=True, tally=tally) for name in SCDL_AMOUNTS}
    actual, actual_cell = amounts["BGT_MTREAL"], cells["BGT_MTREAL"]
    nothing = _Cell(None, None)
    if document_type in ACTUAL_DOCUMENTS:
        for name in ("BGT_CREDOUV", "BGT_MTPREV"):
            if not cells[name].empty:
                return amounts[name], cells[name], actual, actual_cell
        return None, nothing, actual, actual_cell
    if not cells["BGT_MTPREV"].empty:
        return amounts["BGT_MTPREV"], cells["BGT_MTPREV"], actual, actual_cell
    new_cell, carried_cell = cells["BGT_MTPROPNOUV"], cells["BGT_MTRARPREC"]
    if new_cell.empty and carried_cell.empty:
        return None, nothing, actual, actual_cell
    cell = new_cell if not new_cell.empty else carried_cell
    new, carried = amounts["BGT_MTPROPNOUV"], amounts["BGT_MTRARPREC"]
    if (not new_cell.empty and new is None) or (not carried_cell.empty and carried is None):
        return None, cell, actual, actual_cell  # reported already
    return (new or ZERO) + (carried or ZERO), cell, actual, actual_cell


def _normalised(context: _Context, row: _Row, name: str, parse: Any, *, required: bool, label: str) -> Any:
    cell = row.get(name)
    if cell.empty:
        if required:
            context.error(row.line, cell.column or _scdl_or_none(context, name), f"{label} manquant(e)")
        return None
    try:
        return parse(cell.text)
    except ValueError as exc:
        context.error(row.line, cell.column, f"{exc}{context.default_note(cell)}")
        return None


def _scdl_or_none(context: _Context, name: str) -> str | None:
    return _SCDL_FIELDS.get(name) if context.mapping is None else None


@dataclass
class _Tally:
    """What the row checks count for the document-level checks and the warnings."""

    amount_failures: int = 0
    ignored_actuals: int = 0
    without_function: int = 0
    m14_functions: dict[tuple[str, str, str], int] = field(default_factory=dict)
    m14_natures: dict[tuple[str, str, str], int] = field(default_factory=dict)
    m14_hints: set[str] = field(default_factory=set)


@dataclass
class _Codes:
    """A row's codes once checked; ``ok`` is false when one was refused (reported already)."""

    nature_code: str
    nature_label: str
    function_code: str
    function_label: str
    m57_function: str | None
    m57_nature: str | None
    section: str | None
    flow: str | None
    ok: bool


def _check_document(rows: list[_Row], context: _Context) -> BudgetDocumentData:
    """Every row checked, then the document as a whole; raise with all messages or return."""
    parsed: list[_Parsed] = []
    totals: list[_Total] = []
    tally = _Tally()
    for row in rows:
        if _is_total_row(row):
            total = _parse_total(context, row, tally)
            if total is not None:
                totals.append(total)
        else:
            parsed.append(_check_row(context, row, tally))

    header = _document_header(parsed, context)
    lines = tuple(p.line for p in parsed if p.line is not None)
    _check_duplicates(parsed, context)
    if not parsed:
        context.error(None, None, "le fichier ne contient aucune ligne budgétaire")
    if header.document_type in ACTUAL_DOCUMENTS and parsed and not any(p.actual_given for p in parsed):
        column = (
            "BGT_MTREAL"
            if context.mapping is None
            else context.mapping.columns.get("actual_amount", "réalisé")
        )
        context.error(
            None,
            None,
            f"{_DOCUMENT_NAMES[header.document_type]} sans aucun montant réalisé (colonne {column} vide partout)",
        )
    if tally.m14_hints:
        context.errors.append(
            f"les fonctions {', '.join(sorted(tally.m14_hints))} existent en M14 : si ce fichier est en M14, "
            "indiquez la nomenclature M14 à l'import (ou mettez « M14 » dans le nom du fichier)"
        )
    if totals and not tally.amount_failures:  # a sum over unreadable amounts would only add noise
        _check_totals(totals, list(lines), context)
    if context.errors or header.document_type is None or header.year is None:
        raise BudgetFileError(_capped(context.errors or ["type de document ou exercice introuvable"]))
    return BudgetDocumentData(
        document_type=header.document_type,
        year=header.year,
        siret=header.siret,
        organisation_name=header.organisation_name,
        nomenclature=header.nomenclature,
        budget_kind=header.budget_kind,
        lines=lines,
        fingerprint=_fingerprint(header, lines),
        totals=_totals(lines),
        source_format=context.source,
        warnings=[*context.warnings, *_warnings(tally, header.document_type)],
    )


def _check_row(context: _Context, row: _Row, tally: _Tally) -> _Parsed:
    """One budget row: its header values, codes and amounts; a line when all of it is valid."""
    result = _Parsed(row.line)
    result.document_type = _normalised(
        context, row, "document_type", _document_type, required=True, label="type de document"
    )
    result.year = _normalised(context, row, "year", _year, required=True, label="exercice")
    result.siret = _normalised(context, row, "siret", _siret, required=context.mapping is None, label="SIRET")
    result.organisation_name = row.get("organisation_name").text
    result.nomenclature = context.nomenclature
    if not row.get("nomenclature").empty:
        try:
            result.nomenclature = nom.normalise_nomenclature(row.get("nomenclature").text)
        except nom.NomenclatureError as exc:
            context.error(row.line, row.get("nomenclature").column, str(exc))
    in_scdl = context.mapping is None
    operation = _normalised(context, row, "operation", _operation, required=in_scdl, label="type d'opération")
    operation = operation or (None if in_scdl else "reelle")
    codes = _check_codes(context, row, result.nomenclature, tally)

    document_type = result.document_type
    month: int | None = None
    if not row.get("month").empty:
        month = _normalised(context, row, "month", _month, required=False, label="mois")
        if month is not None and document_type is not None and document_type != "EXEC":
            context.error(
                row.line,
                row.get("month").column,
                f"un mois n'a de sens que dans un export d'exécution (EXEC), pas dans un {document_type}",
            )
    if document_type is None:
        return result
    planned, actual, result.actual_given = _check_amounts(context, row, document_type, tally)
    if not codes.ok or codes.section is None or codes.flow is None or operation is None:
        return result

    chapter_text, _ = _code_and_label(row.get("chapter_code").value)
    chapter = (
        chapter_text
        if chapter_text and nom.is_chapter(result.nomenclature, chapter_text)
        else nom.nature_chapter(
            result.nomenclature,
            codes.m57_nature or codes.nature_code,
            section=codes.section,
            flow=codes.flow,
            operation=operation,
        )
    )
    in_m22_operations = result.nomenclature == "M22" and codes.section == "fonctionnement"
    result.line = BudgetLineData(
        line_number=row.line,
        nomenclature=result.nomenclature,
        function_code=codes.function_code or None,
        function_label=codes.function_label,
        m57_function_code=codes.m57_function,
        nature_code=codes.nature_code,
        nature_label=codes.nature_label,
        section=codes.section,
        operation=operation,
        flow=codes.flow,
        planned_amount=planned,
        actual_amount=actual,
        service=row.get("service").text or None,
        month=month,
        label=row.get("label").text or codes.nature_label,
        chapter_code=chapter,
        m57_nature_code=codes.m57_nature,
        equipment_operation=row.get("equipment_operation").text or None,
        m22_group=nom.m22_group(codes.nature_code, codes.flow) if in_m22_operations else None,
    )
    return result


def _check_codes(context: _Context, row: _Row, nomenclature: str, tally: _Tally) -> _Codes:
    """Nature and function known in ``nomenclature``, mapped to M57, with the section and flow."""
    line = row.line
    section = _normalised(context, row, "section", _section, required=False, label="section")
    flow = _normalised(
        context, row, "flow", _flow, required=context.mapping is None, label="sens (dépense ou recette)"
    )
    nature_cell, function_cell = row.get("nature_code"), row.get("function_code")
    nature_code, nature_label = _code_and_label(nature_cell.value)
    function_code, function_label = _code_and_label(function_cell.value)
    unknown = "(absente de la table de référence de Pilotis)"
    nature_ok = function_ok = True
    if not nature_code:
        context.error(line, nature_cell.column or _scdl_or_none(context, "nature_code"), "nature manquante")
        nature_ok = False
    elif not nom.is_known_nature(nomenclature, nature_code):
        context.error(line, nature_cell.column, f"nature {nomenclature} « {nature_code} » inconnue {unknown}")
        nature_ok = False

    if nature_ok:
        implied = nom.nature_section(nomenclature, nature_code)
        if section is None:
            section = implied
            if section is None:
                context.error(
                    line,
                    row.get("section").column,
                    f"section manquante, et la nature « {nature_code} » ne la donne pas : ajoutez une colonne "
                    "Section ou une valeur par défaut au modèle",
                )
        elif implied is not None and implied != section and nature_code[:1] in "1267":
            context.error(
                line,
                row.get("section").column,
                f"la nature « {nature_code} » relève de la section {_of_section(implied)}, "
                f"pas de la section {_of_section(section)}",
            )
        if flow is None and context.mapping is not None:
            flow = nom.nature_flow(nomenclature, nature_code)
            if flow is None:
                context.error(
                    line,
                    row.get("flow").column,
                    f"le sens (dépense ou recette) ne se déduit pas de la nature « {nature_code} » : ajoutez "
                    "une colonne Sens ou une valeur par défaut au modèle",
                )

    m57_function: str | None = None
    if nomenclature == "M22":
        if function_code:
            context.error(
                line,
                function_cell.column,
                f"fonction « {function_code} » : la nomenclature M22 n'a pas de fonction (laissez la colonne vide)",
            )
            function_ok = False
    elif not function_code:
        tally.without_function += 1
    elif not nom.is_known_function(nomenclature, function_code):
        suffix = " et sans correspondance M57" if nomenclature == "M14" else ""
        context.error(
            line,
            function_cell.column,
            f"fonction {nomenclature} « {function_code} » inconnue {unknown}{suffix}",
        )
        if (
            nomenclature == "M57"
            and not context.nomenclature_explicit
            and nom.is_known_function("M14", function_code)
        ):
            tally.m14_hints.add(function_code)
        function_ok = False
    elif nomenclature == "M14":
        correspondence = nom.m14_function_correspondence(function_code)
        if correspondence is None or correspondence.m57_code is None:
            note = f" ({correspondence.note})" if correspondence and correspondence.note else ""
            context.error(
                line,
                function_cell.column,
                f"fonction M14 « {function_code} » sans correspondance M57{note} : reclassez la ligne en M57",
            )
            function_ok = False
        else:
            m57_function = correspondence.m57_code
            key = (function_code, m57_function, correspondence.note)
            tally.m14_functions[key] = tally.m14_functions.get(key, 0) + 1
    else:
        m57_function = function_code

    m57_nature: str | None = None
    if nature_ok and nomenclature == "M14":
        mapped = nom.m14_nature_correspondence(nature_code)
        if mapped is None or mapped.m57_code is None:
            note = f" ({mapped.note})" if mapped and mapped.note else ""
            context.error(
                line, nature_cell.column, f"nature M14 « {nature_code} » sans correspondance M57{note}"
            )
            nature_ok = False
        else:
            m57_nature = mapped.m57_code
            if m57_nature != nature_code:
                key = (nature_code, m57_nature, mapped.note)
                tally.m14_natures[key] = tally.m14_natures.get(key, 0) + 1
    elif nature_ok and nomenclature == "M57":
        m57_nature = nature_code

    nature_label = (
        row.get("nature_label").text or nature_label or nom.nature_label(nomenclature, nature_code) or ""
    )
    if function_code:
        function_label = (
            row.get("function_label").text
            or function_label
            or nom.function_label(nomenclature, function_code)
            or ""
        )
    return _Codes(
        nature_code=nature_code,
        nature_label=nature_label,
        function_code=function_code,
        function_label=function_label if function_code else "",
        m57_function=m57_function,
        m57_nature=m57_nature,
        section=section,
        flow=flow,
        ok=nature_ok and function_ok,
    )


def _check_amounts(
    context: _Context, row: _Row, document_type: str, tally: _Tally
) -> tuple[Decimal | None, Decimal | None, bool]:
    """(planned, actual, whether an actual was given) by document type, with their checks."""
    planned: Decimal | None
    actual: Decimal | None
    if context.mapping is None:
        planned, planned_cell, actual, actual_cell = _scdl_amounts(context, row, document_type, tally)
        planned_columns = (
            "BGT_CREDOUV, BGT_MTPREV"
            if document_type in ACTUAL_DOCUMENTS
            else "BGT_MTPREV, BGT_MTPROPNOUV, BGT_MTRARPREC"
        )
    else:
        planned_cell, actual_cell = row.get("planned_amount"), row.get("actual_amount")
        planned = _amount(context, row, planned_cell, machine=False, tally=tally)
        actual = _amount(context, row, actual_cell, machine=False, tally=tally)
        planned_columns = context.mapping.columns.get("planned_amount", "montant prévu")
    actual_given = actual is not None
    if document_type in ACTUAL_DOCUMENTS:
        if actual is None and planned is not None and actual_cell.empty:
            actual = ZERO  # credits opened, nothing done: the CA shows it as 0
        if planned_cell.empty and actual_cell.empty:
            context.error(row.line, None, "aucun montant (ni prévu ni réalisé)")
    else:
        if actual is not None:
            tally.ignored_actuals += 1
        actual, actual_given = None, False
        if planned_cell.empty:
            context.error(row.line, None, f"aucun montant prévu (colonnes {planned_columns} vides)")
    reason = "(seule une décision modificative peut réduire un crédit)"
    if planned is not None and planned < 0 and document_type != "DM":
        context.error(row.line, planned_cell.column, f"montant négatif « {planned_cell.text} » {reason}")
    if actual is not None and actual < 0:
        context.error(row.line, actual_cell.column, f"montant négatif « {actual_cell.text} » {reason}")
    return planned, actual, actual_given


def _warnings(tally: _Tally, document_type: str) -> list[str]:
    warnings = []
    if tally.ignored_actuals:
        warnings.append(
            f"{tally.ignored_actuals} montant(s) réalisé(s) ignoré(s) : un {document_type} ne porte que des prévisions"
        )
    if tally.without_function:
        warnings.append(
            f"{tally.without_function} ligne(s) sans fonction : elles ne se rattachent à aucune politique tant "
            "qu'on ne les affecte pas à la main"
        )
    for (m14, m57, note), count in sorted(tally.m14_functions.items()):
        label = nom.function_label("M57", m57) or ""
        warnings.append(
            f"fonction M14 {m14} convertie en M57 {m57} ({label}) : {count} ligne(s)"
            + (f" — {note}" if note else "")
        )
    for (m14, m57, note), count in sorted(tally.m14_natures.items()):
        warnings.append(
            f"nature M14 {m14} convertie en M57 {m57} : {count} ligne(s)" + (f" — {note}" if note else "")
        )
    return warnings


_DOCUMENT_NAMES = {
    "BP": "budget primitif", "BS": "budget supplémentaire", "DM": "décision modificative",
    "CA": "compte administratif", "CFU": "compte financier unique", "EXEC": "export d'exécution",
}  # fmt: skip


def _is_total_row(row: _Row) -> bool:
    marker = row.get("total")
    if not marker.empty and _norm(marker.text) in _TRUTHY and marker.column is not None:
        return True
    return any(
        _is_total_word(row.get(name).value)
        for name in ("nature_code", "function_code", "label", "nature_label")
    )


def _parse_total(context: _Context, row: _Row, tally: _Tally) -> _Total | None:
    def token(name: str) -> str | None:
        match = re.search(r"\d+", row.get(name).text)
        return match.group(0) if match else None

    section = flow = None
    try:
        section = _section(row.get("section").text) if not row.get("section").empty else None
        flow = _flow(row.get("flow").text) if not row.get("flow").empty else None
    except ValueError as exc:
        context.error(row.line, None, f"ligne de total : {exc}")
        return None
    if context.mapping is None:
        planned, _cell, actual, _actual_cell = _scdl_amounts(context, row, "CA", tally)
    else:
        planned = _amount(context, row, row.get("planned_amount"), machine=False, tally=tally)
        actual = _amount(context, row, row.get("actual_amount"), machine=False, tally=tally)
    return _Total(row.line, section, flow, token("function_code"), token("nature_code"), planned, actual)


def _check_totals(totals: list[_Total], lines: list[BudgetLineData], context: _Context) -> None:
    both = context.mapping is not None and {"planned_amount", "actual_amount"} <= set(context.mapping.columns)
    for total in totals:
        scope = [
            line
            for line in lines
            if (total.section is None or line.section == total.section)
            and (total.flow is None or line.flow == total.flow)
            and (
                total.function_prefix is None or (line.function_code or "").startswith(total.function_prefix)
            )
            and (
                total.nature_prefix is None
                or line.nature_code.startswith(total.nature_prefix)
                or line.chapter_code == total.nature_prefix
            )
        ]
        for kind, stated in (("prévu", total.planned), ("réalisé", total.actual)):
            if stated is None:
                continue
            values = [(line.planned_amount if kind == "prévu" else line.actual_amount) for line in scope]
            computed = sum((v for v in values if v is not None), ZERO)
            if computed != stated:
                sections = {line.section for line in scope}
                shown = (
                    total if total.section or len(sections) != 1 else replace(total, section=sections.pop())
                )
                context.error(
                    total.line,
                    None,
                    f"{_total_name(shown, kind if both else None)} ({_french(stated)}\u00a0€) contredit la somme "
                    f"des lignes ({_french(computed)}\u00a0€)",
                )


def _total_name(total: _Total, kind: str | None) -> str:
    text = "le total" + (f" {kind}" if kind else "")
    detail = ""
    if total.flow:
        detail += " des dépenses" if total.flow == "depense" else " des recettes"
    if total.section:
        detail += " de fonctionnement" if total.section == "fonctionnement" else " d'investissement"
    if total.function_prefix:
        detail += f" de la fonction {total.function_prefix}"
    if total.nature_prefix:
        detail += f" de la nature {total.nature_prefix}"
    return text + (detail or " général")


@dataclass
class _Header:
    document_type: str | None
    year: int | None
    siret: str | None
    organisation_name: str
    nomenclature: str
    budget_kind: str


def _first_lines(values: Iterable[tuple[object, int]]) -> dict[object, int]:
    seen: dict[object, int] = {}
    for value, line in values:
        if value is not None and value not in seen:
            seen[value] = line
    return seen


def _document_header(parsed: list[_Parsed], context: _Context) -> _Header:
    def one(attribute: str, what: str, shown: Any = str) -> Any:
        seen = _first_lines((getattr(p, attribute), p.row_line) for p in parsed)
        if len(seen) > 1:
            listed = ", ".join(f"{shown(v)} (ligne {line})" for v, line in list(seen.items())[:5])
            context.error(
                None,
                None,
                f"{what} dans un même fichier : {listed} ; un fichier doit contenir un seul document",
            )
        return next(iter(seen), None)

    document_type = one("document_type", "plusieurs types de document")
    year = one("year", "plusieurs exercices")
    siret = one("siret", "plusieurs SIRET")
    nomenclature = one("nomenclature", "plusieurs nomenclatures") or context.nomenclature
    names = [p.organisation_name for p in parsed if p.organisation_name]
    organisation_name = names[0] if names else ""
    kind = "annexe" if nomenclature == "M22" else "principal"
    if context.mapping is not None and "budget_kind" in context.mapping.defaults:
        kind = _budget_kind(context.mapping.defaults["budget_kind"])
    elif "budget annexe" in _norm(organisation_name):
        kind = "annexe"
    return _Header(document_type, year, siret, organisation_name, nomenclature, kind)


def _line_key(line: BudgetLineData) -> tuple[str, ...]:
    return (
        line.function_code or "", line.nature_code, line.chapter_code or "", line.section, line.operation, line.flow,
        line.service or "", str(line.month or ""), line.equipment_operation or "",
    )  # fmt: skip


def _check_duplicates(parsed: list[_Parsed], context: _Context) -> None:
    first: dict[tuple[object, ...], int] = {}
    for result in parsed:
        line = result.line
        if line is None:
            continue
        key = (result.document_type, result.year, *_line_key(line))
        if key in first:
            context.error(
                line.line_number,
                None,
                f"doublon de la ligne {first[key]} (même document, fonction, nature, section, opération, sens)",
            )
        else:
            first[key] = line.line_number


def _capped(messages: list[str]) -> list[str]:
    if len(messages) <= MAX_MESSAGES:
        return messages
    return [*messages[:MAX_MESSAGES], f"… et {len(messages) - MAX_MESSAGES} autres"]


def _totals(lines: tuple[BudgetLineData, ...]) -> dict[tuple[str, str], BudgetTotal]:
    sums: dict[tuple[str, str], list[Decimal | None]] = {}
    for line in lines:
        planned, actual = sums.setdefault((line.section, line.flow), [None, None])
        if line.planned_amount is not None:
            planned = (planned or ZERO) + line.planned_amount
        if line.actual_amount is not None:
            actual = (actual or ZERO) + line.actual_amount
        sums[(line.section, line.flow)] = [planned, actual]
    return {key: BudgetTotal(planned, actual) for key, (planned, actual) in sorted(sums.items())}


def _fingerprint(header: _Header, lines: tuple[BudgetLineData, ...]) -> str:
    """SHA-256 of the normalised document: labels and line order do not count, amounts do."""

    def amount(value: Decimal | None) -> str:
        return "" if value is None else str(value.quantize(CENT))

    body = sorted(
        [
            line.nomenclature, line.function_code or "", line.nature_code, line.section, line.operation, line.flow,
            amount(line.planned_amount), amount(line.actual_amount), line.service or "", str(line.month or ""),
            line.equipment_operation or "",
        ]
        for line in lines
    )  # fmt: skip
    document = [header.document_type, header.year, header.siret or "", header.nomenclature, body]
    return hashlib.sha256(
        json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()

"""French numbers: reading what people type, checking what Pilotis writes, writing what it shows.

**Reading** (RELIABILITY.md, trap 5). Accepted: ``1234``, ``1234,56``, ``1 234,56`` (ordinary,
no-break or narrow no-break spaces between groups of three), ``-12,5``, ``12.5`` (a decimal
point, from a spreadsheet) and ``12,5 %``/``12 €`` (a trailing unit sign). Refused with the
reason: ``1.234,56`` (a dot as a thousands separator), ``1.234`` (a dot before exactly three
digits: a thousand, or one point two three four?), ``1,234.5`` (the English way), ``12 34``
(misplaced groups), text. :func:`parse_french_number` gives a float,
:func:`parse_french_decimal` the exact :class:`~decimal.Decimal`.

**Checking**: every number Pilotis writes (entry grid, workbooks, API, budget files, survey
answers, problem files) goes through :func:`check_value` (or :func:`parse_value`, which reads
then checks): it must be finite and within what its unit allows, with one French message:

- a percentage (unit ``%``) lies between 0 and 100;
- an amount (unit ``EUR``, ``€``, ``EUR/repas``…) lies within ± :data:`MAX_MAGNITUDE` (the
  money columns hold 14 digits, 2 of them decimals);
- a signed quantity (no unit, ``ratio``, ``indice``, ``points``, ``solde``, ``écart``,
  ``évolution``) lies within ± :data:`MAX_MAGNITUDE`;
- any other unit counts something (``personnes``, ``repas``, ``heures``, ``ETP``…): from 0 to
  :data:`MAX_MAGNITUDE`.

**Writing** (in :mod:`scorecard.french`, pure, so that the optimizer's sentences use it too;
re-exported here): :func:`format_number`, :func:`format_euros`, :func:`format_percent` write the way
Babel writes the ``fr`` locale, which most of Pilotis already followed: a narrow no-break space
(U+202F, :data:`THIN`) between groups of three digits, a comma before the decimals, a no-break
space (U+00A0, :data:`NBSP`) before a unit sign. They never fail: ``None`` and NaN are « — »,
infinities « ∞ », and a value beyond :data:`MAX_SHOWN` is written in powers of ten, so that a
page survives any stored value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from scorecard.errors import UserError
from scorecard.french import MAX_SHOWN as MAX_SHOWN
from scorecard.french import MISSING as MISSING
from scorecard.french import NBSP as NBSP
from scorecard.french import THIN as THIN
from scorecard.french import format_euros as format_euros
from scorecard.french import format_number as format_number
from scorecard.french import format_percent as format_percent
from scorecard.french import format_signed_percent as format_signed_percent

SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
GROUPED = re.compile(r"^-?\d{1,3}( \d{3})+(,\d+)?$")
PLAIN_COMMA = re.compile(r"^-?\d+(,\d+)?$")
PLAIN_POINT = re.compile(r"^-?\d*\.\d+$|^-?\d+$")


#: The largest magnitude Pilotis stores (exclusive): a thousand billion, the limit of the money
#: columns (``Numeric(14, 2)``) and far beyond any figure of a local government.
MAX_MAGNITUDE = 1e12

UnitKind = Literal["percent", "amount", "signed", "count"]
SIGNED_UNITS = frozenset(
    {"", "ratio", "indice", "point", "points", "pts", "solde", "écart", "ecart", "évolution", "evolution"}
)


class NumberError(UserError):
    """A value that is not a number written in a way Pilotis accepts; the message says why."""


# -- reading -----------------------------------------------------------------------------------
def parse_french_number(raw: object) -> float:
    """The number ``raw`` stands for, or :class:`NumberError` with a French reason."""
    if isinstance(raw, bool):
        raise NumberError("une case à cocher n'est pas un nombre")
    if isinstance(raw, (int, float, Decimal)):
        try:
            value = float(raw)
        except OverflowError:
            raise NumberError(f"« {_shown_raw(raw)} » : nombre trop grand") from None
        if not math.isfinite(value):
            raise NumberError(f"« {_shown_raw(raw)} » : nombre non fini")
        return value
    value = float(_normalised(raw))
    if not math.isfinite(value):
        raise NumberError(f"« {_shown_raw(raw)} » : nombre trop grand")
    return value


def parse_french_decimal(raw: object) -> Decimal:
    """Like :func:`parse_french_number`, exact: ``"1 234,56"`` -> ``Decimal("1234.56")``."""
    if isinstance(raw, bool):
        raise NumberError("une case à cocher n'est pas un nombre")
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, float):
        value = Decimal(repr(raw)) if math.isfinite(raw) else Decimal("NaN")
    else:
        try:
            value = Decimal(_normalised(raw))
        except InvalidOperation:  # pragma: no cover - _normalised only lets digits through
            raise NumberError(f"« {raw} » n'est pas un nombre") from None
    if not value.is_finite():
        raise NumberError(f"« {_shown_raw(raw)} » : nombre non fini")
    return value


def _normalised(raw: object) -> str:
    """``raw`` as Python reads a number (``-1234.56``), or :class:`NumberError`."""
    text = str(raw).strip()
    if not text:
        raise NumberError("valeur vide")
    text = text.rstrip("%€").strip()
    text = SPACES.sub(" ", text).replace("\u2212", "-")
    if "," in text and "." in text:
        raise NumberError(
            f"« {raw} » mélange point et virgule : écrivez les milliers avec une espace et les "
            "décimales avec une virgule (1 234,56)"
        )
    if " " in text:
        if GROUPED.match(text):
            return text.replace(" ", "").replace(",", ".")
        raise NumberError(
            f"« {raw} » : les espaces ne peuvent séparer que des groupes de trois chiffres (1 234,56)"
        )
    if PLAIN_COMMA.match(text):
        return text.replace(",", ".")
    if PLAIN_POINT.match(text):
        integer, _, decimals = text.partition(".")
        if len(decimals) == 3 and integer.strip("-") not in ("", "0"):
            raise NumberError(
                f"« {raw} » est ambigu (mille {decimals} ou {integer},{decimals} ?) : écrivez "
                f"{integer} {decimals} ou {integer},{decimals}"
            )
        return text
    raise NumberError(f"« {raw} » n'est pas un nombre")


def _shown_raw(raw: object) -> str:
    if isinstance(raw, float) and math.isnan(raw):
        return "NaN"
    if isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool):
        return format_number(raw, None)
    text = str(raw).strip()
    return text if len(text) <= 24 else text[:20] + "…"


# -- checking ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bounds:
    """What a unit allows: ``low <= value <= high``, and the rule said in French."""

    kind: UnitKind
    low: float
    high: float
    rule: str


def unit_kind(unit: str | None) -> UnitKind:
    """How a unit bounds its values: ``%`` a percentage, ``EUR…`` an amount, see the module."""
    text = (unit or "").strip().lower()
    if text in ("%", "pourcent", "pourcentage", "pourcentages"):
        return "percent"
    if text.startswith(("eur", "€", "k€", "keur")):
        return "amount"
    if text in SIGNED_UNITS or text.startswith(("indice", "ratio", "solde", "écart", "évolution")):
        return "signed"
    return "count"


def bounds_of(unit: str | None) -> Bounds:
    """The bounds of a value in ``unit`` (see the module)."""
    kind = unit_kind(unit)
    if kind == "percent":
        return Bounds(kind, 0.0, 100.0, "un pourcentage est compris entre 0 et 100")
    if kind == "amount":
        return Bounds(kind, -MAX_MAGNITUDE, MAX_MAGNITUDE, "un montant reste sous mille milliards d'euros")
    if kind == "signed":
        return Bounds(kind, -MAX_MAGNITUDE, MAX_MAGNITUDE, "une valeur reste sous mille milliards")
    what = f"un nombre de {unit.strip()}" if unit and unit.strip() else "un nombre"
    return Bounds(kind, 0.0, MAX_MAGNITUDE, f"{what} va de 0 à mille milliards")


def check_value(value: float | int | Decimal, unit: str | None = None, *, raw: object = None) -> float:
    """``value`` as a float when it is finite and within what ``unit`` allows, else :class:`NumberError`.

    ``raw`` is what the person wrote, quoted in the message (``value`` itself otherwise).
    """
    shown = _shown_raw(value if raw is None else raw)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise NumberError(f"« {shown} » : nombre non fini")
    bounds = bounds_of(unit)
    inside = bounds.low <= number <= bounds.high
    if bounds.kind != "percent":  # a thousand billion itself is out (the columns stop below)
        inside = inside and abs(number) < MAX_MAGNITUDE
    if not inside:
        raise NumberError(f"« {shown} » est hors limites : {bounds.rule}")
    return number


def parse_value(raw: object, unit: str | None = None) -> float:
    """Read ``raw`` the French way (:func:`parse_french_number`), then :func:`check_value` it."""
    return check_value(parse_french_number(raw), unit, raw=raw)


def check_amount(value: Decimal | float | int, *, raw: object = None) -> Decimal:
    """An amount in euros as an exact :class:`Decimal` when within bounds, else :class:`NumberError`."""
    exact = parse_french_decimal(value)
    check_value(exact, "EUR", raw=value if raw is None else raw)
    return exact


# -- writing: the pure module scorecard.french, shared with the optimizer's sentences ---------

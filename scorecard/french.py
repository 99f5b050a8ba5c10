"""French numbers, written: the one formatter of Pilotis (pages, exports, e-mails, the optimizer).

Pure (no web, no database) so that the optimizer's French sentences and the services share it;
:mod:`services.numbers` re-exports it beside the reading and checking of numbers.

They write the way Babel writes the ``fr`` locale: a narrow no-break space (U+202F,
:data:`THIN`) between groups of three digits, a comma before the decimals, a no-break space
(U+00A0, :data:`NBSP`) before a unit sign. They never fail: ``None`` and NaN are « — »,
infinities « ∞ », and a value beyond :data:`MAX_SHOWN` is written in powers of ten, so that a
page survives any stored value.
"""

from __future__ import annotations

import math
from decimal import Decimal

__all__ = [
    "MAX_SHOWN",
    "MISSING",
    "NBSP",
    "THIN",
    "format_euros",
    "format_number",
    "format_percent",
    "format_signed_percent",
]

THIN = "\u202f"  # narrow no-break space: between groups of three digits
NBSP = "\u00a0"  # no-break space: before a unit sign
MISSING = "—"
#: Beyond this magnitude a shown number is written in powers of ten (``1,0 × 10^300``).
MAX_SHOWN = 1e15


def format_number(value: float | int | Decimal | None, decimals: int | None = 0) -> str:
    """``1234.5`` -> ``1 234,5`` (U+202F between groups of three).

    ``decimals=None`` keeps about three significant digits (``1 235``, ``12,5``, ``0,0021``),
    trailing zeros dropped. ``None`` and NaN give « — », infinities « ∞ », magnitudes beyond
    :data:`MAX_SHOWN` ``1,0 × 10^300``. Never raises.
    """
    if value is None or isinstance(value, bool):
        return MISSING
    if isinstance(value, Decimal) and value.is_finite() and decimals is not None and abs(value) < MAX_SHOWN:
        return _french(f"{value:,.{decimals}f}")
    try:
        number = float(value)
    except OverflowError:  # an int or a Decimal beyond any float
        return _powers_of_ten(Decimal(value))
    if math.isnan(number):
        return MISSING
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if abs(number) >= MAX_SHOWN:
        return _powers_of_ten(number)
    auto = decimals is None
    if decimals is None:
        size = abs(number)
        if size >= 100 or size == 0:
            decimals = 0
        elif size >= 10:
            decimals = 1
        elif size >= 1:
            decimals = 2
        else:
            decimals = min(-math.floor(math.log10(size)) + 1, 10)
    text = f"{number:,.{max(decimals, 0)}f}"
    if auto and "." in text:
        text = text.rstrip("0").rstrip(".")
    return _french(text)


def _powers_of_ten(value: float | Decimal) -> str:
    mantissa, _, exponent = f"{value:.1e}".lower().partition("e")
    return f"{mantissa.replace('.', ',')} × 10^{int(exponent)}"


def _french(text: str) -> str:
    if text.lstrip("-").strip("0.,") == "":
        text = text.lstrip("-")  # no « -0 »
    return text.replace(",", THIN).replace(".", ",")


def format_euros(value: float | int | Decimal | None, decimals: int | None = None) -> str:
    """``1 250 000 €``; ``decimals=None``: whole euros from 100 €, cents below (``12,35 €``)."""
    if value is None:
        return MISSING
    if decimals is None:
        try:
            number = float(value)
        except (OverflowError, ValueError):
            number = math.inf
        decimals = (
            2 if math.isfinite(number) and abs(number) < 100 and abs(number - round(number)) > 1e-9 else 0
        )
    text = format_number(value, decimals)
    return text if text == MISSING else f"{text}{NBSP}€"


def format_percent(
    rate: float | Decimal | None, decimals: int = 1, *, points: bool = False, trim: bool = True
) -> str:
    """A rate (``0.125``) as ``12,5 %``; ``points=True`` when the value is already in percent
    (``12.5``). ``trim`` drops a zero decimal (``10 %`` rather than ``10,0 %``)."""
    if rate is None:
        return MISSING
    try:
        number = float(rate)
    except (OverflowError, ValueError):
        number = math.inf
    text = format_number(number if points or not math.isfinite(number) else number * 100, decimals)
    if text == MISSING:
        return text
    if trim and "," in text and "×" not in text:
        text = text.rstrip("0").rstrip(",")
    return f"{text}{NBSP}%"


def format_signed_percent(rate: float | None, decimals: int = 1) -> str:
    """``+15 %``, ``-10 %``."""
    text = format_percent(rate, decimals)
    return text if text.startswith(("-", MISSING)) or text == f"0{NBSP}%" else f"+{text}"

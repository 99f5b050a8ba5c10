"""Numbers written the French way in explanations: ``1 250 000 €``, ``12,5 %``, ``0,0021``.

Thousands are separated by a narrow no-break space (U+202F) and units by a no-break space
(U+00A0), as Babel writes them for the ``fr`` locale; the decimal separator is a comma.
Without a number of decimals, a value keeps about three significant digits (``1 235``, ``12,5``,
``1,25``, ``0,0021``), trailing zeros dropped.
"""

from __future__ import annotations

import math

THIN = "\u202f"  # narrow no-break space: thousands
NBSP = "\u00a0"  # no-break space: before a unit


def format_number(value: float, decimals: int | None = None) -> str:
    """``value`` with French separators; ``decimals=None``: about three significant digits."""
    if not math.isfinite(value):
        return "∞" if value > 0 else ("-∞" if value < 0 else "?")
    auto = decimals is None
    if decimals is None:
        size = abs(value)
        if size >= 100 or size == 0:
            decimals = 0
        elif size >= 10:
            decimals = 1
        elif size >= 1:
            decimals = 2
        else:
            decimals = min(-math.floor(math.log10(size)) + 1, 10)
    text = f"{value:,.{decimals}f}"
    if auto and "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", "-0.0"):
        text = "0"
    return text.replace(",", THIN).replace(".", ",")


def format_euros(value: float) -> str:
    """Whole euros from 100 €, cents below: ``1 250 000 €``, ``12,35 €``."""
    if math.isfinite(value) and abs(value) < 100 and abs(value - round(value)) > 1e-9:
        return f"{format_number(value, 2)}{NBSP}€"
    return f"{format_number(value, 0)}{NBSP}€"


def format_percent(rate: float, decimals: int = 1) -> str:
    """A rate (0.125) as ``12,5 %``; a zero decimal is dropped (``10 %``)."""
    text = format_number(rate * 100, decimals)
    if "," in text:
        text = text.rstrip("0").rstrip(",")
    return f"{text}{NBSP}%"


def format_signed_percent(rate: float) -> str:
    """``+15 %``, ``-10 %``."""
    text = format_percent(rate)
    return text if text.startswith("-") else f"+{text}"


def plural(value: float, singular: str, plural_form: str) -> str:
    """French agreement: singular below 2 (« 1,5 personne », « 0 personne »)."""
    return singular if abs(value) < 2 else plural_form


def nice_step(value: float) -> float:
    """The largest round number (1, 2 or 5 x 10^k) not above ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for factor in (5, 2, 1):
        if factor * power <= value:
            return float(factor * power)
    return float(power)  # pragma: no cover - factor 1 always fits

"""Numbers written the French way in explanations: ``1 250 000 €``, ``12,5 %``, ``0,0021``.

The formatting is Pilotis' one formatter, :mod:`scorecard.french` (the pages', the exports' and
the e-mails'); here only the defaults of sentences (about three significant digits) and the words
(:func:`plural`, :func:`nice_step`).
"""

from __future__ import annotations

import math

from scorecard import french


def format_number(value: float, decimals: int | None = None) -> str:
    """``value`` with French separators; ``decimals=None`` (the default in sentences): about three
    significant digits (:func:`scorecard.french.format_number`)."""
    return french.format_number(value, decimals)


def format_euros(value: float) -> str:
    """Whole euros from 100 €, cents below: ``1 250 000 €``, ``12,35 €``."""
    return french.format_euros(value)


def format_percent(rate: float, decimals: int = 1) -> str:
    """A rate (0.125) as ``12,5 %``; a zero decimal is dropped (``10 %``)."""
    return french.format_percent(rate, decimals)


def format_signed_percent(rate: float) -> str:
    """``+15 %``, ``-10 %`` (``0 %`` without a sign)."""
    return french.format_signed_percent(rate)


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

"""Numbers typed by people in French (RELIABILITY.md, trap 5).

Accepted: ``1234``, ``1234,56``, ``1 234,56`` (ordinary, no-break or narrow no-break spaces
between groups of three), ``-12,5``, ``12.5`` (a decimal point, from a spreadsheet) and
``12,5 %``/``12 €`` (a trailing unit sign). Refused with the reason: ``1.234,56`` (a dot as a
thousands separator), ``1.234`` (a dot before exactly three digits: a thousand, or one point
two three four?), ``1,234.5`` (the English way), ``12 34`` (misplaced groups), text.
"""

from __future__ import annotations

import math
import re

SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
GROUPED = re.compile(r"^-?\d{1,3}( \d{3})+(,\d+)?$")
PLAIN_COMMA = re.compile(r"^-?\d+(,\d+)?$")
PLAIN_POINT = re.compile(r"^-?\d*\.\d+$|^-?\d+$")


class NumberError(ValueError):
    """A value that is not a number written in a way Pilotis accepts; the message says why."""


def parse_french_number(raw: object) -> float:
    """The number ``raw`` stands for, or :class:`NumberError` with a French reason."""
    value = _parse(raw)
    if not math.isfinite(value):
        raise NumberError(f"« {str(raw)[:20]}… » : nombre trop grand")
    return value


def _parse(raw: object) -> float:
    if isinstance(raw, bool):
        raise NumberError("une case à cocher n'est pas un nombre")
    if isinstance(raw, (int, float)):
        value = float(raw)
        if not math.isfinite(value):
            raise NumberError("nombre non fini")
        return value
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
            return float(text.replace(" ", "").replace(",", "."))
        raise NumberError(
            f"« {raw} » : les espaces ne peuvent séparer que des groupes de trois chiffres (1 234,56)"
        )
    if PLAIN_COMMA.match(text):
        if text.count(",") > 1:
            raise NumberError(f"« {raw} » contient plusieurs virgules")
        return float(text.replace(",", "."))
    if PLAIN_POINT.match(text):
        integer, _, decimals = text.partition(".")
        if len(decimals) == 3 and integer.strip("-") not in ("", "0"):
            raise NumberError(
                f"« {raw} » est ambigu (mille {decimals} ou {integer},{decimals} ?) : écrivez "
                f"{integer} {decimals} ou {integer},{decimals}"
            )
        return float(text)
    raise NumberError(f"« {raw} » n'est pas un nombre")

"""French number and date formats in templates (Babel), and labels of enums."""

from __future__ import annotations

import enum
from numbers import Number

from flask import Flask
from flask_babel import format_decimal

from models.enums import LABELS_FR


def nombre(value: Number | None, decimals: int = 0) -> str:
    """``1234.5`` -> ``1 234,5`` (narrow no-break space, as the French locale writes it)."""
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return str(format_decimal(value, format=pattern))


def libelle(value: enum.Enum | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, enum.Enum):
        return LABELS_FR.get(value, str(value.value))
    return str(value)


def init_app(app: Flask) -> None:
    app.add_template_filter(nombre, "nombre")
    app.add_template_filter(libelle, "libelle")

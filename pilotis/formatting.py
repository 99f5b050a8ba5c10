"""French number and date formats in templates, and labels of enums.

Numbers go through :mod:`services.numbers` (one way of writing them in pages, exports and
e-mails); dates through Babel, in Paris time.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from numbers import Number

from flask import Flask
from flask_babel import format_date, format_datetime

from models.enums import LABELS_FR, Role
from services.numbers import format_euros, format_number, format_percent
from services.policy import Action, can, reads


def nombre(value: Number | None, decimals: int = 0) -> str:
    """``1234.5`` -> ``1 234,5`` (narrow no-break space); any stored value shows (NaN, 1e300)."""
    return format_number(value, decimals)  # type: ignore[arg-type]


def euros(value: Number | None, decimals: int | None = None) -> str:
    """``94330`` -> ``94 330 €``."""
    return format_euros(value, decimals)  # type: ignore[arg-type]


def pourcent(value: Number | None, decimals: int = 1) -> str:
    """A value already in percent (``12.5``) -> ``12,5 %``."""
    return format_percent(value, decimals, points=True, trim=False)  # type: ignore[arg-type]


def libelle(value: enum.Enum | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, enum.Enum):
        return LABELS_FR.get(value, str(value.value))
    return str(value)


def date_fr(value: datetime | date | None, with_time: bool = False) -> str:
    """``26/11/2026`` or ``26/11/2026 14:05`` in Paris time (timestamps are stored in UTC)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return str(format_datetime(value, "dd/MM/yyyy HH:mm" if with_time else "dd/MM/yyyy"))
    return str(format_date(value, "dd/MM/yyyy"))


def _template_context() -> dict[str, object]:
    from pilotis.auth import principal

    who = principal()
    unread = 0
    if who is not None:
        from pilotis.web import read_session
        from services.notifications import unread_count

        unread = unread_count(read_session(), who.user_id)  # a page shown after a POST: no write lock
    return {"who": who, "can": can, "reads": reads, "Action": Action, "Role": Role, "unread": unread}


def init_app(app: Flask) -> None:
    app.add_template_filter(nombre, "nombre")
    app.add_template_filter(euros, "euros")
    app.add_template_filter(pourcent, "pourcent")
    app.add_template_filter(libelle, "libelle")
    app.add_template_filter(date_fr, "date_fr")
    app.context_processor(_template_context)

"""Loading the row a URL names."""

from __future__ import annotations

from typing import TypeVar

from flask import abort

from models import Base
from pilotis.web import db_session

M = TypeVar("M", bound=Base)


def get_or_404(model: type[M], ident: int) -> M:
    """The row, or 404; whether the person may see it is the policy's business (``require``)."""
    row = db_session().get(model, ident)
    if row is None:
        abort(404)
    return row

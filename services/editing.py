"""Edits of shared rows that never overwrite someone else's change silently.

Each edit form carries the version it was read at. :func:`apply_edit` refuses an edit made on
an older version (:class:`StaleEdit`, with the current values and who changed them); the ORM's
version check in the UPDATE's WHERE clause catches a change that lands between the check and
the flush.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from models import AuditEntry, Base, User
from models.base import utcnow
from scorecard.errors import ConflictError
from services.audit import render
from services.numbers import format_number

#: French names of the fields a conflict shows when the caller gives none.
FIELD_LABELS = {
    "name": "Nom",
    "label": "Intitulé",
    "title": "Titre",
    "description": "Description",
    "value": "Valeur",
    "comment": "Commentaire",
    "state": "État",
    "priority": "Priorité",
    "priority_weight": "Poids pour l'arbitrage",
    "text": "Texte",
}


class StaleEdit(ConflictError):
    """Someone else saved the row since it was read (a 409: the current values are shown).

    Views that re-show their form catch it; uncaught, it is the French 409 page (JSON under
    ``/api``) of :mod:`views.errors`, like any :class:`~scorecard.errors.ConflictError`.
    """

    def __init__(
        self,
        *,
        table_name: str,
        row_id: str,
        current_version: int,
        current_values: dict[str, str | None],
        changed_by: str | None,
        changed_at: datetime | None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.table_name = table_name
        self.row_id = row_id
        self.current_version = current_version
        self.current_values = current_values
        self.changed_by = changed_by
        self.changed_at = changed_at
        super().__init__(self.message(labels or FIELD_LABELS))

    def message(self, labels: Mapping[str, str]) -> str:
        who = self.changed_by or "une autre personne"
        when = f" le {self.changed_at:%d/%m/%Y à %H:%M} (UTC)" if self.changed_at else ""
        values = " ; ".join(
            f"{labels.get(field, field)} : « {value if value is not None else '—'} »"
            for field, value in self.current_values.items()
        )
        return (
            f"Cette fiche a été modifiée entre-temps par {who}{when}. Valeurs actuelles : {values}. "
            "Vos modifications n'ont pas été enregistrées : reprenez-les à partir de ces valeurs."
        )


def last_change(session: Session, table_name: str, row_id: str) -> tuple[str | None, datetime | None]:
    row = session.execute(
        select(User.full_name, AuditEntry.occurred_at)
        .outerjoin(User, User.id == AuditEntry.user_id)
        .where(AuditEntry.table_name == table_name, AuditEntry.row_id == row_id)
        .order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None, None
    return row[0], row[1]


def shown(value: Any) -> str | None:
    """A current value as a conflict message shows it: numbers the French way (« 7 », « 2,5 »,
    « 3 002 »), every digit kept; anything else as the journal writes it."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return render(value)
        text = format(Decimal(str(value)).normalize(), "f")
        return format_number(value, len(text.partition(".")[2]))
    return render(value)


def _stale(session: Session, obj: Base, fields: list[str]) -> StaleEdit:
    session.refresh(obj)
    row_id = str(obj.id)  # type: ignore[attr-defined]
    who, when = last_change(session, obj.__tablename__, row_id)
    return StaleEdit(
        table_name=obj.__tablename__,
        row_id=row_id,
        current_version=obj.version,  # type: ignore[attr-defined]
        current_values={field: shown(getattr(obj, field)) for field in fields},
        changed_by=who,
        changed_at=when,
    )


def apply_edit(
    session: Session,
    obj: Base,
    expected_version: int,
    changes: Mapping[str, Any],
    *,
    shown: list[str] | None = None,
) -> bool:
    """Set ``changes`` on ``obj`` if it is still at ``expected_version``; flush.

    Returns whether anything changed. Raises :class:`StaleEdit` when the row moved on, with the
    current values of ``shown`` (default: the changed fields).
    """
    fields = shown or list(changes)
    if obj.version != expected_version:  # type: ignore[attr-defined]
        raise _stale(session, obj, fields)
    if all(getattr(obj, field) == value for field, value in changes.items()):
        return False
    # The savepoint opens before the change: begin_nested() flushes what is pending first, and a
    # stale UPDATE flushed outside a savepoint would break the caller's whole transaction.
    savepoint = session.begin_nested()
    try:
        for field, value in changes.items():
            setattr(obj, field, value)
        session.flush()
    except StaleDataError:
        savepoint.rollback()
        raise _stale(session, obj, fields) from None
    savepoint.commit()
    return True


def lock_version(session: Session, obj: Base, expected_version: int, fields: list[str]) -> None:
    """Move ``obj`` to its next version if it is still at ``expected_version``; flush.

    For edits of rows that hang from ``obj`` and carry no version of their own (an activity's
    territories served, the coverage links of an activity or a need): the form carries the
    version of the page's row, and saving moves that version on, so that a form read before is
    stale. The UPDATE checks the version in its WHERE clause, so two edits that pass the first
    check at once still end with one :class:`StaleEdit`. ``fields`` are shown in its message.
    """
    if obj.version != expected_version:  # type: ignore[attr-defined]
        raise _stale(session, obj, fields)
    savepoint = session.begin_nested()
    try:
        # a bookkeeping column: the row is updated (its version moves) and the journal says nothing
        obj.updated_at = utcnow()  # type: ignore[attr-defined]
        session.flush()
    except StaleDataError:
        savepoint.rollback()
        raise _stale(session, obj, fields) from None
    savepoint.commit()

"""Bring a set of rows to a desired state, by natural key, without duplicating anything.

Used by the demo (``pilotis demo`` twice leaves one demo) and by imports that must change
nothing when the same file comes again.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from models import Base

M = TypeVar("M", bound=Base)
T = TypeVar("T")


@dataclass
class SyncStats:
    """How many rows a sync inserted, updated, deleted or left as they were."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    def __iadd__(self, other: SyncStats) -> SyncStats:
        self.inserted += other.inserted
        self.updated += other.updated
        self.deleted += other.deleted
        self.unchanged += other.unchanged
        return self

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted


@dataclass
class SyncResult(Generic[T]):
    stats: SyncStats
    by_key: dict[Hashable, T] = field(default_factory=dict)


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        if old is None or new is None:
            return old is new
        return Decimal(str(old)) == Decimal(str(new))
    if isinstance(old, float) and isinstance(new, (int, float)):
        return abs(old - float(new)) <= 1e-9 * max(1.0, abs(old))
    return bool(old == new)


def sync_rows(
    session: Session,
    model: type[M],
    rows: Iterable[Mapping[str, Any]],
    key: Sequence[str],
    *,
    scope: Sequence[ColumnElement[bool]] = (),
    delete_missing: bool = True,
    key_of: Callable[[M], Hashable] | None = None,
) -> SyncResult[M]:
    """Make the rows of ``model`` within ``scope`` equal to ``rows``, matched on ``key``.

    Existing rows whose values already match are left untouched (no UPDATE, no new version,
    nothing for the audit trail); rows within the scope that ``rows`` no longer holds are
    deleted when ``delete_missing``. Returns the counts and the objects by key.
    """
    existing = session.scalars(select(model).where(*scope)).all()

    def get_key(obj: M) -> Hashable:
        if key_of is not None:
            return key_of(obj)
        return tuple(getattr(obj, k) for k in key)

    current: dict[Hashable, M] = {get_key(obj): obj for obj in existing}
    stats = SyncStats()
    result: dict[Hashable, M] = {}
    for row in rows:
        row_key = tuple(row[k] for k in key)
        obj = current.pop(row_key, None)
        if obj is None:
            obj = model(**row)
            session.add(obj)
            stats.inserted += 1
        else:
            changed = False
            for name, value in row.items():
                if not _same(getattr(obj, name), value):
                    setattr(obj, name, value)
                    changed = True
            if changed:
                stats.updated += 1
            else:
                stats.unchanged += 1
        result[row_key] = obj
    if delete_missing:
        for obj in current.values():
            session.delete(obj)
            stats.deleted += 1
    session.flush()
    return SyncResult(stats=stats, by_key=result)

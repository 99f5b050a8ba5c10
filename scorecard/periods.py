"""Reporting periods: months ``2025-03``, quarters ``2025-T1`` and years ``2025``.

Pure calendar arithmetic on :class:`datetime.date`; no clock is read (``as_of`` is an argument).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

PeriodKindName = Literal["month", "quarter", "year"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-T([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


@dataclass(frozen=True, order=True)
class PeriodSpan:
    """A period: its first and last day (inclusive), its kind and its key."""

    start: date
    end: date
    kind: PeriodKindName
    key: str

    @property
    def middle(self) -> date:
        return self.start + (self.end - self.start) / 2


def _last_day_of_month(year: int, month: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def month(year: int, month_number: int) -> PeriodSpan:
    if not 1 <= month_number <= 12:
        raise ValueError(f"mois invalide : {month_number} (attendu de 1 à 12)")
    return PeriodSpan(
        date(year, month_number, 1),
        _last_day_of_month(year, month_number),
        "month",
        f"{year:04d}-{month_number:02d}",
    )


def quarter(year: int, number: int) -> PeriodSpan:
    if not 1 <= number <= 4:
        raise ValueError(f"trimestre invalide : {number} (attendu de 1 à 4)")
    first_month = 3 * (number - 1) + 1
    return PeriodSpan(
        date(year, first_month, 1),
        _last_day_of_month(year, first_month + 2),
        "quarter",
        f"{year:04d}-T{number}",
    )


def year(number: int) -> PeriodSpan:
    return PeriodSpan(date(number, 1, 1), date(number, 12, 31), "year", f"{number:04d}")


def period_containing(kind: PeriodKindName, day: date) -> PeriodSpan:
    """The month, quarter or year that contains ``day``."""
    if kind == "month":
        return month(day.year, day.month)
    if kind == "quarter":
        return quarter(day.year, (day.month - 1) // 3 + 1)
    return year(day.year)


def parse_period_key(key: str) -> PeriodSpan:
    """``2025-03`` -> March 2025, ``2025-T4`` -> Q4 2025, ``2025`` -> year 2025.

    Raises ``ValueError`` with a French message on any other text.
    """
    text = key.strip()
    if m := _MONTH.match(text):
        return month(int(m[1]), int(m[2]))
    if m := _QUARTER.match(text):
        return quarter(int(m[1]), int(m[2]))
    if m := _YEAR.match(text):
        return year(int(m[1]))
    raise ValueError(
        f"période « {key} » non reconnue : attendu AAAA-MM (mois), AAAA-T1 à AAAA-T4 "
        "(trimestre) ou AAAA (année)"
    )


def next_period(span: PeriodSpan) -> PeriodSpan:
    return period_containing(span.kind, span.end + timedelta(days=1))


def previous_period(span: PeriodSpan) -> PeriodSpan:
    return period_containing(span.kind, span.start - timedelta(days=1))


def same_period_last_year(span: PeriodSpan) -> PeriodSpan:
    return period_containing(span.kind, date(span.start.year - 1, span.start.month, 1))


def periods_between(kind: PeriodKindName, first_day: date, last_day: date) -> list[PeriodSpan]:
    """Every period of ``kind`` that intersects [``first_day``, ``last_day``], in order."""
    if last_day < first_day:
        return []
    spans = []
    span = period_containing(kind, first_day)
    while span.start <= last_day:
        spans.append(span)
        span = next_period(span)
    return spans


def last_complete_quarter(as_of: date) -> PeriodSpan:
    """The last quarter that ended strictly before ``as_of``'s quarter began."""
    return previous_period(period_containing("quarter", as_of))

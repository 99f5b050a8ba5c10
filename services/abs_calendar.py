"""The R123-1 calendar of the analyse des besoins sociaux (pure: no clock, no database).

CASF art. R123-1 (decree 2016-824): the full diagnostic is presented to the CCAS board in the
calendar year that follows each general municipal election (elections 2020 -> ABS 2021,
elections 2026 -> ABS 2027, then every six years); in the years between, optional thematic
analyses may be presented at the budget orientation debate (DOB) or the budget vote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

#: Years between two general municipal elections (the term of a municipal council).
TERM_YEARS = 6
#: The last general municipal election known to Pilotis (March 2026).
LAST_ELECTION_YEAR = 2026
#: The budget orientation debate precedes the budget vote (by 15 April): held by March.
DOB_LAST_MONTH = 3


@dataclass(frozen=True)
class AbsCalendar:
    """Where ``today`` stands in the calendar.

    ``next_full_year`` is the first year, from today's year on, in which a full diagnostic is
    due; ``thematic_years`` are the years of today's term (from today's year on, before
    ``next_full_year``) in which a thematic analysis may be presented at the DOB.
    """

    today: date
    election_year: int  # the election that makes ``next_full_year`` due
    next_full_year: int
    previous_full_year: int
    thematic_years: list[int] = field(default_factory=list)

    @property
    def full_due_this_year(self) -> bool:
        return self.next_full_year == self.today.year

    @property
    def this_year_kind(self) -> str:
        """``full`` when the diagnostic is due this year, ``theme`` otherwise."""
        return "full" if self.full_due_this_year else "theme"

    @property
    def next_thematic_year(self) -> int | None:
        """The next budget orientation debate (held by March) open to a thematic analysis."""
        first = self.today.year if self.today.month <= DOB_LAST_MONTH else self.today.year + 1
        return next((year for year in self.thematic_years if year >= first), None)

    def message(self) -> str:
        """One French sentence for the report page."""
        if self.full_due_this_year:
            return (
                f"Diagnostic complet dû cette année ({self.next_full_year}, année qui suit les élections "
                f"municipales de {self.election_year}) : à présenter au conseil d'administration."
            )
        text = (
            f"Prochain diagnostic complet dû en {self.next_full_year} (après les élections municipales de "
            f"{self.election_year}) : à présenter au conseil d'administration."
        )
        if self.next_thematic_year is not None:
            text += (
                " D'ici là, une analyse thématique peut être présentée au débat d'orientation budgétaire de "
                f"{self.next_thematic_year}."
            )
        return text


def full_years_around(year: int, *, last_election_year: int = LAST_ELECTION_YEAR) -> tuple[int, int]:
    """(previous due year strictly before ``year``, first due year from ``year`` on).

    Due years are ``last_election_year + 1 + 6k`` for every integer k (2021, 2027, 2033…).
    """
    first_due = last_election_year + 1
    offset = (year - first_due) % TERM_YEARS
    next_due = year if offset == 0 else year + TERM_YEARS - offset
    return next_due - TERM_YEARS, next_due


def abs_calendar(today: date, *, last_election_year: int = LAST_ELECTION_YEAR) -> AbsCalendar:
    """The R123-1 calendar seen from ``today``.

    Examples (elections 2020, 2026, 2032): in 2025 the next full diagnostic is due in 2027; in
    2027 it is due this year; in 2028 the next one is due in 2033, with thematic analyses
    possible in 2028 to 2032.
    """
    previous_due, next_due = full_years_around(today.year, last_election_year=last_election_year)
    return AbsCalendar(
        today=today,
        election_year=next_due - 1,
        next_full_year=next_due,
        previous_full_year=previous_due,
        thematic_years=list(range(today.year, next_due)),
    )


@dataclass(frozen=True)
class Reminder:
    """A reminder of the calendar due now; ``key`` names its period (sent once per key)."""

    key: str
    year: int
    kind: str  # full | theme
    title: str
    body: str
    link: str


def due_reminders(today: date, *, last_election_year: int = LAST_ELECTION_YEAR) -> list[Reminder]:
    """The reminders whose window contains ``today``.

    - full diagnostic due in year Y: from 1 September of Y-1 to 31 December of Y-1 (to prepare
      it with the partners), and from 1 January to 31 March of Y (it is due this year);
    - thematic analysis of year Y (a year between two diagnostics): from 1 December of Y-1 to
      the end of February of Y, before the DOB.

    The scheduler runs daily; the guard row of each key makes each reminder go out once.
    """
    reminders: list[Reminder] = []
    _, next_due = full_years_around(today.year, last_election_year=last_election_year)
    _, due_next_year = full_years_around(today.year + 1, last_election_year=last_election_year)
    if today.month >= 9 and due_next_year == today.year + 1:
        year = today.year + 1
        reminders.append(
            Reminder(
                key=f"ABS{year}-sept",
                year=year,
                kind="full",
                title=f"Analyse des besoins sociaux : diagnostic complet dû en {year}",
                body=(
                    f"Le diagnostic complet de l'ABS est dû en {year}, année qui suit les élections municipales "
                    f"de {year - 1} (CASF art. R123-1). Il doit être élaboré avec l'ensemble des partenaires "
                    "publics et privés puis présenté au conseil d'administration : organisez dès maintenant "
                    "la collecte des données et la participation des partenaires."
                ),
                link=f"/abs?annee={year}",
            )
        )
    if today.month <= 3 and next_due == today.year:
        year = today.year
        reminders.append(
            Reminder(
                key=f"ABS{year}-janv",
                year=year,
                kind="full",
                title=f"Analyse des besoins sociaux : diagnostic complet à présenter en {year}",
                body=(
                    f"Le diagnostic complet de l'ABS est dû cette année ({year}) : il doit être présenté au "
                    "conseil d'administration du CCAS (CASF art. R123-1). Rédigez l'analyse de chaque "
                    "section du rapport dans Pilotis et inscrivez sa présentation à l'ordre du jour."
                ),
                link=f"/abs?annee={year}",
            )
        )
    theme_year = today.year + 1 if today.month == 12 else today.year
    if (today.month == 12 or today.month <= 2) and full_years_around(
        theme_year, last_election_year=last_election_year
    )[1] != theme_year:
        reminders.append(
            Reminder(
                key=f"AT{theme_year}-dob",
                year=theme_year,
                kind="theme",
                title=f"Analyse thématique pour le débat d'orientation budgétaire {theme_year}",
                body=(
                    f"{theme_year} n'est pas une année de diagnostic complet : une analyse thématique (un public "
                    "ou un thème) peut être présentée au débat d'orientation budgétaire ou au vote du budget "
                    "(CASF art. R123-1). Pilotis la prépare à partir des besoins, de l'offre et des objectifs."
                ),
                link=f"/abs?annee={theme_year}",
            )
        )
    return reminders

"""The R123-1 calendar, computed by hand: the full diagnostic the year after each general municipal
election (2020 -> 2021, 2026 -> 2027, 2032 -> 2033), thematic analyses at the DOB in between."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.abs_calendar import abs_calendar, due_reminders


@pytest.mark.parametrize(
    ("today", "due", "this_year"),
    [
        (date(2021, 3, 1), 2021, True),
        (date(2022, 1, 1), 2027, False),
        (date(2025, 6, 15), 2027, False),
        (date(2026, 12, 31), 2027, False),
        (date(2027, 1, 1), 2027, True),
        (date(2027, 12, 31), 2027, True),
        (date(2028, 1, 1), 2033, False),
        (date(2033, 5, 1), 2033, True),
    ],
)
def test_next_full_diagnostic(today, due, this_year):
    calendar = abs_calendar(today)
    assert calendar.next_full_year == due
    assert calendar.full_due_this_year is this_year
    assert calendar.election_year == due - 1


def test_thematic_years_lie_between_two_diagnostics():
    assert abs_calendar(date(2028, 2, 1)).thematic_years == [2028, 2029, 2030, 2031, 2032]
    assert abs_calendar(date(2025, 2, 1)).thematic_years == [2025, 2026]
    assert abs_calendar(date(2027, 2, 1)).thematic_years == []
    assert abs_calendar(date(2028, 2, 1)).this_year_kind == "theme"
    assert abs_calendar(date(2027, 2, 1)).this_year_kind == "full"


def test_the_messages_say_what_is_due():
    assert (
        abs_calendar(date(2025, 11, 26))
        .message()
        .startswith(
            "Prochain diagnostic complet dû en 2027 (après les élections municipales de 2026) : à présenter au "
            "conseil d'administration."
        )
    )
    assert "Diagnostic complet dû cette année (2027" in abs_calendar(date(2027, 3, 1)).message()
    assert abs_calendar(date(2025, 11, 26)).message().endswith("débat d'orientation budgétaire de 2026.")
    assert "analyse thématique" not in abs_calendar(date(2026, 11, 26)).message()  # next year: the diagnostic
    assert abs_calendar(date(2028, 2, 1)).next_thematic_year == 2028
    assert abs_calendar(date(2028, 6, 1)).next_thematic_year == 2029
    assert abs_calendar(date(2032, 6, 1)).next_thematic_year is None


def test_another_election_year_shifts_the_calendar():
    assert abs_calendar(date(2025, 1, 1), last_election_year=2020).next_full_year == 2027
    assert abs_calendar(date(2025, 1, 1), last_election_year=2023).next_full_year == 2030


def test_reminders_before_and_in_the_year_of_the_diagnostic_and_before_the_dob():
    assert due_reminders(date(2026, 8, 31)) == []
    assert [r.key for r in due_reminders(date(2026, 9, 1))] == ["ABS2027-sept"]
    assert [r.key for r in due_reminders(date(2026, 12, 20))] == ["ABS2027-sept"]  # 2027: no thematic DOB
    assert [r.key for r in due_reminders(date(2027, 1, 5))] == ["ABS2027-janv"]
    assert due_reminders(date(2027, 4, 1)) == []
    assert [r.key for r in due_reminders(date(2027, 12, 1))] == ["AT2028-dob"]
    assert [r.key for r in due_reminders(date(2028, 2, 10))] == ["AT2028-dob"]
    assert due_reminders(date(2028, 3, 1)) == []
    reminder = due_reminders(date(2026, 9, 1))[0]
    assert reminder.year == 2027 and reminder.kind == "full" and reminder.link == "/abs?annee=2027"


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2150, 12, 31)))
def test_the_due_year_follows_an_election_and_is_never_past(today):
    calendar = abs_calendar(today)
    assert today.year <= calendar.next_full_year < today.year + 6
    assert (calendar.next_full_year - 2027) % 6 == 0
    assert calendar.previous_full_year == calendar.next_full_year - 6
    keys = [r.key for r in due_reminders(today)]
    assert len(keys) == len(set(keys)) <= 2

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorecard import periods as P

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
kinds = st.sampled_from(["month", "quarter", "year"])


def test_keys_parse_to_their_calendar_span():
    assert P.parse_period_key("2025-03") == P.PeriodSpan(
        date(2025, 3, 1), date(2025, 3, 31), "month", "2025-03"
    )
    assert P.parse_period_key("2024-02").end == date(2024, 2, 29)  # leap year
    assert P.parse_period_key("2025-T4") == P.PeriodSpan(
        date(2025, 10, 1), date(2025, 12, 31), "quarter", "2025-T4"
    )
    assert P.parse_period_key(" 2025 ") == P.PeriodSpan(date(2025, 1, 1), date(2025, 12, 31), "year", "2025")


@pytest.mark.parametrize("bad", ["2025-13", "2025-T5", "25-03", "2025/03", "", "T1-2025"])
def test_unknown_keys_are_refused_in_french(bad):
    with pytest.raises(ValueError, match=r"non reconnue|invalide"):
        P.parse_period_key(bad)


def test_neighbours_and_same_period_last_year():
    q1 = P.parse_period_key("2025-T1")
    assert P.previous_period(q1).key == "2024-T4"
    assert P.next_period(q1).key == "2025-T2"
    assert P.same_period_last_year(P.parse_period_key("2025-03")).key == "2024-03"


def test_last_complete_quarter_is_before_the_current_one():
    assert P.last_complete_quarter(date(2026, 11, 26)).key == "2026-T3"
    assert P.last_complete_quarter(date(2026, 1, 1)).key == "2025-T4"


def test_periods_between_covers_partial_periods_at_both_ends():
    spans = P.periods_between("quarter", date(2023, 10, 15), date(2024, 1, 2))
    assert [s.key for s in spans] == ["2023-T4", "2024-T1"]
    assert P.periods_between("month", date(2024, 2, 1), date(2024, 1, 1)) == []


@given(kinds, days)
def test_a_period_contains_its_day_and_tiles_the_calendar(kind, day):
    span = P.period_containing(kind, day)
    assert span.start <= day <= span.end
    assert P.next_period(span).start == span.end + timedelta(days=1)
    assert P.next_period(P.previous_period(span)) == span
    assert P.parse_period_key(span.key) == span

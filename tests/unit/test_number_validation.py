"""One validation for every number Pilotis writes, and one way of writing numbers (services.numbers)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.budget_files import AmountError, parse_amount
from services.numbers import (
    MAX_MAGNITUDE,
    NBSP,
    THIN,
    NumberError,
    check_amount,
    check_value,
    format_euros,
    format_number,
    format_percent,
    parse_french_decimal,
    parse_value,
    unit_kind,
)


@pytest.mark.parametrize(
    ("unit", "kind"),
    [
        ("%", "percent"),
        (" % ", "percent"),
        ("EUR", "amount"),
        ("EUR/repas", "amount"),
        ("€", "amount"),
        ("", "signed"),
        ("ratio", "signed"),
        ("points", "signed"),
        ("personnes", "count"),
        ("ETP", "count"),
        ("heures/agent", "count"),
        (None, "signed"),
    ],
)
def test_units_are_classified(unit, kind):
    assert unit_kind(unit) == kind


@pytest.mark.parametrize(
    ("raw", "unit", "reason"),
    [
        ("1e300", "repas", "n'est pas un nombre"),
        (1e300, "repas", "hors limites : un nombre de repas va de 0 à mille milliards"),
        (1e300, "EUR", "hors limites : un montant reste sous mille milliards"),
        (-1e300, "", "hors limites : une valeur reste sous mille milliards"),
        (float("inf"), "%", "non fini"),
        (float("nan"), "EUR", "non fini"),
        ("150", "%", "hors limites : un pourcentage est compris entre 0 et 100"),
        ("-0,5", "%", "pourcentage"),
        ("-3", "personnes", "un nombre de personnes va de 0"),
        ("1 000 000 000 000", "EUR", "montant"),
        (10**400, "EUR", "trop grand"),
    ],
)
def test_numbers_out_of_their_units_range_are_refused_with_one_message(raw, unit, reason):
    with pytest.raises(NumberError, match=reason):
        parse_value(raw, unit)


@pytest.mark.parametrize(
    ("raw", "unit", "value"),
    [
        ("55,5", "%", 55.5),
        ("0", "%", 0.0),
        ("100", "%", 100.0),
        ("-12 500,50", "EUR", -12500.5),
        ("999 999 999 999", "EUR", 999_999_999_999.0),
        ("-4,2", "points", -4.2),
        ("3,5", "ETP", 3.5),
        (12, "repas", 12.0),
    ],
)
def test_numbers_within_range_pass(raw, unit, value):
    assert parse_value(raw, unit) == value


def test_the_message_quotes_what_was_typed():
    with pytest.raises(NumberError, match="« 1 500,0 %"):
        parse_value("1 500,0 %", "%")
    with pytest.raises(NumberError, match=r"« 1,0 × 10\^300 »"):
        check_value(1e300, "repas")


def test_decimals_are_exact():
    assert parse_french_decimal("1 234,56") == Decimal("1234.56")
    assert parse_french_decimal(0.1) == Decimal("0.1")
    assert check_amount("12,30") == Decimal("12.30")
    with pytest.raises(NumberError, match="mélange"):
        parse_french_decimal("1.234,56")
    with pytest.raises(NumberError, match="montant"):
        check_amount(Decimal("1e13"))


@pytest.mark.parametrize(
    "raw", [1e300, "1 000 000 000 000 000,00", 10**30, "99999999999999999999", Decimal("1E+20")]
)
def test_budget_amounts_beyond_the_money_columns_are_refused_not_crashed(raw):
    """Bug: ``1e300`` raised decimal.InvalidOperation (HTTP 500); 10^20 overflowed PostgreSQL's column."""
    with pytest.raises(AmountError, match="hors limites : un montant"):
        parse_amount(raw)


def test_budget_amounts_within_bounds_still_read():
    assert parse_amount("999 999 999 999,99") == Decimal("999999999999.99")
    assert parse_amount(-5) == Decimal("-5.00")


# -- writing -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (1234.5, 1, f"1{THIN}234,5"),
        (1234567.891, 2, f"1{THIN}234{THIN}567,89"),
        (-0.0, 1, "0,0"),
        (-0.04, 1, "0,0"),
        (Decimal("94330.00"), 2, f"94{THIN}330,00"),
        (None, 0, "—"),
        (float("nan"), 2, "—"),
        (float("inf"), 0, "∞"),
        (float("-inf"), 0, "-∞"),
        (1e300, 0, "1,0 × 10^300"),
        (10**400, 0, "1,0 × 10^400"),
        (0.00213, None, "0,0021"),
        (12.5, None, "12,5"),
        (1234.6, None, f"1{THIN}235"),
        (True, 0, "—"),
    ],
    ids=lambda v: repr(v)[:20],
)
def test_numbers_are_written_the_french_way_and_never_fail(value, decimals, text):
    assert format_number(value, decimals) == text


def test_euros_and_percentages():
    assert format_euros(94330.0) == f"94{THIN}330{NBSP}€"
    assert format_euros(12.35) == f"12,35{NBSP}€"
    assert format_euros(Decimal("1234.5"), 2) == f"1{THIN}234,50{NBSP}€"
    assert format_euros(None) == "—"
    assert format_percent(0.125) == f"12,5{NBSP}%"
    assert format_percent(0.1) == f"10{NBSP}%"
    assert format_percent(55.0, 1, points=True, trim=False) == f"55,0{NBSP}%"
    assert format_percent(float("nan")) == "—"
    assert format_percent(1e300, points=True) == f"1,0 × 10^300{NBSP}%"


@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([None, 0, 1, 2]))
def test_any_float_can_be_shown(value, decimals):
    text = format_number(value, decimals)
    assert text and len(text) < 40


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False))
def test_what_pilotis_writes_it_reads_back(value):
    assert parse_french_decimal(format_number(value, 2)) == value
    assert parse_value(format_euros(value, 2), "EUR") == pytest.approx(float(value))


def test_the_optimizer_writes_numbers_the_same_way():
    """optimizer/fr.py cannot import services (import-linter); until it does, both must agree."""
    from optimizer import fr

    for value in (0.0, 0.00213, 1.25, 12.5, 1234.5, 1_250_000.0, -98_765.4):
        assert fr.format_number(value) == format_number(value, None)
        assert fr.format_euros(value) == format_euros(value)
    for rate in (0.0, 0.1, 0.125, 0.5555):
        assert fr.format_percent(rate) == format_percent(rate)
    assert math.isfinite(MAX_MAGNITUDE)


# -- problem files -----------------------------------------------------------------------------
def test_problem_files_refuse_numbers_beyond_bounds():
    """Bug: 1e300 as a unit cost (Excel) or an envelope (JSON) was taken into the optimizer."""
    import io
    import json

    from openpyxl import load_workbook

    from services.problem_files import (
        ProblemFileError,
        problem_to_dict,
        problem_xlsx_bytes,
        read_problem_json,
        read_problem_xlsx,
    )
    from tests.unit.test_optimizer_problem import rich_problem

    problem = rich_problem()
    for value in (1e300, "1 000 000 000 000 000"):
        book = load_workbook(io.BytesIO(problem_xlsx_bytes(problem)))
        book["activites"]["D2"].value = value
        buffer = io.BytesIO()
        book.save(buffer)
        with pytest.raises(ProblemFileError) as refused:
            read_problem_xlsx(buffer.getvalue())
        assert any(
            "feuille « activites », ligne 2" in m and "hors limites" in m for m in refused.value.messages
        ), refused.value.messages
    data = problem_to_dict(problem)
    data["envelope"] = 1e300
    with pytest.raises(ProblemFileError, match="envelope : « 1,0 × 10\\^300 » est hors limites"):
        read_problem_json(json.dumps(data).encode())
    assert read_problem_json(json.dumps(problem_to_dict(problem)).encode()) == problem

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.numbers import NumberError, parse_french_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1234", 1234.0), ("1234,56", 1234.56), ("1 234,56", 1234.56), ("1\u00a0234,56", 1234.56),
        ("1\u202f234,56", 1234.56), ("12 345 678", 12345678.0), ("-12,5", -12.5), ("\u221212,5", -12.5),
        ("12.5", 12.5), ("0.125", 0.125), ("12,5 %", 12.5), ("30 €", 30.0), (" 7 ", 7.0), (42, 42.0),
        (3.5, 3.5),
    ],
)  # fmt: skip
def test_accepted_forms(text, value):
    assert parse_french_number(text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1.234,56", "mélange point et virgule"), ("1,234.56", "mélange point et virgule"),
        ("1.234", "ambigu"), ("12 34", "groupes de trois"), ("1,2,3", "n'est pas un nombre"),
        ("douze", "n'est pas un nombre"), ("", "vide"), ("=A1+1", "n'est pas un nombre"),
        (True, "case à cocher"),
        (float("nan"), "non fini"),
    ],
)  # fmt: skip
def test_refused_forms_say_why(text, reason):
    with pytest.raises(NumberError, match=reason):
        parse_french_number(text)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False))
def test_babel_french_output_reads_back(value):
    from babel.numbers import format_decimal

    written = format_decimal(value, format="#,##0.00", locale="fr_FR")
    assert parse_french_number(written) == pytest.approx(float(value))

from datetime import date

from services.demo.series import SeriesShape, jitter, series_value


def test_values_depend_only_on_code_and_period():
    shape = SeriesShape(100.0, 0.05, 0.1, 1, 0.05)
    first = series_value(shape, "repas_livres", "2025-03", date(2025, 3, 16), 1)
    assert series_value(shape, "repas_livres", "2025-03", date(2025, 3, 16), 1) == first
    assert series_value(shape, "autre_code", "2025-03", date(2025, 3, 16), 1) != first


def test_rates_stay_within_their_bounds():
    shape = SeriesShape(99.0, 0.5, 0.0, 1, 0.5, 0, 100)
    values = [series_value(shape, "taux", f"2030-{m:02d}", date(2030, m, 15), 1) for m in range(1, 13)]
    assert all(0 <= v <= 100 for v in values)


def test_growth_compounds_from_the_origin():
    flat = SeriesShape(100.0, 0.10, 0.0, 1, 0.0)
    assert series_value(flat, "x", "2023-01", date(2023, 1, 1), 2) == 100.0
    assert series_value(flat, "x", "2024-01", date(2024, 1, 1), 2) == 110.0


def test_jitter_is_stable_and_bounded():
    assert jitter("a", "2024", 0.04) == jitter("a", "2024", 0.04)
    assert all(0.96 <= jitter("a", str(y), 0.04) <= 1.04 for y in range(2000, 2050))
